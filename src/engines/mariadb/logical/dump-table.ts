/**
 * Dumping one table inside a held snapshot, as `INSERT INTO t (cols) VALUES (…),(…);` lines of about
 * `batchBytes` each (one statement per line: restore replays line by line).
 *
 * The SERVER formats every row as an SQL tuple (`CONCAT('(', QUOTE(a), ',', b, ')')`) and the client only
 * joins the bytes: parsing each value into a JavaScript value and escaping it back cost more CPU than the
 * server's own dump (profiled: 1.4× `mariadb-dump` on 2 cores; row decode, escape regexps and string
 * building dominated). Line breaks inside values are written as `\n` / `\r` escapes so a tuple never spans
 * lines; binary values travel as hex (`X'…'`), so the files are valid UTF-8 text.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type mysql from 'mysql2/promise';
import { quoteIdent } from '../connection.ts';

/** A column as information_schema describes it. */
export interface ColumnInfo {
  readonly name: string;
  readonly dataType: string;
  /** Character set of a text column (null for others). */
  readonly charset: string | null;
  /** Generated (virtual/stored) columns are recomputed by the server on insert; they are not dumped. */
  readonly generated: boolean;
}

const NUMERIC = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'bigint', 'decimal', 'float', 'double', 'year']);
const BINARY = new Set([
  'binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'vector',
  'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection',
]);

/** The SQL literal of column `c` as the server formats it (NULL → the word NULL). Needs sql_mode ''. */
export function valueSql(c: ColumnInfo): string {
  const col = quoteIdent(c.name);
  const type = c.dataType.toLowerCase();
  if (NUMERIC.has(type)) return `IFNULL(${col},'NULL')`;
  if (type === 'bit') return `IFNULL(${col}+0,'NULL')`;
  if (BINARY.has(type)) return `IF(${col} IS NULL,'NULL',CONCAT('X''',HEX(${col}),''''))`;
  // QUOTE escapes \ ' NUL ^Z (and returns the word NULL for NULL); line breaks are escaped here.
  const text = c.charset === null || c.charset === 'utf8mb4' ? col : `CONVERT(${col} USING utf8mb4)`;
  return `REPLACE(REPLACE(QUOTE(${text}),'\\n','\\\\n'),'\\r','\\\\r')`;
}

/** Columns of every table of `db`, in table order. */
export async function columnsOf(conn: mysql.Connection, db: string): Promise<Map<string, ColumnInfo[]>> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT table_name AS t, column_name AS c, data_type AS d, character_set_name AS cs, is_generated AS g
       FROM information_schema.columns WHERE table_schema = ? ORDER BY table_name, ordinal_position`,
    [db],
  );
  const out = new Map<string, ColumnInfo[]>();
  for (const r of rows) {
    const list = out.get(String(r.t)) ?? [];
    list.push({ name: String(r.c), dataType: String(r.d), charset: r.cs === null ? null : String(r.cs), generated: String(r.g) === 'ALWAYS' });
    out.set(String(r.t), list);
  }
  return out;
}

/** The SELECT returning one formatted tuple per row, and the INSERT prefix of the lines. */
export function dumpStatements(db: string, table: string, columns: readonly ColumnInfo[]): { select: string; insertPrefix: string } {
  const stored = columns.filter((c) => !c.generated);
  const tuple = stored.map(valueSql).join(`,',',`);
  return {
    select: `SELECT CONCAT('(',${tuple},')') FROM ${quoteIdent(db)}.${quoteIdent(table)}`,
    insertPrefix: `INSERT INTO ${quoteIdent(table)} (${stored.map((c) => quoteIdent(c.name)).join(',')}) VALUES `,
  };
}

/** The callback-style connection under mysql2's promise wrapper: its query streams with backpressure. */
type CoreConnection = {
  query(o: { sql: string; rowsAsArray: boolean; typeCast: false }): { stream(o?: { highWaterMark: number }): Readable };
};

/**
 * Streams `select` (one formatted tuple per row) as INSERT lines. `onRows(n)` is called per batch with the
 * rows it holds (progress for the stall watchdog and the row count).
 */
export function streamTable(conn: mysql.Connection, select: string, insertPrefix: string, batchBytes: number, onRows: (n: number) => void): Readable {
  const core = (conn as unknown as { connection: CoreConnection }).connection;
  const rows = core.query({ sql: select, rowsAsArray: true, typeCast: false }).stream({ highWaterMark: 1000 });
  const batcher = new TupleBatcher(Buffer.from(insertPrefix), batchBytes, onRows);
  rows.on('error', (error: Error) => batcher.destroy(error));
  return rows.pipe(batcher);
}

const COMMA = Buffer.from(',');
const END = Buffer.from(';\n');

/** Row tuples (Buffers) in, `prefix (…),(…);\n` lines of about `batchBytes` out. */
class TupleBatcher extends Transform {
  private parts: Buffer[] = [];
  private bytes = 0;
  private rows = 0;

  constructor(
    private readonly prefix: Buffer,
    private readonly batchBytes: number,
    private readonly onRows: (n: number) => void,
  ) {
    super({ writableObjectMode: true, writableHighWaterMark: 1000 });
  }

  override _transform(row: Array<Buffer | null>, _enc: BufferEncoding, done: TransformCallback): void {
    const tuple = row[0];
    if (tuple == null) return done(new Error('the server returned no tuple for a row'));
    if (this.rows > 0) this.parts.push(COMMA);
    this.parts.push(tuple);
    this.bytes += tuple.length + 1;
    this.rows++;
    if (this.bytes >= this.batchBytes) this.flushBatch();
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.rows > 0) this.flushBatch();
    done();
  }

  private flushBatch(): void {
    this.push(Buffer.concat([this.prefix, ...this.parts, END]));
    this.onRows(this.rows);
    this.parts = [];
    this.bytes = 0;
    this.rows = 0;
  }
}
