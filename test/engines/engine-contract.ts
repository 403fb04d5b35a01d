/**
 * The engine contract, as one test body run against every (engine, method) pair — the way the storage
 * contract suite runs against every storage. A pair is a {@link EnginePair}: how to make a fresh member
 * (its own database or file, seeded), read its rows, and make targets. Adding a pair is one line in
 * ./engine-contract.test.ts.
 *
 * Every case ends with a leak check: no handle, socket, timer or child process left behind
 * (`process.getActiveResourcesInfo()` before/after, and the child processes of this process in /proc).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../../src/artifacts/contract.ts';
import type {
  BackupSession,
  EngineKind,
  FinishWindow,
  MemberRecord,
  MemberSpec,
  RestoreSession,
  RestoreTarget,
} from '../../src/engines/contract.ts';
import type { StorageConfig } from '../../src/txn/contract.ts';
import {
  backupContext,
  finishWindow,
  never,
  openBackup as registryBackup,
  openRestore as registryRestore,
  quietLog,
} from './support.ts';

/** A member reachable through a path the test can make go silent (a TCP proxy in `drop` mode). */
export interface DeadPath {
  readonly member: MemberSpec;
  /** From now on the path is silent: connections accepted, nothing answered. */
  silence(): void;
  close(): Promise<void>;
}

export interface PairFixture {
  readonly store: ArtifactStore;
  /** A fresh, seeded member for one case (its own database or file). */
  member(caseId: string): Promise<MemberSpec>;
  /** Writes one more row into the member's live database (after capture: must not be restored). */
  writeMore(member: MemberSpec): Promise<void>;
  /** The rows of the seeded table at `connection`, for equality. */
  rows(connection: StorageConfig): Promise<unknown[]>;
  /** A fresh restore target for the case (undefined: the engine's default). */
  target(caseId: string): Promise<RestoreTarget | undefined>;
  /** A target that already holds data this restore did not write. */
  foreignTarget(caseId: string): Promise<RestoreTarget>;
  /** The member behind a path that can go silent; absent where there is no network path (SQLite). */
  deadPath?(caseId: string): Promise<DeadPath>;
  /**
   * The engine kind to test, when not the registry's built-in one for `member.engine` (e.g. one built with
   * another control plane). Injected here, per fixture — never through a global.
   */
  readonly engine?: EngineKind<unknown>;
  /** Stops whatever a restore left running on purpose (a restored server). */
  afterRestore?(target: RestoreTarget): Promise<void>;
  teardown(): Promise<void>;
}

export interface EnginePair {
  readonly label: string;
  setup(): Promise<PairFixture>;
}

/** Deadline for a phase on a dead path, and the slack allowed for the session to notice. */
const DEAD_PATH_DEADLINE_MS = 1_500;
const DEAD_PATH_SLACK_MS = 4_000;
/** Margin beyond twice the clock uncertainty a clock-based backup's window is held open. */
const CLOCK_MARGIN_MS = 100;

