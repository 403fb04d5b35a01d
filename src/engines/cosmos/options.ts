/** Options of a `cosmos` member and of its restore target. */
import { z } from 'zod';

export const cosmosOptionsSchema = z.strictObject({
  subscriptionId: z.string().min(1),
  resourceGroup: z.string().min(1),
  /** The database account name (the `<account>` of https://<account>.documents.azure.com). */
  account: z.string().min(1),
  /** Another Azure Resource Manager endpoint (sovereign clouds; the lab's fake). */
  managementEndpoint: z.url().optional(),
  /** A PEM CA to trust for the management endpoint only. */
  managementCaFile: z.string().min(1).optional(),
  /** Poll interval for restores and the restorable horizon. */
  pollMs: z.number().int().min(10).max(60_000).default(5_000),
  /** How long a restore into a new account may take to be provisioned (Azure: minutes to hours by size). */
  restoreTimeoutMs: z
    .number()
    .int()
    .min(1_000)
    .default(4 * 60 * 60_000),
  /** How long `horizon` waits for the latest restorable time to pass the restore time. */
  horizonTimeoutMs: z
    .number()
    .int()
    .min(1_000)
    .default(30 * 60_000),
});
export type CosmosOptions = z.infer<typeof cosmosOptionsSchema>;

/**
 * Restore target: Cosmos DB restores only into a NEW account. `account` names it (default
 * `<source>-r-<first 8 of the backup id>`); `keyFile` receives the new account's primary key (0600) and the
 * restored connection reads it from there.
 */
export const cosmosTargetSchema = z.strictObject({
  account: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,42}$/, 'Cosmos DB account names are 3–44 lower-case letters, digits, -')
    .optional(),
  keyFile: z.string().min(1).optional(),
});
export type CosmosTarget = z.infer<typeof cosmosTargetSchema>;
