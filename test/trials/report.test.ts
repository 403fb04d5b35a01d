import { describe, expect, it } from 'vitest';
import { FAULTS, faultsFor } from '../../src/lab/trials/faults.ts';
import { createRandom } from '../../src/lab/trials/random.ts';
import {
  passed,
  renderMarkdown,
  summarize,
  type TrialResult,
  type TrialsReport,
} from '../../src/lab/trials/report.ts';
import { restoreTarget, scheduleFaults } from '../../src/lab/trials/runner.ts';
import type { MemberRecord, MemberSpec } from '../../src/engines/contract.ts';
import { getEngineKind } from '../../src/engines/registry.ts';
import { createLocalDirStore } from '../../src/artifacts/local-dir-store.ts';

const trial = (over: Partial<TrialResult>): TrialResult => ({
  index: 0,
  trialSeed: 1,
  group: 'sqlite',
  mode: 'snapshot',
  discovery: 'addresses',
  fault: 'none',
  moment: 'during-pause',
  faultApplied: true,
  faultDetail: null,
  backupId: 'bk-1',
  outcome: 'complete',
  attempts: 1,
  reason: null,
  restoreChecked: true,
  acknowledged: 10,
  longestPausedMs: 12,
  clientStallMs: { p99: 40, max: 55 },
  violations: [],
  harnessError: null,
  durationMs: 1000,
  ...over,
});

const report = (trials: TrialResult[], tornCopies: number): TrialsReport => ({
  seed: 7,
  startedAt: '2026-11-22T00:00:00.000Z',
  durationMs: 5000,
  trials,
  negativeControl: { ran: true, attempts: 3, tornCopies, detail: '' },
});

describe('trial report', () => {
  it('counts outcomes, faults, violations and the longest pause', () => {
    const r = report(
      [
        trial({}),
        trial({ fault: 'node-kill', outcome: 'invalid', restoreChecked: false, longestPausedMs: 900 }),
      ],
      1,
    );
    const s = summarize(r);
    expect(s.outcomes).toEqual({ complete: 1, invalid: 1, failed: 0, none: 0 });
    expect(s.faultsByKind).toEqual({ none: 1, 'node-kill': 1 });
    expect(s.restoresChecked).toBe(1);
    expect(s.longestPausedMs).toBe(900);
    expect(passed(r)).toBe(true);
    expect(renderMarkdown(r, 'x')).toContain('| violations | 0 |');
    expect(renderMarkdown(r, 'x')).toContain('| 12 ms | 40 / 55 ms | 0 |'); // each row: the client-visible stall
  });

  it('fails on a violation, and says it is not testing when the negative control found nothing', () => {
    expect(passed(report([trial({ violations: ['restored: transfer-torn: t1'] })], 1))).toBe(false);
    const blind = report([trial({})], 0);
    expect(summarize(blind).testing).toBe(false);
    expect(passed(blind)).toBe(false);
    expect(renderMarkdown(blind, 'x')).toContain('NOT TESTING');
  });
});

describe('fault schedule', () => {
  it('covers every applicable fault once per round, in a seeded order', () => {
    const a = scheduleFaults(createRandom(3), ['sqlite']);
    const b = scheduleFaults(createRandom(3), ['sqlite']);
    expect(a).toEqual(b);
    expect(new Set(a.map((p) => p.fault))).toEqual(new Set(faultsFor('sqlite').map((f) => f.kind)));
    expect(a.some((p) => p.fault === 'database-stop')).toBe(false); // no server in an SQLite group
    expect(scheduleFaults(createRandom(4), ['sqlite'])).not.toEqual(a);
  });

  it('lists every kind once; admin faults and a clock offset must never end as an unpaused complete', () => {
    expect(new Set(FAULTS.map((f) => f.kind)).size).toBe(FAULTS.length);
    expect(FAULTS.find((f) => f.kind === 'admin-error')?.allowedOutcomes).not.toContain('complete');
    expect(FAULTS.find((f) => f.kind === 'admin-silent')?.allowedOutcomes).not.toContain('complete');
    expect(FAULTS.find((f) => f.kind === 'clock-offset')?.allowedOutcomes).toEqual(['complete']);
    expect(faultsFor('postgres+mariadb').some((f) => f.kind === 'database-stop')).toBe(true);
  });
});

describe('restore targets of the trials', () => {
  const members: MemberSpec[] = [
    {
      name: 'a',
      engine: 'sqlite',
      connection: { kind: 'sqlite', path: '/tmp/a.db' },
      namespaces: ['bank_a'],
      options: {},
    },
    {
      name: 'pg',
      engine: 'postgres',
      connection: { kind: 'postgres', host: '127.0.0.1', port: 5432, user: 'u', database: 'd' },
      namespaces: ['bank_a'],
      options: { method: 'logical' },
    },
    {
      name: 'maria',
      engine: 'mariadb',
      connection: { kind: 'mysql', host: '127.0.0.1', port: 3306, user: 'u' },
      namespaces: ['bank_b'],
      options: {},
    },
  ];

  it.each(members.map((m) => [m.engine, m] as const))(
    '%s: the target is one its engine accepts',
    (_engine, member) => {
      const record: MemberRecord = {
        backupId: 'bk-1',
        member,
        handle: { kind: 'snapshot', snapshotId: 's' },
        artifacts: [],
      };
      const target = restoreTarget(member, '/tmp/restored', createRandom(1), {
        host: '127.0.0.1',
        port: 3307,
      });
      const kind = getEngineKind(member.engine);
      const artifacts = createLocalDirStore('/tmp/stillpoint-unused-store');
      // Opening a restore session parses the target (no I/O).
      expect(() =>
        kind.openRestore(
          { record, target, artifacts, log: { info: () => {}, warn: () => {} } },
          kind.parseOptions(member),
        ),
      ).not.toThrow();
    },
  );
});
