/**
 * Group configuration files: YAML describing a set of storages and which namespace lives in which one
 * (`GroupConfig` of ../txn/contract.ts). Shared by `stillpoint node`, `stillpoint check`, `stillpoint workload`.
 *
 * ```yaml
 * storages:
 *   pg: { kind: postgres, host: 127.0.0.1, port: 5432, user: app, database: bank, passwordEnv: PGPASSWORD }
 *   maria: { kind: mysql, host: 127.0.0.1, port: 3306, user: root }
 *   local: { kind: sqlite, path: ./data/a.db }   # relative to the config file
 *   dyn: { kind: dynamodb, region: us-east-1, endpoint: http://127.0.0.1:8000, dummyCredentials: true }
 * namespaces: { bank_a: pg, bank_b: maria, coordinator: pg }
 * ```
 *
 * A namespace may live under another physical name (a restored copy next to its source):
 * `bank_b: { storage: maria, name: bank_b_r_x }`; the table catalog (`scalardb`) too, per storage:
 * `renames: { maria: { scalardb: scalardb_r_x } }`. Both end up in {@link GroupConfig.renames}.
 *
 * Unknown keys are rejected. Passwords come from `passwordEnv` / `passwordFile` (or a plain `password`); they are
 * never printed: {@link describeGroup} and errors name the storage, never the secret.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import type { GroupConfig, StorageConfig } from '../txn/contract.ts';

const port = z.number().int().min(1).max(65_535);

const credentials = {
  password: z.string().optional(),
  passwordEnv: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
};

const sqliteSchema = z.strictObject({ kind: z.literal('sqlite'), path: z.string().min(1) });
const postgresSchema = z.strictObject({
  kind: z.literal('postgres'),
  host: z.string().min(1),
  port,
  user: z.string().min(1),
  database: z.string().min(1),
  ...credentials,
});
const mysqlSchema = z.strictObject({
  kind: z.literal('mysql'),
  host: z.string().min(1),
  port,
  user: z.string().min(1),
  database: z.string().min(1).optional(),
  ...credentials,
});

const dynamodbSchema = z.strictObject({
  kind: z.literal('dynamodb'),
  region: z.string().min(1),
  endpoint: z.url().optional(),
  prefix: z.string().optional(),
  dummyCredentials: z.boolean().optional(),
});

const cosmosSchema = z.strictObject({
  kind: z.literal('cosmos'),
  endpoint: z.url(),
  caFile: z.string().min(1).optional(),
  prefix: z.string().optional(),
  mutations: z.enum(['stored-procedure', 'etag']).optional(),
  ...credentials,
});

const cassandraSchema = z.strictObject({
  kind: z.literal('cassandra'),
  contactPoints: z.array(z.string().min(1)).min(1),
  port: port.optional(),
  localDataCenter: z.string().min(1),
  replicationFactor: z.number().int().min(1).max(9).optional(),
  user: z.string().min(1).optional(),
  ...credentials,
});

/** Zod schema of one storage entry (exported so other config files can embed it). */
export const storageConfigSchema = z
  .discriminatedUnion('kind', [
    sqliteSchema,
    postgresSchema,
    mysqlSchema,
    dynamodbSchema,
    cosmosSchema,
    cassandraSchema,
  ])
  .refine(
    (s) =>
      s.kind === 'sqlite' ||
      s.kind === 'dynamodb' ||
      [s.password, s.passwordEnv, s.passwordFile].filter((p) => p !== undefined).length <= 1,
    { message: 'give at most one of password, passwordEnv, passwordFile' },
  );

const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*$/, 'namespace names are lower-case identifiers')
  .max(63);
/** A physical schema/database name: what MariaDB and PostgreSQL accept unquoted-safe, ≤ 63 characters. */
const physicalName = z
  .string()
  .regex(/^[A-Za-z0-9_$]+$/, 'use letters, digits, `_`, `$`')
  .max(63);

/** Zod schema of a group: every namespace must name a declared storage, and `coordinator` must be placed. */
export const groupConfigSchema = z
  .strictObject({
    storages: z.record(z.string().min(1), storageConfigSchema),
    namespaces: z.record(
      identifier,
      z.union([z.string(), z.strictObject({ storage: z.string().min(1), name: physicalName })]),
    ),
    renames: z.record(z.string().min(1), z.record(identifier, physicalName)).optional(),
  })
  .superRefine((group, ctx) => {
    for (const [ns, entry] of Object.entries(group.namespaces)) {
      const storage = typeof entry === 'string' ? entry : entry.storage;
      if (!(storage in group.storages)) {
        ctx.addIssue({
          code: 'custom',
          path: ['namespaces', ns],
          message: `names storage "${storage}", which is not declared under storages`,
        });
      }
    }
    for (const storage of Object.keys(group.renames ?? {})) {
      if (!(storage in group.storages)) {
        ctx.addIssue({
          code: 'custom',
          path: ['renames', storage],
          message: `names storage "${storage}", which is not declared under storages`,
        });
      }
    }
    if (!('coordinator' in group.namespaces)) {
      ctx.addIssue({
        code: 'custom',
        path: ['namespaces'],
        message: 'has no "coordinator" entry (the storage holding coordinator.state)',
      });
    }
  });

