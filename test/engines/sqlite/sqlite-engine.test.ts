import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalDirStore } from '../../../src/artifacts/local-dir-store.ts';
import type { ArtifactStore } from '../../../src/artifacts/contract.ts';
import type { MemberRecord, MemberSpec, PhaseContext, RestoreContext } from '../../../src/engines/contract.ts';
import { createSqliteEngine } from '../../../src/engines/sqlite/sqlite-engine.ts';

const log = { info: () => {}, warn: () => {} };

describe('sqlite engine', () => {
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
    source.transaction(() => { for (let i = 0; i < 2000; i++) ins.run(`row${i}`); })();
    store = createLocalDirStore(join(dir, 'artifacts'));
    member = { name: 'm', engine: 'sqlite', connection: { kind: 'sqlite', path }, namespaces: ['coordinator'], options: { batchRows: 100 } };
  });
  afterEach(() => {
    source.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ctx = (): PhaseContext => ({
    backupId: 'bk-1', member, artifacts: store, artifactPrefix: 'bk-1/m/', sharedPrefix: 'shared/m/', log,
    signal: new AbortController().signal,
  });
  const window = { pausedAtMs: 1, unpauseStartedAtMs: 2, midMs: 1.5 };

  it('declares capabilities and passes preflight on a WAL database', async () => {
    const engine = createSqliteEngine();
    expect(engine.capabilities).toMatchObject({ atomicCapture: true, snapshotInsidePause: true, clockBased: false });
    const checks = await engine.preflight(ctx());
    expect(checks.every((c) => c.ok)).toBe(true);
  });

  it('preflight fails for a missing file and for rollback-journal mode (negative controls)', async () => {
    const engine = createSqliteEngine();
    const missing = { ...ctx(), member: { ...member, connection: { kind: 'sqlite' as const, path: join(dir, 'none.db') } } };
    expect((await engine.preflight(missing)).some((c) => !c.ok)).toBe(true);
    const rb = new Database(join(dir, 'rb.db'));
    rb.exec('CREATE TABLE x (a)');
    rb.close();
    const rollback = { ...ctx(), member: { ...member, connection: { kind: 'sqlite' as const, path: join(dir, 'rb.db') } } };
    expect((await engine.preflight(rollback)).find((c) => c.name === 'journal mode')?.ok).toBe(false);
  });

  it('the snapshot excludes writes made after capture, and restores with checksum', async () => {
    const engine = createSqliteEngine();
    await engine.prepare(ctx());
    const capture = await engine.capture(ctx());
    // After capture (i.e. after unpause) writers go on; none of this may appear in the backup.
    source.prepare('INSERT INTO t (v) VALUES (?)').run('after-capture');
    source.prepare("UPDATE t SET v = 'changed' WHERE id = 1").run();
    source.pragma('wal_checkpoint(PASSIVE)');
    const finished = await capture.finish(ctx(), window);
    expect(finished.artifacts).toHaveLength(1);
    expect(await store.verify(finished.artifacts[0]!)).toBe(true);

    const record: MemberRecord = { backupId: 'bk-1', member, handle: finished.handle, artifacts: finished.artifacts };
    const target = engine.parseRestoreTarget(record, { intoDir: join(dir, 'restored') });
    const rctx: RestoreContext = { record, target, artifacts: store, force: false, log, signal: new AbortController().signal };
    const steps = await engine.planRestore(rctx);
    expect(steps.some((s) => s.destructive)).toBe(false);
    const restored = await engine.restore(rctx);
    const copy = new Database((restored.connection as { path: string }).path, { readonly: true });
    expect(copy.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 2000 });
    expect(copy.prepare('SELECT v FROM t WHERE id = 1').get()).toEqual({ v: 'row0' });
    expect(copy.prepare("SELECT count(*) AS n FROM t WHERE v = 'after-capture'").get()).toEqual({ n: 0 });
    expect(copy.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all()).toEqual([{ name: 't_v' }]);
    copy.close();
    // Negative control: the live source does have the write.
    expect(source.prepare("SELECT count(*) AS n FROM t WHERE v = 'after-capture'").get()).toEqual({ n: 1 });

    // Re-running the same restore (after a crash) is allowed; a foreign file is refused without force.
    await engine.restore(rctx);
    const foreign = join(dir, 'foreign.db');
    writeFileSync(foreign, 'not ours');
    const foreignCtx = { ...rctx, target: { path: foreign } };
    await expect(engine.restore(foreignCtx)).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    expect((await engine.planRestore(foreignCtx)).some((s) => s.destructive)).toBe(true);
    await engine.restore({ ...foreignCtx, force: true });
  });

  it('refuses a corrupted artifact before touching the target', async () => {
    const engine = createSqliteEngine();
    const capture = await engine.capture(ctx());
    const finished = await capture.finish(ctx(), window);
    writeFileSync(store.localPath(finished.artifacts[0]!.key)!, 'corrupt');
    const record: MemberRecord = { backupId: 'bk-1', member, handle: finished.handle, artifacts: finished.artifacts };
    const rctx: RestoreContext = { record, target: { path: join(dir, 'r.db') }, artifacts: store, force: false, log,
      signal: new AbortController().signal };
    await expect(engine.restore(rctx)).rejects.toMatchObject({ code: 'ARTIFACT_CHECKSUM_MISMATCH' });
  });

  it('release ends the read transaction so the WAL can be checkpointed', async () => {
    const engine = createSqliteEngine();
    const capture = await engine.capture(ctx());
    await capture.release();
    await capture.release();
    source.prepare('INSERT INTO t (v) VALUES (?)').run('x');
    const [res] = source.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    expect(res!.busy).toBe(0);
  });
});
