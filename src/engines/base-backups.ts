/**
 * Artifact helpers shared by the engines: reading a small JSON artifact, and finding the latest base backup
 * of a PITR member (each base backup is a folder `<sharedPrefix>base/<label>/` whose `info.json` is written
 * last, so a folder without it is an unfinished base backup and is ignored).
 */
import type { ArtifactStore } from '../artifacts/contract.ts';
import type { BackupSessionContext } from './contract.ts';

export async function readJsonArtifact<T>(store: ArtifactStore, key: string): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

/** The `info.json` of this member's latest complete base backup, or undefined. */
export async function latestBaseBackup<T>(
  ctx: Pick<BackupSessionContext, 'artifacts' | 'sharedPrefix'>,
): Promise<T | undefined> {
  const last = (await ctx.artifacts.list(`${ctx.sharedPrefix}base/`))
    .filter((k) => k.endsWith('/info.json'))
    .sort()
    .at(-1);
  return last === undefined ? undefined : readJsonArtifact<T>(ctx.artifacts, last);
}
