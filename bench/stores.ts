/**
 * The S3 artifact store against the databases' own tools plus the same SDK, side by side in one run
 * (issue 12), with s3rver in a child process on loopback:
 * - PostgreSQL logical backup to `s3://…?compression=gzip&encryption=local` (pg_dump -Fc streamed through
 *   gzip and AES-256-GCM records into a multipart upload) / `pg_dump -Fd -j 2` to a directory followed by
 *   uploading that directory with @aws-sdk/lib-storage (goal ≤ 1.15);
 * - peak RSS of this process during our backup (s3rver and pg_dump are other processes; goal ≤ 256 MB);
 * - restore from the S3 store (download, decrypt, decompress streamed into pg_restore) / downloading the
 *   directory and `pg_restore -j 2` (goal ≤ 1.15).
 * Size: STILLPOINT_BENCH_STORES_MB (default 1024), 50 MB with --quick. One round each, ours first.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { openArtifactStore } from '../src/artifacts/open-store.ts';
import type { MemberRecord, MemberSpec } from '../src/engines/contract.ts';
import { resolveMember } from '../src/engines/registry.ts';
import { runTool } from '../src/engines/tool-runner.ts';
import { PG_BIN, startLocalPostgres, type LocalPostgres } from '../src/lab/local-servers/postgres-server.ts';
import type { Benchmark, BenchRow } from './contract.ts';

const TABLES = 4;
const ROW_BYTES = 200;
const quiet = { info: () => undefined, warn: () => undefined };
const never = new AbortController().signal;
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

async function startS3rverProcess(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./s3rver-process.ts', import.meta.url).pathname],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`s3rver process exited ${code}`)));
  });
  return {
    endpoint,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

async function load(server: LocalPostgres, rowsPerTable: number): Promise<void> {
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

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

/** Samples this process's RSS every 20 ms while `fn` runs; returns the peak in MB. */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ mb: number; value: T }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const value = await fn();
    return { mb: Math.max(peak, process.memoryUsage.rss()) / 2 ** 20, value };
  } finally {
    clearInterval(timer);
  }
}

function ratioRow(metric: string, ours: number, theirs: number, note: string): BenchRow {
  const ratio = ours / theirs;
  return {
    metric,
    value: `${ratio.toFixed(2)}×`,
    goal: '≤ 1.15',
    met: ratio <= 1.15,
    note: `${(ours / 1000).toFixed(2)} s vs ${(theirs / 1000).toFixed(2)} s; ${note}`,
  };
}

async function run(quick: boolean): Promise<BenchRow[]> {
  const targetMb = quick ? 50 : Number(process.env.STILLPOINT_BENCH_STORES_MB ?? 1024);
  const rowsPerTable = Math.round((targetMb * 2 ** 20) / TABLES / (ROW_BYTES + 60));
  const dir = await mkdtemp(join(tmpdir(), 'sp-bench-stores-'));
  const [server, s3] = await Promise.all([startLocalPostgres(), startS3rverProcess()]);
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    STILLPOINT_KEK: 'b'.repeat(64),
  });
  try {
    await load(server, rowsPerTable);
    const sizeMb =
      Number(
        ((await server.query(`SELECT pg_database_size('bench') AS s`, [], 'bench')).rows[0] as { s: string })
          .s,
      ) /
      2 ** 20;
    await client.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const url = `s3://bench/ours?endpoint=${encodeURIComponent(s3.endpoint)}&compression=gzip&encryption=local`;
    const store = openArtifactStore(url);
    const member: MemberSpec = {
      name: 'pg',
      engine: 'postgres',
      connection: server.connection('bench'),
      namespaces: ['public'],
      options: { method: 'logical', jobs: 2 },
    };
    const { kind, options } = resolveMember(member);

    // Ours: backup to S3 (peak RSS sampled), then restore from S3.
    const backup = await peakRss(() =>
      timed(async () => {
        const session = kind.openBackup(
          {
            backupId: 'bk-s3',
            member,
            artifacts: store,
            artifactPrefix: 'bk-s3/pg/',
            sharedPrefix: 'shared/pg/',
            log: quiet,
          },
          options,
        );
        try {
          await session.prepare(never);
          await session.capture(never);
          return await session.finish({ pausedAtMs: 0, unpauseStartedAtMs: 0, midMs: 0 }, never);
        } finally {
          await session.close();
        }
      }),
    );
    const record: MemberRecord = {
      backupId: 'bk-s3',
      member,
      handle: backup.value.value.handle,
      artifacts: backup.value.value.artifacts,
    };
    const restore = await timed(async () => {
      const session = kind.openRestore(
        { record, target: { database: 'ours_restored' }, artifacts: store, log: quiet },
        options,
      );
      try {
        return await session.restore({ force: true, signal: never });
      } finally {
        await session.close();
      }
    });

    // Native: pg_dump -Fd -j 2, upload the directory with the same SDK; download it, pg_restore -j 2.
    const env = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(server.port), PGUSER: 'postgres' };
    const out = join(dir, 'native');
    const nativeBackup = await timed(async () => {
      await runTool(join(PG_BIN, 'pg_dump'), ['-F', 'd', '-j', '2', '-f', out, '-d', 'bench'], { env });
      await Promise.all(
        (await readdir(out)).map((name) =>
          new Upload({
            client,
            params: { Bucket: 'bench', Key: `native/${name}`, Body: createReadStream(join(out, name)) },
            partSize: 8 * 2 ** 20,
            queueSize: 4,
          }).done(),
        ),
      );
    });
    await rm(out, { recursive: true, force: true });
    const back = join(dir, 'native-back');
    const nativeRestore = await timed(async () => {
      await mkdir(back);
      const listed = await client.send(new ListObjectsV2Command({ Bucket: 'bench', Prefix: 'native/' }));
      await Promise.all(
        (listed.Contents ?? []).map(async (o) => {
          const got = await client.send(new GetObjectCommand({ Bucket: 'bench', Key: o.Key! }));
          await pipeline(got.Body as Readable, createWriteStream(join(back, o.Key!.slice('native/'.length))));
        }),
      );
      await server.query('CREATE DATABASE native_restored');
      await runTool(
        join(PG_BIN, 'pg_restore'),
        ['--exit-on-error', '--no-owner', '-j', '2', '-d', 'native_restored', back],
        { env },
      );
    });
    const note = `${sizeMb.toFixed(0)} MB database${quick ? ' (--quick)' : ''}, gzip + AES-256-GCM, s3rver on loopback`;
    return [
      ratioRow(
        'PostgreSQL logical backup to S3 / pg_dump -Fd -j 2 + upload',
        backup.value.ms,
        nativeBackup.ms,
        `${note}; ours stored ${(backup.value.value.bytes / 2 ** 20).toFixed(0)} MB`,
      ),
      {
        metric: 'peak RSS of the backup to S3',
        value: `${backup.mb.toFixed(0)} MB`,
        goal: '≤ 256 MB',
        met: backup.mb <= 256,
        note: `${note}; this process only (s3rver and pg_dump run apart)`,
      },
      ratioRow('restore from S3 / download + pg_restore -j 2', restore.ms, nativeRestore.ms, note),
    ];
  } finally {
    process.env = saved;
    client.destroy();
    await Promise.allSettled([server.stop(), s3.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ name: 'stores', run: ({ quick }) => run(quick) }];
