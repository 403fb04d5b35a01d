/**
 * Throwaway REAL Apache Cassandra nodes for tests, trials and benchmarks: cassandra-all 5.0 from Maven
 * Central (lab/cassandra/pom.xml copies its runtime classpath to lab/cassandra/target/lib), started as
 * `java org.apache.cassandra.service.CassandraDaemon` with a generated cassandra.yaml in a temp dir, and
 * `nodetool` run as org.apache.cassandra.tools.NodeTool on the same classpath (JMX on a local port).
 *
 * One node (127.0.0.1) or a cluster on 127.0.0.1, 127.0.0.2, 127.0.0.3 (Linux routes all of 127/8 to lo).
 * Every node of a cluster uses the same storage port (Cassandra wants that) and its own JMX port.
 * Start-up is slow on 2 cores (tens of seconds per node): share one cluster per test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConnection } from 'node:net';
import { freePort, run, waitFor } from './process.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where `mvn -f lab/cassandra/pom.xml package` puts the jars. */
export const CASSANDRA_LIB = join(ROOT, 'lab/cassandra/target/lib');

/**
 * Why Cassandra tests cannot run here, or undefined when the jars are present. Under CI (which fetches the
 * jars, fatally, in .ci/run) it never excuses a skip: a missing jar then fails the tests loudly instead.
 */
export function cassandraUnavailable(): string | undefined {
  if (process.env.CI === 'true') return undefined;
  if (!existsSync(join(CASSANDRA_LIB))) {
    return `no Cassandra jars in ${CASSANDRA_LIB}: run \`mvn -B -f lab/cassandra/pom.xml package\``;
  }
  return undefined;
}

/** The JVM flags Cassandra's own conf/jvm17-server.options sets (it reaches into JDK internals). */
const JVM17 = [
  '-Djdk.attach.allowAttachSelf=true',
  '--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-exports=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports=java.sql/java.sql=ALL-UNNAMED',
  '--add-opens=java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens=java.base/java.io=ALL-UNNAMED',
  '--add-opens=java.base/java.nio=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent=ALL-UNNAMED',
  '--add-opens=java.base/java.util=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
  '--add-opens=java.base/java.math=ALL-UNNAMED',
  '--add-opens=java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens=java.base/java.net=ALL-UNNAMED',
];

const LOGBACK = `<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>\${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
`;

export interface LocalCassandraNode {
  readonly address: string;
  readonly nativePort: number;
  readonly jmxPort: number;
  /** This node's directory: data/, commitlog/, hints/, saved_caches/, logs/. */
  readonly dir: string;
  readonly dataDir: string;
  readonly commitlogDir: string;
  readonly hintsDir: string;
  running(): boolean;
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** Sends a signal to the running node's JVM (SIGSTOP / SIGCONT: a node that hangs, then resumes). */
  signal(signal: NodeJS.Signals): void;
  /** The nodetool command line for this node (what `stillpoint agent --nodetool` is given). */
  readonly nodetoolArgv: readonly string[];
  /** Runs nodetool against this node; returns stdout. */
  nodetool(args: readonly string[]): Promise<string>;
}

export interface LocalCassandra {
  readonly nodes: readonly LocalCassandraNode[];
  readonly nativePort: number;
  readonly dir: string;
  /** The storage config reaching the cluster (all nodes as contact points). */
  connection(): {
    kind: 'cassandra';
    contactPoints: string[];
    port: number;
    localDataCenter: string;
    replicationFactor: number;
  };
  destroy(): Promise<void>;
}

export interface LocalCassandraOptions {
  /** 1 (default) or up to 3 nodes on 127.0.0.1..3. */
  readonly nodes?: number;
  readonly heapMb?: number;
  /** Picks a free port (default: ./process.ts `freePort`); tests hand out a taken one. */
  readonly pickPort?: () => Promise<number>;
}

/** Starts tried when a port picked free was taken before the JVM bound it (it starts seconds later). */
const START_ATTEMPTS = 3;

