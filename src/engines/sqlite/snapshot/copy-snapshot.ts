/**
 * Copying a SQLite read snapshot out into a fresh database file.
 *
 * Why row copy and not the backup API or `VACUUM INTO`: the snapshot is a read transaction opened inside
 * the pause, and must stay the one being read. `VACUUM INTO` and `ATTACH` are refused inside a
 * transaction, and the online backup API restarts when another connection writes. Reading every table
 * through the connection that holds the read transaction gives exactly that snapshot, in constant memory.
 */
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';

interface SchemaRow {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

export interface CopyStats {
  readonly tables: number;
  readonly rows: number;
}

/**
 * Copies every table, index, view and trigger visible to `reader` (which must hold an open read
 * transaction) into a new database at `outPath`. Writes and yields to the event loop every `batchRows` rows
 * or every 8 MiB of row data, whichever comes first.
 */
export async function copySnapshot(
  reader: Database.Database,
  outPath: string,
  batchRows: number,
  signal: AbortSignal,
): Promise<CopyStats> {
  const schema = reader
    .prepare('SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid')
    .all() as SchemaRow[];
  const journalMode = reader.pragma('journal_mode', { simple: true }) as string;
  // A copy of the member's data: created 0600 before SQLite opens it (SQLite would create it 0644).
  writeFileSync(outPath, '', { mode: 0o600, flag: 'wx' });
  const out = new Database(outPath);
  try {
    out.pragma('journal_mode = OFF');
    out.pragma('synchronous = OFF');
    const tables = schema.filter((s) => s.type === 'table' && !s.name.startsWith('sqlite_'));
    for (const t of tables) out.exec(t.sql!);
    let rows = 0;
    for (const t of tables) rows += await copyTable(reader, out, t.name, batchRows, signal);
    if (schema.some((s) => s.name === 'sqlite_sequence')) {
      const seq = reader.prepare('SELECT name, seq FROM sqlite_sequence').all() as {
        name: string;
        seq: number;
      }[];
      const put = out.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)');
      out.transaction(() => seq.forEach((s) => put.run(s.name, s.seq)))();
    }
    // Indexes, views and triggers after the data: triggers must not fire while rows are copied.
    for (const s of schema.filter((x) => x.type !== 'table' && !x.name.startsWith('sqlite_')))
      out.exec(s.sql!);
    out.pragma('journal_mode = DELETE');
    if (journalMode.toLowerCase() === 'wal') out.pragma('journal_mode = WAL');
    out.pragma('wal_checkpoint(TRUNCATE)');
    return { tables: tables.length, rows };
  } finally {
    out.close();
  }
}

/** A batch is also flushed at this size, so memory stays flat whatever the row size (large BLOBs). */
const BATCH_BYTES = 8 * 2 ** 20;

function rowBytes(row: readonly unknown[]): number {
  let bytes = 0;
  for (const v of row) bytes += typeof v === 'string' ? v.length * 2 : Buffer.isBuffer(v) ? v.length : 8;
  return bytes;
}

async function copyTable(
  reader: Database.Database,
  out: Database.Database,
  table: string,
  batchRows: number,
  signal: AbortSignal,
): Promise<number> {
  const quoted = `"${table.replace(/"/g, '""')}"`;
  const select = reader.prepare(`SELECT * FROM ${quoted}`).raw(true);
  const width = select.columns().length;
  const insert = out.prepare(`INSERT INTO ${quoted} VALUES (${new Array(width).fill('?').join(', ')})`);
  let count = 0;
  let batch: unknown[][] = [];
  let batchBytes = 0;
  const flush = out.transaction((rows: unknown[][]) => rows.forEach((r) => insert.run(r)));
  for (const row of select.iterate() as IterableIterator<unknown[]>) {
    batch.push(row);
    batchBytes += rowBytes(row);
    count++;
    if (batch.length >= batchRows || batchBytes >= BATCH_BYTES) {
      flush(batch);
      batch = [];
      batchBytes = 0;
      signal.throwIfAborted();
      await new Promise((r) => setImmediate(r));
    }
  }
  flush(batch);
  return count;
}
