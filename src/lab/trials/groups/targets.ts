/** Restore targets shared by the trial groups (./index.ts), by the member's connection kind. */
import { join } from 'node:path';
import type { MemberSpec, RestoreTarget } from '../../../engines/contract.ts';
import { InternalError } from '../../../errors.ts';
import type { Random } from '../random.ts';

/** A name for a restored copy of `member`, drawn from `random` (one draw, whatever the engine). */
export function restoredName(member: MemberSpec, random: Random): string {
  return `${member.name}_r${random.int(0, 1e9).toString(36)}`;
}

/**
 * A fresh place for a restored member: a new file for SQLite, a new database for PostgreSQL, new databases
 * (`<db>_r_<suffix>`) for MariaDB. Each in the target format its engine's restore session parses.
 */
export function restoreTarget(
  member: MemberSpec,
  into: string,
  random: Random,
  mysqlServer?: { host: string; port: number },
): RestoreTarget {
  const suffix = restoredName(member, random);
  if (member.connection.kind === 'sqlite') return { path: join(into, `${suffix}.db`) };
  if (member.connection.kind === 'postgres') return { database: suffix };
  // A MySQL namespace is a database: restored under its own name (so the group can be checked), on a
  // server of its own (the live one still holds it); the restore drops what an earlier trial left there.
  if (mysqlServer === undefined) {
    throw new InternalError(
      'TRIAL_NO_RESTORE_SERVER',
      `member ${member.name} needs a MariaDB server to restore into.`,
    );
  }
  return { host: mysqlServer.host, port: mysqlServer.port, inPlace: true };
}
