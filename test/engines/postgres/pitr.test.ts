import { mkdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freePort, handOver } from '../../../src/lab/local-servers/process.ts';
import { startLocalPostgres, type LocalPostgres } from '../../../src/lab/local-servers/postgres-server.ts';
import { stopRestoredPostgres } from '../../../src/engines/postgres/pitr/restore.ts';
import { archiveCommandSql, suggestedArchiveCommand } from '../../../src/engines/postgres/pitr/archive.ts';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { finishWindow, never, openBackup, openRestore, tempDirStore } from '../support.ts';

type Store = Awaited<ReturnType<typeof tempDirStore>>;

let server: LocalPostgres;
let plain: LocalPostgres;
let store: Store;
const restoredDirs: string[] = [];

async function snapshotOf(conn: {
  host: string;
  port: number;
  user: string;
  database: string;
}): Promise<string> {
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
  return {
    name: 'pgpitr',
    engine: 'postgres',
    connection: s.connection('bank'),
    namespaces: ['bank'],
    options: { method: 'pitr', archiveTimeoutMs: 60_000 },
  };
}

beforeAll(async () => {
  store = await tempDirStore();
  const walDir = store.localPath('shared/pgpitr/wal')!;
  await mkdir(walDir, { recursive: true });
  await handOver('postgres', store.localPath('shared')!, store.localPath('shared/pgpitr')!, walDir);
  [server, plain] = await Promise.all([
    startLocalPostgres({
      conf: [
        'wal_level = replica',
        'archive_mode = on',
        `archive_command = '${suggestedArchiveCommand(walDir).replaceAll("'", "''")}'`,
      ],
    }),
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
    const session = openBackup(store, member(plain), 'bk-neg');
    const checks = await session.preflight(never);
    await session.close();
    const archiveMode = checks.find((c) => c.name === 'archive_mode');
    expect(archiveMode?.ok).toBe(false);
    expect(archiveMode?.hint).toContain('ALTER SYSTEM SET archive_mode');
    expect(checks.find((c) => c.name === 'archiving works')).toBeUndefined();
  });

  it('issue 19 item 3: the printed archive_command fix parses and sets exactly the suggested command', async () => {
    const session = openBackup(store, member(plain), 'bk-neg');
    const hint = (await session.preflight(never)).find((c) => c.name === 'archive_command')?.hint ?? '';
    await session.close();
    expect(hint).toContain('must exist and be writable by the server');
    const sql = /ALTER SYSTEM SET archive_command = '(?:[^']|'')*';/.exec(hint)?.[0];
    expect(sql).toBeDefined();
    // Run the printed statement as a user would paste it into psql, then read the setting back.
    // (archive_mode is off on this server, so SHOW says "(disabled)": read what ALTER SYSTEM wrote instead.)
    const written = async (): Promise<unknown> =>
      (
        await plain.query(
          `SELECT setting FROM pg_file_settings WHERE name = 'archive_command' ORDER BY seqno DESC LIMIT 1`,
        )
      ).rows[0]?.setting;
    await plain.query(sql!);
    expect(await written()).toBe(suggestedArchiveCommand(store.localPath('shared/pgpitr/wal')!));
    // A directory whose name needs shell quoting puts single quotes inside the literal: the old hint broke here.
    const awkward = "/tmp/it's a wal dir";
    expect(suggestedArchiveCommand(awkward)).toContain("'");
    await plain.query(archiveCommandSql(awkward));
    expect(await written()).toBe(suggestedArchiveCommand(awkward));
    await plain.query('ALTER SYSTEM RESET archive_command');
  });

  it('preflight passes and proves archiving works on an archiving server', async () => {
    const session = openBackup(store, member(server), 'bk-pre');
    const checks = await session.preflight(never);
    await session.close();
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.name === 'archiving works')?.ok).toBe(true);
  });

  it('restores to exactly the named restore point, not later writes', async () => {
    const spec = member(server);
    const backupId = 'bk-pitr-0001';
    const session = openBackup(store, spec, backupId);
    expect(session.capabilities.horizonWait).toBe(true);
    await session.prepare(never);
    expect((await store.list('shared/pgpitr/base/')).some((k) => k.endsWith('base.tar'))).toBe(true);
    await transfers(30, 'before');
    const atCapture = await snapshotOf(server.connection('bank'));
    const capture = await session.capture(never);
    expect(capture.handle).toMatchObject({ kind: 'named-point', name: backupId });
    await transfers(30, 'after');
    const finished = await session.finish(finishWindow, never);
    await session.horizon(finished.handle, never);
    await session.close();
    expect(finished.artifacts.some((a) => a.key.includes('/wal/'))).toBe(true);
    for (const ref of finished.artifacts) expect(await store.verify(ref)).toBe(true);
    expect(await snapshotOf(server.connection('bank'))).not.toBe(atCapture);

    const record: MemberRecord = {
      backupId,
      member: spec,
      handle: finished.handle,
      artifacts: finished.artifacts,
    };
    const restore = openRestore(store, record, { port: await freePort() });
    restoredDirs.push(restore.target.dataDir as string);
    const plan = await restore.plan();
    expect(plan.map((s) => s.detail ?? '').join('\n')).toContain(`recovery_target_name = '${backupId}'`);
    expect((await restore.inspect(never)).state).toBe('absent');
    const restored = await restore.restore({ force: false, signal: never });
    expect(await snapshotOf(restored.connection as never)).toBe(atCapture);
    await restore.markFinished();
    expect((await restore.inspect(never)).state).toBe('restored');
    await expect(restore.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_NOT_EMPTY',
    });
    await restore.close();
    // The source server's own port is the live source: refused even with force.
    const onSource = openRestore(store, record, {
      port: server.port,
      dataDir: `${restore.target.dataDir as string}-x`,
    });
    expect((await onSource.inspect(never)).state).toBe('live-source');
    await expect(onSource.restore({ force: true, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_IS_SOURCE',
    });
    await onSource.close();
  });
});
