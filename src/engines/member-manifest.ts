/** Reading a member's JSON artifacts back at restore time. */
import { EngineError } from '../errors.ts';
import type { ArtifactStore } from '../artifacts/contract.ts';
import type { RestoreSessionContext } from './contract.ts';

/** Parses the JSON artifact at `key`. */
export async function readJsonArtifact<T>(store: ArtifactStore, key: string): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

/**
 * The member's manifest: its one artifact whose key ends with `file`. A backup without it cannot be restored
 * (ARTIFACT_MISSING), whatever the engine.
 */
export async function readMemberManifest<T>(
  ctx: Pick<RestoreSessionContext, 'record' | 'artifacts'>,
  file: string,
): Promise<T> {
  const { record } = ctx;
  const ref = record.artifacts.find((a) => a.key.endsWith(file));
  if (ref === undefined)
    throw new EngineError(
      'ARTIFACT_MISSING',
      `Backup ${record.backupId} has no ${file} for member ${record.member.name}.`,
      {
        context: { engine: record.member.engine, backupId: record.backupId, member: record.member.name },
        hint: 'The backup is incomplete or its catalog entry names artifacts that were deleted; restore another backup.',
      },
    );
  return readJsonArtifact<T>(ctx.artifacts, ref.key);
}
