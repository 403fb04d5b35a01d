package stillpoint.interop;

import com.scalar.db.api.DistributedTransaction;
import com.scalar.db.api.DistributedTransactionAdmin;
import com.scalar.db.api.DistributedTransactionManager;
import com.scalar.db.api.Get;
import com.scalar.db.api.Put;
import com.scalar.db.api.Result;
import com.scalar.db.api.Scan;
import com.scalar.db.api.TableMetadata;
import com.scalar.db.api.TransactionCrudOperable;
import com.scalar.db.api.TwoPhaseCommitTransaction;
import com.scalar.db.api.TwoPhaseCommitTransactionManager;
import com.scalar.db.exception.transaction.TransactionException;
import com.scalar.db.io.DataType;
import com.scalar.db.io.Key;
import com.scalar.db.service.TransactionFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;

/**
 * stillpoint's bank (../../src/workload/bank-schema.ts: even accounts in bank_a, odd in bank_b, a transfer
 * row in both, bank_a.meta with the count and the total) run by REAL ScalarDB Consensus Commit.
 * Usage: BankDriver scalardb.properties op... ; ops:
 *   setup:N:BALANCE        namespaces, tables, Coordinator tables, N accounts and the meta row
 *   setup-decoupled:N:BALANCE  the same with transaction-metadata decoupling (3.17+, JDBC): every table is
 *                          <t>_data + <t>_tx_metadata behind a view <t>
 *   transfers:K:SEED       K committed transfers between random accounts (ids sdb-SEED-i)
 *   concurrent:K:SEED:THREADS  K transfers on THREADS threads at once (so a group commit can group them)
 *   workload:SEED          transfers one after another until a line arrives on stdin; a transfer that fails
 *                          (a conflict, a busy database) is rolled back and counted, the loop goes on
 *   finish:TXID            DistributedTransactionManager.finishTransaction (3.19): finish records, delete the row
 *   read                   every account, transfer and the meta row through ONE ScalarDB transaction
 *                          (lazy recovery included; retried while records are undecided)
 *   crash-prepared:ID:FROM:TO:AMOUNT   two-phase commit: both halves prepared, then the JVM halts
 *   crash-committed:ID:FROM:TO:AMOUNT  both prepared, the Coordinator half commits (state COMMITTED),
 *                          then the JVM halts with the other half's records still PREPARED
 * Each op prints {"op","ok":true,...} lines; the first failure prints {"op","ok":false,"error"} and exits 1.
 */
public final class BankDriver {
  private static final String A = "bank_a";
  private static final String B = "bank_b";

  private static String propsPath;

  public static void main(String[] args) throws Exception {
    propsPath = args[0];
    TransactionFactory factory = TransactionFactory.create(args[0]);
    for (int i = 1; i < args.length; i++) {
      String[] op = args[i].split(":");
      try {
        switch (op[0]) {
          case "setup":
            setup(factory, Integer.parseInt(op[1]), Long.parseLong(op[2]), java.util.Map.of());
            break;
          case "setup-decoupled":
            setup(factory, Integer.parseInt(op[1]), Long.parseLong(op[2]), java.util.Map.of("transaction-metadata-decoupling", "true"));
            break;
          case "transfers":
            transfers(factory.getTransactionManager(), Integer.parseInt(op[1]), Long.parseLong(op[2]));
            break;
          case "workload":
            workload(factory.getTransactionManager(), Long.parseLong(op[1]));
            break;
          case "concurrent":
            concurrent(factory.getTransactionManager(), Integer.parseInt(op[1]), Long.parseLong(op[2]), Integer.parseInt(op[3]));
            break;
          case "finish":
            Out.line(Out.obj().add("finish", op[1]).add("result", factory.getTransactionManager().finishTransaction(op[1])));
            break;
          case "read":
            read(factory.getTransactionManager());
            break;
          case "crash-prepared":
          case "crash-committed":
            crash(factory, op[0].equals("crash-committed"), op[1], Integer.parseInt(op[2]), Integer.parseInt(op[3]), Long.parseLong(op[4]));
            break;
          default:
            throw new IllegalArgumentException("unknown op " + args[i]);
        }
        Out.line(Out.obj().add("op", op[0]).add("ok", true));
      } catch (Exception e) {
        Out.line(Out.obj().add("op", op[0]).add("ok", false).add("error", Out.error(e)));
        System.err.println(Out.stack(e));
        System.exit(1);
      }
    }
    System.exit(0);
  }

  static String ns(int account) {
    return account % 2 == 0 ? A : B;
  }

