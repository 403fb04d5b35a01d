/**
 * `backups verify`: is a backup still what the catalog says it is? Checks the catalog's hash chain, the
 * backup's rows against its logged events, and every artifact's sha256 and size in the store. The chain is
 * unkeyed: it finds accidental corruption, not tampering (see ./contract.ts).
 */
import { openArtifactStore } from '../artifacts/open-store.ts';
import type { Catalog, ChainReport } from './catalog.ts';

export interface VerifyReport {
  readonly backupId: string;
  readonly state: string;
  readonly chain: ChainReport;
  readonly recordProblems: readonly string[];
  readonly artifacts: readonly { key: string; bytes: number; ok: boolean }[];
  /** What was counted: catalog events (the whole catalog's chain) and this backup's artifacts. */
  readonly counts: {
    readonly catalogEventsChecked: number;
    readonly artifactsChecked: number;
    readonly artifactsBad: number;
  };
  readonly ok: boolean;
}

/**
 * How deep to check artifacts: `files` (each object present with its recorded size: metadata only) or
 * `checksums` (default: every byte read, sha256 and size compared, encrypted artifacts decrypted).
 */
export type VerifyLevel = 'files' | 'checksums';

/** The catalog event a restore drill (`backups verify --level restore`) records on its backup. */
export const RESTORE_DRILL_EVENT = 'restore-drill';

export interface RestoreDrillResult {
  /** True only when the restore ended `restored`: restored, swept and checked consistent. */
  readonly ok: boolean;
  /** The restore's end state (restored, check-failed, restored-unchecked, failed…). */
  readonly state: string;
  readonly at: string;
  readonly ms: number;
  readonly checked: boolean;
  readonly violations: number;
  readonly scratch: string;
  /** Why the checker did not run (then the drill did not pass). */
  readonly checkSkipped?: string;
  readonly error?: { readonly code: string; readonly message: string };
}

/** The newest restore drill recorded on a backup, or undefined when none ran. */
export function lastRestoreDrill(catalog: Catalog, backupId: string): RestoreDrillResult | undefined {
  const drills = catalog.events(backupId).filter((e) => e.type === RESTORE_DRILL_EVENT);
  return drills.at(-1)?.data as RestoreDrillResult | undefined;
}

export async function verifyBackup(
  catalog: Catalog,
  backupId: string,
  level: VerifyLevel = 'checksums',
): Promise<VerifyReport> {
  const record = catalog.get(backupId);
  const chain = catalog.verifyChain();
  const recordProblems = catalog.verifyRecordAgainstLog(backupId);
  const store = openArtifactStore(record.artifactsLocation);
  const artifacts = await Promise.all(
    record.artifacts.map(async (a) => ({
      key: a.key,
      bytes: a.bytes,
      ok: level === 'files' ? (await store.size(a.key)) === a.bytes : await store.verify(a),
    })),
  );
  const ok = chain.ok && recordProblems.length === 0 && artifacts.every((a) => a.ok);
  const counts = {
    catalogEventsChecked: chain.checked,
    artifactsChecked: artifacts.length,
    artifactsBad: artifacts.filter((a) => !a.ok).length,
  };
  return { backupId, state: record.state, chain, recordProblems, artifacts, counts, ok };
}
