/**
 * Backup of a DynamoDB member by point-in-time recovery. Nothing is copied: the restore point is a time in
 * the service's clock (the window's mid-time plus the measured offset). Preflight checks PITR on every table
 * (or turns it on with `enablePitr`) and records each table's billing mode and auto-scaling into a manifest
 * artifact, because a restore drops them. The backup is complete only once every table's latest restorable
 * time has passed the restore time (`horizon`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../../../errors.ts';
import { windowTimeHandle } from '../../time-handle.ts';
import type {
  BackupSession,
  BackupSessionContext,
  CaptureResult,
  ClockSample,
  EngineCapabilities,
  FinishedMember,
  FinishWindow,
  PreflightCheck,
  RestoreHandle,
} from '../../contract.ts';
import type { DynamoControlPlane, TableSettings } from '../control-plane.ts';
import type { DynamoOptions } from '../options.ts';
import { memberTables, tableSettings } from '../tables.ts';

export const DYNAMO_CAPABILITIES: EngineCapabilities = Object.freeze({
  atomicCapture: false,
  snapshotInsidePause: false,
  clockBased: true,
  horizonWait: true,
});

export const MANIFEST_FILE = 'dynamodb-manifest.json';

export interface DynamoManifest {
  readonly tables: readonly TableSettings[];
}

export class DynamoPitrBackupSession implements BackupSession {
  readonly capabilities = DYNAMO_CAPABILITIES;
  private tables: string[] = [];
  private captured: CaptureResult | undefined;

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: DynamoOptions,
    private readonly cp: DynamoControlPlane,
  ) {}

  async preflight(): Promise<readonly PreflightCheck[]> {
    try {
      this.tables = await memberTables(this.cp, this.ctx.member);
    } catch (error) {
      return [
        {
          name: 'dynamodb reachable',
          ok: false,
          detail: String((error as Error).message),
          hint: 'Check the endpoint/region and the credentials.',
        },
      ];
    }
    if (this.tables.length === 0) {
      return [
        {
          name: 'dynamodb tables',
          ok: false,
          detail: `No tables of namespaces ${this.ctx.member.namespaces.join(', ')} found.`,
          hint: 'Check the prefix and the namespaces of the member.',
        },
      ];
    }
    const checks: PreflightCheck[] = [];
    for (const table of this.tables) {
      let status = await this.cp.describeContinuousBackups(table);
      if (!status.enabled && this.options.enablePitr) {
        await this.cp.enablePitr(table);
        status = await this.cp.describeContinuousBackups(table);
      }
      checks.push(
        status.enabled
          ? { name: `pitr ${table}`, ok: true, detail: 'point-in-time recovery enabled' }
          : {
              name: `pitr ${table}`,
              ok: false,
              detail: 'point-in-time recovery is OFF',
              hint: `Enable it (aws dynamodb update-continuous-backups --table-name ${table} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true) or set the member option enablePitr: true.`,
            },
      );
    }
    return checks;
  }

  // async: an aborted signal must reject the promise, not throw at the call.
  // eslint-disable-next-line @typescript-eslint/require-await
  async prepare(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
  }

  /** Service clock minus ours from one round trip: uncertainty = half the round trip + the clock's resolution. */
  async measureClock(signal: AbortSignal): Promise<ClockSample> {
    const sent = Date.now();
    const { nowMs, resolutionMs } = await abortable(this.cp.serviceTime(), signal);
    const received = Date.now();
    const rttMs = received - sent;
    return {
      offsetMs: Math.round(nowMs + resolutionMs / 2 - (sent + received) / 2),
      uncertaintyMs: Math.ceil(rttMs / 2 + resolutionMs),
      rttMs,
    };
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async capture(signal: AbortSignal): Promise<CaptureResult> {
    signal.throwIfAborted();
    this.captured = { handle: null, capturedAtMs: Date.now() };
    return this.captured;
  }

  async finish(window: FinishWindow, signal: AbortSignal): Promise<FinishedMember> {
    signal.throwIfAborted();
    if (this.captured === undefined)
      throw new EngineError('CAPTURE_MISSING', 'finish was called without a capture.', {
        context: { member: this.ctx.member.name },
      });
    const handle = windowTimeHandle(window, 'DynamoDB', this.ctx.member.name);
    const manifest: DynamoManifest = {
      tables: await abortable(Promise.all(this.tables.map((t) => tableSettings(this.cp, t))), signal),
    };
    const ref = await this.ctx.artifacts.put(
      `${this.ctx.artifactPrefix}${MANIFEST_FILE}`,
      JSON.stringify(manifest, null, 2),
    );
    return { handle, artifacts: [ref], bytes: ref.bytes, detail: { tables: this.tables.length } };
  }

  discard(): Promise<void> {
    this.captured = undefined;
    return Promise.resolve();
  }

  /** Complete only when every table's latest restorable time has passed the restore time. */
  async horizon(handle: RestoreHandle, signal: AbortSignal): Promise<void> {
    if (handle.kind !== 'time')
      throw new EngineError('HANDLE_KIND', `A DynamoDB backup has a time handle, not ${handle.kind}.`, {
        context: { member: this.ctx.member.name },
      });
    const deadline = Date.now() + this.options.horizonTimeoutMs;
    for (const table of this.tables) {
      for (;;) {
        const status = await abortable(this.cp.describeContinuousBackups(table), signal);
        if ((status.latestRestorableMs ?? -Infinity) >= handle.atMs) break;
        if (Date.now() > deadline) {
          throw new EngineError(
            'HORIZON_TIMEOUT',
            `Table ${table}: the latest restorable time did not pass ${new Date(handle.atMs).toISOString()} in ${this.options.horizonTimeoutMs} ms.`,
            {
              hint: 'AWS trails real time by about five minutes; raise horizonTimeoutMs if it trails more.',
              context: { member: this.ctx.member.name, table },
            },
          );
        }
        await sleep(this.options.pollMs, undefined, { signal });
      }
    }
  }

  async close(): Promise<void> {
    await this.cp.close().catch(() => undefined);
  }
}

/**
 * `work`, or the signal's reason as soon as it aborts. The SDK call itself keeps its socket until
 * close() destroys the client, which bounds it; the caller is released at the deadline.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
