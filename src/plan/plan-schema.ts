/**
 * The plan file's schema (zod, strict: unknown keys are rejected at every level).
 *
 * ```yaml
 * version: 1
 * group: bank                       # default: the file name without extension
 * mode: snapshot                    # single | pause-window | snapshot; default derived from the engines
 * clusters:
 *   - name: nodes
 *     targets: { addresses: ["127.0.0.1:50051", "[::1]:50052"] }   # or { srv: _x._tcp.name, dnsServers: [...] }
 *                                                                  # or { kubernetes: { release, namespace, product } }
 *                                                                  # or { kubernetes: { statefulset|deployment|selector, adminPort, namespace } }
 *     tls: { caFile: ./ca.pem }     # optional; absent = plaintext
 *     token: { env: ADMIN_TOKEN }   # or { file: ./token }
 *     drainTimeoutMs: 30000         # sent as max_pause_wait_time; default: server default
 *     leaseMs: 15000                # pause lease; default 15000
 *     callTimeoutMs: 10000          # deadline of each admin call (Pause: plus the drain); default 10000
 * members:
 *   - name: bank_a
 *     engine: sqlite
 *     connection: { kind: sqlite, path: ./data/bank_a.db }
 *     namespaces: [bank_a]
 *   - { name: coord, engine: sqlite, connection: { kind: sqlite, path: ./data/coord.db }, namespaces: [coordinator] }
 * artifacts: { dir: ./.stillpoint/artifacts }
 * catalog: { path: ./.stillpoint/catalog.db }
 * window: { minMs: 0, marginMs: 50, maxAttempts: 3, captureTimeoutMs: 30000 }
 * restore: { hooks: { before: ["systemctl stop app"], after: ["systemctl start app"] } }
 * check: { invariants: [bank] }     # application invariants checked after a restore (default none)
 * ```
 *
 * Names (members, clusters, group) are 1–63 letters, digits, `_`, `.`, `-`; every duration and count has a
 * bound (a timer past 2^31 ms fires at once in Node, so an unbounded `leaseMs` would unpause at once).
 * Passwords are never written in a plan: use `passwordEnv` or `passwordFile` (the catalog records only the
 * source, so a restore can read it again).
 */
import { z } from 'zod';
import { storageConfigSchema } from '../config/group-config.ts';

/** The longest name accepted: fits a PostgreSQL identifier, a DNS label, a file name with room to spare. */
export const MAX_NAME_LENGTH = 63;
const name = z
  .string()
  .max(MAX_NAME_LENGTH, `at most ${MAX_NAME_LENGTH} characters`)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, `_`, `.`, `-`');

/** Upper bounds of durations and counts (a duration past these is a typo, and past 2^31 ms breaks timers). */
export const PLAN_LIMITS = Object.freeze({
  drainTimeoutMs: 10 * 60_000,
  leaseMs: 10 * 60_000,
  callTimeoutMs: 10 * 60_000,
  windowMinMs: 60_000,
  marginMs: 60_000,
  maxAttempts: 20,
  captureTimeoutMs: 60 * 60_000,
  list: 1_000,
  text: 4_096,
});
const ms = (max: number) => z.number().int().max(max, `at most ${max} ms`);
const text = z.string().min(1).max(PLAN_LIMITS.text);

const targetsSchema = z.union([
  z.strictObject({ addresses: z.array(text).min(1, 'list at least one host:port').max(PLAN_LIMITS.list) }),
  z.strictObject({ srv: text, dnsServers: z.array(text).max(PLAN_LIMITS.list).optional() }),
  z.strictObject({
    // [k8s] A Helm release of a Scalar chart, or (without Helm labels) a Deployment / StatefulSet by name or a pod
    // label selector with the admin port (a number or a container port name).
    kubernetes: z
      .strictObject({
        release: z.string().min(1).optional(),
        deployment: z.string().min(1).optional(),
        statefulset: z.string().min(1).optional(),
        selector: z.string().min(1).optional(),
        adminPort: z.union([z.number().int().min(1).max(65535), z.string().min(1)]).optional(),
        namespace: z.string().min(1).default('default'),
        product: z.enum(['scalardb', 'scalardb-cluster', 'scalardl-ledger', 'scalardl-auditor']).optional(),
      })
      .refine(
        (k) =>
          [k.release, k.deployment, k.statefulset, k.selector].filter((x) => x !== undefined).length === 1,
        {
          message: 'name exactly one of release, deployment, statefulset, selector',
        },
      )
      .refine((k) => (k.release === undefined) === (k.adminPort !== undefined), {
        message:
          'adminPort goes with deployment, statefulset or selector (a release has it in its headless service), and they need it',
      }),
  }),
]);