export function engineContractSuite(pair: EnginePair): void {
  describe(`engine contract: ${pair.label}`, () => {
    let fx: PairFixture;
    let seq = 0;
    let caseId = '';
    let before: ResourceSnapshot;
    const cleanups: Array<() => Promise<void>> = [];

    beforeAll(async () => {
      fx = await pair.setup();
    }, 120_000);
    afterAll(async () => {
      await fx?.teardown();
    }, 60_000);
    beforeEach(async () => {
      caseId = `c${++seq}${Date.now().toString(36)}`;
      await sleep(50);
      before = resources();
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
      await expectNoLeaks(before);
    }, 30_000);

    /** A backup session of the fixture's engine (its injected kind, else the registry's). */
    function openBackup(store: typeof fx.store, member: MemberSpec, backupId: string): BackupSession {
      if (fx.engine === undefined) return registryBackup(store, member, backupId);
      return fx.engine.openBackup(backupContext(store, member, backupId), fx.engine.parseOptions(member));
    }
    function openRestore(
      store: typeof fx.store,
      record: MemberRecord,
      target: RestoreTarget | undefined,
    ): RestoreSession {
      if (fx.engine === undefined) return registryRestore(store, record, target);
      return fx.engine.openRestore(
        { record, target, artifacts: store, log: quietLog },
        fx.engine.parseOptions(record.member),
      );
    }

    /**
     * A backup with a real pause window: for a clock-based engine the clock is measured inside it and the
     * window is held open for twice the measured uncertainty (plus a margin), as the orchestrator sizes it,
     * so the restore time — the mid-time in the database's clock — lies inside it.
     */
    async function backup(
      member: MemberSpec,
      backupId = `bk-${caseId}`,
    ): Promise<{ record: MemberRecord; atCapture: unknown[] }> {
      const session = openBackup(fx.store, member, backupId);
      try {
        expect((await session.preflight(never)).filter((c) => !c.ok)).toEqual([]);
        await session.prepare(never);
        const atCapture = await fx.rows(member.connection);
        const pausedAtMs = Date.now();
        const clock = session.capabilities.clockBased ? await session.measureClock?.(never) : undefined;
        const captured = await session.capture(never);
        const windowMs = clock === undefined ? 0 : 2 * clock.uncertaintyMs + CLOCK_MARGIN_MS;
        await sleep(Math.max(0, pausedAtMs + windowMs - Date.now()));
        const unpauseStartedAtMs = Date.now();
        const window: FinishWindow = {
          pausedAtMs,
          unpauseStartedAtMs,
          midMs: Math.round((pausedAtMs + unpauseStartedAtMs) / 2),
          ...(clock === undefined ? {} : { clock }),
        };
        await fx.writeMore(member);
        const finished = await session.finish(window, never);
        if (captured.handle || session.capabilities.horizonWait)
          await session.horizon(finished.handle, never);
        return {
          record: { backupId, member, handle: finished.handle, artifacts: finished.artifacts },
          atCapture,
        };
      } finally {
        await session.close();
      }
    }

    it('prepare → capture → finish → restore round trip: the restored data equals the data at capture', async () => {
      const member = await fx.member(caseId);
      const { record, atCapture } = await backup(member);
      expect(await fx.rows(member.connection)).not.toEqual(atCapture); // negative control: the source moved on
      const target = await fx.target(caseId);
      const restore = openRestore(fx.store, record, target);
      try {
        expect((await restore.inspect(never)).state).toMatch(/^(absent|empty)$/);
        const restored = await restore.restore({ force: false, signal: never });
        cleanups.push(() => fx.afterRestore?.(restore.target) ?? Promise.resolve());
        expect(await fx.rows(restored.connection)).toEqual(atCapture);
        await restore.markFinished();
        expect((await restore.inspect(never)).state).toBe('restored');
        await expect(restore.restore({ force: false, signal: never })).rejects.toMatchObject({
          code: 'RESTORE_TARGET_NOT_EMPTY',
        });
      } finally {
        await restore.close();
      }
    }, 120_000);

    it('a restore into a target holding foreign data is refused without force', async () => {
      const { record } = await backup(await fx.member(caseId));
      const restore = openRestore(fx.store, record, await fx.foreignTarget(caseId));
      try {
        expect((await restore.inspect(never)).state).toBe('foreign');
        await expect(restore.restore({ force: false, signal: never })).rejects.toMatchObject({
          code: 'RESTORE_TARGET_NOT_EMPTY',
        });
      } finally {
        await restore.close();
      }
    }, 120_000);

    it('an aborted signal is honoured in prepare, capture, finish and restore', async () => {
      const member = await fx.member(caseId);
      const aborted = AbortSignal.abort();
      const first = openBackup(fx.store, member, `bk-${caseId}-a`);
      await expect(first.prepare(aborted)).rejects.toThrow();
      await expect(first.capture(aborted)).rejects.toThrow();
      await first.close();
      const second = openBackup(fx.store, member, `bk-${caseId}-b`);
      await second.capture(never);
      await expect(second.finish(finishWindow, aborted)).rejects.toThrow();
      await second.close();
      const { record } = await backup(member);
      const restore = openRestore(fx.store, record, await fx.target(caseId));
      await expect(restore.restore({ force: false, signal: aborted })).rejects.toThrow();
      await restore.close();
    }, 120_000);

    it('a dead database path ends prepare, capture and finish within their deadline', async (ctx) => {
      if (fx.deadPath === undefined) return ctx.skip();
      const deadPath = fx.deadPath.bind(fx);
      // Each step is bounded, so a hang fails naming its step instead of at the test timeout.
      const phase = async (
        name: string,
        setUp: (s: BackupSession) => Promise<void>,
        run: (s: BackupSession) => Promise<unknown>,
      ): Promise<void> => {
        const path = await bounded(`${name}: set up the path`, deadPath(`${caseId}${name[0]}`));
        try {
          const session = openBackup(fx.store, path.member, `bk-${caseId}-d${name[0]}`);
          await bounded(`${name}: steps before the path dies`, setUp(session));
          path.silence();
          await expectEndsWithin(run(session), name);
          await expectEndsWithin(session.close(), `${name}: close`, DEAD_PATH_SLACK_MS);
        } finally {
          await bounded(`${name}: close the proxy`, path.close());
        }
      };
      const deadline = (): AbortSignal => AbortSignal.timeout(DEAD_PATH_DEADLINE_MS);
      await phase(
        'prepare',
        () => Promise.resolve(),
        (s) => s.prepare(deadline()),
      );
      await phase(
        'capture',
        (s) => s.prepare(never),
        (s) => s.capture(deadline()),
      );
      await phase(
        'finish',
        async (s) => void (await s.prepare(never), await s.capture(never)),
        (s) => s.finish(finishWindow, deadline()),
      );
    }, 120_000);

    it('close() is idempotent and bounded in every phase, and discard never throws', async () => {
      const member = await fx.member(caseId);
      const unused = openBackup(fx.store, member, `bk-${caseId}-u`);
      await unused.close();
      await unused.close();
      const prepared = openBackup(fx.store, member, `bk-${caseId}-p`);
      await prepared.prepare(never);
      await prepared.close();
      const captured = openBackup(fx.store, member, `bk-${caseId}-c`);
      await captured.prepare(never);
      await captured.capture(never);
      await captured.discard();
      await captured.discard();
      await captured.close();
    }, 120_000);
  });
}

