/**
 * What the orchestrator reports while it works: one event per state change, member step, window check
 * and log line. The CLI prints them as NDJSON (`--json`) or progress lines; the demo aggregates them.
 */
import type { BackupState } from '../catalog/catalog-schema.ts';
import type { Logger, TransferProgress } from '../engines/contract.ts';

export type BackupEvent =
  | {
      readonly type: 'state';
      readonly backupId: string;
      readonly state: BackupState;
      readonly attempt: number;
      readonly reason?: string;
    }
  | {
      readonly type: 'member';
      readonly backupId: string;
      readonly member: string;
      readonly step: 'preflight' | 'captured' | 'finished' | 'horizon' | 'failed' | 'released';
      readonly ms?: number;
      readonly bytes?: number;
      readonly error?: string;
    }
  | {
      readonly type: 'window';
      readonly backupId: string;
      readonly attempt: number;
      readonly pausedAtMs: number;
      readonly unpauseStartedAtMs: number;
      readonly windowMs: number;
      readonly requiredMs: number;
      readonly valid: boolean;
      readonly problems: readonly string[];
    }
  | ({ readonly type: 'transfer'; readonly backupId: string } & TransferProgress)
  | {
      readonly type: 'log';
      readonly backupId?: string;
      readonly level: 'info' | 'warn';
      readonly message: string;
      readonly fields?: Record<string, unknown>;
    };

export type EventSink = (event: BackupEvent) => void;

/** An engine Logger that turns log lines into events. */
export function loggerFor(sink: EventSink, backupId: string, member?: string): Logger {
  const emit = (level: 'info' | 'warn') => (message: string, fields?: Record<string, unknown>) =>
    sink({ type: 'log', backupId, level, message, fields: { ...(member ? { member } : {}), ...fields } });
  return { info: emit('info'), warn: emit('warn') };
}

/** One human line for an event (progress on a terminal). */
export function describeEvent(e: BackupEvent): string {
  switch (e.type) {
    case 'state':
      return `${e.backupId} ${e.state}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}${e.reason ? `: ${e.reason}` : ''}`;
    case 'member':
      return `  ${e.member}: ${e.step}${e.ms !== undefined ? ` in ${e.ms.toFixed(1)} ms` : ''}${e.bytes !== undefined ? `, ${e.bytes} bytes` : ''}${e.error ? ` — ${e.error}` : ''}`;
    case 'window':
      return `  window ${e.windowMs} ms (required ≥ ${e.requiredMs} ms): ${e.valid ? 'valid' : `INVALID — ${e.problems.join('; ')}`}`;
    case 'transfer':
      return `  ${e.member}: ${e.phase} ${e.key} ${e.bytesDone}${e.bytesTotal !== undefined ? `/${e.bytesTotal}` : ''} bytes${e.done ? ', done' : ''}`;
    case 'log':
      return `  ${e.level === 'warn' ? 'warning: ' : ''}${e.message}`;
  }
}