const secretRef = z.union([
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);

const clusterSchema = z.strictObject({
  name,
  targets: targetsSchema,
  tls: z
    .strictObject({
      ca: z.string().min(1).optional(),
      caFile: z.string().min(1).optional(),
      overrideAuthority: z.string().optional(),
    })
    .optional(),
  token: secretRef.optional(),
  drainTimeoutMs: ms(PLAN_LIMITS.drainTimeoutMs).positive().optional(),
  leaseMs: ms(PLAN_LIMITS.leaseMs)
    .min(1000, 'a lease under 1000 ms cannot be renewed reliably')
    .default(15_000),
  callTimeoutMs: ms(PLAN_LIMITS.callTimeoutMs)
    .min(100, 'a call deadline under 100 ms fails healthy nodes')
    .optional(),
});

const memberSchema = z.strictObject({
  name,
  engine: z.string().min(1).max(MAX_NAME_LENGTH),
  connection: storageConfigSchema,
  namespaces: z
    .array(
      z
        .string()
        .max(MAX_NAME_LENGTH)
        .regex(/^[a-z_][a-z0-9_]*$/, 'namespace names are lower-case identifiers'),
    )
    .min(1)
    .max(PLAN_LIMITS.list),
  options: z.record(z.string(), z.unknown()).default({}),
});

export const planSchema = z
  .strictObject({
    version: z.literal(1, { message: 'write `version: 1`' }),
    group: name.optional(),
    mode: z.enum(['single', 'pause-window', 'snapshot']).optional(),
    clusters: z.array(clusterSchema).max(PLAN_LIMITS.list).default([]),
    members: z.array(memberSchema).min(1, 'list at least one member database').max(PLAN_LIMITS.list),
    // `url` names any store openArtifactStore knows (s3://…, azblob://…, file:///…); `dir` a local directory.
    artifacts: z
      .strictObject({ dir: z.string().min(1).optional(), url: z.string().min(1).optional() })
      .optional(),
    catalog: z.strictObject({ path: z.string().min(1) }).optional(),
    window: z
      .strictObject({
        minMs: ms(PLAN_LIMITS.windowMinMs).min(0).default(0),
        marginMs: ms(PLAN_LIMITS.marginMs).min(0).default(50),
        maxAttempts: z.number().int().min(1).max(PLAN_LIMITS.maxAttempts).default(3),
        captureTimeoutMs: ms(PLAN_LIMITS.captureTimeoutMs).min(100).default(30_000),
      })
      .prefault({}),
    restore: z
      .strictObject({
        hooks: z
          .strictObject({
            before: z.array(text).max(PLAN_LIMITS.list).default([]),
            after: z.array(text).max(PLAN_LIMITS.list).default([]),
          })
          .prefault({}),
      })
      .prefault({}),
    check: z.strictObject({ invariants: z.array(name).max(PLAN_LIMITS.list).default([]) }).prefault({}),
  })
  .superRefine((plan, ctx) => {
    const seen = new Map<string, string>();
    plan.members.forEach((m, i) => {
      for (const ns of m.namespaces) {
        const other = seen.get(ns);
        if (other !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['members', i, 'namespaces'],
            message: `namespace "${ns}" is already held by member "${other}"`,
          });
        }
        seen.set(ns, m.name);
      }
    });
    if (!seen.has('coordinator')) {
      ctx.addIssue({
        code: 'custom',
        path: ['members'],
        message: 'no member holds the namespace "coordinator" (the Coordinator table must be backed up)',
      });
    }
    dupes(plan.members.map((m) => m.name)).forEach((n) =>
      ctx.addIssue({ code: 'custom', path: ['members'], message: `member name "${n}" is used twice` }),
    );
    dupes(plan.clusters.map((c) => c.name)).forEach((n) =>
      ctx.addIssue({ code: 'custom', path: ['clusters'], message: `cluster name "${n}" is used twice` }),
    );
    if (plan.mode !== undefined && plan.mode !== 'single' && plan.clusters.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['mode'],
        message: `mode "${plan.mode}" pauses clusters, but no clusters are listed`,
      });
    }
  });

export type PlanInput = z.infer<typeof planSchema>;

function dupes(values: readonly string[]): string[] {
  return values.filter((v, i) => values.indexOf(v) !== i);
}