/** Turns a zod error into a ConfigError naming the key and what to do. */
export function configErrorFrom(
  error: z.ZodError,
  file: string,
  code: 'CONFIG_INVALID' | 'PLAN_INVALID' = 'CONFIG_INVALID',
): ConfigError {
  const first = error.issues[0];
  const key = first && first.path.length > 0 ? first.path.join('.') : '(top level)';
  const all = error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
  return new ConfigError(code, `${file}: ${key}: ${first?.message ?? 'invalid'}`, {
    context: { file, key, issues: all },
    hint: `Fix "${key}" in ${file}; see the format in the TSDoc of src/config/group-config.ts (unknown keys are rejected).`,
  });
}

/** Validates a parsed object as a group; relative SQLite paths are resolved against `baseDir`. */
export function parseGroupConfig(
  value: unknown,
  options: { file?: string; baseDir?: string } = {},
): GroupConfig {
  const file = options.file ?? '<group config>';
  const parsed = groupConfigSchema.safeParse(value);
  if (!parsed.success) throw configErrorFrom(parsed.error, file);
  return resolvePaths(normalize(parsed.data), options.baseDir ?? process.cwd());
}

/** `{ storage, name }` namespace entries become a storage name plus an entry under `renames`. */
function normalize(input: z.infer<typeof groupConfigSchema>): GroupConfig {
  const namespaces: Record<string, string> = {};
  const renames: Record<string, Record<string, string>> = {};
  for (const [storage, names] of Object.entries(input.renames ?? {})) renames[storage] = { ...names };
  for (const [ns, entry] of Object.entries(input.namespaces)) {
    if (typeof entry === 'string') {
      namespaces[ns] = entry;
      continue;
    }
    namespaces[ns] = entry.storage;
    if (entry.name !== ns) renames[entry.storage] = { ...renames[entry.storage], [ns]: entry.name };
  }
  return { storages: input.storages, namespaces, ...(Object.keys(renames).length > 0 ? { renames } : {}) };
}

/** Reads and validates a group config YAML file (either the group itself, or a file with a `group:` key). */
export async function loadGroupConfig(path: string): Promise<GroupConfig> {
  const doc = await readYaml(path);
  const body = isRecord(doc) && 'group' in doc && !('storages' in doc) ? doc.group : doc;
  return parseGroupConfig(body, { file: path, baseDir: dirname(resolve(path)) });
}

/** Reads and parses a YAML file, failing with ConfigError `CONFIG_UNREADABLE` / `CONFIG_NOT_YAML`. */
export async function readYaml(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read config file ${path}.`, {
      context: { file: path },
      hint: 'Check the path given to --config.',
      cause,
    });
  }
  try {
    return parseYaml(text) as unknown;
  } catch (cause) {
    throw new ConfigError('CONFIG_NOT_YAML', `${path} is not valid YAML.`, {
      context: { file: path },
      hint: 'Fix the YAML syntax.',
      cause,
    });
  }
}

/** A one-line description of a group with no secrets, e.g. `bank_a→pg(postgres 127.0.0.1:5432/bank)`. */
export function describeGroup(group: GroupConfig): string {
  return Object.entries(group.namespaces)
    .map(([ns, name]) => {
      const physical = group.renames?.[name]?.[ns];
      return `${ns}${physical === undefined ? '' : ` as ${physical}`}→${name}(${describeStorage(group.storages[name])})`;
    })
    .join(', ');
}

function describeStorage(s: StorageConfig | undefined): string {
  if (s === undefined) return '?';
  if (s.kind === 'sqlite') return `sqlite ${s.path}`;
  if (s.kind === 'dynamodb') return `dynamodb ${s.endpoint ?? s.region}`;
  if (s.kind === 'cosmos') return `cosmos ${s.endpoint}`;
  if (s.kind === 'cassandra') return `cassandra ${s.contactPoints.join(',')}:${s.port ?? 9042}`;
  return `${s.kind} ${s.host}:${s.port}${s.database === undefined ? '' : `/${s.database}`}`;
}

function resolvePaths(group: GroupConfig, baseDir: string): GroupConfig {
  const storages: Record<string, StorageConfig> = {};
  for (const [name, s] of Object.entries(group.storages)) {
    if (s.kind === 'sqlite') {
      storages[name] =
        isAbsolute(s.path) || s.path === ':memory:' ? s : { ...s, path: resolve(baseDir, s.path) };
    } else if (s.kind === 'dynamodb') {
      storages[name] = s;
    } else if (s.kind === 'cosmos') {
      storages[name] = {
        ...s,
        ...(s.passwordFile === undefined || isAbsolute(s.passwordFile)
          ? {}
          : { passwordFile: resolve(baseDir, s.passwordFile) }),
        ...(s.caFile === undefined || isAbsolute(s.caFile) ? {} : { caFile: resolve(baseDir, s.caFile) }),
      };
    } else {
      storages[name] =
        s.passwordFile === undefined || isAbsolute(s.passwordFile)
          ? s
          : { ...s, passwordFile: resolve(baseDir, s.passwordFile) };
    }
  }
  return { ...group, storages, namespaces: { ...group.namespaces } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
