/** Options of an `rds` member (an RDS instance or an Aurora cluster) and of its restore target. */
import { z } from 'zod';

export const rdsOptionsSchema = z
  .strictObject({
    region: z.string().min(1),
    /** RDS API endpoint override (a VPC endpoint, or a fake in tests). */
    endpoint: z.string().url().optional(),
    /** Static throwaway credentials for a local endpoint; never for AWS. */
    dummyCredentials: z.boolean().default(false),
    /** DBInstanceIdentifier of an RDS for PostgreSQL/MySQL/MariaDB instance. */
    instance: z.string().min(1).optional(),
    /** DBClusterIdentifier of an Aurora cluster. */
    cluster: z.string().min(1).optional(),
    /** Preflight refuses a backup retention shorter than this many days (how far back restores must reach). */
    minRetentionDays: z.number().int().min(1).max(35).default(1),
    pollMs: z.number().int().min(10).max(60_000).default(15_000),
    /** How long a new instance/cluster may take to become `available`. */
    availableTimeoutMs: z
      .number()
      .int()
      .min(1_000)
      .default(60 * 60_000),
    /** How long `horizon` waits for LatestRestorableTime to pass the restore time (AWS lags ~5 min). */
    horizonTimeoutMs: z
      .number()
      .int()
      .min(1_000)
      .default(30 * 60_000),
  })
  .refine((o) => (o.instance === undefined) !== (o.cluster === undefined), {
    message: 'give exactly one of instance or cluster',
  });
export type RdsOptions = z.infer<typeof rdsOptionsSchema>;

/**
 * Restore target. `instance` (or `cluster` for Aurora) names the NEW resource, default
 * `<source>-sp-<backup id tail>`; `instanceClass` overrides the source's class; `swapNames` gives the
 * restored instance the source's name (see ./pitr/swap.ts). Credentials default to
 * the member's (a point-in-time restore keeps the source's users and passwords).
 */
export const rdsTargetSchema = z.strictObject({
  instance: z
    .string()
    .regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/)
    .optional(),
  cluster: z
    .string()
    .regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/)
    .optional(),
  instanceClass: z.string().min(1).optional(),
  /**
   * Instances only, with --force: once the restored instance is available, rename the source to
   * `<source>-pre-restore-<backup id tail>` and the restored one to the source's name.
   */
  swapNames: z.boolean().default(false),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  passwordEnv: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
});
export type RdsTarget = z.infer<typeof rdsTargetSchema>;
