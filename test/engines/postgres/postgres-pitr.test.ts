import { mkdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { handOver } from '../../../src/local-servers/process.ts';
import { startLocalPostgres, type LocalPostgres } from '../../../src/local-servers/postgres-server.ts';
import { createPostgresEngine } from '../../../src/engines/postgres/postgres-engine.ts';
import { stopRestoredPostgres } from '../../../src/engines/postgres/postgres-pitr-restore.ts';
import { suggestedArchiveCommand } from '../../../src/engines/postgres/postgres-pitr.ts';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { finishWindow, phaseContext, restoreContext, tempDirStore } from './test-support.ts';

type Store = Awaited<ReturnType<typeof tempDirStore>>;

let server: LocalPostgres;
let plain: LocalPostgres;
let store: Store;
const restoredDirs: string[] = [];
const engine = createPostgresEngine();

async function snapshotOf(conn: { host: string; port: number; user: string; database: string }): Promise<string> {
  const client = new pg.Client(conn);
  await client.connect();
  try {
    const a = await client.query('SELECT id, balance FROM accounts ORDER BY id');
    const c = await client.query('SELECT tx_id FROM coordinator_state ORDER BY tx_id');
    return JSON.stringify({ a: a.rows, c: c.rows });
  } finally {
    await client.end();
  }
}

async function transfers(n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await server.query(
      `BEGIN; UPDATE accounts SET balance = balance - 3 WHERE id = ${i % 20};
       UPDATE accounts SET balance = balance + 3 WHERE id = ${(i * 7 + 3) % 20};
       INSERT INTO coordinator_state VALUES ('${tag}-${i}'); COMMIT;`,
      [],
      'bank',
    );
  }
}

function member(s: LocalPostgres): MemberSpec {
  return { name: 'pgpitr', engine: 'postgres', connection: s.connection('bank'), namespaces: ['bank'], options: { method: 'pitr', archiveTimeoutMs: 60_000 } };
}

beforeAll(async () => {
  store = await tempDirStore();
  const walDir = store.localPath('shared/pgpitr/wal')!;
  await mkdir(walDir, { recursive: true });
  await handOver('postgres', store.localPath('shared')!, store.localPath('shared/pgpitr')!, walDir);
  [server, plain] = await Promise.all([
    startLocalPostgres({ conf: ['wal_level = replica', 'archive_mode = on', `archive_command = '${suggestedArchiveCommand(walDir).replaceAll("'", "''")}'`] }),
    startLocalPostgres({ conf: ['archive_mode = off'] }),
  ]);
  for (const s of [server, plain]) {
    await s.createDatabase('bank');
    await s.query(
      `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
       CREATE TABLE coordinator_state (tx_id text PRIMARY KEY);
       INSERT INTO accounts SELECT g, 100 FROM generate_series(0, 19) g;`,
      [],
      'bank',
    );
  }
});

afterAll(async () => {
  for (const dir of restoredDirs) {
    await stopRestoredPostgres(dir);
    await rm(dir, { recursive: true, force: true });
  }
  await Promise.all([server?.destroy(), plain?.destroy()]);
  await store?.destroy();
});

describe('postgres pitr engine', () => {
  it('preflight flags archiving that is off, with hints', async () => {
    const checks = await engine.preflight(phaseContext(store, member(plain), 'bk-neg'));
    const archiveMode = checks.find((c) => c.name === 'archive_mode');
    expect(archiveMode?.ok).toBe(false);
    expect(archiveMode?.hint).toContain('ALTER SYSTEM SET archive_mode');
    expect(checks.find((c) => c.name === 'archiving works')).toBeUndefined();
  });

  it('preflight passes and proves archiving works on an archiving server', async () => {
    const checks = await engine.preflight(phaseContext(store, member(server), 'bk-pre'));
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.name === 'archiving works')?.ok).toBe(true);
  });

  it('restores to exactly the named restore point, not later writes', async () => {
    const spec = member(server);
    const backupId = 'bk-pitr-0001';
    const ctx = phaseContext(store, spec, backupId);
    await engine.prepare(ctx);
    expect((await store.list('shared/pgpitr/base/')).some((k) => k.endsWith('base.tar'))).toBe(true);
    await transfers(30, 'before');
    const atCapture = await snapshotOf(server.connection('bank'));
    const capture = await engine.capture(ctx);
    expect(capture.handle).toMatchObject({ kind: 'named-point', name: backupId });
    await transfers(30, 'after');
    const finished = await capture.finish(ctx, finishWindow);
    await engine.horizon(ctx, finished.handle);
    expect(finished.artifacts.some((a) => a.key.includes('/wal/'))).toBe(true);
    for (const ref of finished.artifacts) expect(await store.verify(ref)).toBe(true);
    expect(await snapshotOf(server.connection('bank'))).not.toBe(atCapture);

    const record: MemberRecord = { backupId, member: spec, handle: finished.handle, artifacts: finished.artifacts };
    const target = engine.parseRestoreTarget(record, undefined);
    restoredDirs.push(target.dataDir as string);
    const plan = await engine.planRestore(restoreContext(store, record, target));
    expect(plan.map((s) => s.detail ?? '').join('\n')).toContain(`recovery_target_name = '${backupId}'`);
    const restored = await engine.restore(restoreContext(store, record, target));
    expect(await snapshotOf(restored.connection as never)).toBe(atCapture);
    await expect(engine.restore(restoreContext(store, record, target))).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
  });
});
