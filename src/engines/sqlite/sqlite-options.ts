/**
 * Options of the SQLite engine (`members[].options` in the plan). Unknown keys are rejected.
 */
import { z } from 'zod';
import { ConfigError } from '../../errors.ts';
import type { MemberSpec } from '../contract.ts';

const schema = z.strictObject({
  /** Rows copied between yields to the event loop while copying the snapshot out (default 5000). */
  batchRows: z.number().int().min(1).max(1_000_000).default(5000),
});

export type SqliteOptions = z.infer<typeof schema>;

/** Parses and checks a member's options; throws ConfigError `ENGINE_OPTIONS_INVALID` naming the key. */
export function parseSqliteOptions(member: MemberSpec): SqliteOptions {
  if (member.connection.kind !== 'sqlite') {
    throw new ConfigError('ENGINE_OPTIONS_INVALID', `member "${member.name}" uses engine sqlite but its connection kind is "${member.connection.kind}".`, {
      context: { member: member.name, engine: 'sqlite', key: 'connection.kind' },
      hint: 'Give the sqlite engine a connection `{ kind: sqlite, path: ... }`.',
    });
  }
  const parsed = schema.safeParse(member.options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = `options${issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : ''}`;
    const message = issue?.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : (issue?.message ?? 'invalid');
    throw new ConfigError('ENGINE_OPTIONS_INVALID', `member "${member.name}": ${key}: ${message}.`, {
      context: { member: member.name, engine: 'sqlite', key },
      hint: 'The sqlite engine accepts only `batchRows` (a positive integer).',
    });
  }
  return parsed.data;
}