async function expectEndsWithin(
  work: Promise<unknown>,
  what: string,
  ms = DEAD_PATH_DEADLINE_MS + DEAD_PATH_SLACK_MS,
): Promise<void> {
  const started = Date.now();
  await bounded(
    what,
    work.catch(() => undefined),
    ms * 3,
  );
  expect(Date.now() - started, what).toBeLessThan(ms);
}

/** `work`, or a failure naming `what` after `ms` (default 20 s). */
async function bounded<T>(what: string, work: Promise<T>, ms = 20_000): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work,
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`${what} did not end within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

export interface ResourceSnapshot {
  readonly counts: Record<string, number>;
  readonly children: readonly number[];
}

export function resources(): ResourceSnapshot {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return { counts, children: childPids() };
}

/** Child processes of this process (Linux /proc); a tool a session spawned and never reaped shows here. */
function childPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) pids.push(Number(name));
    } catch {
      // The process ended meanwhile.
    }
  }
  return pids;
}

/** What is open now that was not at `before`: resource types that grew, and new child processes. */
export function leakedSince(before: ResourceSnapshot): string[] {
  const now = resources();
  const grown = Object.entries(now.counts)
    .filter(([type, n]) => n > (before.counts[type] ?? 0))
    .map(([type, n]) => `${type} ${before.counts[type] ?? 0} → ${n}`);
  const children = now.children.filter((p) => !before.children.includes(p)).map((p) => `child pid ${p}`);
  return [...grown, ...children];
}

/** Every resource type is back to (at most) its count before the case; polls briefly so closes can settle. */
async function expectNoLeaks(before: ResourceSnapshot): Promise<void> {
  const leaked = (): string[] => leakedSince(before);
  const deadline = Date.now() + 5_000;
  while (leaked().length > 0 && Date.now() < deadline) await sleep(100);
  expect(leaked()).toEqual([]);
}
