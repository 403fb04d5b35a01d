/**
 * `stillpoint backups verify <id> --level restore`: a restore drill. The backup is restored into scratch
 * targets (file-based members into a fresh 0700 temp directory, removed afterwards, or `--into`; server
 * members to a new name next to their source, as `restore` does by default), the recovery sweep and the
 * checker run on the result, and the outcome is recorded on the backup (a `restore-drill` catalog event)
 * so `backups show` and `backups list` report when the backup was last proven restorable. The plan's
 * restore hooks are NOT run: a drill must never point applications at its scratch copy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InvariantPlugins } from '../../checker/invariants.ts';
import type { Catalog } from '../../catalog/catalog.ts';
import { RESTORE_DRILL_EVENT, type RestoreDrillResult } from '../../catalog/verify-backup.ts';
import { runRestore } from '../../orchestrator/restore.ts';
import { loadPlan } from '../../plan/load-plan.ts';
import { resolveInvariants } from '../invariant-plugins.ts';

export interface DrillFlags {
  readonly plan?: string;
  readonly into?: string;
  readonly invariants?: readonly string[];
}

export async function runRestoreDrill(
  catalog: Catalog,
  backupId: string,
  flags: DrillFlags,
  plugins: InvariantPlugins,
  onStep?: (step: string) => void,
): Promise<RestoreDrillResult> {
  const plan = flags.plan === undefined ? undefined : loadPlan(flags.plan);
  const invariants = resolveInvariants(flags.invariants ?? plan?.checkInvariants, plugins);
  const scratch = flags.into ?? mkdtempSync(join(tmpdir(), 'stillpoint-drill-'));
  const started = Date.now();
  let result: RestoreDrillResult;
  try {
    const report = await runRestore(catalog, {
      backupId,
      intoDir: scratch,
      invariants,
      ...(plan === undefined ? {} : { plan: { ...plan, hooks: { before: [], after: [] } } }),
      onProgress: (e) => onStep?.(`${e.step}${e.member ? ` ${e.member}` : ''}`),
    });
    const violations = report.check?.violations.length ?? 0;
    result = {
      ok: report.state === 'restored',
      state: report.state,
      at: new Date().toISOString(),
      ms: Date.now() - started,
      checked: report.check !== null,
      violations,
      scratch: flags.into === undefined ? 'temporary directory (removed)' : scratch,
      ...(report.checkSkipped !== null ? { checkSkipped: report.checkSkipped } : {}),
      ...(report.error !== null ? { error: { code: report.error.code, message: report.error.message } } : {}),
    };
  } catch (error) {
    const e = error as { code?: string; message?: string };
    result = {
      ok: false,
      state: 'failed',
      at: new Date().toISOString(),
      ms: Date.now() - started,
      checked: false,
      violations: 0,
      scratch: flags.into === undefined ? 'temporary directory (removed)' : scratch,
      error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(error) },
    };
  } finally {
    if (flags.into === undefined) rmSync(scratch, { recursive: true, force: true });
  }
  catalog.note(backupId, RESTORE_DRILL_EVENT, result);
  return result;
}