export const LOCAL_DATA_CENTER = 'datacenter1';

/**
 * Starts the nodes one after another (Cassandra bootstraps joining nodes one at a time). A port picked free
 * can be taken by another process before the JVM binds it, seconds later (a campaign's Cassandra control
 * met "127.0.0.1:33959 is in use by another process"): the cluster is then started again on fresh ports.
 */
export async function startLocalCassandra(options: LocalCassandraOptions = {}): Promise<LocalCassandra> {
  const why = cassandraUnavailable();
  if (why !== undefined) throw new Error(why);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startCluster(options);
    } catch (error) {
      if (attempt >= START_ATTEMPTS || !portTaken(error)) throw error;
    }
  }
}

function portTaken(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /in use by another process|Address already in use|Port already in use/i.test(message);
}

async function startCluster(options: LocalCassandraOptions): Promise<LocalCassandra> {
  const pickPort = options.pickPort ?? freePort;
  const count = options.nodes ?? 1;
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-cassandra-'));
  const storagePort = await pickPort();
  const nativePort = await pickPort();
  const addresses = Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
  const nodes: LocalCassandraNode[] = [];
  try {
    for (const address of addresses) {
      const node = await prepareNode({
        dir: join(dir, address),
        address,
        // Every node is a seed: seeds do not bootstrap (nothing to stream in an empty lab cluster), which
        // keeps start-up short and avoids a joining node giving up on a seed it has not gossiped with yet.
        seeds: addresses.map((a) => `${a}:${storagePort}`).join(','),
        storagePort,
        nativePort,
        jmxPort: await pickPort(),
        heapMb: options.heapMb ?? 400,
      });
      nodes.push(node);
      await node.start();
    }
    if (count > 1) await waitForRing(nodes[0]!, count);
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    nodes,
    nativePort,
    dir,
    connection: () => ({
      kind: 'cassandra',
      contactPoints: [...addresses],
      port: nativePort,
      localDataCenter: LOCAL_DATA_CENTER,
      replicationFactor: Math.min(3, count),
    }),
    async destroy() {
      await Promise.all(nodes.map((n) => n.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `expected` nodes are Up/Normal in `nodetool status`. */
export async function waitForRing(node: LocalCassandraNode, expected: number): Promise<void> {
  await waitFor(
    async () => ((await node.nodetool(['status'])).match(/^UN\s/gm) ?? []).length === expected,
    180_000,
    `${expected} nodes Up/Normal`,
  );
}

/**
 * Waits until every node reports one schema version (`nodetool describecluster`): a keyspace dropped and
 * created again before the drop reached every node leaves the cluster broken (`Unknown CF`, then
 * `InstanceAlreadyExistsException` on every later create — the issue-18 Cassandra campaign, trials 31–59).
 */
export async function waitForSchemaAgreement(node: LocalCassandraNode, expected: number): Promise<void> {
  await waitFor(
    async () => {
      const versions = schemaVersions(await node.nodetool(['describecluster']));
      return versions.length === 1 && versions[0]!.nodes === expected;
    },
    180_000,
    `one schema version on ${expected} nodes`,
  );
}

/**
 * The `Schema versions:` section of `nodetool describecluster`: one entry per version, `UNREACHABLE` for the
 * nodes down (entries may be separated by blank lines; the section ends at the next unindented line).
 */
export function schemaVersions(describe: string): Array<{ version: string; nodes: number }> {
  const section = describe.split(/Schema versions:[^\n]*\n/)[1]?.split(/\n(?=\S)/)[0] ?? '';
  return [...section.matchAll(/^\s*([\w-]+): \[([^\]]*)\]/gm)].map((m) => ({
    version: m[1]!,
    nodes: m[2]!.split(',').filter((a) => a.trim() !== '').length,
  }));
}

interface NodeSpec {
  dir: string;
  address: string;
  seeds: string;
  storagePort: number;
  nativePort: number;
  jmxPort: number;
  heapMb: number;
}

async function prepareNode(spec: NodeSpec): Promise<LocalCassandraNode> {
  const sub = (name: string): string => join(spec.dir, name);
  for (const name of ['data', 'commitlog', 'hints', 'saved_caches', 'cdc_raw', 'logs', 'conf']) {
    await mkdir(sub(name), { recursive: true, mode: 0o700 });
  }
  const yaml = [
    'cluster_name: stillpoint-lab',
    'num_tokens: 4',
    'allocate_tokens_for_local_replication_factor: 1',
    'partitioner: org.apache.cassandra.dht.Murmur3Partitioner',
    `data_file_directories: [${sub('data')}]`,
    `commitlog_directory: ${sub('commitlog')}`,
    `hints_directory: ${sub('hints')}`,
    `saved_caches_directory: ${sub('saved_caches')}`,
    `cdc_raw_directory: ${sub('cdc_raw')}`,
    'commitlog_sync: periodic',
    'commitlog_sync_period: 10000ms',
    'commitlog_segment_size: 8MiB',
    'seed_provider:',
    '  - class_name: org.apache.cassandra.locator.SimpleSeedProvider',
    `    parameters: [{ seeds: "${spec.seeds}" }]`,
    `listen_address: ${spec.address}`,
    `rpc_address: ${spec.address}`,
    `storage_port: ${spec.storagePort}`,
    `native_transport_port: ${spec.nativePort}`,
    'start_native_transport: true',
    'endpoint_snitch: SimpleSnitch',
    'authenticator: AllowAllAuthenticator',
    'authorizer: AllowAllAuthorizer',
    'concurrent_reads: 8',
    'concurrent_writes: 8',
    'concurrent_counter_writes: 4',
    'memtable_allocation_type: heap_buffers',
    'key_cache_size: 4MiB',
    'counter_cache_size: 1MiB',
    'auto_snapshot: false',
    'snapshot_before_compaction: false',
    'incremental_backups: false',
    'dynamic_snitch: false',
    'compaction_throughput: 0MiB/s',
    'read_request_timeout: 20000ms',
    'write_request_timeout: 20000ms',
    'cas_contention_timeout: 10000ms',
    'request_timeout: 20000ms',
    'range_request_timeout: 20000ms',
    'truncate_request_timeout: 60000ms',
    'materialized_views_enabled: false',
    '',
  ].join('\n');
  const config = sub('conf/cassandra.yaml');
  await writeFile(config, yaml, { mode: 0o600 });
  await writeFile(sub('conf/logback.xml'), LOGBACK, { mode: 0o600 });
  const classpath = `${sub('conf')}:${CASSANDRA_LIB}/*`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  // nodetool logs (logback.xml on the classpath) into the node's log dir, not into the caller's cwd.
  const jmxArgs = [
    ...JVM17,
    '-XX:TieredStopAtLevel=1',
    '-Xshare:auto',
    `-Dcassandra.logdir=${sub('logs')}`,
    '-cp',
    classpath,
    '-Xmx128m',
    'org.apache.cassandra.tools.NodeTool',
  ];
  const node: LocalCassandraNode = {
    address: spec.address,
    nativePort: spec.nativePort,
    jmxPort: spec.jmxPort,
    dir: spec.dir,
    dataDir: sub('data'),
    commitlogDir: sub('commitlog'),
    hintsDir: sub('hints'),
    nodetoolArgv: ['java', ...jmxArgs, '-h', '127.0.0.1', '-p', String(spec.jmxPort)],
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start() {
      if (node.running()) return;
      // A restarted node appends to the log of its earlier runs: only this run's part counts.
      const logFrom = (await systemLog(spec.dir)).length;
      const proc = spawn(
        'java',
        [
          ...JVM17,
          `-Xms${spec.heapMb}m`,
          `-Xmx${spec.heapMb}m`,
          '-Xss512k',
          '-XX:+UseSerialGC',
          '-XX:TieredStopAtLevel=1',
          '-XX:CICompilerCount=2',
          `-Dcassandra.config=file://${config}`,
          `-Dcassandra.logdir=${sub('logs')}`,
          `-Dcassandra.storagedir=${spec.dir}`,
          `-Dcassandra.jmx.local.port=${spec.jmxPort}`,
          '-Dcassandra-foreground=yes',
          '-Dcassandra.skip_wait_for_gossip_to_settle=0',
          '-Dcassandra.ring_delay_ms=3000',
          '-Dcassandra.initial_token_allocation_wait=0',
          '-Dcassandra.superuser_setup_delay_ms=0',
          '-Dcassandra.migration_task_wait_in_seconds=1',
          '-Dcassandra.skip_schema_check=true',
          '-Dcassandra.auto_bootstrap=true',
          '-Djava.net.preferIPv4Stack=true',
          `-Djava.rmi.server.hostname=127.0.0.1`,
          '-cp',
          classpath,
          'org.apache.cassandra.service.CassandraDaemon',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'], detached: false },
      );
      let stderr = '';
      proc.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      child = proc;
      LIVE.add(proc);
      proc.once('exit', () => LIVE.delete(proc));
      exited = new Promise((resolveExit) => proc.once('exit', () => resolveExit()));
      const started = Date.now();
      // A failed start-up ends the wait at once (waitFor treats a throwing check as "not yet": the JVM's
      // fatal error used to be waited on for the full 240 s). It can leave the JVM alive (non-daemon
      // threads): the log tells. Up means THIS node's log says it serves CQL on its port: an open port
      // alone may be another process's.
      let failed = false;
      await waitFor(
        async () => {
          const log = (await systemLog(spec.dir)).slice(logFrom);
          failed = !node.running() || startupFailed(log);
          return (
            failed ||
            (log.includes(`listening for CQL clients on /${spec.address}:${spec.nativePort}`) &&
              (await portOpen(spec.address, spec.nativePort)))
          );
        },
        240_000,
        `Cassandra on ${spec.address}:${spec.nativePort}`,
      )
        .then(() => {
          if (failed) throw new Error(`Cassandra ${spec.address} did not start: ${stderr}`);
        })
        .catch(async (error: Error) => {
          proc.kill('SIGKILL');
          throw new Error(`${error.message}\n${await tailLog(spec.dir)}`);
        });
      if (process.env.STILLPOINT_CASSANDRA_TRACE === '1')
        console.error(`cassandra ${spec.address} up in ${Date.now() - started} ms`);
    },
    async stop() {
      const proc = child;
      if (proc === undefined || !node.running()) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
    signal(signal) {
      if (node.running()) child?.kill(signal);
    },
    async nodetool(args) {
      const { stdout } = await run(
        'java',
        [...jmxArgs, '-h', '127.0.0.1', '-p', String(spec.jmxPort), ...args],
        {
          timeoutMs: 180_000,
        },
      );
      return stdout;
    },
  };
  return node;
}

/** Nodes still running when this process exits are killed (a crashed test must not leave JVMs behind). */
const LIVE = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of LIVE) proc.kill('SIGKILL');
});

function systemLog(dir: string): Promise<string> {
  return readFile(join(dir, 'logs/system.log'), 'utf8').catch(() => '');
}

function startupFailed(log: string): boolean {
  return log.includes('Exception encountered during startup') || log.includes('Fatal configuration error');
}

async function tailLog(dir: string): Promise<string> {
  try {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(join(dir, 'logs/system.log'), 'utf8');
    return text
      .split('\n')
      .filter((l) => /ERROR|Exception|WARN/.test(l))
      .slice(-15)
      .join('\n');
  } catch {
    return '';
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolveOpen(true);
    });
    socket.once('error', () => resolveOpen(false));
  });
}

/** Every regular file under `dir` (recursive), for tests that look at a node's data directory. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out;
}
