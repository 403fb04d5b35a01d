/**
 * Loads a plan file: YAML → zod (strict) → paths resolved against the plan's directory → secrets read from
 * the environment or files → engine options validated by each engine. Every problem is a ConfigError
 * `PLAN_INVALID` naming the key path and a fix. Nothing is contacted: loading a plan has no side effects.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { BackupMode } from '../catalog/catalog-schema.ts';
import type { MemberSpec } from '../engines/contract.ts';
import { engineKinds, getEngineKind } from '../engines/registry.ts';
import { ConfigError, StillpointError } from '../errors.ts';
import type { TargetSource } from '../pause/contract.ts';
import type { StorageConfig } from '../txn/contract.ts';
import { allowedKeys, closest } from '../did-you-mean.ts';
import { planSchema, type PlanInput } from './plan-schema.ts';

/** One cluster to pause, with its secrets resolved (never print `token` or `tls.caPem`). */
export interface ClusterPlan {
  readonly name: string;
  readonly source: TargetSource;
  readonly dnsServers?: readonly string[];
  readonly tls?: { readonly caPem?: string; readonly overrideAuthority?: string };
  readonly token?: string;
  readonly drainTimeoutMs?: number;
  /** Pause lease; default 15 000 ms. */
  readonly leaseMs: number;
  /** Deadline of each admin call, ms (a Pause gets the drain on top); default the client's 10 000. */
  readonly callTimeoutMs?: number;
}

export interface WindowOptions {
  /** Shortest window held, ms (default 0). */
  readonly minMs: number;
  /** Added to the clock-derived minimum, ms (default 50). */
  readonly marginMs: number;
  /** Whole pause/capture attempts before giving up on an invalid window (default 3). */
  readonly maxAttempts: number;
  /** Longest time the captures inside the pause may take together before the attempt fails and the
   * clusters are unpaused (default 30 000 ms). */
  readonly captureTimeoutMs: number;
}

export interface Plan {
  /** Absolute path of the plan file (or `<inline>`). */
  readonly file: string;
  /** sha256 of the validated plan with secrets removed. */
  readonly digest: string;
  readonly group: string;
  readonly mode?: BackupMode;
  readonly clusters: readonly ClusterPlan[];
  readonly members: readonly MemberSpec[];
  readonly artifactsDir: string;
  readonly catalogPath: string;
  readonly window: WindowOptions;
  readonly hooks: { readonly before: readonly string[]; readonly after: readonly string[] };
  /** Application invariants (plug-in names) to check after a restore; resolved by the CLI. */
  readonly checkInvariants: readonly string[];
}

/** Reads and validates a plan file. */
export function loadPlan(path: string): Plan {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw invalid(file, '(file)', `cannot read ${file}`, 'Check the path given to --plan.', cause);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw invalid(file, '(file)', 'is not valid YAML', 'Fix the YAML syntax (indentation, quotes).', cause);
  }
  return parsePlan(doc, { file, baseDir: dirname(file) });
}

/** Validates an already-parsed plan; relative paths resolve against `baseDir`. */
export function parsePlan(value: unknown, options: { file?: string; baseDir?: string } = {}): Plan {
  const file = options.file ?? '<inline>';
  const baseDir = options.baseDir ?? process.cwd();
  const parsed = planSchema.safeParse(value);
  if (!parsed.success) throw fromZod(parsed.error, file, value);
  const input = parsed.data;
  refuseInlinePasswords(input, file);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const members = input.members.map((m, i) => toMember(m, i, at, file));
  const plan: Plan = {
    file,
    digest: digestOf(input),
    group: input.group ?? (file === '<inline>' ? 'default' : basename(file, extname(file))),
    ...(input.mode === undefined ? {} : { mode: input.mode }),
    clusters: input.clusters.map((c, i) => toCluster(c, i, at, file)),
    members,
    artifactsDir: input.artifacts?.url ?? at(input.artifacts?.dir ?? './.stillpoint/artifacts'),
    catalogPath: at(input.catalog?.path ?? './.stillpoint/catalog.db'),
    window: input.window,
    hooks: input.restore.hooks,
    checkInvariants: input.check.invariants,
  };
  return plan;
}

