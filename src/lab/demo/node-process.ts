/**
 * THE way to start a node process (the demo, the trials and the tests all use it): a
 * `stillpoint node --config <file> --json` child process, started, its ready line read (with a deadline),
 * stopped with SIGTERM then SIGKILL, or SIGKILLed as a crash. Whoever starts one stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { InternalError } from '../../errors.ts';

/** The CLI entry that runs the compiled build when present, the TypeScript sources otherwise. */
export const CLI_BIN = fileURLToPath(new URL('../../../bin/stillpoint.js', import.meta.url));

export interface NodeProcessOptions {
  /** Deadline for the ready line. Default 30 s. */
  readonly readyTimeoutMs?: number;
  /** Node options placed before the script (e.g. the trials' clock-offset preload). */
  readonly execArgv?: readonly string[];
  /** The script to run (default {@link CLI_BIN}; the trials pin the compiled build, src/lab/trials/cli-entry.ts). */
  readonly entry?: string;
}

export interface NodeProcess {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly pid: number;
  /** False once the process has exited (for any reason: stopped, killed, crashed). */
  readonly running: boolean;
  /** The last 4 000 characters the process wrote to stderr (why it died, when it did). */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000). Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash). */
  kill(): Promise<void>;
}

interface ReadyLine {
  event: string;
  name?: string;
  address: string;
  adminPort: number;
  pid: number;
}

/** Starts a node and resolves once it printed its ready line (deadline `readyTimeoutMs`, default 30 s). */
export async function startNodeProcess(
  configFile: string,
  name: string,
  options: NodeProcessOptions = {},
): Promise<NodeProcess> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const child = spawn(
    process.execPath,
    [...(options.execArgv ?? []), options.entry ?? CLI_BIN, 'node', '--config', configFile, '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const ready = await readReady(child, readyTimeoutMs, () => stderr);
    return makeHandle(child, exited, name, ready, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
}

function readReady(child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<ReadyLine> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string): void => {
      clearTimeout(timer);
      lines.close();
      reject(
        new InternalError('NODE_START_FAILED', `stillpoint node did not start: ${why}. ${stderr().trim()}`, {
          hint: 'Run `stillpoint node --config <file>` by hand to see the error.',
        }),
      );
    };
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as ReadyLine;
        if (parsed.event === 'ready') {
          clearTimeout(timer);
          resolve(parsed);
        }
      } catch {
        // Not JSON: ignore (the node prints only JSON with --json).
      }
    });
    child.once('exit', (code, signal) => fail(`exited with ${signal ?? code}`));
  });
}

function makeHandle(
  child: ChildProcess,
  exited: Promise<void>,
  name: string,
  ready: ReadyLine,
  stderr: () => string,
): NodeProcess {
  const stop = async (graceMs = 3000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  return {
    name,
    address: ready.address,
    port: ready.adminPort,
    pid: child.pid ?? ready.pid,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    stderr,
    stop,
    kill,
  };
}
