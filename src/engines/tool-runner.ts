/**
 * The product's one child-process runner: the database's own command-line tools (pg_dump, pg_restore,
 * pg_basebackup, mariabackup, mariadb-binlog, …) for the engines, the restore hooks' shell commands for the
 * orchestrator, and a restored server started to outlive us ({@link startDetached}). A missing tool is an EngineError `TOOL_MISSING` with a hint, every
 * run has a deadline and follows an AbortSignal, and a failure carries the tool's stderr.
 * Secrets go through `env` (PGPASSWORD, MYSQL_PWD), never through argv, so a printed command is safe.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { EngineError } from '../errors.ts';

export interface ToolRunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  /** Deadline for the whole run; default 6 h (dumps of large databases). */
  readonly timeoutMs?: number;
  /** Run as this OS user (via runuser) when we are root; tools that write server-owned files need it. */
  readonly user?: string;
  /** Fed to stdin. */
  readonly stdin?: Readable;
  /** Receives stdout (otherwise stdout is collected, up to 16 MiB). */
  readonly stdout?: Writable;
  /** Someone else reads stdout (e.g. the artifact store's put): do not collect it. */
  readonly stdoutTaken?: boolean;
  readonly engine?: string;
  /** Its own process group: a deadline or an abort kills the whole group (a shell's children too). */
  readonly processGroup?: boolean;
  /** stdout and stderr go to ours (operator-visible hooks) instead of being collected. */
  readonly inheritOutput?: boolean;
}

const DEFAULT_TIMEOUT_MS = 6 * 3600_000;
const MAX_COLLECT = 16 * 1024 * 1024;

/** Throws EngineError TOOL_MISSING unless `tool` is on PATH (or is an existing absolute path). */
export function requireTool(tool: string, engine: string, hint: string): string {
  const found = spawnSync('sh', ['-c', `command -v "$0"`, tool], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new EngineError('TOOL_MISSING', `The tool ${tool} was not found on PATH.`, {
      hint,
      context: { engine, tool },
    });
  }
  return path;
}

/** True when `tool` is on PATH. */
export function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$0"`, tool]).status === 0;
}

/** One POSIX shell word: as is when it needs no quoting, else single-quoted (inner quotes as `'\\''`). */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Quotes argv for display (plans, logs). */
export function showCommand(command: string, args: readonly string[]): string {
  return [command, ...args].map(shellQuote).join(' ');
}

export function spawnTool(
  command: string,
  args: readonly string[],
  options: ToolRunOptions = {},
): ChildProcess {
  const asUser = options.user !== undefined && process.getuid?.() === 0;
  const [file, argv] = asUser
    ? ['runuser', ['-u', options.user ?? '', '--', command, ...args]]
    : [command, [...args]];
  const output = options.inheritOutput === true ? 'inherit' : 'pipe';
  return spawn(file, argv, {
    env: options.env ?? process.env,
    stdio: [options.stdin ? 'pipe' : 'ignore', output, output],
    detached: options.processGroup === true,
  });
}

/**
 * Starts a server that outlives this process (its own session, no stdio, not waited for); whoever started it
 * stops it through its pid file. Watch the returned child's `exit`/`error` to see an early death.
 */
export function startDetached(
  command: string,
  args: readonly string[],
  options: Pick<ToolRunOptions, 'env'> = {},
): ChildProcess {
  const child = spawn(command, [...args], {
    env: options.env ?? process.env,
    stdio: 'ignore',
    detached: true,
  });
  child.unref();
  return child;
}

/**
 * Runs a tool to completion. Rejects with EngineError `TOOL_FAILED` (stderr in the message), `TOOL_TIMEOUT`
 * or `ABORTED`; kills the child in every failure case.
 */
export async function runTool(
  command: string,
  args: readonly string[],
  options: ToolRunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const child = spawnTool(command, args, options);
  return waitTool(child, command, args, options);
}

/** Waits for an already spawned tool (see {@link runTool} for the failure codes). */
export function waitTool(
  child: ChildProcess,
  command: string,
  args: readonly string[],
  options: ToolRunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const engine = options.engine ?? 'tool';
  let stdout = '';
  let stderr = '';
  if (options.stdout) child.stdout?.pipe(options.stdout);
  else if (!options.stdoutTaken)
    child.stdout?.on('data', (d: Buffer) =>
      stdout.length < MAX_COLLECT ? (stdout += d.toString()) : undefined,
    );
  child.stderr?.on('data', (d: Buffer) =>
    stderr.length < MAX_COLLECT ? (stderr += d.toString()) : undefined,
  );
  if (options.stdin && child.stdin) {
    options.stdin.on('error', () => child.kill('SIGKILL'));
    child.stdin.on('error', () => {}); // EPIPE when the tool exits early; its exit code reports the failure.
    options.stdin.pipe(child.stdin);
  }
  return new Promise((resolve, reject) => {
    let failure: EngineError | undefined;
    const kill = (error: EngineError): void => {
      failure ??= error;
      if (options.processGroup === true && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      } else child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () =>
        kill(
          new EngineError(
            'TOOL_TIMEOUT',
            `${command} did not finish within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms.`,
            { context: { engine } },
          ),
        ),
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
    const onAbort = (): void =>
      kill(new EngineError('ABORTED', `${command} was aborted.`, { context: { engine } }));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (error) => {
      done();
      reject(
        new EngineError('TOOL_MISSING', `Could not start ${command}: ${error.message}`, {
          hint: `Install ${command} and make sure it is on PATH.`,
          context: { engine },
          cause: error,
        }),
      );
    });
    child.once('close', (code, signal) => {
      done();
      if (failure) return reject(failure);
      if (code === 0) return resolve({ stdout, stderr });
      reject(
        new EngineError(
          'TOOL_FAILED',
          `${showCommand(command, args)} failed (${code ?? signal}): ${stderr.trim().slice(-2000)}`,
          {
            context: { engine, exitCode: code },
          },
        ),
      );
    });
  });
}