/**
 * An inline password would end up redacted in the catalog (secrets are never stored), so the backup could
 * never be restored: refuse it before anything runs.
 */
function refuseInlinePasswords(input: PlanInput, file: string): void {
  input.members.forEach((m, i) => {
    if (
      m.connection.kind !== 'sqlite' &&
      m.connection.kind !== 'dynamodb' &&
      m.connection.password !== undefined
    ) {
      throw new ConfigError(
        'PLAN_INLINE_PASSWORD',
        `${file}: members.${i}.connection.password: member "${m.name}" has its password written in the plan.`,
        {
          context: { file, key: `members.${i}.connection.password`, member: m.name },
          hint: 'Use passwordEnv: <VAR> (or passwordFile: <path>) instead. The catalog records only where the password comes from, so the restore can read it again; an inline password could not be restored.',
        },
      );
    }
  });
}

function toMember(
  m: PlanInput['members'][number],
  i: number,
  at: (p: string) => string,
  file: string,
): MemberSpec {
  const connection = resolveConnection(m.connection, at);
  const spec: MemberSpec = {
    name: m.name,
    engine: m.engine,
    connection,
    namespaces: m.namespaces,
    options: m.options,
  };
  let engine;
  try {
    engine = getEngineKind(m.engine);
  } catch (cause) {
    throw invalid(
      file,
      `members.${i}.engine`,
      `unknown engine "${m.engine}"`,
      `Use one of: ${knownList()}.`,
      cause,
    );
  }
  try {
    engine.parseOptions(spec);
  } catch (cause) {
    const key =
      cause instanceof StillpointError && typeof cause.context.key === 'string'
        ? cause.context.key
        : 'options';
    const hint = cause instanceof StillpointError ? cause.hint : undefined;
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw invalid(
      file,
      `members.${i}.${key}`,
      detail,
      hint ?? `Fix the options of member "${m.name}".`,
      cause,
    );
  }
  return spec;
}

function resolveConnection(c: StorageConfig, at: (p: string) => string): StorageConfig {
  if (c.kind === 'sqlite') return c.path === ':memory:' ? c : { ...c, path: at(c.path) };
  if (c.kind === 'dynamodb') return c;
  return c.passwordFile === undefined ? c : { ...c, passwordFile: at(c.passwordFile) };
}

function toCluster(
  c: PlanInput['clusters'][number],
  i: number,
  at: (p: string) => string,
  file: string,
): ClusterPlan {
  const t = c.targets;
  const source: TargetSource =
    'addresses' in t
      ? { kind: 'addresses', addresses: t.addresses }
      : 'srv' in t
        ? { kind: 'srv', name: t.srv }
        : { kind: 'kubernetes', ...t.kubernetes };
  let caPem: string | undefined = c.tls?.ca;
  if (c.tls?.caFile !== undefined) {
    caPem = readSecretFile(at(c.tls.caFile), file, `clusters.${i}.tls.caFile`);
  }
  let token: string | undefined;
  if (c.token !== undefined) {
    if ('env' in c.token) {
      token = process.env[c.token.env];
      if (token === undefined || token === '') {
        throw invalid(
          file,
          `clusters.${i}.token.env`,
          `environment variable ${c.token.env} is not set`,
          `Export ${c.token.env} with the admin token.`,
        );
      }
    } else {
      token = readSecretFile(at(c.token.file), file, `clusters.${i}.token.file`).trim();
    }
  }
  return {
    name: c.name,
    source,
    ...('srv' in t && t.dnsServers !== undefined ? { dnsServers: t.dnsServers } : {}),
    ...(c.tls === undefined
      ? {}
      : {
          tls: {
            ...(caPem === undefined ? {} : { caPem }),
            ...(c.tls.overrideAuthority ? { overrideAuthority: c.tls.overrideAuthority } : {}),
          },
        }),
    ...(token === undefined ? {} : { token }),
    ...(c.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: c.drainTimeoutMs }),
    leaseMs: c.leaseMs,
    ...(c.callTimeoutMs === undefined ? {} : { callTimeoutMs: c.callTimeoutMs }),
  };
}

