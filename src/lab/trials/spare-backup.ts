/**
 * A `stillpoint backup` process started ahead of its trial. Starting one costs a second or more (Node, the
 * CLI, the engines, drivers and SDKs the backup command loads) before it does anything; a trial used to pay
 * that between writing its plan and the backup's first event. A spare is started while the previous trial
 * checks its results, with `--plan` naming a FIFO: the process loads everything, then blocks opening the
 * plan until the trial writes it. From that point on it is the same command reading the same plan as a
 * freshly started one (the plan's paths are absolute; the plan file proper, for recovery, is written too).
 *
 * A spare is used only by a trial that would start the backup exactly like it: no extra Node options (a
 * clock offset), and the environment unchanged since the spare started (an encryption key file, object
 * store credentials set meanwhile make it stale); otherwise it is killed and the trial starts its own.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCli, type CliProcess } from './cli-process.ts';

type LineHandler = (line: string, json: Record<string, unknown> | undefined) => void;

export interface SpareBackup {
  readonly process: CliProcess;
  /** Where its events go from now on (none are printed before the plan is read). */
  listen(handler: LineHandler): void;
  /** Hands the plan text to the waiting process. Resolves once it was read (or the process is gone). */
  feed(planText: string): Promise<void>;
}

export class BackupSpares {
  private spare: { spare: SpareBackup; env: string; fifo: string } | undefined;
  private n = 0;

  constructor(private readonly dir: string) {}

  /** Starts a spare unless one is waiting. Never throws (a trial then starts its own). */
  async refill(): Promise<void> {
    if (this.spare?.spare.process.running === true) return;
    const fifo = join(this.dir, `spare-${this.n++}.plan.yaml`);
    try {
      await promisify(execFile)('mkfifo', ['-m', '600', fifo]);
    } catch {
      return;
    }
    let handler: LineHandler = () => undefined;
    const child = startCli({
      args: ['backup', '--plan', fifo, '--json'],
      onLine: (line, json) => handler(line, json),
    });
    const spare: SpareBackup = {
      process: child,
      listen: (h) => void (handler = h),
      feed: (text) => feedFifo(fifo, text, child),
    };
    this.spare = { spare, env: envKey(), fifo };
  }

  /** The waiting spare when it can stand in for a backup started now with `execArgv`; else undefined. */
  take(execArgv: readonly string[]): SpareBackup | undefined {
    const held = this.spare;
    this.spare = undefined;
    if (held === undefined) return undefined;
    if (execArgv.length === 0 && held.env === envKey() && held.spare.process.running) return held.spare;
    void this.discard(held);
    return undefined;
  }

  async close(): Promise<void> {
    const held = this.spare;
    this.spare = undefined;
    if (held !== undefined) await this.discard(held);
  }

  private async discard(held: { spare: SpareBackup; fifo: string }): Promise<void> {
    held.spare.process.kill('SIGKILL');
    await held.spare.process.exited;
    await rm(held.fifo, { force: true });
  }
}

function envKey(): string {
  return JSON.stringify(Object.entries(process.env).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Writes `text` into the FIFO the process reads its plan from. Opening for writing waits for the reader;
 * a process that died first never opens it, so the wait also ends when it exits (the FIFO is then opened
 * for reading here, which releases the writer).
 */
async function feedFifo(fifo: string, text: string, child: CliProcess): Promise<void> {
  let done = false;
  const release = child.exited.then(async () => {
    if (done) return;
    const reader = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
    await reader?.close();
  });
  try {
    await writeFile(fifo, text).catch(() => undefined);
  } finally {
    done = true;
  }
  void release;
}
