/**
 * A `stillpoint …` child process the trial runner owns: started with the same Node from the campaign's
 * entry (./cli-entry.ts: the compiled build when current), its stdout read line by line (NDJSON events with `--json`, or a node's ready line), killed with a
 * chosen signal at a chosen moment, and its resident-memory high-water mark sampled from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { InternalError } from '../../errors.ts';
import { cliEntry } from './cli-entry.ts';

export interface CliProcessOptions {
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Node options placed before the script (e.g. a preload, ./clock-offset.ts). */
  readonly execArgv?: readonly string[];
  /** Called for every stdout line (a parsed object when the line is JSON). */
  readonly onLine?: (line: string, json: Record<string, unknown> | undefined) => void;
  /** Sample VmHWM from /proc every `rssSampleMs` (default: off). */
  readonly rssSampleMs?: number;
}

export interface CliExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the first stdout line for which `match` is true; rejects on exit or after `timeoutMs`. */
  waitForLine(
    match: (line: string, json: Record<string, unknown> | undefined) => boolean,
    timeoutMs: number,
  ): Promise<string>;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<CliExit>;
  readonly running: boolean;
  kill(signal: NodeJS.Signals): void;
  /** Highest VmHWM seen, bytes (0 when not sampled). */
  peakRssBytes(): number;
}

/** Starts `stillpoint <args>`. The caller must kill it or await `exited`. */
export function startCli(options: CliProcessOptions): CliProcess {
  const child = spawn(process.execPath, [...(options.execArgv ?? []), cliEntry(), ...options.args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    throw new InternalError('TRIAL_SPAWN_FAILED', `could not start stillpoint ${options.args.join(' ')}.`);
  }
  const pid = child.pid;
  let stdout = '';
  let stderr = '';
  let running = true;
  let peak = 0;
  const waiters = new Set<(line: string, json: Record<string, unknown> | undefined) => void>();

  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout += `${line}\n`;
    const json = parseJson(line);
    options.onLine?.(line, json);
    for (const waiter of [...waiters]) waiter(line, json);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    // Keep the tail only: a chatty process must not grow the runner's memory without bound.
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });

  const sampler =
    options.rssSampleMs === undefined
      ? undefined
      : setInterval(() => {
          void readHwm(pid).then((bytes) => (peak = Math.max(peak, bytes)));
        }, options.rssSampleMs);

  const exited = new Promise<CliExit>((resolve) => {
    child.on('error', (error) => {
      stderr += `\n${error.message}`;
    });
    child.on('close', (code, signal) => {
      running = false;
      if (sampler !== undefined) clearInterval(sampler);
      for (const waiter of [...waiters]) waiter('', undefined);
      resolve({ code, signal, stdout, stderr });
    });
  });

  return {
    pid,
    child,
    exited,
    get running() {
      return running;
    },
    kill(signal) {
      if (running) child.kill(signal);
    },
    peakRssBytes: () => peak,
    waitForLine(match, timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new InternalError(
              'TRIAL_CHILD_TIMEOUT',
              `stillpoint ${options.args[0] ?? ''} printed no expected line within ${timeoutMs} ms.`,
              { context: { stderr: stderr.slice(-2000) } },
            ),
          );
        }, timeoutMs);
        const waiter = (line: string, json: Record<string, unknown> | undefined): void => {
          if (!running && line === '') {
            clearTimeout(timer);
            waiters.delete(waiter);
            reject(
              new InternalError(
                'TRIAL_CHILD_EXITED',
                `stillpoint ${options.args[0] ?? ''} exited before the expected line: ${lastLine(stderr)}`,
                { context: { stderr: stderr.slice(-2000) } },
              ),
            );
          } else if (match(line, json)) {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(line);
          }
        };
        if (!running) waiter('', undefined);
        else waiters.add(waiter);
      });
    },
  };
}

/** The last non-empty line of a process's stderr (its error message, usually). */
function lastLine(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^\s+at /.test(l));
  return (lines.at(-1) ?? '(no stderr)').slice(0, 300);
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** VmHWM (peak resident set) of a live process in bytes; 0 when unreadable (exited, not Linux). */
export async function readHwm(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match?.[1] === undefined ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}
