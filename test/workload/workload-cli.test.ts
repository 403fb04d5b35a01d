/** `stillpoint workload bank` flags through the real CLI: the shared duration syntax and its bounds. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closedPort } from '../pause/helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/stillpoint.js', import.meta.url));
const run = (args: string[]) =>
  spawnSync(process.execPath, [BIN, 'workload', 'bank', ...args], { encoding: 'utf8', timeout: 120_000 });

describe('workload bank --duration', () => {
  it('takes hours (1h was refused before), refuses more than a week and non-durations with exit 2', async () => {
    const target = `127.0.0.1:${await closedPort()}`;
    // 1h parses; the run then ends after its one transfer fails against a port nobody listens on.
    const hour = run([
      '--targets',
      target,
      '--duration',
      '1h',
      '--transfers',
      '1',
      '--concurrency',
      '1',
      '--json',
    ]);
    expect(hour.stderr).not.toMatch(/DURATION_|BAD_DURATION/);
    expect(hour.status).toBe(1);
    const tooLong = run(['--targets', target, '--duration', '2w']);
    expect([tooLong.status, /DURATION_OUT_OF_RANGE/.test(tooLong.stderr)]).toEqual([2, true]);
    const nonsense = run(['--targets', target, '--duration', 'soon']);
    expect([nonsense.status, /DURATION_INVALID/.test(nonsense.stderr)]).toEqual([2, true]);
  }, 180_000);
});
