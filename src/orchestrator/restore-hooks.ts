/**
 * Restore hooks: shell commands run once around the whole restore (not per member): `before` stops the
 * services that use the group, `after` starts them again. Each runs with a deadline; a failure stops the
 * restore (before) or is reported (after).
 */
import { spawn } from 'node:child_process';
import { EngineError } from '../errors.ts';

export interface HookResult {
  readonly command: string;
  readonly exitCode: number | null;
  readonly ms: number;
}

/** Runs `commands` in order with `sh -c`; throws EngineError `RESTORE_HOOK_FAILED` on the first failure. */
export async function runHooks(
  commands: readonly string[],
  env: Record<string, string>,
  signal: AbortSignal,
  timeoutMs = 10 * 60_000,
): Promise<HookResult[]> {
  const results: HookResult[] = [];
  for (const command of commands) {
    const started = Date.now();
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      // Its own process group, so a deadline or an interrupt stops the whole command, not only `sh`.
      const child = spawn('sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
      const stop = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
      const kill = (): void => {
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGTERM');
          } catch {
            // already gone
          }
        }
        reject(stop.reason instanceof Error ? stop.reason : new Error('hook stopped'));
      };
      if (stop.aborted) kill();
      else stop.addEventListener('abort', kill, { once: true });
      child.on('error', reject);
      child.on('exit', (code) => {
        stop.removeEventListener('abort', kill);
        resolve(code);
      });
    }).catch((cause: unknown) => {
      throw new EngineError('RESTORE_HOOK_FAILED', `Hook "${command}" could not run or timed out.`, {
        hint: 'Fix the command under restore.hooks in the plan, or run it by hand.',
        cause,
      });
    });
    results.push({ command, exitCode, ms: Date.now() - started });
    if (exitCode !== 0) {
      throw new EngineError('RESTORE_HOOK_FAILED', `Hook "${command}" exited with ${String(exitCode)}.`, {
        context: { results },
        hint: 'Fix the command under restore.hooks in the plan, or run it by hand.',
      });
    }
  }
  return results;
}
