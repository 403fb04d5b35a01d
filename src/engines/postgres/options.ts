/**
 * Options of the PostgreSQL engine (`member.options` in the plan), and of its restore target. Validated once
 * with zod; unknown keys are refused so a typo is not silently ignored.
 */
import { z } from 'zod';
import { ConfigError } from '../../errors.ts';
import { parseMemberOptions } from '../member-options.ts';
import {
  dropUndefined,
  resolveCredentials,
  targetCredentialKeys,
  type TargetCredentials,
} from '../target-credentials.ts';
import type { MemberSpec, RestoreTarget } from '../contract.ts';
import type { StorageConfig } from '../../txn/contract.ts';

export type PostgresConnection = Extract<StorageConfig, { kind: 'postgres' }>;

const optionsSchema = z
  .object({
    /** `logical` (exported snapshot + pg_dump, default) or `pitr` (named restore point + WAL archive). */
    method: z.enum(['logical', 'pitr']).default('logical'),
    /** Parallel jobs for pg_dump / pg_restore; default 2. Parallel dumps need the directory format. */
    jobs: z.number().int().min(1).max(64).default(2),
    /** pg_dump format: `directory` (parallel, default) or `custom` (one file, streamed). */
    format: z.enum(['directory', 'custom']).default('directory'),
    /** Database to dump; default the connection's database. */
    database: z.string().min(1).optional(),
    /** pg_dump compression level 0–9; default the tool's default. */
    compress: z.number().int().min(0).max(9).optional(),
    /** Directory of pg_dump, pg_restore, pg_basebackup, pg_ctl; default STILLPOINT_PG_BIN, else the Debian default, else PATH. */
    binDir: z.string().min(1).optional(),
    /** PITR: how long the horizon waits for the restore point's WAL segment to be archived; default 120 000 ms. */
    archiveTimeoutMs: z.number().int().positive().default(120_000),
    /** PITR: OS user that owns restored data directories and runs the restored server; default `postgres` when root. */
    osUser: z.string().min(1).optional(),
    /** Deadline for each connection attempt; default 10 000 ms. */
    connectTimeoutMs: z.number().int().positive().default(10_000),
  })
  .strict();

export type PostgresOptions = z.infer<typeof optionsSchema>;

/** Parses and freezes `member.options`; throws ConfigError `ENGINE_OPTIONS_INVALID` naming the key. */
export function parsePostgresOptions(member: MemberSpec): PostgresOptions {
  return parseMemberOptions(member, {
    engine: 'postgres',
    connectionKind: 'postgres',
    schema: optionsSchema,
  });
}

export function connectionOf(member: MemberSpec): PostgresConnection {
  if (member.connection.kind !== 'postgres') parsePostgresOptions(member);
  return member.connection as PostgresConnection;
}

/** Logical restore target: a database on a server (default: same server and credentials, new database name). */
export type LogicalTarget = {
  readonly host: string;
  readonly port: number;
  readonly database: string;
} & TargetCredentials;

/**
 * PITR restore target: a new data directory and the address of the server started on it. Default port: the
 * source's port + 1 (never a port probed and released: `inspect` refuses a port something already listens
 * on, and the target's `port` picks another).
 */
export type PitrTarget = {
  readonly dataDir: string;
  readonly port: number;
  readonly host: string;
} & TargetCredentials;

const logicalTargetSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    database: z.string().min(1).max(63),
    ...targetCredentialKeys,
  })
  .partial()
  .strict();
const pitrTargetSchema = z
  .object({
    dataDir: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    host: z.string().min(1),
    ...targetCredentialKeys,
  })
  .partial()
  .strict();

export function parseLogicalTarget(target: RestoreTarget, defaults: LogicalTarget): LogicalTarget {
  return Object.freeze(
    withCredentials<LogicalTarget>(
      defaults,
      strip(parseWith(logicalTargetSchema, target)) as Partial<LogicalTarget>,
    ),
  );
}

export function parsePitrTarget(target: RestoreTarget, defaults: PitrTarget): PitrTarget {
  return Object.freeze(
    withCredentials<PitrTarget>(defaults, strip(parseWith(pitrTargetSchema, target)) as Partial<PitrTarget>),
  );
}

/** The target's keys over the defaults; credentials by the one rule of {@link resolveCredentials}. */
function withCredentials<T extends TargetCredentials>(defaults: T, given: Partial<T>): T {
  const { password: _p, passwordEnv: _e, passwordFile: _f, ...rest } = defaults;
  return strip({ ...rest, ...given, ...resolveCredentials(defaults, given) }) as T;
}

/** The member's connection with a target's address and credentials (what the restored member is reached by). */
export function targetConnection(
  source: PostgresConnection,
  target: { host: string; port: number; database?: string } & TargetCredentials,
): PostgresConnection {
  const {
    password: _p,
    passwordEnv: _e,
    passwordFile: _f,
    ...rest
  } = source as PostgresConnection & TargetCredentials;
  return strip({
    ...rest,
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database ?? source.database,
    password: target.password,
    passwordEnv: target.passwordEnv,
    passwordFile: target.passwordFile,
  }) as PostgresConnection;
}

/** The member's credentials, as a target's defaults. */
export function memberCredentials(conn: PostgresConnection): TargetCredentials {
  const c = conn as PostgresConnection & Partial<TargetCredentials>;
  return strip({
    user: conn.user,
    password: c.password,
    passwordEnv: c.passwordEnv,
    passwordFile: c.passwordFile,
  }) as TargetCredentials;
}

function parseWith<T>(schema: z.ZodType<T>, target: RestoreTarget): T {
  const parsed = schema.safeParse(target);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      'RESTORE_TARGET_INVALID',
      `Restore target key ${issue?.path.join('.') || '(root)'} is invalid: ${issue?.message ?? ''}.`,
      {
        hint: 'A postgres logical target takes host, port, database; a pitr target takes dataDir, port, host; both take user and password / passwordEnv / passwordFile.',
        context: { engine: 'postgres' },
      },
    );
  }
  return parsed.data;
}

const strip = dropUndefined;

/** Short, name-safe suffix of a backup id for default restore names. */
export function backupSuffix(backupId: string): string {
  const clean = backupId.toLowerCase().replaceAll(/[^a-z0-9]/g, '');
  return clean.slice(-12) || 'backup';
}
