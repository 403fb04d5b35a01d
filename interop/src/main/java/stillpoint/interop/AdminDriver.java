package stillpoint.interop;

import com.scalar.admin.RequestCoordinator;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The upstream pause client (scalar-admin's RequestCoordinator, as their CLI and Kubernetes tool use it)
 * against a list of targets. Usage: AdminDriver host:port[,host:port...] op...
 * ops: pause (wait, server default) | pause:MS (wait, max_pause_wait_time=MS) | pause-nowait | check |
 * unpause | wait-stdin (prints {"event":"waiting"} and blocks until a line arrives on stdin) | sleep:MS (lets
 * the calls a failed op left running in upstream's thread pool finish before the JVM exits).
 * Prints {"op","event":"start"} before and {"op","ok","ms",("result"|"error")} after each op; never exits
 * early on a failed op, so one JVM runs the whole scenario.
 */
public final class AdminDriver {
  public static void main(String[] args) throws Exception {
    List<InetSocketAddress> targets = new ArrayList<>();
    for (String a : args[0].split(",")) {
      int colon = a.lastIndexOf(':');
      targets.add(new InetSocketAddress(a.substring(0, colon), Integer.parseInt(a.substring(colon + 1))));
    }
    RequestCoordinator coordinator = new RequestCoordinator(targets);
    BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (int i = 1; i < args.length; i++) {
      String op = args[i];
      if (op.equals("wait-stdin")) {
        Out.line(Out.obj().add("event", "waiting"));
        stdin.readLine();
        continue;
      }
      if (op.startsWith("sleep:")) {
        Thread.sleep(Long.parseLong(op.substring("sleep:".length())));
        continue;
      }
      Out.line(Out.obj().add("op", op).add("event", "start"));
      long started = System.nanoTime();
      try {
        String result = run(coordinator, op);
        Out.line(done(op, started).add("ok", true).add("result", result));
      } catch (Exception e) {
        Out.line(done(op, started).add("ok", false).add("error", Out.error(e)));
      }
    }
    Out.line(Out.obj().add("event", "end"));
    // The coordinator's pool threads of a failed op may still be running against a silent target.
    System.exit(0);
  }

  private static javax.json.JsonObjectBuilder done(String op, long started) {
    return Out.obj().add("op", op).add("event", "done").add("ms", (System.nanoTime() - started) / 1_000_000);
  }

  private static String run(RequestCoordinator coordinator, String op) {
    if (op.equals("pause")) {
      coordinator.pause(true, null);
      return "";
    }
    if (op.equals("pause-nowait")) {
      coordinator.pause(false, null);
      return "";
    }
    if (op.startsWith("pause:")) {
      coordinator.pause(true, Long.parseLong(op.substring("pause:".length())));
      return "";
    }
    if (op.equals("unpause")) {
      coordinator.unpause();
      return "";
    }
    if (op.equals("check")) return coordinator.checkPaused().toString();
    throw new IllegalArgumentException("unknown op " + op);
  }
}
