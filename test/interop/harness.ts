/**
 * The interop harness: builds the Maven project in interop/ once (offline from ~/.m2 when the cache is warm)
 * and runs its Java drivers — real ScalarDB and scalar-admin from Maven Central — as child processes whose
 * stdout is JSON lines. When Java, Maven or an artifact is unavailable, {@link interopSkipReason} says exactly
 * why, and the test files skip with that reason in the test name (never a quiet pass).
 */
import { spawn, execFile } from 'node:child_process';
import { existsSync, statSync, readdirSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const INTEROP_DIR = fileURLToPath(new URL('../../interop/', import.meta.url));
/** A Maven project of drivers: its classpath and the files that say whether it is built. */
interface Project {
  readonly dir: string;
  readonly classpath: string;
  readonly stamp: string;
  readonly lock: string;
}

function project(dir: string, jar: string): Project {
  return {
    dir,
    classpath: `${join(dir, 'target', 'classes')}:${join(dir, 'target', 'lib')}/*`,
    stamp: join(dir, 'target', jar),
    lock: join(dir, 'target', '.build-lock'),
  };
}

/** The drivers on ScalarDB 3.19 and scalar-admin. */
const DRIVERS = project(INTEROP_DIR, 'stillpoint-interop-0.1.0.jar');
/** ScalarDB Server 3.13.6 and its 3.13 gRPC client (interop/server/pom.xml says which jars Central lacks). */
const SERVER = project(join(INTEROP_DIR, 'server'), 'stillpoint-interop-server-0.1.0.jar');

/** Versions the poms pin (kept in one place for test names and docs/compatibility.md). */
export const VERSIONS = {
  scalardb: '3.19.0',
  scalarAdmin: '2.2.1',
  scalardbServer: '3.13.6',
  scalardbServerCore: '3.13.1',
} as const;

export type JsonLine = Record<string, unknown>;

const built = new Map<Project, Promise<string | undefined>>();

function buildOnce(p: Project): Promise<string | undefined> {
  let result = built.get(p);
  if (result === undefined) built.set(p, (result = build(p)));
  return result;
}

/** Undefined when the drivers are built and runnable; otherwise the exact reason they are not. */
export function interopSkipReason(): Promise<string | undefined> {
  return buildOnce(DRIVERS);
}

/** Undefined when ScalarDB Server and its client are built and runnable; otherwise the exact reason. */
export function serverSkipReason(): Promise<string | undefined> {
  return buildOnce(SERVER);
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function upToDate(p: Project): boolean {
  if (!existsSync(p.stamp) || !existsSync(join(p.dir, 'target', 'lib'))) return false;
  const sources = Math.max(newestSource(join(p.dir, 'src')), statSync(join(p.dir, 'pom.xml')).mtimeMs);
  return statSync(p.stamp).mtimeMs >= sources;
}

async function build(p: Project): Promise<string | undefined> {
  for (const tool of ['java', 'mvn']) {
    try {
      await execFileAsync(tool, ['-version'], { timeout: 60_000 });
    } catch (error) {
      return `${tool} is not runnable here: ${(error as Error).message.split('\n')[0]}`;
    }
  }
  if (upToDate(p)) return undefined;
  // Test files run in parallel workers: one builds, the others wait for its result (mkdir is atomic).
  mkdirSync(join(p.dir, 'target'), { recursive: true });
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(p.lock);
      break;
    } catch {
      if (upToDate(p)) return undefined;
      if (Date.now() > deadline) return 'another worker held the interop build lock for 10 minutes';
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (upToDate(p)) return undefined;
    const offline = await mvn(p, ['-o']);
    if (offline === undefined) return undefined;
    // A cold cache: one online attempt (CI prepares the cache in .ci/run, so this is the local first run).
    if (!/offline mode|has not been downloaded/.test(offline)) return `mvn -o package failed: ${offline}`;
    const online = await mvn(p, []);
    return online === undefined ? undefined : `Maven could not fetch the interop dependencies: ${online}`;
  } finally {
    rmSync(p.lock, { recursive: true, force: true });
  }
}

/** Runs `mvn -q -B package`; undefined on success, else the error lines Maven printed. */
async function mvn(p: Project, extra: string[]): Promise<string | undefined> {
  try {
    await execFileAsync('mvn', [...extra, '-q', '-B', '-f', join(p.dir, 'pom.xml'), 'package'], {
      timeout: 900_000,
      maxBuffer: 32 * 1024 * 1024,
    });
    return undefined;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    const lines = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.split('\n').filter((l) => l.includes('[ERROR]'));
    return (lines.slice(0, 3).join(' ').replace(/\s+/g, ' ').trim() || e.message).slice(0, 600);
  }
}

export interface DriverRun {
  readonly lines: JsonLine[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

export interface DriverProcess {
  /** Resolves with the first line (already seen or still to come) matching `predicate`. */
  next(predicate: (line: JsonLine) => boolean, timeoutMs?: number): Promise<JsonLine>;
  /** Writes one line to the driver's stdin. */
  send(line: string): void;
  /** Resolves when the process exited. */
  done(): Promise<DriverRun>;
  kill(): void;
}

/** Starts `stillpoint.interop.<driver>` with `args`; JSON lines on stdout are collected in order. */
export function startDriver(
  driver: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): DriverProcess {
  return startJava(DRIVERS, `stillpoint.interop.${driver}`, args, env);
}

/** Starts a main class of the ScalarDB Server project (the server itself, or `stillpoint.interop.server.*`). */
export function startServerJava(mainClass: string, args: readonly string[]): DriverProcess {
  return startJava(SERVER, mainClass, args, {});
}

function startJava(
  p: Project,
  mainClass: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): DriverProcess {
  const driver = mainClass.slice(mainClass.lastIndexOf('.') + 1);
  const child = spawn(
    'java',
    ['-XX:TieredStopAtLevel=1', '-Xshare:auto', '-cp', p.classpath, mainClass, ...args],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    },
  );
  const lines: JsonLine[] = [];
  const waiters: { predicate: (line: JsonLine) => boolean; resolve: (line: JsonLine) => void }[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)));
  createInterface({ input: child.stdout }).on('line', (text) => {
    if (!text.startsWith('{')) return;
    const line = JSON.parse(text) as JsonLine;
    lines.push(line);
    for (const waiter of waiters.splice(0)) {
      if (waiter.predicate(line)) waiter.resolve(line);
      else waiters.push(waiter);
    }
  });
  const exited = new Promise<DriverRun>((resolve) =>
    child.once('close', (code, signal) => resolve({ lines, code, signal, stderr })),
  );
  return {
    next(predicate, timeoutMs = 60_000) {
      const seen = lines.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`${driver}: no matching line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`),
            ),
          timeoutMs,
        );
        waiters.push({ predicate, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        void exited.then(() => {
          clearTimeout(timer);
          reject(
            new Error(
              `${driver} exited before a matching line; lines: ${JSON.stringify(lines).slice(-2000)}; stderr: ${stderr.slice(-2000)}`,
            ),
          );
        });
      });
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    done: () => exited,
    kill() {
      child.kill('SIGKILL');
    },
  };
}

/** Runs a driver to completion; throws (with its stderr) when it exits non-zero. */
export async function runDriver(
  driver: string,
  args: readonly string[],
  options: { allowFailure?: boolean } = {},
): Promise<DriverRun> {
  const proc = startDriver(driver, args);
  proc.send('');
  const run = await proc.done();
  if (run.code !== 0 && options.allowFailure !== true) {
    throw new Error(
      `${driver} ${args.join(' ')} exited ${run.code ?? run.signal}: ${run.stderr.slice(-3000)}\nlines: ${JSON.stringify(run.lines).slice(-2000)}`,
    );
  }
  return run;
}
