import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalDirStore } from '../../../src/artifacts/local-dir-store.ts';
import type { ArtifactStore } from '../../../src/artifacts/contract.ts';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { sqliteEngine } from '../../../src/engines/sqlite/engine.ts';
import { copySnapshot } from '../../../src/engines/sqlite/snapshot/copy-snapshot.ts';
import { never, openBackup, openRestore } from '../support.ts';

describe('sqlite snapshot engine', () => {
  let dir: string;
  let source: Database.Database;
  let store: ArtifactStore;
  let member: MemberSpec;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sp-sqlite-'));
    const path = join(dir, 'src.db');
    source = new Database(path);
    source.pragma('journal_mode = WAL');
    source.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v)');
    const ins = source.prepare('INSERT INTO t (v) VALUES (?)');
    source.transaction(() => {
      for (let i = 0; i < 2000; i++) ins.run(`row${i}`);
    })();
    store = createLocalDirStore(join(dir, 'artifacts'));
    member = {
      name: 'm',
      engine: 'sqlite',
      connection: { kind: 'sqlite', path },
      namespaces: ['coordinator'],
      options: { batchRows: 100 },
    };
  });
  afterEach(() => {
    source.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const window = { pausedAtMs: 1, unpauseStartedAtMs: 2, midMs: 1.5 };

  async function backup(backupId = 'bk-1'): Promise<MemberRecord> {
    const session = openBackup(store, member, backupId);
    try {
      await session.prepare(never);
      await session.capture(never);
      const finished = await session.finish(window, never);
      return { backupId, member, handle: finished.handle, artifacts: finished.artifacts };
    } finally {
      await session.close();
    }
  }

  it('declares capabilities from parsed options and passes preflight on a WAL database', async () => {
    expect(sqliteEngine.capabilities(sqliteEngine.parseOptions(member))).toMatchObject({
      atomicCapture: true,
      snapshotInsidePause: true,
      clockBased: false,
      horizonWait: false,
    });
    const session = openBackup(store, member, 'bk-1');
    expect((await session.preflight(never)).every((c) => c.ok)).toBe(true);
    await session.close();
  });

  it('preflight fails for a missing file and for rollback-journal mode (negative controls)', async () => {
    const missing = openBackup(
      store,
      { ...member, connection: { kind: 'sqlite', path: join(dir, 'none.db') } },
      'bk-1',
    );
    expect((await missing.preflight(never)).some((c) => !c.ok)).toBe(true);
    const rb = new Database(join(dir, 'rb.db'));
    rb.exec('CREATE TABLE x (a)');
    rb.close();
    const rollback = openBackup(
      store,
      { ...member, connection: { kind: 'sqlite', path: join(dir, 'rb.db') } },
      'bk-1',
    );
    expect((await rollback.preflight(never)).find((c) => c.name === 'journal mode')?.ok).toBe(false);
  });

  it('the snapshot excludes writes made after capture, and restores with checksum', async () => {
    const session = openBackup(store, member, 'bk-1');
    await session.prepare(never);
    await session.capture(never);
    // After capture (i.e. after unpause) writers go on; none of this may appear in the backup.
    source.prepare('INSERT INTO t (v) VALUES (?)').run('after-capture');
    source.prepare("UPDATE t SET v = 'changed' WHERE id = 1").run();
    source.pragma('wal_checkpoint(PASSIVE)');
    const finished = await session.finish(window, never);
    await session.close();
    expect(finished.artifacts).toHaveLength(1);
    expect(await store.verify(finished.artifacts[0]!)).toBe(true);

    const record: MemberRecord = {
      backupId: 'bk-1',
      member,
      handle: finished.handle,
      artifacts: finished.artifacts,
    };
    const restore = openRestore(store, record, { intoDir: join(dir, 'restored') });
    expect((await restore.plan()).some((s) => s.destructive)).toBe(false);
    expect((await restore.inspect(never)).state).toBe('absent');
    const restored = await restore.restore({ force: false, signal: never });
    const copy = new Database((restored.connection as { path: string }).path, { readonly: true });
    expect(copy.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 2000 });
    expect(copy.prepare('SELECT v FROM t WHERE id = 1').get()).toEqual({ v: 'row0' });
    expect(copy.prepare("SELECT count(*) AS n FROM t WHERE v = 'after-capture'").get()).toEqual({ n: 0 });
    expect(copy.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all()).toEqual([
      { name: 't_v' },
    ]);
    copy.close();
    // Negative control: the live source does have the write.
    expect(source.prepare("SELECT count(*) AS n FROM t WHERE v = 'after-capture'").get()).toEqual({ n: 1 });

    // Not yet marked finished (a crash before the check): the leftover is redone without force.
    expect((await restore.inspect(never)).state).toBe('in-progress');
    await restore.restore({ force: false, signal: never });
    await restore.markFinished();
    expect((await restore.inspect(never)).state).toBe('restored');
    await restore.close();

    // A foreign file is refused without force.
    const foreign = join(dir, 'foreign.db');
    writeFileSync(foreign, 'not ours');
    const other = openRestore(store, record, { path: foreign });
    expect((await other.inspect(never)).state).toBe('foreign');
    await expect(other.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_NOT_EMPTY',
    });
    expect((await other.plan()).some((s) => s.destructive)).toBe(true);
    await other.restore({ force: true, signal: never });
    await other.close();
  });

  it('issue 11 row 3: a finished restore that was written to since is not overwritten without force', async () => {
    const record = await backup();
    const into = join(dir, 'restored');
    const first = openRestore(store, record, { intoDir: into });
    const { connection } = await first.restore({ force: false, signal: never });
    await first.markFinished();
    await first.close();
    const db = new Database((connection as { path: string }).path);
    db.prepare('INSERT INTO t (v) VALUES (?)').run('written after the restore');
    db.close();
    const again = openRestore(store, record, { intoDir: into });
    await expect(again.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_NOT_EMPTY',
    });
    await again.close();
    const check = new Database((connection as { path: string }).path, { readonly: true });
    expect(check.prepare("SELECT count(*) AS n FROM t WHERE v = 'written after the restore'").get()).toEqual({
      n: 1,
    });
    check.close();
  });

  it('the live source is refused even with force, unless allowSource', async () => {
    const record = await backup();
    const over = openRestore(store, record, { path: (member.connection as { path: string }).path });
    expect((await over.inspect(never)).state).toBe('live-source');
    await expect(over.restore({ force: true, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_IS_SOURCE',
    });
    await over.close();
  });

  it('refuses a corrupted artifact before touching the target', async () => {
    const record = await backup();
    writeFileSync(store.localPath(record.artifacts[0]!.key)!, 'corrupt');
    const restore = openRestore(store, record, { path: join(dir, 'r.db') });
    await expect(restore.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'ARTIFACT_CHECKSUM_MISMATCH',
    });
    expect(existsSync(join(dir, 'r.db'))).toBe(false);
    await restore.close();
  });

  it('discard and close end the read transaction so the WAL can be checkpointed', async () => {
    const session = openBackup(store, member, 'bk-1');
    await session.capture(never);
    await session.discard();
    await session.discard();
    await session.close();
    await session.close();
    source.prepare('INSERT INTO t (v) VALUES (?)').run('x');
    const [res] = source.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    expect(res!.busy).toBe(0);
  });

  it('issue 11 row 7: close() removes the temp copy and partial snapshot.sqlite.tmp-* files when finish fails', async () => {
    const tempsBefore = readdirSync(tmpdir()).filter((n) => n.startsWith('stillpoint-sqlite-'));
    const session = openBackup(store, member, 'bk-7');
    await session.prepare(never);
    await session.capture(never);
    // A partial file a crashed or failed put left under this backup's prefix.
    const prefixDir = store.localPath('bk-7/m/')!;
    await import('node:fs/promises').then((fs) => fs.mkdir(prefixDir, { recursive: true }));
    writeFileSync(join(prefixDir, 'snapshot.sqlite.tmp-deadbeef'), 'partial');
    const aborted = AbortSignal.abort();
    await expect(session.finish(window, aborted)).rejects.toMatchObject({ code: 'ABORTED' });
    await session.close();
    expect(readdirSync(prefixDir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(
      readdirSync(tmpdir()).filter((n) => n.startsWith('stillpoint-sqlite-') && !tempsBefore.includes(n)),
    ).toEqual([]);
  });
});

describe('sqlite snapshot copy', () => {
  it('issue 11 row 14: the temporary copy of the member data is created 0600 (SQLite alone creates 0644)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-sqlite-copy-'));
    const reader = new Database(join(dir, 'src.db'));
    try {
      reader.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)');
      reader.exec('BEGIN');
      const out = join(dir, 'copy.db');
      await copySnapshot(reader, out, 100, never);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      // Negative control: what SQLite does on its own.
      const plain = new Database(join(dir, 'plain.db'));
      plain.exec('CREATE TABLE t (id INTEGER)');
      plain.close();
      expect(statSync(join(dir, 'plain.db')).mode & 0o077).not.toBe(0);
    } finally {
      reader.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
