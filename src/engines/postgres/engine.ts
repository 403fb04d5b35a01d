/**
 * The PostgreSQL engine kind. Two strategies (`options.method`), each a subfolder with the same files:
 * - `logical` (default): exported snapshot inside the pause, `pg_dump --snapshot` after it
 *   (./logical/capture.ts), `pg_restore` into a staging database renamed to the target (./logical/restore.ts);
 * - `pitr`: named restore point inside the pause, WAL archive + base backup (./pitr/capture.ts,
 *   ./pitr/archive.ts), recovery of a new data directory to that point (./pitr/restore.ts).
 * Both capture the whole database atomically, so a group with one PostgreSQL member needs no pause. Only
 * `pitr` waits for a horizon (the restore point's WAL segment archived).
 */
import type { EngineCapabilities, EngineKind } from '../contract.ts';
import { PostgresLogicalBackup } from './logical/capture.ts';
import { PostgresLogicalRestore } from './logical/restore.ts';
import { parsePostgresOptions, type PostgresOptions } from './options.ts';
import { PostgresPitrBackup } from './pitr/capture.ts';
import { PostgresPitrRestore } from './pitr/restore.ts';

const LOGICAL: EngineCapabilities = Object.freeze({
  atomicCapture: true,
  snapshotInsidePause: true,
  clockBased: false,
  horizonWait: false,
});
const PITR: EngineCapabilities = Object.freeze({
  atomicCapture: true,
  snapshotInsidePause: true,
  clockBased: false,
  horizonWait: true,
});

export const postgresEngine: EngineKind<PostgresOptions> = {
  kind: 'postgres',
  parseOptions: parsePostgresOptions,
  capabilities: (options) => (options.method === 'pitr' ? PITR : LOGICAL),
  openBackup: (ctx, options) =>
    options.method === 'pitr'
      ? new PostgresPitrBackup(ctx, options, PITR)
      : new PostgresLogicalBackup(ctx, options, LOGICAL),
  // The record's handle says how the backup was taken (the member's method may have changed since).
  openRestore: (ctx, options) =>
    ctx.record.handle.kind === 'named-point'
      ? new PostgresPitrRestore(ctx, options)
      : new PostgresLogicalRestore(ctx, options),
};
