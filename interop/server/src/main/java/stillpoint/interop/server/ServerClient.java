package stillpoint.interop.server;

import com.scalar.db.api.DistributedTransaction;
import com.scalar.db.api.DistributedTransactionAdmin;
import com.scalar.db.api.DistributedTransactionManager;
import com.scalar.db.api.Get;
import com.scalar.db.api.Put;
import com.scalar.db.api.Result;
import com.scalar.db.api.TableMetadata;
import com.scalar.db.io.DataType;
import com.scalar.db.io.Key;
import com.scalar.db.service.TransactionFactory;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Properties;

/**
 * A ScalarDB 3.13 gRPC client (scalar.db.transaction_manager=grpc) of a running ScalarDB Server, for
 * test/interop/scalardb-server-pause.test.ts. Usage: ServerClient PORT op ; ops:
 *   setup:N:BALANCE   the bank tables (bank_a.accounts) and the Coordinator tables, N accounts
 *   hold:FROM:TO:AMT  begins a transfer, reads both accounts, prints {"held":TXID}, waits for a line on stdin,
 *                     then writes and commits: an in-flight transaction a pause must wait for
 *   transfer:FROM:TO:AMT  one transfer at once; prints {"committed":TXID} or {"rejected":true,"error":…}
 *   total             prints {"total":SUM,"accounts":N} read in one transaction
 * JSON lines on stdout; the process exits 0 unless the op failed in a way the test does not expect.
 */
public final class ServerClient {
  private static final String NS = "bank_a";

  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.setProperty("scalar.db.transaction_manager", "grpc");
    props.setProperty("scalar.db.contact_points", "127.0.0.1");
    props.setProperty("scalar.db.contact_port", args[0]);
    TransactionFactory factory = TransactionFactory.create(props);
    String[] op = args[1].split(":");
    int code = 0;
    try {
      switch (op[0]) {
        case "setup":
          setup(factory, Integer.parseInt(op[1]), Long.parseLong(op[2]));
          break;
        case "hold":
          transfer(factory.getTransactionManager(), Integer.parseInt(op[1]), Integer.parseInt(op[2]), Long.parseLong(op[3]), true);
          break;
        case "transfer":
          transfer(factory.getTransactionManager(), Integer.parseInt(op[1]), Integer.parseInt(op[2]), Long.parseLong(op[3]), false);
          break;
        case "total":
          total(factory.getTransactionManager());
          break;
        default:
          throw new IllegalArgumentException("unknown op " + args[1]);
      }
    } catch (Exception e) {
      line("{\"op\":" + quote(op[0]) + ",\"ok\":false,\"error\":" + quote(describe(e)) + "}");
      code = 1;
    }
    System.exit(code);
  }

  static void setup(TransactionFactory factory, int accounts, long balance) throws Exception {
    DistributedTransactionAdmin admin = factory.getTransactionAdmin();
    admin.createCoordinatorTables(true);
    admin.createNamespace(NS, true);
    admin.createTable(NS, "accounts", TableMetadata.newBuilder().addColumn("account_id", DataType.INT).addColumn("balance", DataType.BIGINT).addPartitionKey("account_id").build(), true);
    admin.close();
    DistributedTransactionManager tm = factory.getTransactionManager();
    DistributedTransaction tx = tm.begin();
    for (int id = 0; id < accounts; id++) tx.put(account(id, balance));
    tx.commit();
    line("{\"op\":\"setup\",\"ok\":true}");
  }

  static Put account(int id, long balance) {
    return Put.newBuilder().namespace(NS).table("accounts").partitionKey(Key.ofInt("account_id", id)).bigIntValue("balance", balance).build();
  }

  static long balance(DistributedTransaction tx, int id) throws Exception {
    Optional<Result> r = tx.get(Get.newBuilder().namespace(NS).table("accounts").partitionKey(Key.ofInt("account_id", id)).build());
    return r.orElseThrow().getBigInt("balance");
  }

  static void transfer(DistributedTransactionManager tm, int from, int to, long amount, boolean hold) throws Exception {
    DistributedTransaction tx;
    try {
      tx = tm.begin();
    } catch (Exception e) {
      // A paused server refuses new transactions at once (gRPC UNAVAILABLE): what the test asserts.
      line("{\"rejected\":true,\"error\":" + quote(describe(e)) + "}");
      return;
    }
    long fromBalance = balance(tx, from);
    long toBalance = balance(tx, to);
    if (hold) {
      line("{\"held\":" + quote(tx.getId()) + "}");
      new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
    }
    tx.put(account(from, fromBalance - amount));
    tx.put(account(to, toBalance + amount));
    tx.commit();
    line("{\"committed\":" + quote(tx.getId()) + "}");
  }

  static void total(DistributedTransactionManager tm) throws Exception {
    DistributedTransaction tx = tm.begin();
    long sum = 0;
    int n = 0;
    for (Result r : tx.scan(com.scalar.db.api.Scan.newBuilder().namespace(NS).table("accounts").all().build())) {
      sum += r.getBigInt("balance");
      n++;
    }
    tx.commit();
    line("{\"total\":" + sum + ",\"accounts\":" + n + "}");
  }

  static String describe(Throwable e) {
    StringBuilder s = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) s.append(s.length() == 0 ? "" : " <- ").append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
    return s.toString();
  }

  static String quote(String text) {
    StringBuilder s = new StringBuilder("\"");
    for (char c : String.valueOf(text).toCharArray()) {
      if (c == '"' || c == '\\') s.append('\\').append(c);
      else if (c < 0x20) s.append(String.format("\\u%04x", (int) c));
      else s.append(c);
    }
    return s.append('"').toString();
  }

  static synchronized void line(String json) {
    System.out.println(json);
    System.out.flush();
  }
}
