/**
 * Recovering a dead orchestrator's backup from "another host" (fault `orchestrator-kill-other-host`): once its
 * heartbeat is stale, `stillpoint backups recover --plan …` runs in its own UTS namespace with another
 * hostname (as a CronJob pod on another node would), with a new owner id. Nothing about the dead run's host
 * or PID can help it: ownership is by heartbeat only (src/orchestrator/ownership.ts).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { STALE_MARGIN_MS } from '../../orchestrator/ownership.ts';
import { cliEntry } from './cli-entry.ts';
import type { TrialPlan } from './backup-process.ts';

const execFileAsync = promisify(execFile);
export const OTHER_HOSTNAME = 'stillpoint-trial-other-host';

/** Waits until the dead run's heartbeat is stale, then recovers from another hostname. Returns violations. */
export async function recoverFromOtherHost(plan: TrialPlan, killedAtMs: number): Promise<string[]> {
  // The bound the product uses: 2 × the longest lease + the margin (the trial plan has one cluster).
  const staleAt = killedAtMs + 2 * plan.leaseMs + STALE_MARGIN_MS + 500;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, staleAt - Date.now())));
  const script = `hostname ${OTHER_HOSTNAME} && [ "$(hostname)" = ${OTHER_HOSTNAME} ] && exec "$0" "$@"`;
  try {
    // unshare -u: a new UTS namespace, so the hostname changes for this process only.
    await execFileAsync(
      'unshare',
      [
        '-u',
        'sh',
        '-c',
        script,
        process.execPath,
        cliEntry(),
        'backups',
        'recover',
        '--plan',
        plan.file,
        '--json',
      ],
      {
        timeout: 120_000,
        maxBuffer: 4 * 1024 * 1024,
      },
    );
    return [];
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    return [`recovery from another host failed: ${(e.stderr ?? e.message).trim().slice(-400)}`];
  }
}
