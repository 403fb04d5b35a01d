/**
 * Helpers for the throwaway database servers that tests, trials, benchmarks and the demo start themselves:
 * a free loopback port, commands run as an unprivileged user when we are root (PostgreSQL refuses root),
 * and a child-process runner that reports stderr on failure.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile, execFileSync } from 'node:child_process';
import { chown } from 'node:fs/promises';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A free TCP port on 127.0.0.1 (the OS picks; a tiny race remains until the server binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/** uid/gid of a system user, for chown. */
export function userIds(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  return { uid, gid };
}

/** Gives `paths` to `user` when we are root (so a server running as that user can write them). */
export async function handOver(user: string | undefined, ...paths: string[]): Promise<void> {
  if (user === undefined || !isRoot()) return;
  const { uid, gid } = userIds(user);
  for (const path of paths) await chown(path, uid, gid);
}

/** Runs a command (as `user` via runuser when root and a user is given); throws with stderr on failure. */
export async function run(
  command: string,
  args: readonly string[],
  options: { user?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  const [file, argv] =
    options.user !== undefined && isRoot()
      ? ['runuser', ['-u', options.user, '--', command, ...args]]
      : [command, [...args]];
  try {
    return await execFileAsync(file, argv, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, {
      cause: error,
    });
  }
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