  static void setup(TransactionFactory factory, int accounts, long balance, java.util.Map<String, String> options) throws Exception {
    DistributedTransactionAdmin admin = factory.getTransactionAdmin();
    admin.createCoordinatorTables(true);
    TableMetadata accountsTable = TableMetadata.newBuilder().addColumn("account_id", DataType.INT).addColumn("balance", DataType.BIGINT).addPartitionKey("account_id").build();
    TableMetadata transfersTable =
        TableMetadata.newBuilder()
            .addColumn("transfer_id", DataType.TEXT)
            .addColumn("from_account", DataType.INT)
            .addColumn("to_account", DataType.INT)
            .addColumn("amount", DataType.BIGINT)
            .addPartitionKey("transfer_id")
            .build();
    TableMetadata metaTable = TableMetadata.newBuilder().addColumn("name", DataType.TEXT).addColumn("accounts", DataType.INT).addColumn("total", DataType.BIGINT).addPartitionKey("name").build();
    for (String ns : new String[] {A, B}) {
      admin.createNamespace(ns, true);
      admin.createTable(ns, "accounts", accountsTable, true, options);
      admin.createTable(ns, "transfers", transfersTable, true, options);
    }
    admin.createTable(A, "meta", metaTable, true, options);
    admin.close();
    DistributedTransactionManager tm = factory.getTransactionManager();
    DistributedTransaction tx = tm.begin();
    for (int id = 0; id < accounts; id++) tx.put(account(id, balance));
    tx.put(Put.newBuilder().namespace(A).table("meta").partitionKey(Key.ofText("name", "bank")).intValue("accounts", accounts).bigIntValue("total", accounts * balance).build());
    tx.commit();
  }

  static Put account(int id, long balance) {
    return Put.newBuilder().namespace(ns(id)).table("accounts").partitionKey(Key.ofInt("account_id", id)).bigIntValue("balance", balance).build();
  }

  static Put transferRow(String ns, String id, int from, int to, long amount) {
    return Put.newBuilder().namespace(ns).table("transfers").partitionKey(Key.ofText("transfer_id", id)).intValue("from_account", from).intValue("to_account", to).bigIntValue("amount", amount).build();
  }

  static long balance(TransactionCrudOperable tx, int id) throws Exception {
    Optional<Result> r = tx.get(Get.newBuilder().namespace(ns(id)).table("accounts").partitionKey(Key.ofInt("account_id", id)).build());
    if (!r.isPresent()) throw new IllegalStateException("no account " + id);
    return r.get().getBigInt("balance");
  }

  static int accountCount(DistributedTransactionManager tm) throws Exception {
    DistributedTransaction tx = tm.begin();
    Optional<Result> meta = tx.get(Get.newBuilder().namespace(A).table("meta").partitionKey(Key.ofText("name", "bank")).build());
    tx.commit();
    return meta.orElseThrow().getInt("accounts");
  }

  static void transfers(DistributedTransactionManager tm, int count, long seed) throws Exception {
    int accounts = accountCount(tm);
    Random random = new Random(seed);
    for (int i = 0; i < count; i++) {
      int from = random.nextInt(accounts);
      int to = (from + 1 + random.nextInt(accounts - 1)) % accounts;
      long amount = 1 + random.nextInt(50);
      String id = "sdb-" + seed + "-" + i;
      DistributedTransaction tx = tm.begin();
      try {
        long fromBalance = balance(tx, from);
        long toBalance = balance(tx, to);
        tx.put(account(from, fromBalance - amount));
        tx.put(account(to, toBalance + amount));
        tx.put(transferRow(A, id, from, to, amount));
        tx.put(transferRow(B, id, from, to, amount));
        tx.commit();
        Out.line(Out.obj().add("transfer", id).add("txId", tx.getId()));
      } catch (TransactionException e) {
        tx.rollback();
        throw e;
      }
    }
  }

  static void workload(DistributedTransactionManager tm, long seed) throws Exception {
    int accounts = accountCount(tm);
    Random random = new Random(seed);
    java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
    Thread stdin =
        new Thread(
            () -> {
              try {
                new java.io.BufferedReader(new java.io.InputStreamReader(System.in, java.nio.charset.StandardCharsets.UTF_8)).readLine();
              } catch (java.io.IOException ignored) {
                // stdin closed: stop as well
              }
              stop.set(true);
            });
    stdin.setDaemon(true);
    stdin.start();
    int committed = 0;
    int failed = 0;
    for (int i = 0; !stop.get(); i++) {
      int from = random.nextInt(accounts);
      int to = (from + 1 + random.nextInt(accounts - 1)) % accounts;
      long amount = 1 + random.nextInt(50);
      String id = "wl-" + seed + "-" + i;
      DistributedTransaction tx = tm.begin();
      try {
        long fromBalance = balance(tx, from);
        long toBalance = balance(tx, to);
        tx.put(account(from, fromBalance - amount));
        tx.put(account(to, toBalance + amount));
        tx.put(transferRow(A, id, from, to, amount));
        tx.put(transferRow(B, id, from, to, amount));
        tx.commit();
        committed++;
        Out.line(Out.obj().add("transfer", id).add("txId", tx.getId()));
      } catch (Exception e) {
        failed++;
        try {
          tx.rollback();
        } catch (Exception ignored) {
          // already aborted, or the commit's outcome is left to lazy recovery
        }
      }
    }
    Out.line(Out.obj().add("workload", seed).add("committed", committed).add("failed", failed));
  }

