/**
 * The PostgreSQL and MariaDB engines against the databases' own tools, side by side in one run:
 * - logical backup wall time (capture + finish, checksums included) / plain `pg_dump -Fd -j 2` and
 *   `mariadb-dump --single-transaction` of the same data (goal ≤ 1.10);
 * - restore wall time / `pg_restore -j 2` and `mariadb < dump.sql` (goal ≤ 1.10);
 * - capture time (what the pause must cover) p50 / p99 per engine and method, under a concurrent writer,
 *   at the small and the large data size (it must not grow with size).
 * Size: ~1 GB per database, ~50 MB with --quick. Ratios are the best of two rounds, ours first in one and
 * the native tool first in the other.
 */
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { createLocalDirStore } from '../src/artifacts/local-dir-store.ts';
import type { ArtifactStore } from '../src/artifacts/contract.ts';
import type {
  BackupSession,
  FinishedMember,
  MemberRecord,
  MemberSpec,
  RestoredMember,
  RestoreTarget,
} from '../src/engines/contract.ts';
import { resolveMember } from '../src/engines/registry.ts';
import { runTool, spawnTool, waitTool } from '../src/engines/tool-runner.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../src/lab/local-servers/mariadb-server.ts';
import { PG_BIN, startLocalPostgres, type LocalPostgres } from '../src/lab/local-servers/postgres-server.ts';
import type { Benchmark, BenchRow } from './contract.ts';

const TABLES = 4;
const ROW_BYTES = 200;
const quiet = { info: () => undefined, warn: () => undefined };

const never = new AbortController().signal;

function openBackup(store: ArtifactStore, member: MemberSpec, backupId: string): BackupSession {
  const { kind, options } = resolveMember(member);
  return kind.openBackup(
    {
      backupId,
      member,
      artifacts: store,
      artifactPrefix: `${backupId}/${member.name}/`,
      sharedPrefix: `shared/${member.name}/`,
      log: quiet,
    },
    options,
  );
}

/** One member's backup as the orchestrator takes it (prepare, capture, finish), timed whole: connecting included, as the native tool's run is. */
async function backupOnce(
  store: ArtifactStore,
  member: MemberSpec,
  backupId: string,
): Promise<{ ms: number; value: FinishedMember }> {
  const session = openBackup(store, member, backupId);
  try {
    return await timed(async () => {
      await session.prepare(never);
      await session.capture(never);
      return session.finish({ pausedAtMs: 0, unpauseStartedAtMs: 0, midMs: 0 }, never);
    });
  } finally {
    await session.close();
  }
}

