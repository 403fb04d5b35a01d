// The agent's long-lived JMX client (src/agent/jmx-session.ts starts it once with `java StillpointJmx.java
// <host> <port>`, source-file mode: no build step). One connection to the node's StorageService, commands on
// stdin, one answer line per command on stdout — so a snapshot inside the pause costs one MBean call, not a
// nodetool JVM start (1.4–1.8 s on two cores). Only the JDK is needed (javax.management), no Cassandra jars.
// Before each command the connection is probed (a restarted node leaves a dead one) and reopened if dead;
// the RMI socket timeouts are set on the command line by jmx-session.ts, which also kills a hung helper.
//
//   ping                         -> ok <ms>
//   snapshot <tag> <ks> [<ks>…]  -> ok <ms> <flush ms>   forceKeyspaceFlush(ks) for each ks, then
//                                                       takeSnapshot(tag, {skipFlush:true}, ks…): the same as
//                                                       a flushing snapshot, with the flush share measured
//   flush <ks>                   -> ok <ms>        StorageService.forceKeyspaceFlush(ks)
//   identity                     -> ok <ms> <host id> <generation> <token,token…>   what `nodetool info -T`
//                                                       reports of them (the ring check's input)
//   clearsnapshot <tag>          -> ok <ms>        StorageService.clearSnapshot(tag) in every keyspace
//   (any failure)                -> err <message on one line>
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public class StillpointJmx {
  public static void main(String[] args) throws Exception {
    String url = "service:jmx:rmi:///jndi/rmi://" + args[0] + ":" + args[1] + "/jmxrmi";
    ObjectName ss = new ObjectName("org.apache.cassandra.db:type=StorageService");
    JMXConnector connector = null;
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    String line;
    while ((line = in.readLine()) != null) {
      String[] words = line.trim().split("\\s+");
      long started = System.nanoTime();
      String extra = "";
      try {
        // A node restarted since the last command left a dead connection: probe it, reconnect once.
        if (connector != null && !alive(connector)) connector = closed(connector);
        if (connector == null) connector = JMXConnectorFactory.connect(new JMXServiceURL(url), null);
        MBeanServerConnection mbs = connector.getMBeanServerConnection();
        switch (words[0]) {
          case "ping":
            mbs.getAttribute(ss, "OperationMode");
            break;
          case "snapshot": {
            String[] keyspaces = Arrays.copyOfRange(words, 2, words.length);
            for (String ks : keyspaces) flush(mbs, ss, ks);
            extra = " " + (System.nanoTime() - started) / 1_000_000;
            Map<String, String> options = new HashMap<>();
            options.put("skipFlush", "true");
            mbs.invoke(ss, "takeSnapshot", new Object[] {words[1], options, keyspaces},
                new String[] {String.class.getName(), Map.class.getName(), String[].class.getName()});
            break;
          }
          case "flush":
            flush(mbs, ss, words[1]);
            break;
          case "identity": {
            List<?> tokens = (List<?>) mbs.getAttribute(ss, "Tokens");
            extra = " " + mbs.getAttribute(ss, "LocalHostId") + " " + mbs.getAttribute(ss, "CurrentGenerationNumber")
                + " " + tokens.stream().map(String::valueOf).collect(Collectors.joining(","));
            break;
          }
          case "clearsnapshot":
            mbs.invoke(ss, "clearSnapshot", new Object[] {words[1], new String[0]},
                new String[] {String.class.getName(), String[].class.getName()});
            break;
          default:
            throw new IllegalArgumentException("unknown command " + words[0]);
        }
        System.out.println("ok " + (System.nanoTime() - started) / 1_000_000 + extra);
      } catch (Exception e) {
        // Whatever broke (the node, the connection): a fresh connection for the next command.
        if (connector != null) connector = closed(connector);
        Throwable root = e;
        while (root.getCause() != null) root = root.getCause();
        System.out.println("err " + String.valueOf(root).replace('\n', ' '));
      }
      System.out.flush();
    }
  }

  /** One cheap round trip (~1 ms on loopback): false when the connection is dead. */
  private static boolean alive(JMXConnector connector) {
    try {
      connector.getMBeanServerConnection().getMBeanCount();
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  private static JMXConnector closed(JMXConnector connector) {
    try { connector.close(); } catch (Exception ignored) { }
    return null;
  }

  private static void flush(MBeanServerConnection mbs, ObjectName ss, String keyspace) throws Exception {
    mbs.invoke(ss, "forceKeyspaceFlush", new Object[] {keyspace, new String[0]},
        new String[] {String.class.getName(), String[].class.getName()});
  }
}
