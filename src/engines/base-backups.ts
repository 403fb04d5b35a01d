/**
 * Finding the latest base backup of a PITR member (each base backup is a folder `<sharedPrefix>base/<label>/` whose `info.json` is written
 * last, so a folder without it is an unfinished base backup and is ignored).
 */
import type { BackupSessionContext } from './contract.ts';
import { readJsonArtifact } from './member-manifest.ts';

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
