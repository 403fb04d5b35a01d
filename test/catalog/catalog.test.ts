import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalDirStore } from '../../src/artifacts/local-dir-store.ts';
import { newBackupId, openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { deleteBackups, parseAge, planPrune } from '../../src/catalog/retention.ts';
import type { MemberSpec } from '../../src/engines/contract.ts';

const member: MemberSpec = {
  name: 'a',
  engine: 'sqlite',
  connection: { kind: 'sqlite', path: '/tmp/a.db' },
  namespaces: ['coordinator'],
  options: {},
};

describe('artifact store (local dir)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sp-art-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('puts with sha256, verifies, detects corruption, lists and deletes', async () => {
    const store = createLocalDirStore(dir);
    const ref = await store.put('bk-1/a/data.db', 'hello');
    expect(ref.sha256).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(ref.bytes).toBe(5);
    expect(ref.shared).toBe(false);
    expect(await store.verify(ref)).toBe(true);
    writeFileSync(store.localPath('bk-1/a/data.db')!, 'hellO');
    expect(await store.verify(ref)).toBe(false);
    expect(await store.list('bk-1/')).toEqual(['bk-1/a/data.db']);
    await store.delete('bk-1/a/data.db');
    expect(await store.exists('bk-1/a/data.db')).toBe(false);
    expect(await store.verify(ref)).toBe(false);
  });

  it('adopts external files and rejects keys escaping the root', async () => {
    const store = createLocalDirStore(dir);
    mkdirSync(join(dir, 'shared', 'a'), { recursive: true });
    writeFileSync(join(dir, 'shared', 'a', 'base.tar'), 'base');
    const ref = await store.adopt('shared/a/base.tar', true);
    expect(ref).toMatchObject({ bytes: 4, shared: true });
    await expect(store.put('../evil', 'x')).rejects.toMatchObject({ code: 'ARTIFACT_KEY_INVALID' });
    await expect(store.get('missing')).rejects.toMatchObject({ code: 'ARTIFACT_MISSING' });
  });
});