async function restoreOnce(
  store: ArtifactStore,
  record: MemberRecord,
  target: RestoreTarget,
): Promise<{ ms: number; value: RestoredMember }> {
  const { kind, options } = resolveMember(record.member);
  const session = kind.openRestore({ record, target, artifacts: store, log: quiet }, options);
  try {
    return await timed(() => session.restore({ force: true, signal: never }));
  } finally {
    await session.close();
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function ratioRow(metric: string, ours: number, theirs: number, note: string): BenchRow {
  const ratio = ours / theirs;
  return {
    metric,
    value: `${ratio.toFixed(2)}×`,
    goal: '≤ 1.10',
    met: ratio <= 1.1,
    note: `${(ours / 1000).toFixed(2)} s vs ${(theirs / 1000).toFixed(2)} s; ${note}`,
  };
}

async function loadPostgres(server: LocalPostgres, rowsPerTable: number): Promise<void> {
  await server.createDatabase('bench');
  for (let t = 0; t < TABLES; t++) {
    await server.query(
      `CREATE TABLE t${t} (id bigint PRIMARY KEY, balance bigint NOT NULL, note text);
       INSERT INTO t${t} SELECT g, g % 1000, repeat(md5(g::text), ${Math.round(ROW_BYTES / 32)}) FROM generate_series(1, ${rowsPerTable}) g;`,
      [],
      'bench',
    );
  }
  await server.query('VACUUM ANALYZE', [], 'bench');
}

async function loadMariaDb(server: LocalMariaDb, rowsPerTable: number): Promise<void> {
  await server.query('CREATE DATABASE bench');
  for (let t = 0; t < TABLES; t++) {
    await server.query(
      `CREATE TABLE bench.t${t} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, note TEXT) ENGINE=InnoDB`,
    );
    await server.query(
      `INSERT INTO bench.t${t} SELECT seq, seq % 1000, REPEAT(MD5(seq), ${Math.round(ROW_BYTES / 32)}) FROM mysql.seq_1_to_${rowsPerTable}`,
    );
  }
}

/** Our backup + restore of one member, and the native tools' of the same data. */
interface Pair {
  ours: { backupMs: number; restoreMs: number; bytes: number };
  native: { backupMs: number; restoreMs: number };
}

async function postgresPair(
  server: LocalPostgres,
  store: ArtifactStore,
  dir: string,
  round: number,
): Promise<Pair> {
  const member: MemberSpec = {
    name: 'pg',
    engine: 'postgres',
    connection: server.connection('bench'),
    namespaces: ['public'],
    options: { method: 'logical', jobs: 2 },
  };
  const backupId = `bench-pg-${round}`;
  const env = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(server.port), PGUSER: 'postgres' };
  const out = join(dir, `native-pg-${round}`);
  const ours = async (): Promise<Pair['ours']> => {
    const backup = await backupOnce(store, member, backupId);
    const record: MemberRecord = {
      backupId,
      member,
      handle: backup.value.handle,
      artifacts: backup.value.artifacts,
    };
    const restore = await restoreOnce(store, record, { database: `ours_${round}` });
    return { backupMs: backup.ms, restoreMs: restore.ms, bytes: backup.value.bytes };
  };
  const native = async (): Promise<Pair['native']> => {
    const backup = await timed(() =>
      runTool(join(PG_BIN, 'pg_dump'), ['-F', 'd', '-j', '2', '-f', out, '-d', 'bench'], { env }),
    );
    const restore = await timed(async () => {
      await server.query(`CREATE DATABASE native_${round}`);
      await runTool(
        join(PG_BIN, 'pg_restore'),
        ['--exit-on-error', '--no-owner', '-j', '2', '-d', `native_${round}`, out],
        { env },
      );
    });
    return { backupMs: backup.ms, restoreMs: restore.ms };
  };
  const pair = await alternate(round, ours, native);
  await server.query(`DROP DATABASE ours_${round}`);
  await server.query(`DROP DATABASE native_${round}`);
  await rm(out, { recursive: true, force: true });
  return pair;
}

/** Runs ours then the native tool on even rounds, the other way round on odd ones (caches, drift). */
async function alternate(
  round: number,
  ours: () => Promise<Pair['ours']>,
  native: () => Promise<Pair['native']>,
): Promise<Pair> {
  if (round % 2 === 0) {
    const o = await ours();
    return { ours: o, native: await native() };
  }
  const n = await native();
  return { ours: await ours(), native: n };
}

async function mariaPair(
  server: LocalMariaDb,
  store: ArtifactStore,
  dir: string,
  round: number,
): Promise<Pair> {
  const member: MemberSpec = {
    name: 'maria',
    engine: 'mariadb',
    connection: server.connection(),
    namespaces: ['bench'],
    options: { method: 'logical', jobs: 2 },
  };
  const backupId = `bench-m-${round}`;
  const file = join(dir, `native-m-${round}.sql`);
  const args = ['--host=127.0.0.1', `--port=${server.port}`, '--user=root'];
  const ours = async (): Promise<Pair['ours']> => {
    const backup = await backupOnce(store, member, backupId);
    const record: MemberRecord = {
      backupId,
      member,
      handle: backup.value.handle,
      artifacts: backup.value.artifacts,
    };
    const restore = await restoreOnce(store, record, { rename: { bench: `ours_${round}` } });
    return { backupMs: backup.ms, restoreMs: restore.ms, bytes: backup.value.bytes };
  };
  const native = async (): Promise<Pair['native']> => {
    const backup = await timed(async () => {
      const child = spawnTool('mariadb-dump', [...args, '--single-transaction', 'bench']);
      await waitTool(child, 'mariadb-dump', [], { stdout: createWriteStream(file) });
    });
    // Without --databases the dump has no CREATE DATABASE / USE, so it loads into another name.
    const restore = await timed(async () => {
      await server.query(`CREATE DATABASE native_${round}`);
      await runTool('mariadb', [...args, `native_${round}`], { stdin: createReadStream(file) });
    });
    return { backupMs: backup.ms, restoreMs: restore.ms };
  };
  const pair = await alternate(round, ours, native);
  await server.query(`DROP DATABASE ours_${round}`);
  await server.query(`DROP DATABASE native_${round}`);
  await rm(file, { force: true });
  return pair;
}

/** Capture times of `member` (prepare, then timed capture, then close), `samples` times. */
async function captureTimes(store: ArtifactStore, member: MemberSpec, samples: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const session = openBackup(store, member, `cap-${member.name}-${i}`);
    try {
      // As the orchestrator does: prepare before the pause (opens the capture connections), capture inside it.
      await session.prepare(never);
      times.push((await timed(() => session.capture(never))).ms);
    } finally {
      await session.close();
    }
  }
  return times;
}

