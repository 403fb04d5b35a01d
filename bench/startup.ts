/**
 * CLI start-up (issue 17): the compiled CLI as a whole process, `--help` and `scalar-admin -c CHECK_PAUSED`
 * against a real admin server on loopback, median of 10 runs after one warm-up, next to bare `node -e 0` on
 * the same machine in the same run (the floor no CLI can beat), the three interleaved round by round. Needs
 * `npm run build` (dist/main.js).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Benchmark, BenchRow } from './contract.ts';
import { createGate } from '../src/pause/gate.ts';
import { startAdminServer } from '../src/pause/admin-server.ts';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const GOAL_MS = 250;

/** Async, not spawnSync: the admin server answering CHECK_PAUSED runs in this process's event loop. */
function runOnce(args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - start));
  });
}

interface Timing {
  median: number;
  min: number;
  max: number;
  /** Median of the per-round ratios to bare node (the rounds interleave, so machine load drifts cancel). */
  ratio: number;
}

/**
 * Runs every command once per round, in turn (bare node first), for `runs` rounds after one warm-up round:
 * on a shared machine the load drifts, and interleaving keeps each round's figures comparable.
 */
async function interleaved(commands: readonly (readonly string[])[], runs: number): Promise<Timing[]> {
  const times = commands.map((): number[] => []);
  for (let round = 0; round <= runs; round++) {
    for (const [i, args] of commands.entries()) {
      const ms = await runOnce(args);
      if (round > 0) times[i]!.push(ms); // the first round warms the file cache
    }
  }
  const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return times.map((t) => ({
    median: median(t),
    min: Math.min(...t),
    max: Math.max(...t),
    ratio: median(t.map((ms, round) => ms / times[0]![round]!)),
  }));
}

export const benchmarks: readonly Benchmark[] = [
  {
    name: 'cli-startup',
    async run({ quick }): Promise<readonly BenchRow[]> {
      if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` first.');
      const runs = quick ? 3 : 10;
      const server = await startAdminServer({ gate: createGate({ log: () => undefined }), port: 0 });
      try {
        const [bare, help, check] = await interleaved(
          [
            ['-e', '0'],
            [MAIN, '--help'],
            [MAIN, 'scalar-admin', '-c', 'CHECK_PAUSED', '-a', `127.0.0.1:${server.port}`],
          ],
          runs,
        );
        const row = (metric: string, t: Timing): BenchRow => ({
          metric,
          value: `${t.median.toFixed(0)} ms`,
          goal: `≤ ${GOAL_MS} ms`,
          met: t.median <= GOAL_MS,
          note: `median of ${runs} (min ${t.min.toFixed(0)}, max ${t.max.toFixed(0)}); ${t.ratio.toFixed(2)}× bare node (median of the paired runs' ratios)`,
        });
        return [
          row('`stillpoint --help`, compiled, whole process', help!),
          row('`stillpoint scalar-admin -c CHECK_PAUSED` (1 real target), compiled', check!),
          {
            metric: 'bare `node -e 0` (the floor, same run)',
            value: `${bare!.median.toFixed(0)} ms`,
            goal: '—',
            note: `median of ${runs} (min ${bare!.min.toFixed(0)}, max ${bare!.max.toFixed(0)}); rounds interleave bare node, --help, CHECK_PAUSED`,
          },
        ];
      } finally {
        await server.close();
      }
    },
  },
];