describe('catalog', () => {
  let dir: string;
  let catalog: Catalog;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sp-cat-'));
    catalog = openCatalog(join(dir, 'catalog.db'));
  });
  afterEach(() => {
    catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes sortable ids', () => {
    const a = newBackupId(new Date('2026-11-22T03:55:12Z'));
    expect(a).toMatch(/^bk-20261122T035512Z-[0-9a-f]{4}$/);
    expect(newBackupId(new Date('2026-11-22T03:55:13Z')) > a).toBe(true);
  });

  it('records transitions, members, artifacts and redacts passwords', () => {
    const pg: MemberSpec = {
      ...member,
      name: 'p',
      engine: 'postgres',
      connection: { kind: 'postgres', host: 'h', port: 1, user: 'u', database: 'd', password: 's3cret' },
    };
    const b = catalog.createBackup({
      planDigest: 'x',
      group: 'g',
      mode: 'snapshot',
      members: [member, pg],
      artifactsLocation: dir,
    });
    catalog.transition(b.id, 'pausing', {
      targets: [
        { cluster: 'c', targets: [{ host: '127.0.0.1', port: 1, label: '127.0.0.1:1' }], leaseMs: 1000 },
      ],
    });
    catalog.updateMember(b.id, 'a', {
      state: 'captured',
      captureMs: 1.5,
      handle: { kind: 'snapshot', snapshotId: 's' },
    });
    catalog.recordArtifacts(b.id, 'a', [{ key: `${b.id}/a/x`, bytes: 1, sha256: 'ab', shared: false }]);
    const r = catalog.get(b.id);
    expect(r.state).toBe('pausing');
    expect(r.targets[0]!.targets[0]!.port).toBe(1);
    expect(r.members.find((m) => m.name === 'a')!.handle).toEqual({ kind: 'snapshot', snapshotId: 's' });
    expect(JSON.stringify(r)).not.toContain('s3cret');
    expect(JSON.stringify(catalog.events())).not.toContain('s3cret');
    expect(catalog.incomplete().map((x) => x.id)).toEqual([b.id]);
    expect(catalog.verifyChain().ok).toBe(true);
    expect(catalog.verifyRecordAgainstLog(b.id)).toEqual([]);
    expect(() => catalog.get('bk-none')).toThrow(
      expect.objectContaining({ code: 'BACKUP_NOT_FOUND' }) as Error,
    );
  });

  it('detects tampering with the event log and with rows (negative controls)', () => {
    const b = catalog.createBackup({
      planDigest: 'x',
      group: 'g',
      mode: 'single',
      members: [member],
      artifactsLocation: dir,
    });
    catalog.transition(b.id, 'failed', { reason: 'X' });
    // A terminal state is final (a run taken over by recovery can never turn `complete` afterwards).
    expect(() => catalog.transition(b.id, 'complete')).toThrow(
      expect.objectContaining({ code: 'BACKUP_STATE_FINAL' }) as Error,
    );
    expect(catalog.verifyChain().ok).toBe(true);
    const raw = new Database(catalog.path);
    raw
      .prepare("UPDATE events SET payload = replace(payload, 'failed', 'paused') WHERE type = 'state'")
      .run();
    expect(catalog.verifyChain()).toMatchObject({ ok: false, brokenAtSeq: 2 });
    raw.prepare("UPDATE backups SET state = 'invalid'").run();
    raw.close();
    expect(catalog.verifyRecordAgainstLog(b.id).length).toBeGreaterThan(0);
  });

  it('prunes group-aware: shared artifacts stay while a retained backup needs them', async () => {
    const store = createLocalDirStore(join(dir, 'art'));
    const shared = await store.put('shared/a/base.tar', 'base');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = `bk-2026010${i + 1}T000000Z-000${i}`;
      catalog.createBackup({
        id,
        planDigest: 'x',
        group: 'g',
        mode: 'snapshot',
        members: [member],
        artifactsLocation: store.location,
      });
      const own = await store.put(`${id}/a/data.db`, `data${i}`);
      catalog.recordArtifacts(id, 'a', i === 0 ? [own] : [own, shared]);
      catalog.transition(id, 'complete');
      ids.push(id);
    }
    const decision = planPrune(catalog.list(), { keepLast: 1, now: Date.now() });
    expect(decision.keep).toEqual([ids[2]]);
    expect(decision.remove).toEqual([ids[0], ids[1]]);
    const out = await deleteBackups(catalog, decision.remove);
    expect(out[1]!.keptShared).toEqual(['shared/a/base.tar']);
    expect(await store.exists('shared/a/base.tar')).toBe(true);
    expect(await store.exists(`${ids[0]}/a/data.db`)).toBe(false);
    expect(await store.exists(`${ids[2]}/a/data.db`)).toBe(true);
    // Negative control: once the last referencing backup goes, the shared file goes too.
    await deleteBackups(catalog, [ids[2]!]);
    expect(await store.exists('shared/a/base.tar')).toBe(false);
    expect(catalog.verifyChain().ok).toBe(true);
  });

  it('keeps recent backups and rejects an empty policy', () => {
    catalog.createBackup({
      planDigest: 'x',
      group: 'g',
      mode: 'single',
      members: [member],
      artifactsLocation: dir,
    });
    expect(planPrune(catalog.list(), { keepWithinMs: parseAge('7d', '--keep-within') }).remove).toEqual([]);
    expect(() => planPrune([], {})).toThrow(
      expect.objectContaining({ code: 'PRUNE_POLICY_MISSING' }) as Error,
    );
    expect(parseAge('2h', '--keep-within')).toBe(7.2e6);
    // The one parser (src/duration.ts), with age bounds: a 90-day window is no timer, so past 2^31 ms is fine.
    expect(parseAge('90d', '--keep-within')).toBe(90 * 86_400_000);
    expect(() => parseAge('7 days', '--keep-within')).toThrow(
      expect.objectContaining({ code: 'DURATION_INVALID', context: { key: '--keep-within' } }) as Error,
    );
    expect(() => parseAge('20000w', '--keep-within')).toThrow(
      expect.objectContaining({ code: 'DURATION_OUT_OF_RANGE' }) as Error,
    );
  });

  it('prune never deletes the newest complete backup of a group unless allowEmpty (issue 11 row 9)', () => {
    const ids = ['bk-20260101T000000Z-0001', 'bk-20260102T000000Z-0002', 'bk-20260103T000000Z-0003'];
    for (const [i, id] of ids.entries()) {
      catalog.createBackup({
        id,
        planDigest: 'x',
        group: i === 0 ? 'other' : 'g',
        mode: 'single',
        members: [member],
        artifactsLocation: dir,
      });
      catalog.transition(id, 'complete');
    }
    const now = Date.now() + 60_000;
    const floor = planPrune(catalog.list(), { keepWithinMs: 1, now });
    expect(floor.keep).toEqual([ids[0], ids[2]]); // the newest complete of each group
    expect(floor.remove).toEqual([ids[1]]);
    expect(planPrune(catalog.list(), { keepLast: 0, now }).keep).toEqual([ids[0], ids[2]]);
    expect(planPrune(catalog.list(), { keepWithinMs: 1, allowEmpty: true, now }).remove).toEqual(ids);
  });

  it('delete refuses a backup that is not terminal, and deletes none of a batch that holds one (issue 11 row 8)', async () => {
    const done = catalog.createBackup({
      planDigest: 'x',
      group: 'g',
      mode: 'single',
      members: [member],
      artifactsLocation: dir,
    });
    catalog.transition(done.id, 'complete');
    const running = catalog.createBackup({
      planDigest: 'x',
      group: 'g',
      mode: 'single',
      members: [member],
      artifactsLocation: dir,
    });
    catalog.transition(running.id, 'paused');
    await expect(deleteBackups(catalog, [done.id, running.id])).rejects.toMatchObject({
      code: 'BACKUP_NOT_TERMINAL',
    });
    expect(
      catalog
        .list()
        .map((b) => b.id)
        .sort(),
    ).toEqual([done.id, running.id].sort());
  });
});
