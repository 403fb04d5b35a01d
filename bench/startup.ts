/**
 * CLI start-up (issue 17): the compiled CLI as a whole process, `--help` and `scalar-admin -c CHECK_PAUSED`
 * against a real admin server on loopback, median of 10 runs after one warm-up, next to bare `node -e 0` on
 * the same machine in the same run (the floor no CLI can beat). Needs `npm run build` (dist/main.js).
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

async function medianMs(
  args: readonly string[],
  runs: number,
): Promise<{ median: number; min: number; max: number }> {
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const ms = await runOnce(args);
    if (i > 0) times.push(ms); // the first run warms the file cache
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, min: times[0]!, max: times.at(-1)! };
}

export const benchmarks: readonly Benchmark[] = [
  {
    name: 'cli-startup',
    async run({ quick }): Promise<readonly BenchRow[]> {
      if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` first.');
      const runs = quick ? 3 : 10;
      const server = await startAdminServer({ gate: createGate({ log: () => undefined }), port: 0 });
      try {
        const bare = await medianMs(['-e', '0'], runs);
        const help = await medianMs([MAIN, '--help'], runs);
        const check = await medianMs(
          [MAIN, 'scalar-admin', '-c', 'CHECK_PAUSED', '-a', `127.0.0.1:${server.port}`],
          runs,
        );
        const row = (metric: string, t: Awaited<ReturnType<typeof medianMs>>): BenchRow => ({
          metric,
          value: `${t.median.toFixed(0)} ms`,
          goal: `≤ ${GOAL_MS} ms`,
          met: t.median <= GOAL_MS,
          note: `median of ${runs} (min ${t.min.toFixed(0)}, max ${t.max.toFixed(0)}); ${(t.median / bare.median).toFixed(2)}× bare node`,
        });
        return [
          row('`stillpoint --help`, compiled, whole process', help),
          row('`stillpoint scalar-admin -c CHECK_PAUSED` (1 real target), compiled', check),
          {
            metric: 'bare `node -e 0` (the floor, same run)',
            value: `${bare.median.toFixed(0)} ms`,
            goal: '—',
            note: `median of ${runs} (min ${bare.min.toFixed(0)}, max ${bare.max.toFixed(0)})`,
          },
        ];
      } finally {
        await server.close();
      }
    },
  },
];
