/**
 * docs/try-postgres-mariadb.md, run exactly as written (issue 19 item 6): every ```sh block of the guide,
 * in order, in one bash (`set -euo pipefail`), against a throwaway PostgreSQL and MariaDB this test starts.
 * Only the guide's own variables differ (PGPORT, PGDATA, MARIADB_PORT, NODE_PORT, SP_DIR, STILLPOINT_HOME):
 * the PITR setup, the node, logical and PITR backups under load, and both restores checked must all pass.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopRestoredMariaDb } from '../../src/engines/mariadb/pitr/restore.ts';
import { stopRestoredPostgres } from '../../src/engines/postgres/pitr/restore.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import {
  PG_BIN,
  startLocalPostgres,
  type LocalPostgres,
} from '../../src/lab/local-servers/postgres-server.ts';
import { freePort } from '../../src/lab/local-servers/process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GUIDE = join(ROOT, 'docs', 'try-postgres-mariadb.md');

/** The guide's ```sh blocks, in order, verbatim. */
export function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

let dir: string;
let pg: LocalPostgres;
let maria: LocalMariaDb;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sp-guide-'));
  await chmod(dir, 0o755); // the servers' OS users must get through to the WAL archive and restored dirs
  [pg, maria] = await Promise.all([startLocalPostgres(), startLocalMariaDb()]);
}, 120_000);

afterAll(async () => {
  await stopRestoredPostgres(join(dir, 'sp', 'restored', 'pg'));
  await stopRestoredMariaDb(join(dir, 'sp', 'restored', 'maria'));
  await Promise.all([pg?.destroy(), maria?.destroy()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('docs/try-postgres-mariadb.md', () => {
  it('has the steps the issue asks for', async () => {
    const text = await readFile(GUIDE, 'utf8');
    for (const needle of [
      'wal_level',
      'archive_mode',
      'archive_command',
      'log_bin',
      'binlog_format',
      'ROW',
      'mariabackup',
      'scalardb',
      'schema',
      'kind: sqlite',
      'kind: postgres',
      'kind: mysql',
    ]) {
      expect(text).toContain(needle);
    }
    expect(await readFile(join(ROOT, 'README.md'), 'utf8')).toContain('docs/try-postgres-mariadb.md');
  });

  it('runs every sh block as written: PITR setup, node, backups under load, restores checked', async () => {
    const script = shellBlocks(await readFile(GUIDE, 'utf8')).join('\n');
    expect(script).toContain('stillpoint restore "$PITR"');
    const env = {
      ...process.env,
      PGHOST: '127.0.0.1',
      PGPORT: String(pg.port),
      PGUSER: 'postgres',
      PGDATA: pg.dataDir,
      PG_BIN,
      MARIADB_HOST: '127.0.0.1',
      MARIADB_PORT: String(maria.port),
      NODE_PORT: String(await freePort()),
      SP_DIR: join(dir, 'sp'),
      STILLPOINT_HOME: ROOT,
    };
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      env,
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, output).toBe(0);
    // Both restores ran the checker on the restored group and it passed (exit 0 alone would be "restored").
    expect(output.match(/^check: OK/gm)?.length ?? 0, output).toBe(2);
    expect(output.match(/^state: restored$/gm)?.length ?? 0, output).toBe(2);
    expect(output).not.toContain('restored-unchecked');
  }, 600_000);
});
