package stillpoint.interop;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;
import javax.json.Json;
import javax.json.JsonObjectBuilder;

/** JSON lines on stdout: the only channel the TypeScript tests read. */
final class Out {
  private Out() {}

  static synchronized void line(JsonObjectBuilder object) {
    System.out.println(object.build().toString());
    System.out.flush();
  }

  static JsonObjectBuilder obj() {
    return Json.createObjectBuilder();
  }

  static JsonObjectBuilder obj(Map<String, String> fields) {
    JsonObjectBuilder b = Json.createObjectBuilder();
    fields.forEach(b::add);
    return b;
  }

  /** An exception as {class, message, grpcStatus?, chain}: the cause chain says what the upstream client saw. */
  static JsonObjectBuilder error(Throwable t) {
    JsonObjectBuilder b = obj().add("class", t.getClass().getName()).add("message", String.valueOf(t.getMessage()));
    StringBuilder chain = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (chain.length() > 0) chain.append(" <- ");
      chain.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
      if (c instanceof io.grpc.StatusRuntimeException) {
        b.add("grpcStatus", ((io.grpc.StatusRuntimeException) c).getStatus().getCode().name());
      }
      if (c.getCause() == c) break;
    }
    b.add("chain", chain.toString());
    return b;
  }

  static String stack(Throwable t) {
    StringWriter w = new StringWriter();
    t.printStackTrace(new PrintWriter(w));
    return w.toString();
  }
}
