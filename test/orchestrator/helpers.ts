/** Test helpers: SQLite member files, real admin servers over real gates, plan writing. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createGate } from '../../src/pause/gate.ts';
import { startAdminServer, type RunningAdminServer } from '../../src/pause/admin-server.ts';
import type { Gate } from '../../src/pause/contract.ts';

export interface AdminNode {
  gate: Gate;
  server: RunningAdminServer;
  port: number;
}

const quiet = (): void => {};

export async function startAdminNode(port = 0): Promise<AdminNode> {
  const gate = createGate({ log: quiet });
  const server = await startAdminServer({ gate, port });
  return { gate, server, port: server.port };
}

/** A SQLite database in WAL mode with one table and `rows` rows. */
export function makeSqliteDb(path: string, rows = 10): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(`v${i}`);
  })();
  db.close();
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a plan with three SQLite members (a, b, coord) and one cluster over `ports`. */
export function writePlan(
  dir: string,
  ports: readonly number[],
  extra: Record<string, unknown> = {},
): string {
  for (const n of ['a', 'b', 'coord']) makeSqliteDb(join(dir, `${n}.db`));
  const plan = {
    version: 1,
    group: 'test',
    clusters:
      ports.length === 0
        ? []
        : [{ name: 'nodes', targets: { addresses: ports.map((p) => `127.0.0.1:${p}`) }, leaseMs: 2000 }],
    members: [
      { name: 'a', engine: 'sqlite', connection: { kind: 'sqlite', path: './a.db' }, namespaces: ['bank_a'] },
      { name: 'b', engine: 'sqlite', connection: { kind: 'sqlite', path: './b.db' }, namespaces: ['bank_b'] },
      {
        name: 'coord',
        engine: 'sqlite',
        connection: { kind: 'sqlite', path: './coord.db' },
        namespaces: ['coordinator'],
      },
    ],
    ...extra,
  };
  const file = join(dir, 'plan.yaml');
  writeFileSync(file, JSON.stringify(plan, null, 2));
  return file;
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
