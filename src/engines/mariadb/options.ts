/**
 * Options of the MariaDB/MySQL engine (`member.options` in the plan), and of its restore targets. Validated
 * once with zod; unknown keys are refused so a typo is not silently ignored.
 */
import { z } from 'zod';
import { ConfigError } from '../../errors.ts';
import { parseMemberOptions } from '../member-options.ts';
import { resolveCredentials, targetCredentialKeys, type TargetCredentials } from '../target-credentials.ts';
import type { MemberSpec, RestoreTarget } from '../contract.ts';
import type { StorageConfig } from '../../txn/contract.ts';
import { redactSecrets } from '../../redact.ts';

export type MariaDbConnection = Extract<StorageConfig, { kind: 'mysql' }>;

const optionsSchema = z
  .object({
    /** `logical` (consistent-snapshot dump through the client protocol, default) or `pitr` (mariabackup + binlogs). */
    method: z.enum(['logical', 'pitr']).default('logical'),
    /** Parallel dump/restore connections (each holds an identical snapshot opened inside the pause); default 2. */
    jobs: z.number().int().min(1).max(32).default(2),
    /** gzip the table files; default false (the dump is CPU-bound on small machines). */
    gzip: z.boolean().default(false),
    /** Target size of one INSERT statement in the dump; default 1 MiB (below the default max_allowed_packet). */
    batchBytes: z
      .number()
      .int()
      .min(4096)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    /** Databases to back up; default the member's namespaces. */
    databases: z.array(z.string().min(1)).min(1).optional(),
    /** PITR: how long the horizon waits for the binlog holding the position to be archived; default 120 000 ms. */
    archiveTimeoutMs: z.number().int().positive().default(120_000),
    /** PITR: OS user owning restored data directories and running the restored server; default `mysql` when root. */
    osUser: z.string().min(1).optional(),
    /** Deadline for each connection attempt; default 10 000 ms. */
    connectTimeoutMs: z.number().int().positive().default(10_000),
    /** A logical dump with no query answered and no row read for this long fails (DUMP_STALLED); default 60 000 ms. */
    dumpStallMs: z.number().int().positive().default(60_000),
  })
  .strict();

export type MariaDbOptions = z.infer<typeof optionsSchema>;

/** Parses and freezes `member.options`; throws ConfigError `ENGINE_OPTIONS_INVALID` naming the key. */
export function parseMariaDbOptions(member: MemberSpec): MariaDbOptions {
  return parseMemberOptions(member, { engine: 'mariadb', connectionKind: 'mysql', schema: optionsSchema });
}

export function connectionOf(member: MemberSpec): MariaDbConnection {
  if (member.connection.kind !== 'mysql') parseMariaDbOptions(member);
  return member.connection as MariaDbConnection;
}

/** The databases a member's backup covers. */
export function databasesOf(member: MemberSpec, options: MariaDbOptions): readonly string[] {
  return options.databases ?? member.namespaces;
}

/** ScalarDB keeps its table catalog in this namespace (a database on MySQL/MariaDB). */
export const METADATA_DATABASE = 'scalardb';

/**
 * Logical restore target: a server, and the name each database is restored under: `rename[db]`, else the
 * database's own name when `inPlace`, else `<db>_r_<suffix>`.
 */
export type LogicalTarget = {
  readonly host: string;
  readonly port: number;
  /** Source database → target database (wins over inPlace and suffix). */
  readonly rename: Readonly<Record<string, string>>;
  readonly inPlace: boolean;
  readonly suffix: string;
  /** Connection to the target server, credentials included (the member's unless the target gives its own). */
  readonly connection: MariaDbConnection;
};

/** The name database `db` is restored under. */
export function targetDatabase(t: LogicalTarget, db: string): string {
  return t.rename[db] ?? (t.inPlace ? db : `${db}_r_${t.suffix}`);
}

/** PITR restore target: a new directory holding the data directory, and the server started on it (port 0 = any free port). */
export type PitrTarget = {
  readonly dir: string;
  readonly port: number;
  readonly host: string;
  /** Connection to the restored server (the source's users, as the data directory is a copy, unless given). */
  readonly connection: MariaDbConnection;
};

const logicalTargetSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    rename: z.record(z.string(), z.string().min(1).max(64)),
    inPlace: z.boolean(),
    suffix: z.string().regex(/^[A-Za-z0-9_]+$/),
    ...targetCredentialKeys,
  })
  .partial()
  .strict();
const pitrTargetSchema = z
  .object({
    dir: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    host: z.string().min(1),
    ...targetCredentialKeys,
  })
  .partial()
  .strict();

function invalid(error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  return new ConfigError(
    'RESTORE_TARGET_INVALID',
    `Restore target key ${issue?.path.join('.') || '(root)'} is invalid: ${issue?.message ?? ''}.`,
    {
      hint: 'A mariadb logical target takes host, port, rename {db: newName} or inPlace: true, suffix; a pitr target takes dir, port, host; both take user and password / passwordEnv / passwordFile.',
      context: { engine: 'mariadb' },
    },
  );
}

/** The target's connection: its own host/port, credentials by the one rule of {@link resolveCredentials}. */
function targetConnection(
  member: MariaDbConnection,
  host: string,
  port: number,
  given: Partial<TargetCredentials>,
): MariaDbConnection {
  return { kind: 'mysql', host, port, user: member.user, ...resolveCredentials(member, given) };
}

/** `inPlace: true` restores every database under its own name (needs force when it is not empty). */
export function parseLogicalTarget(
  target: RestoreTarget | undefined,
  member: MariaDbConnection,
  backupId: string,
): LogicalTarget {
  const parsed = logicalTargetSchema.safeParse(target ?? {});
  if (!parsed.success) throw invalid(parsed.error);
  const t = parsed.data;
  const host = t.host ?? member.host;
  const port = t.port ?? member.port;
  return Object.freeze({
    host,
    port,
    rename: t.rename ?? {},
    inPlace: t.inPlace ?? false,
    suffix: t.suffix ?? backupSuffix(backupId),
    connection: targetConnection(member, host, port, t),
  });
}

export function parsePitrTarget(
  target: RestoreTarget | undefined,
  member: MariaDbConnection,
  defaultDir: string,
): PitrTarget {
  const parsed = pitrTargetSchema.safeParse(target ?? {});
  if (!parsed.success) throw invalid(parsed.error);
  const t = parsed.data;
  const host = t.host ?? '127.0.0.1';
  const port = t.port ?? 0;
  return Object.freeze({
    dir: t.dir ?? defaultDir,
    port,
    host,
    connection: targetConnection(member, host, port, t),
  });
}

/** A target for printing: the password itself never shows. */
export function redactedTarget<T extends { connection: MariaDbConnection }>(t: T): Record<string, unknown> {
  const { connection, ...rest } = t;
  return redactSecrets({
    ...rest,
    user: connection.user,
    ...(connection.password === undefined ? {} : { password: connection.password }),
    ...(connection.passwordEnv ? { passwordEnv: connection.passwordEnv } : {}),
    ...(connection.passwordFile ? { passwordFile: connection.passwordFile } : {}),
  });
}

/** Short, name-safe suffix of a backup id for default restore names. */
export function backupSuffix(backupId: string): string {
  const clean = backupId.toLowerCase().replaceAll(/[^a-z0-9]/g, '');
  return clean.slice(-12) || 'backup';
}
