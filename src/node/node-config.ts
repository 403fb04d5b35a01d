/**
 * The node's configuration file (YAML), validated once with zod; unknown keys are rejected.
 *
 * ```yaml
 * name: node-1                       # optional, for logs and the ready line
 * group:                             # storages and namespace placement (src/config/group-config.ts)
 *   storages: { a: { kind: sqlite, path: ./a.db }, b: { kind: sqlite, path: ./b.db } }
 *   namespaces: { bank_a: a, bank_b: b, coordinator: a }
 * listen: { host: 127.0.0.1, port: 0 }   # one port serves the data API and the admin service; 0 = any free port
 * admin:                             # optional
 *   tokenFile: /run/secrets/token    # or tokenEnv: ADMIN_TOKEN, or token: s3cret — admin AND data calls must send
 *                                    # `authorization: Bearer …`
 *   tls: { certFile: server.pem, keyFile: server.key }   # TLS for the whole port
 * gate:
 *   whilePaused: reject              # reject (UNAVAILABLE, ScalarDB Server) | hold (ScalarDL); default reject
 *   maxQueued: 1000                  # hold only; default 1000
 *   maxHoldMs: 30000                 # hold only; default 30 000
 *   enabled: true                    # false: no gate at all (benchmarks only — the node cannot be paused)
 * expiryMs: 15000                    # lazy-recovery expiry; default 15 000
 * coordinatorCleanup:                # optional: finish and delete decided Coordinator rows (ScalarDB 3.19's
 *   intervalMs: 10000                #   finishTransaction), each one through the gate like a transfer; default
 *   olderThanMs: 60000               #   every 10 s, rows decided ≥ 60 s ago, ≤ 1000 rows per round
 *   limit: 1000
 * insecure: false                    # true: allow a non-loopback listen.host without token and TLS (warned)
 * ```
 * A non-loopback `listen.host` without a token and TLS is refused (LISTENER_INSECURE) unless `insecure`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { MAX_DURATION_MS } from '../duration.ts';
import { ConfigError } from '../errors.ts';
import type { PausedBehaviour } from '../pause/contract.ts';
import { DEFAULT_CLEANUP_AGE_MS, DEFAULT_CLEANUP_LIMIT } from '../txn/cleanup.ts';
import type { GroupConfig } from '../txn/contract.ts';
import type { CoordinatorCleanupSettings } from './coordinator-cleanup.ts';
import { configErrorFrom, groupConfigSchema, parseGroupConfig, readYaml } from '../config/group-config.ts';

const nodeConfigSchema = z.strictObject({
  name: z.string().min(1).optional(),
  group: groupConfigSchema,
  listen: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535),
  }),
  admin: z
    .strictObject({
      token: z.string().min(1).optional(),
      tokenEnv: z.string().min(1).optional(),
      tokenFile: z.string().min(1).optional(),
      tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
    })
    .optional(),
  gate: z
    .strictObject({
      whilePaused: z.enum(['reject', 'hold']).default('reject'),
      maxQueued: z.number().int().positive().max(1_000_000).default(1000),
      maxHoldMs: z.number().int().positive().max(MAX_DURATION_MS).default(30_000),
      enabled: z.boolean().default(true),
    })
    .default({ whilePaused: 'reject', maxQueued: 1000, maxHoldMs: 30_000, enabled: true }),
  expiryMs: z.number().int().positive().max(MAX_DURATION_MS).optional(),
  coordinatorCleanup: z
    .strictObject({
      intervalMs: z.number().int().positive().max(MAX_DURATION_MS).default(10_000),
      olderThanMs: z.number().int().min(0).max(MAX_DURATION_MS).default(DEFAULT_CLEANUP_AGE_MS),
      limit: z.number().int().positive().max(1_000_000).default(DEFAULT_CLEANUP_LIMIT),
    })
    .optional(),
  insecure: z.boolean().default(false),
});

/** A validated node configuration, secrets resolved (token and TLS material read). */
export interface NodeConfig {
  readonly name?: string;
  readonly group: GroupConfig;
  readonly listen: { readonly host: string; readonly port: number };
  readonly admin?: {
    readonly token?: string;
    readonly tls?: { readonly certPem: Buffer; readonly keyPem: Buffer };
  };
  /** `enabled: false` serves without a gate (benchmarks measure the gate's cost with it). Default enabled, reject. */
  readonly gate?: { readonly enabled?: boolean; readonly pausedBehaviour?: PausedBehaviour };
  /** Lazy-recovery expiry in ms. Default: the transaction manager's (15 000). */
  readonly expiryMs?: number;
  /** Periodic Coordinator cleanup behind the gate (./coordinator-cleanup.ts). Absent: none. */
  readonly coordinatorCleanup?: CoordinatorCleanupSettings;
  /** Allow a non-loopback listener without token and TLS (warned about at every start). Default false. */
  readonly insecure?: boolean;
}

