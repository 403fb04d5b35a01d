/**
 * Memory peak of one backup of a group of 1 GB (`--quick`: 50 MB), sampled from /proc (VmHWM) of the
 * `stillpoint backup` process, against the same backup of a group 20× smaller: streaming copies must keep
 * memory flat as the group grows. Measured on the CLI as it ships (compiled by `tsc -p tsconfig.build.json`
 * into a temp dir, so the checkout's own dist/ — which bin/stillpoint.js would prefer — is left alone), and
 * for scale on the sources run through tsx (what `bin/stillpoint.js` runs when nothing is built).
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Benchmark, BenchRow } from './contract.ts';
import { sqliteGroup, withDir } from './product.ts';
import { writeTrialPlan } from '../src/lab/trials/backup-process.ts';
import { startNodes } from '../src/lab/trials/group-setup.ts';
import { DEFAULT_SIZES } from '../src/lab/trials/sizes.ts';

const MB = 2 ** 20;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GOAL_BYTES = 256 * MB;

/** Adds `bytes` of incompressible rows to an SQLite file, in a table the engine copies like any other. */
function fill(path: string, bytes: number): void {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, data BLOB NOT NULL)');
    const rowBytes = 64 * 1024;
    const insert = db.prepare('INSERT INTO filler (data) VALUES (randomblob(?))');
    const rows = Math.ceil(bytes / rowBytes);
    for (let done = 0; done < rows; done += 1000) {
      db.transaction(() => {
        for (let i = done; i < Math.min(rows, done + 1000); i += 1) insert.run(rowBytes);
      })();
    }
  } finally {
    db.close();
  }
}

/** Runs `node <args>` to completion. */
function node(args: readonly string[]): Promise<{ code: number | null; stderr: string; peak: number }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let peak = 0;
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2_000)));
  const sample = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8')
      .then(
        (status) => (peak = Math.max(peak, Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0) * 1024)),
      )
      .catch(() => undefined);
  }, 20);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearInterval(sample);
      resolve({ code, stderr, peak });
    }),
  );
}

/** Compiles the CLI into `dir` (package.json and node_modules linked so its imports resolve); returns main.js. */
async function buildCli(dir: string): Promise<string> {
  const out = join(dir, 'dist');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const built = await node([tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out]);
  if (built.code !== 0) throw new Error(`tsc failed: ${built.stderr}`);
  for (const proto of ['pause/proto', 'lab/bank/proto'])
    await cp(join(ROOT, 'src', proto), join(out, proto), { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return join(out, 'main.js');
}

interface Peak {
  readonly peak: number;
  readonly ms: number;
  readonly ok: boolean;
  readonly detail: string;
}

/** Peak RSS of one `stillpoint backup` per CLI (node arguments before the command) of an SQLite group of about `bytes`. */
async function backupPeaks(bytes: number, clis: ReadonlyArray<readonly string[]>): Promise<Peak[]> {
  return withDir(async (dir) => {
    const databases = await sqliteGroup(dir, 20);
    const cleanups: Array<() => Promise<void>> = [];
    try {
      for (const m of databases.members.slice(0, 2)) {
        if (m.connection.kind === 'sqlite') fill(m.connection.path, bytes / 2);
      }
      // A group of several members needs a cluster to pause: one idle node.
      const nodes = await startNodes(dir, databases, { ...DEFAULT_SIZES, nodes: 1 }, cleanups);
      const adminAddresses = nodes.map((n) => n.address);
      const plan = await writeTrialPlan({
        dir,
        mode: 'snapshot',
        adminAddresses,
        members: databases.members,
        leaseMs: 15_000,
        drainTimeoutMs: 10_000,
        minWindowMs: 0,
      });
      const peaks: Peak[] = [];
      for (const cli of clis) {
        const started = Date.now();
        const exit = await node([...cli, 'backup', '--plan', plan.file, '--json']);
        const ok = exit.code === 0;
        peaks.push({
          peak: exit.peak,
          ms: Date.now() - started,
          ok,
          detail: ok ? '' : exit.stderr.slice(-300),
        });
      }
      return peaks;
    } finally {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      await databases.close();
    }
  });
}

const label = (b: number): string =>
  b >= 1024 * MB ? `${(b / 1024 / MB).toFixed(0)} GB` : `${(b / MB).toFixed(1)} MB`;
const mb = (b: number): string => `${(b / MB).toFixed(0)} MB`;
const failure = (p: Peak): string => (p.ok ? '' : `; FAILED: ${p.detail}`);

async function memory(quick: boolean): Promise<BenchRow[]> {
  const large = quick ? 50 * MB : 1024 * MB;
  const small = large / 20;
  const buildDir = await mkdtemp(join(tmpdir(), 'stillpoint-bench-build-'));
  try {
    const compiled = [await buildCli(buildDir)];
    const viaTsx = [join(ROOT, 'bin', 'stillpoint.js')];
    const [s] = await backupPeaks(small, [compiled]);
    const [l, lTsx] = await backupPeaks(large, [compiled, viaTsx]);
    const ratio = s!.peak > 0 ? l!.peak / s!.peak : NaN;
    return [
      {
        metric: `backup process peak RSS, group of ${label(large)} (compiled CLI)`,
        value: mb(l!.peak),
        goal: `≤ ${mb(GOAL_BYTES)}`,
        met: l!.ok && l!.peak > 0 && l!.peak <= GOAL_BYTES,
        note: `${(l!.ms / 1000).toFixed(1)} s wall incl. process start${failure(l!)}`,
      },
      {
        metric: `peak RSS, ${label(large)} group / ${label(small)} group (compiled CLI)`,
        value: `${ratio.toFixed(2)}×`,
        goal: '≤ 1.5× (memory must not grow with the data)',
        met: s!.ok && l!.ok && ratio <= 1.5,
        note: `${label(small)}: ${mb(s!.peak)}${failure(s!)}`,
      },
      {
        metric: `backup process peak RSS, group of ${label(large)} (sources through tsx, nothing built)`,
        value: mb(lTsx!.peak),
        goal: '—',
        note: `the TypeScript loader's own memory on top of the compiled figure${failure(lTsx!)}`,
      },
    ];
  } finally {
    await rm(buildDir, { recursive: true, force: true });
  }
}

export const benchmarks: readonly Benchmark[] = [
  { name: 'product: backup memory peak', run: ({ quick }) => memory(quick) },
];