/** A background writer (one connection, one UPDATE at a time) until `stop` is called. */
function writer(update: () => Promise<unknown>): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) await update().catch(() => undefined);
  })();
  return { stop: async () => ((running = false), await loop) };
}

async function pauseRows(
  pgServer: LocalPostgres,
  maria: LocalMariaDb,
  store: ArtifactStore,
  samples: number,
  sizeLabel: string,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const pgClient = new pg.Client(pgServer.connection('bench'));
  await pgClient.connect();
  const mClient = await mysql.createConnection({ host: '127.0.0.1', port: maria.port, user: 'root' });
  const writers = [
    writer(() => pgClient.query('UPDATE t0 SET balance = balance + 1 WHERE id = (random() * 1000)::int + 1')),
    writer(() =>
      mClient.query('UPDATE bench.t0 SET balance = balance + 1 WHERE id = FLOOR(1 + RAND() * 1000)'),
    ),
  ];
  try {
    const cases: Array<[string, MemberSpec]> = [
      [
        'postgres logical',
        {
          name: 'pgc',
          engine: 'postgres',
          connection: pgServer.connection('bench'),
          namespaces: ['public'],
          options: { method: 'logical' },
        },
      ],
      [
        'postgres pitr',
        {
          name: 'pgc',
          engine: 'postgres',
          connection: pgServer.connection('bench'),
          namespaces: ['public'],
          options: { method: 'pitr' },
        },
      ],
      [
        'mariadb logical (2 snapshots)',
        {
          name: 'mc',
          engine: 'mariadb',
          connection: maria.connection(),
          namespaces: ['bench'],
          options: { method: 'logical', jobs: 2 },
        },
      ],
      [
        'mariadb pitr',
        {
          name: 'mc',
          engine: 'mariadb',
          connection: maria.connection(),
          namespaces: ['bench'],
          options: { method: 'pitr' },
        },
      ],
    ];
    for (const [label, member] of cases) {
      const times = await captureTimes(store, member, samples);
      const p99 = percentile(times, 99);
      rows.push({
        metric: `capture (pause cost), ${label}, ${sizeLabel}`,
        value: `p50 ${percentile(times, 50).toFixed(1)} ms / p99 ${p99.toFixed(1)} ms`,
        goal: '≤ 50 ms p99',
        met: p99 <= 50,
        note: `${samples} captures under a concurrent writer`,
      });
    }
  } finally {
    for (const w of writers) await w.stop();
    await pgClient.end();
    await mClient.end();
  }
  return rows;
}

