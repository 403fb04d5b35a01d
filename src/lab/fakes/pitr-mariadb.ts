/**
 * Real MariaDB point-in-time recovery for the managed-database FAKES: a local server with the binary log
 * on, whose base backup is its state at creation (freshly initialised, no user data — a new server
 * reproduces it exactly), and a restore to a TIME = a new server + the source's binlog replayed from the
 * creation position with `mariadb-binlog --stop-datetime` (one-second granularity, like MySQL's own PITR).
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startLocalMariaDb, type LocalMariaDb } from '../local-servers/mariadb-server.ts';

export interface BinloggedMariaDb {
  readonly server: LocalMariaDb;
  readonly createdAtMs: number;
  /** Real PITR to `atMs` (our clock): a new local server holding the source as of that second. */
  restoreToTime(atMs: number): Promise<LocalMariaDb>;
  destroy(): Promise<void>;
}

function pipeline(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], {
      env: { ...process.env, TZ: 'UTC' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`binlog replay failed (${code}): ${stderr.trim()}`)),
    );
  });
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

export async function startBinloggedMariaDb(): Promise<BinloggedMariaDb> {
  const server = await startLocalMariaDb();
  const [status] = (await server.query('SHOW MASTER STATUS')) as { File: string; Position: number }[];
  if (status === undefined) throw new Error('the binary log is off');
  const createdAtMs = Date.now();
  const restored: LocalMariaDb[] = [];
  return {
    server,
    createdAtMs,
    async restoreToTime(atMs) {
      await server.query('FLUSH BINARY LOGS'); // closes the current file: every event before now is complete on disk
      const files = (await readdir(server.binlogDir))
        .filter((f) => /^binlog\.\d+$/.test(f) && f >= status.File)
        .sort();
      const stop = new Date(atMs).toISOString().slice(0, 19).replace('T', ' ');
      const copy = await startLocalMariaDb();
      restored.push(copy);
      try {
        await pipeline(
          `mariadb-binlog --start-position=${status.Position} --stop-datetime=${quote(stop)} ${files.map((f) => quote(join(server.binlogDir, f))).join(' ')} | mariadb --host=127.0.0.1 --port=${copy.port} --user=root`,
        );
      } catch (error) {
        await copy.destroy();
        throw error;
      }
      return copy;
    },
    async destroy() {
      for (const r of restored.splice(0)) await r.destroy();
      await server.destroy();
    },
  };
}
