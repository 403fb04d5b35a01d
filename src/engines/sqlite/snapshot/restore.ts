/**
 * SQLite snapshot restore session.
 *
 * Restore writes the marker `<path>.stillpoint-restore.json` = `{ backupId, sha256, state: "in-progress" }`
 * BEFORE it changes anything, streams the artifact to a temp file next to the target and renames it into
 * place. `markFinished()` (after the whole restore was checked) sets `state: "restored"`. So:
 * - a re-run after a crash finds its own in-progress marker and redoes the restore;
 * - a re-run after a finished restore finds "restored" and is refused without force (the restored database
 *   may have been written to since: issue 11 row 3);
 * - a file without our marker is foreign; the member's own source file is the live source.
 * Files and markers are created 0600.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EngineError } from '../../../errors.ts';
import type {
  RestoredMember,
  RestoreOptions,
  RestoreSession,
  RestoreSessionContext,
  RestoreStep,
  TargetInspection,
} from '../../contract.ts';
import { refuseUnlessRestorable } from '../../restore-refusal.ts';
import { throwIfAborted } from '../../settle.ts';
import { parseSqliteTarget, sqlitePath } from '../options.ts';
import { SNAPSHOT_FILE } from './capture.ts';

interface Marker {
  readonly backupId?: string;
  readonly sha256?: string;
  /** Absent in markers written before the in-progress state existed: those were written after a restore. */
  readonly state?: 'in-progress' | 'restored';
}

export class SqliteSnapshotRestore implements RestoreSession {
  readonly target: { readonly path: string };
  private readonly temps = new Set<string>();

  constructor(private readonly ctx: RestoreSessionContext) {
    this.target = parseSqliteTarget(ctx.record, ctx.target);
  }

  private get marker(): string {
    return `${this.target.path}.stillpoint-restore.json`;
  }

  plan(): Promise<readonly RestoreStep[]> {
    const path = this.target.path;
    const artifact = this.artifact();
    const exists = existsSync(path) && statSync(path).size > 0;
    return Promise.resolve([
      { title: `check that ${path} is absent, empty or a leftover of this restore`, destructive: false },
      { title: `verify sha256 of ${artifact.key}`, detail: artifact.sha256, destructive: false },
      { title: `mark ${path} as being restored`, detail: this.marker, destructive: false },
      { title: `copy snapshot to a temp file next to ${path}`, destructive: false },
      {
        title: `${exists ? 'replace' : 'create'} ${path} (rename, then remove stale -wal/-shm)`,
        destructive: exists,
      },
    ]);
  }

  async inspect(): Promise<TargetInspection> {
    const path = this.target.path;
    const dir = dirname(path);
    const checks = [
      existsSync(dir) && !statSync(dir).isDirectory()
        ? {
            name: 'target directory',
            ok: false,
            detail: `${dir} is not a directory`,
            hint: 'Choose another --into directory or target path.',
          }
        : { name: 'target directory', ok: true, detail: dir },
    ];
    if (resolve(sqlitePath(this.ctx.record.member)) === path) {
      return {
        checks,
        state: 'live-source',
        detail: `${path} is the member's live database file`,
        hint: 'Restore into another path (--into DIR); overwriting the source needs --force and --overwrite-source (its current data is lost).',
      };
    }
    if (!existsSync(path)) return { checks, state: 'absent', detail: `${path} does not exist` };
    if (statSync(path).size === 0) return { checks, state: 'empty', detail: `${path} is empty` };
    const marker = await this.readMarker();
    if (marker?.backupId === this.ctx.record.backupId && marker.sha256 === this.artifact().sha256) {
      if (marker.state === 'in-progress') {
        return {
          checks,
          state: 'in-progress',
          detail: `${path} is the leftover of an unfinished restore of this backup`,
          hint: 'It is redone without --force.',
        };
      }
      return {
        checks,
        state: 'restored',
        detail: `${path} holds a finished restore of this backup, which may have been written to since`,
        hint: 'Pass --force to overwrite it, or restore into a new path.',
      };
    }
    if (marker?.state === 'in-progress') {
      return {
        checks,
        state: 'foreign',
        detail: `${path} is the leftover of an unfinished restore of another backup (${marker.backupId ?? '?'})`,
        hint: `Remove it (rm -f ${path} ${this.marker} ${path}-wal ${path}-shm), restore into a new path (--into DIR), or pass --force to overwrite it.`,
      };
    }
    return {
      checks,
      state: 'foreign',
      detail: `${path} exists and holds data this restore did not write`,
      hint: 'Restore into a new path (--into DIR), or pass --force to overwrite it.',
    };
  }

  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    const { path } = this.target;
    const artifact = this.artifact();
    const inspection = await this.inspect();
    refuseUnlessRestorable(inspection, opts, {
      member: this.ctx.record.member.name,
      engine: 'sqlite',
      backupId: this.ctx.record.backupId,
      target: path,
    });
    throwIfAborted(opts.signal, 'sqlite', 'restore');
    if (!(await this.ctx.artifacts.verify(artifact))) {
      throw new EngineError(
        'ARTIFACT_CHECKSUM_MISMATCH',
        `Artifact ${artifact.key} does not match its sha256.`,
        {
          context: {
            member: this.ctx.record.member.name,
            engine: 'sqlite',
            backupId: this.ctx.record.backupId,
            key: artifact.key,
          },
          hint: 'The backup is damaged; restore another backup.',
        },
      );
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await this.writeMarker('in-progress');
    const temp = `${path}.restoring-${randomBytes(4).toString('hex')}`;
    this.temps.add(temp);
    try {
      await pipeline(
        addAbortSignal(opts.signal, await this.ctx.artifacts.get(artifact.key)),
        createWriteStream(temp, { mode: 0o600 }),
      );
      await rm(`${path}-wal`, { force: true });
      await rm(`${path}-shm`, { force: true });
      await rename(temp, path);
      await chmod(path, 0o600);
    } finally {
      await rm(temp, { force: true });
      this.temps.delete(temp);
    }
    return { connection: { kind: 'sqlite', path } };
  }

  async markFinished(): Promise<void> {
    await this.writeMarker('restored');
  }

  async close(): Promise<void> {
    for (const temp of this.temps) await rm(temp, { force: true }).catch(() => undefined);
    this.temps.clear();
  }

  private async readMarker(): Promise<Marker | undefined> {
    return readFile(this.marker, 'utf8')
      .then((t) => JSON.parse(t) as Marker)
      .catch(() => undefined);
  }

  private async writeMarker(state: NonNullable<Marker['state']>): Promise<void> {
    const marker: Marker = { backupId: this.ctx.record.backupId, sha256: this.artifact().sha256, state };
    await writeFile(this.marker, JSON.stringify(marker), { mode: 0o600 });
  }

  private artifact() {
    const found = this.ctx.record.artifacts.find((a) => a.key.endsWith(`/${SNAPSHOT_FILE}`));
    if (found === undefined) {
      throw new EngineError(
        'ARTIFACT_MISSING',
        `Backup ${this.ctx.record.backupId} has no snapshot for member "${this.ctx.record.member.name}".`,
        {
          context: {
            member: this.ctx.record.member.name,
            engine: 'sqlite',
            backupId: this.ctx.record.backupId,
          },
          hint: 'Only complete backups can be restored; see `stillpoint backups show <id>`.',
        },
      );
    }
    return found;
  }
}
