/**
 * The logical dump's table of contents (`manifest.json`): everything restore needs besides the row files.
 *
 * Formats: `stillpoint-mariadb-dump/1` (rows formatted by the client, TIMESTAMPs in the dumping session's
 * time zone, `INSERT INTO t VALUES …` without a column list) and `/2` (rows formatted by the server,
 * TIMESTAMPs in `timeZone`, explicit column lists). Both are one INSERT per line and restore the same way;
 * restore applies `timeZone` when the manifest has one.
 */
export const DUMP_FORMAT = 'stillpoint-mariadb-dump/2';
export const DUMP_TIME_ZONE = '+00:00';

export interface DumpTable {
  readonly name: string;
  readonly create: string;
  rows: number;
  readonly key: string;
}

export interface DumpManifest {
  readonly format: 'stillpoint-mariadb-dump/1' | 'stillpoint-mariadb-dump/2';
  readonly binlogFile: string;
  readonly binlogPosition: number;
  readonly gtid: string;
  /** Session time zone the TIMESTAMP values were written in (absent in format /1: the server's default). */
  readonly timeZone?: string;
  readonly databases: ReadonlyArray<{
    readonly name: string;
    readonly createDatabase: string;
    readonly tables: readonly DumpTable[];
  }>;
}