  /** Disjoint account pairs per thread (no conflicts), all committing at about the same moment. */
  static void concurrent(DistributedTransactionManager tm, int count, long seed, int threads) throws Exception {
    int accounts = accountCount(tm);
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
    List<java.util.concurrent.Future<?>> futures = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      int from = (2 * i) % accounts;
      int to = (from + 1) % accounts;
      String id = "sdb-" + seed + "-" + i;
      futures.add(
          pool.submit(
              () -> {
                DistributedTransaction tx = tm.begin();
                long fromBalance = balance(tx, from);
                long toBalance = balance(tx, to);
                tx.put(account(from, fromBalance - 3));
                tx.put(account(to, toBalance + 3));
                tx.put(transferRow(A, id, from, to, 3));
                tx.put(transferRow(B, id, from, to, 3));
                tx.commit();
                Out.line(Out.obj().add("transfer", id).add("txId", tx.getId()));
                return null;
              }));
    }
    for (java.util.concurrent.Future<?> f : futures) f.get();
    pool.shutdown();
  }

  static void read(DistributedTransactionManager tm) throws Exception {
    Exception last = null;
    for (int attempt = 0; attempt < 60; attempt++) {
      DistributedTransaction tx = tm.begin();
      try {
        List<javax.json.JsonObjectBuilder> lines = new ArrayList<>();
        for (String ns : new String[] {A, B}) {
          for (Result r : tx.scan(Scan.newBuilder().namespace(ns).table("accounts").all().build())) {
            lines.add(Out.obj().add("ns", ns).add("account", r.getInt("account_id")).add("balance", r.getBigInt("balance")));
          }
          for (Result r : tx.scan(Scan.newBuilder().namespace(ns).table("transfers").all().build())) {
            lines.add(Out.obj().add("ns", ns).add("transfer", r.getText("transfer_id")).add("from", r.getInt("from_account")).add("to", r.getInt("to_account")).add("amount", r.getBigInt("amount")));
          }
        }
        for (Result r : tx.scan(Scan.newBuilder().namespace(A).table("meta").all().build())) {
          lines.add(Out.obj().add("meta", r.getText("name")).add("accounts", r.getInt("accounts")).add("total", r.getBigInt("total")));
        }
        tx.commit();
        lines.forEach(Out::line);
        Out.line(Out.obj().add("readAttempts", attempt + 1));
        return;
      } catch (TransactionException e) {
        // Undecided records (lazy recovery in progress, or a writer not yet expired): ScalarDB's advice is to retry.
        last = e;
        try {
          tx.rollback();
        } catch (Exception ignored) {
          // already aborted
        }
        Thread.sleep(500);
      }
    }
    throw last;
  }

  /** One transfer split over two 2PC participants (bank_a half coordinates), then a crash. */
  static void crash(TransactionFactory factory, boolean commitCoordinatorHalf, String id, int from, int to, long amount) throws Exception {
    TwoPhaseCommitTransactionManager coordinatorTm = factory.getTwoPhaseCommitTransactionManager();
    TwoPhaseCommitTransactionManager participantTm = TransactionFactory.create(propsPath).getTwoPhaseCommitTransactionManager();
    TwoPhaseCommitTransaction a = coordinatorTm.begin();
    TwoPhaseCommitTransaction b = participantTm.join(a.getId());
    for (int account : new int[] {from, to}) {
      TwoPhaseCommitTransaction half = ns(account).equals(A) ? a : b;
      long current = balance(half, account);
      half.put(account(account, account == from ? current - amount : current + amount));
    }
    a.put(transferRow(A, id, from, to, amount));
    b.put(transferRow(B, id, from, to, amount));
    a.prepare();
    b.prepare();
    a.validate();
    b.validate();
    if (commitCoordinatorHalf) a.commit();
    Out.line(Out.obj().add("op", commitCoordinatorHalf ? "crash-committed" : "crash-prepared").add("txId", a.getId()).add("halting", true));
    Runtime.getRuntime().halt(137);
  }
}
