/**
 * Options of the SQLite engine (`members[].options` in the plan), and its restore target. Unknown keys are
 * rejected.
 */
import { z } from 'zod';
import { ConfigError } from '../../errors.ts';
import { basename, dirname, join, resolve } from 'node:path';
import type { MemberRecord, MemberSpec, RestoreTarget } from '../contract.ts';
import { parseMemberOptions } from '../member-options.ts';

const optionsSchema = z.strictObject({
  /** Rows copied between yields to the event loop while copying the snapshot out (default 5000). */
  batchRows: z.number().int().min(1).max(1_000_000).default(5000),
});

export type SqliteOptions = z.infer<typeof optionsSchema>;

/** Parses and checks a member's options; throws ConfigError `ENGINE_OPTIONS_INVALID` naming the key. */
export function parseSqliteOptions(member: MemberSpec): SqliteOptions {
  return parseMemberOptions(member, { engine: 'sqlite', connectionKind: 'sqlite', schema: optionsSchema });
}

/** The member's database file. */
export function sqlitePath(member: MemberSpec): string {
  if (member.connection.kind !== 'sqlite') parseSqliteOptions(member); // throws ENGINE_OPTIONS_INVALID
  return (member.connection as { path: string }).path;
}

/**
 * A restore target: `{ path }` (a file) or `{ intoDir }` (`<dir>/<member>.db`). Default: a new file next to
 * the source, `<name>.restored-<backupId>.db`. Returns the absolute path.
 */
export function parseSqliteTarget(
  record: MemberRecord,
  target: RestoreTarget | undefined,
): { readonly path: string } {
  const name = record.member.name;
  if (target !== undefined && typeof target.path === 'string' && Object.keys(target).length === 1)
    return { path: resolve(target.path) };
  if (target !== undefined && typeof target.intoDir === 'string' && Object.keys(target).length === 1)
    return { path: resolve(target.intoDir, `${name}.db`) };
  if (target !== undefined && Object.keys(target).length > 0) {
    throw new ConfigError(
      'RESTORE_TARGET_INVALID',
      `Restore target for member "${name}" needs exactly one of "path" (a file) or "intoDir".`,
      {
        context: { member: name, engine: 'sqlite' },
        hint: `Use --target ${name}='{"path":"/new/${name}.db"}' or --into DIR.`,
      },
    );
  }
  const source = sqlitePath(record.member);
  return {
    path: join(dirname(resolve(source)), `${basename(source, '.db')}.restored-${record.backupId}.db`),
  };
}
