/**
 * Test support for the engine tests: the real local-directory artifact store in a temp dir, phase and
 * restore contexts, and a logger that stays quiet.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalDirStore } from '../../../src/artifacts/local-dir-store.ts';
import type { ArtifactStore } from '../../../src/artifacts/contract.ts';
import type { Logger, MemberRecord, MemberSpec, PhaseContext, RestoreContext, RestoreTarget } from '../../../src/engines/contract.ts';

/** The real local-directory store in a temp dir, world-traversable so server OS users can archive into it. */
export async function tempDirStore(): Promise<ArtifactStore & { destroy(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'stillpoint-engine-store-'));
  await chmod(root, 0o755);
  const store = createLocalDirStore(root);
  return Object.assign(Object.create(store) as ArtifactStore, { destroy: () => rm(root, { recursive: true, force: true }) });
}

export const quietLog: Logger = { info: () => {}, warn: () => {} };

export function phaseContext(store: ArtifactStore, member: MemberSpec, backupId: string): PhaseContext {
  return {
    backupId,
    member,
    artifacts: store,
    artifactPrefix: `${backupId}/${member.name}/`,
    sharedPrefix: `shared/${member.name}/`,
    log: quietLog,
    signal: new AbortController().signal,
  };
}

export function restoreContext(store: ArtifactStore, record: MemberRecord, target: RestoreTarget, force = false): RestoreContext {
  return { record, target, artifacts: store, force, log: quietLog, signal: new AbortController().signal };
}

export const finishWindow = { pausedAtMs: Date.now(), unpauseStartedAtMs: Date.now(), midMs: Date.now() };