async function run(quick: boolean): Promise<BenchRow[]> {
  const bytes = quick ? 50e6 : 1e9;
  const rowsPerTable = Math.round(bytes / TABLES / (ROW_BYTES + 40));
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-bench-engines-'));
  await chmod(dir, 0o755);
  const storeDir = join(dir, 'store');
  await mkdir(storeDir);
  const store = createLocalDirStore(storeDir);
  // Both servers start in parallel; if one fails, the other is destroyed (and the temp dir removed) before rethrowing.
  const started = await Promise.allSettled([
    startLocalPostgres(),
    startLocalMariaDb({ args: ['--innodb-buffer-pool-size=512M', '--max-allowed-packet=64M'] }),
  ]);
  const [pgStart, mariaStart] = started;
  if (pgStart.status === 'rejected' || mariaStart.status === 'rejected') {
    if (pgStart.status === 'fulfilled') await pgStart.value.destroy();
    if (mariaStart.status === 'fulfilled') await mariaStart.value.destroy();
    await rm(dir, { recursive: true, force: true });
    throw started.find((s): s is PromiseRejectedResult => s.status === 'rejected')!.reason;
  }
  const [pgServer, maria] = [pgStart.value, mariaStart.value];
  const rows: BenchRow[] = [];
  try {
    await Promise.all([loadPostgres(pgServer, 1000), loadMariaDb(maria, 1000)]);
    rows.push(...(await pauseRows(pgServer, maria, store, quick ? 30 : 200, 'small')));
    await pgServer.query('DROP DATABASE bench');
    await maria.query('DROP DATABASE bench');
    await loadPostgres(pgServer, rowsPerTable);
    await loadMariaDb(maria, rowsPerTable);
    const size = `${TABLES} tables × ${rowsPerTable} rows (~${Math.round(bytes / 1e6)} MB)`;
    const rounds = 2; // one in each order (see alternate)
    const best = (pairs: Pair[], pick: (p: Pair) => number): number => Math.min(...pairs.map(pick));
    const pgPairs: Pair[] = [];
    const mPairs: Pair[] = [];
    for (let r = 0; r < rounds; r++) {
      pgPairs.push(await postgresPair(pgServer, store, dir, r));
      mPairs.push(await mariaPair(maria, store, dir, r));
    }
    const dumped = (pairs: Pair[]): string => `${(pairs[0]!.ours.bytes / 1e6).toFixed(0)} MB dumped`;
    rows.push(
      ratioRow(
        'postgres logical backup / pg_dump -Fd -j 2',
        best(pgPairs, (p) => p.ours.backupMs),
        best(pgPairs, (p) => p.native.backupMs),
        `${size}; ours adds sha256 of every file (${dumped(pgPairs)})`,
      ),
    );
    rows.push(
      ratioRow(
        'postgres logical restore / pg_restore -j 2',
        best(pgPairs, (p) => p.ours.restoreMs),
        best(pgPairs, (p) => p.native.restoreMs),
        size,
      ),
    );
    rows.push(
      ratioRow(
        'mariadb logical backup / mariadb-dump --single-transaction',
        best(mPairs, (p) => p.ours.backupMs),
        best(mPairs, (p) => p.native.backupMs),
        `${size}; ours: 2 identical snapshots, sha256 (${dumped(mPairs)})`,
      ),
    );
    rows.push(
      ratioRow(
        'mariadb logical restore / mariadb < dump',
        best(mPairs, (p) => p.ours.restoreMs),
        best(mPairs, (p) => p.native.restoreMs),
        size,
      ),
    );
    rows.push(...(await pauseRows(pgServer, maria, store, quick ? 30 : 200, 'large')));
  } finally {
    await Promise.all([pgServer.destroy(), maria.destroy()]);
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

export const benchmarks: readonly Benchmark[] = [{ name: 'engines', run: ({ quick }) => run(quick) }];
