/** Options of a `dynamodb` member and of its restore target. */
import { z } from 'zod';

export const dynamoOptionsSchema = z.strictObject({
  /** Turn PITR on for tables that have it off (preflight), instead of refusing. */
  enablePitr: z.boolean().default(false),
  /** Poll interval for table status and the PITR horizon. */
  pollMs: z.number().int().min(10).max(60_000).default(1_000),
  /** How long a restored table may stay CREATING. */
  activeTimeoutMs: z
    .number()
    .int()
    .min(1_000)
    .default(30 * 60_000),
  /** How long `horizon` waits for the latest restorable time to pass the restore time. */
  horizonTimeoutMs: z
    .number()
    .int()
    .min(1_000)
    .default(30 * 60_000),
});
export type DynamoOptions = z.infer<typeof dynamoOptionsSchema>;

/**
 * Restore target: `prefix` restores into new table names (`<prefix><ns>.<table>`, a second environment);
 * absent, the tables are restored in place under their own names (the runbook's dance).
 */
export const dynamoTargetSchema = z.strictObject({ prefix: z.string().min(1).optional() });
export type DynamoTarget = z.infer<typeof dynamoTargetSchema>;
