/**
 * The SQLite engine kind (the embedded default, and the demo's). One strategy: `snapshot` — a WAL read
 * snapshot pinned inside the pause, copied out after it (./snapshot/capture.ts), restored by file
 * (./snapshot/restore.ts).
 */
import type { EngineCapabilities, EngineKind } from '../contract.ts';
import { parseSqliteOptions, type SqliteOptions } from './options.ts';
import { SqliteSnapshotBackup } from './snapshot/capture.ts';
import { SqliteSnapshotRestore } from './snapshot/restore.ts';

const CAPABILITIES: EngineCapabilities = Object.freeze({
  atomicCapture: true,
  snapshotInsidePause: true,
  clockBased: false,
  horizonWait: false,
});

export const sqliteEngine: EngineKind<SqliteOptions> = {
  kind: 'sqlite',
  parseOptions: parseSqliteOptions,
  capabilities: () => CAPABILITIES,
  openBackup: (ctx, options) => new SqliteSnapshotBackup(ctx, options, CAPABILITIES),
  openRestore: (ctx) => new SqliteSnapshotRestore(ctx),
};
