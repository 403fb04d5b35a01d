/**
 * Test support for the engine tests: the real local-directory artifact store in a temp dir, opening backup
 * and restore sessions of the registered engine kinds, and a logger that stays quiet.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalDirStore } from '../../src/artifacts/local-dir-store.ts';
import type { ArtifactStore } from '../../src/artifacts/contract.ts';
import type {
  BackupSession,
  BackupSessionContext,
  Logger,
  MemberRecord,
  MemberSpec,
  RestoreSession,
  RestoreTarget,
} from '../../src/engines/contract.ts';
import { resolveMember } from '../../src/engines/registry.ts';

/** The real local-directory store in a temp dir, world-traversable so server OS users can archive into it. */
export async function tempDirStore(): Promise<ArtifactStore & { destroy(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'stillpoint-engine-store-'));
  await chmod(root, 0o755);
  const store = createLocalDirStore(root);
  return Object.assign(Object.create(store) as ArtifactStore, {
    destroy: () => rm(root, { recursive: true, force: true }),
  });
}

export const quietLog: Logger = { info: () => {}, warn: () => {} };

/** A signal that never aborts. */
export const never: AbortSignal = new AbortController().signal;

export function backupContext(
  store: ArtifactStore,
  member: MemberSpec,
  backupId: string,
): BackupSessionContext {
  return {
    backupId,
    member,
    artifacts: store,
    artifactPrefix: `${backupId}/${member.name}/`,
    sharedPrefix: `shared/${member.name}/`,
    log: quietLog,
  };
}

/** A backup session for `member` (options parsed once, as the orchestrator does). */
export function openBackup(store: ArtifactStore, member: MemberSpec, backupId: string): BackupSession {
  const { kind, options } = resolveMember(member);
  return kind.openBackup(backupContext(store, member, backupId), options);
}

/** A restore session of `record` into `target` (undefined: the engine's default target). */
export function openRestore(
  store: ArtifactStore,
  record: MemberRecord,
  target: RestoreTarget | undefined,
): RestoreSession {
  const { kind, options } = resolveMember(record.member);
  return kind.openRestore({ record, target, artifacts: store, log: quietLog }, options);
}

export const finishWindow = { pausedAtMs: Date.now(), unpauseStartedAtMs: Date.now(), midMs: Date.now() };
