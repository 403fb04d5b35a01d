/** Options of an `azure-flexible` member (a PostgreSQL or MySQL flexible server) and of its restore target. */
import { z } from 'zod';

export const azureFlexibleOptionsSchema = z.strictObject({
  /** A UUID: the ARM clients refuse anything else (found only at preflight otherwise). */
  subscriptionId: z.string().uuid(),
  resourceGroup: z.string().min(1),
  /** The source flexible server's name. */
  server: z.string().min(1),
  /** ARM endpoint override (a sovereign cloud, or a fake in tests); default https://management.azure.com. */
  endpoint: z.string().url().optional(),
  /** PEM file of a CA to trust for `endpoint` (a private endpoint's, or the lab fake's). */
  caFile: z.string().min(1).optional(),
  /** A static throwaway token for a local endpoint; never for Azure. */
  dummyCredentials: z.boolean().default(false),
  /** The port the servers listen on (ARM reports only the host name). Default 3306 (MySQL) / 5432 (PostgreSQL). */
  port: z.number().int().min(1).max(65_535).optional(),
  minRetentionDays: z.number().int().min(1).max(35).default(1),
  pollMs: z.number().int().min(10).max(60_000).default(15_000),
  availableTimeoutMs: z
    .number()
    .int()
    .min(1_000)
    .default(60 * 60_000),
  /**
   * Azure restores up to "now" but ships the transaction log in batches: a backup counts as complete once the
   * service clock is this far past the restore time. Default 5 minutes.
   */
  horizonLagMs: z
    .number()
    .int()
    .min(0)
    .default(5 * 60_000),
  horizonTimeoutMs: z
    .number()
    .int()
    .min(1_000)
    .default(30 * 60_000),
});
export type AzureFlexibleOptions = z.infer<typeof azureFlexibleOptionsSchema>;

/** Restore target: the NEW server's name (default `<source>-sp-<backup id tail>`) and optional credentials. */
export const azureFlexibleTargetSchema = z.strictObject({
  server: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/)
    .optional(),
  /** Always refused: Azure flexible servers cannot be renamed (named here to refuse it clearly). */
  swapNames: z.boolean().optional(),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  passwordEnv: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
});
export type AzureFlexibleTarget = z.infer<typeof azureFlexibleTargetSchema>;