function readSecretFile(path: string, file: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw invalid(
      file,
      key,
      `cannot read ${path}`,
      'Check the path (relative paths resolve against the plan file).',
      cause,
    );
  }
}

/** sha256 over the validated plan, inline passwords removed (so the digest leaks nothing). */
function digestOf(input: PlanInput): string {
  const clean = JSON.stringify(input, (k, v: unknown) => (k === 'password' || k === 'ca' ? '***' : v));
  return createHash('sha256').update(clean).digest('hex');
}

function knownList(): string {
  return engineKinds().join(', ');
}

function fromZod(error: z.ZodError, file: string, value: unknown): ConfigError {
  const described = error.issues.map((issue) => describeIssue(issue, [], value));
  const first = described[0] ?? { key: '(top level)', message: 'invalid' };
  const more = described.slice(1, 5).map((d) => `; ${d.key}: ${d.message}`);
  const issues = described.map((d) => `${d.key}: ${d.message}`);
  const suggestion = described.find((d) => d.suggestion !== undefined)?.suggestion;
  const hint = `${suggestion === undefined ? '' : `Did you mean ${suggestion}? `}Fix "${first.key}" in the plan; the format is described in docs/backup-and-restore.md.`;
  return invalid(file, first.key, first.message + more.join(''), hint, undefined, issues);
}

/** The member an issue under `members.N` is about, by name (an index alone makes the reader count). */
function memberAt(path: readonly PropertyKey[], value: unknown): string | undefined {
  if (path[0] !== 'members' || typeof path[1] !== 'number') return undefined;
  const name = (value as { members?: { name?: unknown }[] } | null)?.members?.[path[1]]?.name;
  return typeof name === 'string' ? name.slice(0, 80) : undefined;
}

/** One zod issue as a key path and a sentence; a union names its allowed forms (or the branch clearly meant). */
function describeIssue(
  issue: z.core.$ZodIssue,
  prefix: readonly PropertyKey[],
  value: unknown,
): { key: string; message: string; suggestion?: string } {
  const path = [...prefix, ...issue.path];
  const key = path.length > 0 ? path.map(String).join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const member = memberAt(path, value);
    const allowed = allowedKeys(planSchema, path);
    const pairs = issue.keys.flatMap((k) => {
      const near = closest(
        k,
        allowed.filter((a) => !issue.keys.includes(a)),
      );
      return near === undefined ? [] : [`"${near}" for "${k}"`];
    });
    const suggestion = pairs.length > 0 ? pairs.join(', ') : undefined;
    const where = member === undefined ? '' : ` in member "${member}"`;
    const message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}${where}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`;
    return { key, message, ...(suggestion ? { suggestion } : {}) };
  }
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { key, message: issue.message };
  const missingKey = (i: z.core.$ZodIssue): boolean =>
    i.code === 'invalid_type' && i.path.length === 1 && i.message.endsWith('received undefined');
  // The branch whose own key is present is the one the author meant: report what is wrong inside it.
  const meant = issue.errors.find((branch) => !branch.some(missingKey));
  if (meant?.[0] !== undefined) return describeIssue(meant[0], path, value);
  const forms = issue.errors
    .map((branch) =>
      branch
        .filter(missingKey)
        .map((i) => String(i.path[0]))
        .join(' + '),
    )
    .filter((f) => f !== '');
  const unknown = issue.errors.flat().flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys : []));
  const unknownText =
    unknown.length > 0 ? `unknown key(s) ${[...new Set(unknown)].map((k) => `"${k}"`).join(', ')}; ` : '';
  return { key, message: `${unknownText}write exactly one of ${forms.map((f) => `"${f}"`).join(', ')}` };
}

function invalid(
  file: string,
  key: string,
  message: string,
  hint: string,
  cause?: unknown,
  issues?: string[],
): ConfigError {
  return new ConfigError('PLAN_INVALID', `${file}: ${key}: ${message}`, {
    context: { file, key, ...(issues ? { issues } : {}) },
    hint,
    ...(cause === undefined ? {} : { cause }),
  });
}