/** Validates a parsed node config object; relative paths resolve against `baseDir`. */
export async function parseNodeConfig(
  value: unknown,
  options: { file?: string; baseDir?: string } = {},
): Promise<NodeConfig> {
  const file = options.file ?? '<node config>';
  const baseDir = options.baseDir ?? process.cwd();
  const parsed = nodeConfigSchema.safeParse(value);
  if (!parsed.success) throw configErrorFrom(parsed.error, file);
  const c = parsed.data;
  const group = parseGroupConfig(c.group, { file, baseDir });
  const pausedBehaviour: PausedBehaviour =
    c.gate.whilePaused === 'hold'
      ? { kind: 'hold', maxQueued: c.gate.maxQueued, maxHoldMs: c.gate.maxHoldMs }
      : { kind: 'reject' };
  return {
    ...(c.name === undefined ? {} : { name: c.name }),
    group,
    listen: c.listen,
    ...(c.admin === undefined ? {} : { admin: await resolveAdmin(c.admin, file, baseDir) }),
    gate: { enabled: c.gate.enabled, pausedBehaviour },
    ...(c.expiryMs === undefined ? {} : { expiryMs: c.expiryMs }),
    ...(c.coordinatorCleanup === undefined ? {} : { coordinatorCleanup: c.coordinatorCleanup }),
    insecure: c.insecure,
  };
}

/** Reads and validates a node config YAML file. */
export async function loadNodeConfig(path: string): Promise<NodeConfig> {
  return parseNodeConfig(await readYaml(path), { file: path, baseDir: dirname(resolve(path)) });
}

type AdminInput = {
  token?: string | undefined;
  tokenEnv?: string | undefined;
  tokenFile?: string | undefined;
  tls?: { certFile: string; keyFile: string } | undefined;
};

async function resolveAdmin(
  admin: AdminInput,
  file: string,
  baseDir: string,
): Promise<NonNullable<NodeConfig['admin']>> {
  if ([admin.token, admin.tokenEnv, admin.tokenFile].filter((t) => t !== undefined).length > 1) {
    throw new ConfigError('CONFIG_INVALID', `${file}: admin: give one of token, tokenEnv, tokenFile.`, {
      context: { file, key: 'admin' },
      hint: 'Keep one of admin.token, admin.tokenEnv, admin.tokenFile.',
    });
  }
  let token = admin.token;
  if (admin.tokenFile !== undefined) {
    token = (await readSecret(admin.tokenFile, 'admin.tokenFile', file, baseDir))
      .toString('utf8')
      .split(/\r?\n/)[0]
      ?.trim();
    if (token === undefined || token === '') {
      throw new ConfigError(
        'CONFIG_SECRET_MISSING',
        `${file}: admin.tokenFile ${admin.tokenFile} is empty.`,
        { context: { file, key: 'admin.tokenFile' }, hint: 'Write the token on the first line of the file.' },
      );
    }
  }
  if (admin.tokenEnv !== undefined) {
    token = process.env[admin.tokenEnv];
    if (token === undefined || token === '') {
      throw new ConfigError(
        'CONFIG_SECRET_MISSING',
        `${file}: admin.tokenEnv names ${admin.tokenEnv}, which is not set.`,
        {
          context: { file, key: 'admin.tokenEnv' },
          hint: `Export ${admin.tokenEnv} before starting the node.`,
        },
      );
    }
  }
  const tls =
    admin.tls === undefined
      ? undefined
      : {
          certPem: await readSecret(admin.tls.certFile, 'admin.tls.certFile', file, baseDir),
          keyPem: await readSecret(admin.tls.keyFile, 'admin.tls.keyFile', file, baseDir),
        };
  return { ...(token === undefined ? {} : { token }), ...(tls === undefined ? {} : { tls }) };
}

async function readSecret(path: string, key: string, file: string, baseDir: string): Promise<Buffer> {
  try {
    return await readFile(resolve(baseDir, path));
  } catch (cause) {
    throw new ConfigError('CONFIG_UNREADABLE', `${file}: ${key}: cannot read ${path}.`, {
      context: { file, key },
      hint: `Check the path in ${key} (relative paths are relative to the config file).`,
      cause,
    });
  }
}
