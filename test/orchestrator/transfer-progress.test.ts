/**
 * Progress of long copies (issue 17 item 5): the counting store reports every put and get of a real local
 * store; a real SQLite backup through the CLI (a child process on a pipe) emits `transfer` events with
 * `--json` that grow monotonically and end at the artifact's stored size, and without `--json` prints plain
 * lines only (no ANSI); a real restore reports the bytes it reads, ending at each artifact's size.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArtifactStore } from '../../src/artifacts/open-store.ts';
import { withProgress, type StoreTransfer } from '../../src/artifacts/progress-store.ts';
import { openCatalog } from '../../src/catalog/catalog.ts';
import type { TransferProgress } from '../../src/engines/contract.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { TransferTracker } from '../../src/cli/transfer-progress.ts';
import { makeSqliteDb, startAdminNode, tempDir, writePlan, type AdminNode } from './helpers.ts';

function runCliProcess(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Per key: bytesDone never decreases, the last report is `done` and equals `size(key)`. */
function expectMonotonicEndingAt(events: readonly StoreTransfer[], size: (key: string) => number): void {
  const byKey = new Map<string, StoreTransfer[]>();
  for (const e of events) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  expect(byKey.size).toBeGreaterThan(0);
  for (const [key, list] of byKey) {
    for (let i = 1; i < list.length; i++)
      expect(list[i]!.bytesDone).toBeGreaterThanOrEqual(list[i - 1]!.bytesDone);
    expect(
      list.slice(0, -1).every((e) => !e.done),
      key,
    ).toBe(true);
    expect(list.at(-1)!.done, key).toBe(true);
    expect(list.at(-1)!.bytesDone, key).toBe(size(key));
  }
}

describe('counting store over a real local store', () => {
  it('reports a streamed put chunk by chunk and a get to its end', async () => {
    const tmp = tempDir('sp-progress-store-');
    try {
      const events: StoreTransfer[] = [];
      const store = withProgress(openArtifactStore(tmp.dir), (t) => events.push(t), { minIntervalMs: 0 });
      const chunks = Array.from({ length: 20 }, (_, i) => Buffer.alloc(10_000, i));
      const ref = await store.put('b1/m/data.bin', Readable.from(chunks));
      expect(ref.bytes).toBe(200_000);
      expect(events.length).toBeGreaterThan(10); // one per chunk with no throttle
      expectMonotonicEndingAt(events, () => ref.bytes);

      events.length = 0;
      let read = 0;
      for await (const chunk of await store.get('b1/m/data.bin')) read += (chunk as Buffer).length;
      expect(read).toBe(200_000);
      expectMonotonicEndingAt(events, () => ref.bytes);
      expect(events.every((e) => e.bytesTotal === 200_000)).toBe(true);
    } finally {
      tmp.cleanup();
    }
  });

  it('a failing source fails the put and leaves no artifact', async () => {
    const tmp = tempDir('sp-progress-store-');
    try {
      const store = withProgress(openArtifactStore(tmp.dir), () => undefined);
      const source = new Readable({ read() {} });
      source.push(Buffer.alloc(1000));
      setImmediate(() => source.destroy(new Error('disk gone')));
      await expect(store.put('b1/m/x.bin', source)).rejects.toThrow(/disk gone/);
      expect(await store.exists('b1/m/x.bin')).toBe(false);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('transfer progress of a real SQLite backup and restore', () => {
  let tmp: ReturnType<typeof tempDir>;
  let node: AdminNode;
  let planFile: string;

  beforeAll(async () => {
    tmp = tempDir('sp-progress-');
    node = await startAdminNode();
    planFile = writePlan(tmp.dir, [node.port]);
    makeSqliteDb(join(tmp.dir, 'a.db'), 60_000); // a member of ~1.5 MB: several chunks through the store
  }, 120_000);

  afterAll(async () => {
    await node?.server.close();
    tmp?.cleanup();
  });

  it('--json: transfer events per artifact grow and end at the stored size; restore reports its reads', async () => {
    const { code, stdout } = await runCliProcess(['backup', '--plan', planFile, '--json']);
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const result = lines.at(-1)!;
    expect(result.type).toBe('result');
    const transfers = lines.filter((l) => l.type === 'transfer') as unknown as (TransferProgress & {
      backupId: string;
    })[];
    expect(transfers.every((t) => t.backupId === result.backupId)).toBe(true);
    const catalog = openCatalog(loadPlan(planFile).catalogPath);
    try {
      const record = catalog.get(result.backupId as string);
      const sizes = new Map(record.artifacts.map((a) => [a.key, a.bytes]));
      const finish = transfers.filter((t) => t.phase === 'finish');
      expect(new Set(finish.map((t) => t.member))).toEqual(new Set(['a', 'b', 'coord']));
      expectMonotonicEndingAt(finish, (key) => sizes.get(key)!);
      expect(Math.max(...finish.filter((t) => t.member === 'a').map((t) => t.bytesDone))).toBeGreaterThan(
        500_000,
      );

      const reads: TransferProgress[] = [];
      const report = await runRestore(catalog, {
        backupId: record.id,
        intoDir: join(tmp.dir, 'restored'),
        check: false,
        onTransfer: (p) => reads.push(p),
      });
      expect(report.members.every((m) => m.state === 'restored')).toBe(true);
      expect(reads.every((r) => r.phase === 'restore')).toBe(true);
      expect(new Set(reads.map((r) => r.member))).toEqual(new Set(['a', 'b', 'coord']));
      expectMonotonicEndingAt(reads, (key) => sizes.get(key)!);
    } finally {
      catalog.close();
    }
  }, 180_000);

  it('on a pipe: plain lines only, no ANSI, the transfer line included', async () => {
    const { code, stdout, stderr } = await runCliProcess(['backup', '--plan', planFile]);
    expect(code).toBe(0);
    expect(stdout + stderr).not.toContain(String.fromCharCode(0x1b)); // no ANSI escape at all
    expect(stderr).toMatch(/^stillpoint backup: \w+: finish \d/m);
  }, 180_000);

  it('the live line shows bytes, rate and ETA per member', () => {
    const tracker = new TransferTracker();
    tracker.update(
      { member: 'a', phase: 'finish', key: 'k', bytesDone: 0, bytesTotal: 4 * 1024 ** 2, done: false },
      0,
    );
    tracker.update(
      {
        member: 'a',
        phase: 'finish',
        key: 'k',
        bytesDone: 1024 ** 2,
        bytesTotal: 4 * 1024 ** 2,
        done: false,
      },
      1000,
    );
    tracker.update({ member: 'b', phase: 'finish', key: 'j', bytesDone: 512, done: false }, 1000);
    expect(tracker.line(1000)).toBe('a: finish 1.0 MiB of 4.0 MiB, 1.0 MiB/s, ETA 3 s · b: finish 512 B');
  });
});
