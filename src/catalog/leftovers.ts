/**
 * Files that crashes leave behind and nothing else removes (issue 11 row 7), found and removed by
 * `stillpoint backups recover`:
 *
 * - partial writes in an artifact store: the temp file of a `put` interrupted between its first byte and its
 *   rename (for SQLite members `<id>/<member>/snapshot.sqlite.tmp-<hex>`);
 * - the files of failed or invalid backups: they can never be restored; their catalog rows and events stay
 *   (the history of what happened), and a `leftovers-removed` event lists what went;
 * - the SQLite engine's full-size temporary copies in the system temp directory
 *   (`stillpoint-sqlite-<12 hex>.db` and its -journal/-wal/-shm, named in src/engines/sqlite/sqlite-engine.ts).
 *
 * A temp file may belong to a backup that is still running: partial writes and temp copies are removed only
 * when older than `minAgeMs` (a write in progress touches its file continuously), and partial writes never in
 * a store a live backup of this catalog (fresh heartbeat) is writing to. Only what the catalog knows is
 * touched: stores named by its backups (or given), never arbitrary directories.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openArtifactStore } from '../artifacts/open-store.ts';
import { isStale, type Catalog } from './catalog.ts';
import { TERMINAL_STATES } from './catalog-schema.ts';

/** The SQLite engine's temp copies (keep in step with src/engines/sqlite/sqlite-engine.ts `finish`). */
const SQLITE_TEMP_COPY = /^stillpoint-sqlite-[0-9a-f]{12}\.db(-journal|-wal|-shm)?$/;

/** Default age below which a temp file is presumed to belong to a running write. */
export const DEFAULT_LEFTOVER_MIN_AGE_MS = 10 * 60_000;

export interface LeftoverOptions {
  /** Stores to scan besides those the catalog's backups name (e.g. the plan's). */
  readonly stores?: readonly string[];
  readonly minAgeMs?: number;
  /** Where the engines put temp copies (default os.tmpdir(), which follows $TMPDIR). */
  readonly tempDir?: string;
  readonly now?: () => number;
  /** Called for each file removed (progress). */
  readonly onRemoved?: (item: RemovedLeftover) => void;
}

export interface RemovedLeftover {
  readonly kind: 'partial-write' | 'failed-backup-file' | 'temp-copy';
  /** Store location, or the temp directory. */
  readonly where: string;
  readonly name: string;
  readonly bytes: number;
  readonly backupId?: string;
}

export interface KeptLeftover {
  readonly kind: 'partial-write' | 'temp-copy';
  readonly where: string;
  readonly name: string;
  readonly reason: string;
}

export interface LeftoverReport {
  readonly removed: readonly RemovedLeftover[];
  readonly kept: readonly KeptLeftover[];
  readonly bytesFreed: number;
}

export async function removeLeftovers(
  catalog: Catalog,
  options: LeftoverOptions = {},
): Promise<LeftoverReport> {
  const now = options.now ?? Date.now;
  const minAgeMs = options.minAgeMs ?? DEFAULT_LEFTOVER_MIN_AGE_MS;
  const removed: RemovedLeftover[] = [];
  const kept: KeptLeftover[] = [];
  const record = (item: RemovedLeftover): void => {
    removed.push(item);
    options.onRemoved?.(item);
  };
  const backups = catalog.list();
  const liveStores = new Set(
    backups
      .filter((b) => !TERMINAL_STATES.includes(b.state) && !isStale(b.owner, now()))
      .map((b) => openArtifactStore(b.artifactsLocation).location),
  );
  const locations = new Set(
    [...backups.map((b) => b.artifactsLocation), ...(options.stores ?? [])].filter((l) => l.length > 0),
  );
  const stores = new Map([...locations].map((l) => openArtifactStore(l)).map((s) => [s.location, s]));

  for (const store of stores.values()) {
    for (const p of await store.listPartialWrites()) {
      const where = store.location;
      if (liveStores.has(where))
        kept.push({
          kind: 'partial-write',
          where,
          name: p.name,
          reason: 'a running backup writes to this store',
        });
      else if (now() - p.modifiedAtMs < minAgeMs)
        kept.push({ kind: 'partial-write', where, name: p.name, reason: `younger than ${minAgeMs} ms` });
      else {
        await store.removePartialWrite(p.name);
        record({ kind: 'partial-write', where, name: p.name, bytes: p.bytes });
      }
    }
  }

  for (const b of backups.filter((x) => x.state === 'failed' || x.state === 'invalid')) {
    const store = stores.get(openArtifactStore(b.artifactsLocation).location);
    if (store === undefined) continue;
    const keys = await store.list(`${b.id}/`);
    if (keys.length === 0) continue;
    for (const key of keys) {
      const bytes = b.artifacts.find((a) => a.key === key)?.bytes ?? 0;
      await store.delete(key);
      record({ kind: 'failed-backup-file', where: store.location, name: key, bytes, backupId: b.id });
    }
    catalog.note(b.id, 'leftovers-removed', { keys });
  }

  const tempDir = options.tempDir ?? tmpdir();
  for (const name of (await readdir(tempDir).catch(() => [] as string[]))
    .filter((n) => SQLITE_TEMP_COPY.test(n))
    .sort()) {
    const path = join(tempDir, name);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || !info.isFile()) continue;
    if (now() - info.mtimeMs < minAgeMs) {
      kept.push({ kind: 'temp-copy', where: tempDir, name, reason: `younger than ${minAgeMs} ms` });
      continue;
    }
    await rm(path, { force: true });
    record({ kind: 'temp-copy', where: tempDir, name, bytes: info.size });
  }
  return { removed, kept, bytesFreed: removed.reduce((n, r) => n + r.bytes, 0) };
}
