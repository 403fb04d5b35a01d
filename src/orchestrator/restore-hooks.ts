/**
 * Restore hooks: shell commands run once around the whole restore (not per member): `before` stops the
 * services that use the group, `after` starts them again. Each runs with a deadline; a failure stops the
 * restore (before) or is reported (after). They run through the product's one child-process runner.
 */
import { runTool } from '../engines/tool-runner.ts';
import { EngineError, asStillpointError } from '../errors.ts';

export interface HookResult {
  readonly command: string;
  readonly exitCode: number | null;
  readonly ms: number;
}

const HINT = 'Fix the command under restore.hooks in the plan, or run it by hand.';

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
    // Its own process group, so a deadline or an interrupt stops the whole command, not only `sh`.
    const exitCode = await runTool('sh', ['-c', command], {
      env: { ...process.env, ...env },
      signal,
      timeoutMs,
      processGroup: true,
      inheritOutput: true,
      engine: 'restore-hook',
    }).then(
      () => 0,
      (error: unknown) => {
        const e = asStillpointError(error);
        if (e.code === 'TOOL_FAILED' && typeof e.context?.exitCode === 'number') return e.context.exitCode;
        throw new EngineError('RESTORE_HOOK_FAILED', `Hook "${command}" could not run or timed out.`, {
          hint: HINT,
          cause: error,
        });
      },
    );
    results.push({ command, exitCode, ms: Date.now() - started });
    if (exitCode !== 0) {
      throw new EngineError('RESTORE_HOOK_FAILED', `Hook "${command}" exited with ${String(exitCode)}.`, {
        context: { results },
        hint: HINT,
      });
    }
  }
  return results;
}
