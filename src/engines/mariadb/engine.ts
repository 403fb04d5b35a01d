/**
 * The MariaDB/MySQL engine kind. Two strategies (`options.method`):
 * - `logical` (default): consistent snapshots opened inside the pause, dumped after it through the client
 *   protocol in those same transactions (./logical/);
 * - `pitr`: binlog position inside the pause, mariabackup base backup + archived binlogs (./pitr/).
 * Both cut every InnoDB table of the server atomically, so a group with one MariaDB member needs no pause.
 * Stateless: every connection, child process and temp file lives in a session.
 */
import { ConfigError } from '../../errors.ts';
import type {
  BackupSession,
  BackupSessionContext,
  EngineCapabilities,
  EngineKind,
  MemberSpec,
  RestoreSession,
  RestoreSessionContext,
} from '../contract.ts';
import { LogicalBackup } from './logical/capture.ts';
import { LogicalRestore } from './logical/restore.ts';
import { parseMariaDbOptions, type MariaDbOptions } from './options.ts';
import { PitrBackup } from './pitr/capture.ts';
import { PitrRestore } from './pitr/restore.ts';

const LOGICAL: EngineCapabilities = Object.freeze({
  atomicCapture: true,
  snapshotInsidePause: true,
  clockBased: false,
  horizonWait: false,
});
// PITR waits for the binlog holding the position to be archived.
const PITR: EngineCapabilities = Object.freeze({
  atomicCapture: true,
  snapshotInsidePause: true,
  clockBased: false,
  horizonWait: true,
});

export const mariadbEngine: EngineKind<MariaDbOptions> = Object.freeze({
  kind: 'mariadb',
  parseOptions: (member: MemberSpec): MariaDbOptions => parseMariaDbOptions(member),
  capabilities: (options: MariaDbOptions): EngineCapabilities => (options.method === 'pitr' ? PITR : LOGICAL),
  openBackup(ctx: BackupSessionContext, options: MariaDbOptions): BackupSession {
    const caps = options.method === 'pitr' ? PITR : LOGICAL;
    return options.method === 'pitr'
      ? new PitrBackup(ctx, options, caps)
      : new LogicalBackup(ctx, options, caps);
  },
  openRestore(ctx: RestoreSessionContext, options: MariaDbOptions): RestoreSession {
    // The record decides, not today's options: a member switched to pitr still restores its logical backups.
    const kind = ctx.record.handle.kind;
    if (kind === 'log-position') return new PitrRestore(ctx, options);
    if (kind === 'snapshot') return new LogicalRestore(ctx, options);
    throw new ConfigError(
      'HANDLE_KIND',
      `A MariaDB backup record has a ${kind} handle; expected snapshot or log-position.`,
      {
        hint: 'The catalog record is not a MariaDB backup of this version.',
        context: { engine: 'mariadb', backupId: ctx.record.backupId },
      },
    );
  },
});
