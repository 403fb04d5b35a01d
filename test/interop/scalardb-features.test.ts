/**
 * Issue 13 item 5: today's ScalarDB features, with the data written by real ScalarDB 3.19 Consensus Commit
 * (on SQLite files: cheap to copy, which the cleanup-ordering case needs). Each case failed on the code before
 * this change where noted.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkGroup } from '../../src/checker/check.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import type { GroupConfig, Row } from '../../src/txn/contract.ts';
import { transfer } from '../../src/lab/bank/bank-schema.ts';
import { finishTransaction } from '../../src/txn/cleanup.ts';
import { createTransactionManager } from '../../src/txn/consensus-commit.ts';
import { openGroup } from '../../src/txn/group.ts';
import { COORDINATOR_TABLE } from '../../src/txn/schema.ts';
import { decodeWriteSet } from '../../src/txn/write-set.ts';
import { propertiesFile, stillpointView, viewFromLines } from './format-suite.ts';
import { interopSkipReason, runDriver, VERSIONS } from './harness.ts';

const skip = await interopSkipReason();
if (skip !== undefined) console.warn(`interop skipped: ${skip}`);

let dir = '';
const CC = 'scalar.db.consensus_commit.';

function store(label: string): {
  path: string;
  group: GroupConfig;
  properties: Record<string, string>;
  sql: (statement: string) => Row[];
} {
  const path = join(dir, `${label}.db`);
  return {
    path,
    group: {
      storages: { s: { kind: 'sqlite', path } },
      namespaces: { bank_a: 's', bank_b: 's', coordinator: 's' },
    },
    properties: {
      'scalar.db.storage': 'jdbc',
      'scalar.db.contact_points': `jdbc:sqlite:${path}`,
      'scalar.db.username': '',
      'scalar.db.password': '',
    },
    sql(statement) {
      const db = new Database(path);
      try {
        const prepared = db.prepare(statement);
        return prepared.reader ? (prepared.all() as Row[]) : (prepared.run(), []);
      } finally {
        db.close();
      }
    },
  };
}

describe.skipIf(skip !== undefined)(
  `ScalarDB ${VERSIONS.scalardb} features on data real ScalarDB wrote (SQLite)${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'stillpoint-interop-features-'));
    });
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('group commit: members carry <parent>$<child>, one Coordinator row lists them; stillpoint decides, sweeps and reads them as ScalarDB does (failed before: `:` ids, member row first)', async () => {
      const s = store('group-commit');
      const props = await propertiesFile(dir, 'group-commit', s.properties, {
        [`${CC}coordinator.group_commit.enabled`]: 'true',
      });
      const run = await runDriver('BankDriver', [props, 'setup:8:100', 'concurrent:4:1:4']);
      const ids = run.lines.filter((l) => typeof l.transfer === 'string').map((l) => String(l.txId));
      expect(ids).toHaveLength(4);
      for (const id of ids) expect(id).toMatch(/^[0-9A-Za-z]{24}\$[0-9a-f-]{36}$/);
      const groups = s.sql(
        `SELECT tx_id, tx_child_ids, tx_state FROM "coordinator$state" WHERE tx_child_ids IS NOT NULL AND tx_child_ids <> ''`,
      );
      expect(groups.some((g) => String(g.tx_child_ids).split(',').length >= 2)).toBe(true);

      const report = await checkGroup(s.group, { invariants: [bankInvariants] });
      expect(report.violations).toEqual([]);
      expect(report.stats.committedWithoutDecision).toBe(0);
      // A member whose commit-records step never ran: the parent's listing must roll it forward, not abort it.
      const member = ids[0]!;
      s.sql(`UPDATE "bank_a$transfers" SET tx_state = 1 WHERE tx_id = '${member}'`);
      const swept = await checkGroup(s.group, { invariants: [bankInvariants], sweep: true, expiryMs: 0 });
      expect(swept.violations).toEqual([]);
      expect(swept.stats.sweep).toMatchObject({ rolledForward: 1, abortedExpired: 0, rolledBack: 0 });
      const view = await stillpointView(s.group);
      expect(view.transfers.bank_a).toHaveLength(4);
      expect(viewFromLines((await runDriver('BankDriver', [props, 'read'])).lines)).toEqual(view);
    });

    it('one-phase commit: records COMMITTED with no Coordinator row (prepared_at = committed_at); stillpoint checks and reads them as ScalarDB does', async () => {
      const s = store('one-phase');
      const props = await propertiesFile(dir, 'one-phase', s.properties, {
        [`${CC}one_phase_commit.enabled`]: 'true',
      });
      const run = await runDriver('BankDriver', [props, 'setup:6:100', 'transfers:3:2']);
      const ids = run.lines.filter((l) => typeof l.transfer === 'string').map((l) => String(l.txId));
      expect(ids).toHaveLength(3);
      const rows = s.sql(`SELECT tx_id FROM "coordinator$state"`).map((r) => String(r.tx_id));
      for (const id of ids) expect(rows).not.toContain(id);
      const records = s.sql(
        `SELECT tx_state, tx_prepared_at, tx_committed_at, before_tx_id FROM "bank_a$transfers"`,
      );
      expect(records).toHaveLength(3);
      for (const r of records)
        expect(r).toMatchObject({ tx_state: 3, tx_prepared_at: r.tx_committed_at, before_tx_id: null });
      const report = await checkGroup(s.group, { invariants: [bankInvariants], sweep: true, expiryMs: 0 });
      expect(report.violations).toEqual([]);
      expect(report.stats.committedWithoutDecision).toBeGreaterThanOrEqual(12);
      expect(report.stats.sweep).toMatchObject({ rolledForward: 0, rolledBack: 0, abortedExpired: 0 });
      expect(viewFromLines((await runDriver('BankDriver', [props, 'read'])).lines)).toEqual(
        await stillpointView(s.group),
      );
    });

    it('Coordinator cleanup: finishTransaction deletes rows (write set logged); a user copy older than the roll-forward with a Coordinator copy newer than the deletion still restores the committed transfer (failed before: rolled back, torn)', async () => {
      const s = store('cleanup');
      const props = await propertiesFile(dir, 'cleanup', s.properties, {
        [`${CC}coordinator.write_set_logging.enabled`]: 'true',
      });
      const first = await runDriver('BankDriver', [props, 'setup:6:100', 'transfers:1:3']);
      const committed = String(first.lines.find((l) => typeof l.transfer === 'string')?.txId);
      // tx_write_set: a WriteSet protobuf (field 1 schema_version = 1), read back as bytes by stillpoint's storage.
      const [row] = s.sql(`SELECT tx_write_set FROM "coordinator$state" WHERE tx_id = '${committed}'`);
      expect(Buffer.from(row?.tx_write_set as Uint8Array).subarray(0, 2)).toEqual(Buffer.from([0x08, 0x01]));
      const finished = await runDriver('BankDriver', [props, `finish:${committed}`]);
      expect(finished.lines.find((l) => l.finish === committed)?.result).toBe(true);
      expect(s.sql(`SELECT tx_id FROM "coordinator$state" WHERE tx_id = '${committed}'`)).toEqual([]);
      const afterCleanup = await checkGroup(s.group, { invariants: [bankInvariants] });
      expect(afterCleanup.violations).toEqual([]);
      expect(afterCleanup.stats.committedWithoutDecision).toBeGreaterThan(0);

      // Now a transfer whose bank_b half is still PREPARED while its Coordinator row says COMMITTED ...
      const crash = await runDriver('BankDriver', [props, 'crash-committed:x-cleaned:0:1:7'], {
        allowFailure: true,
      });
      expect(crash.code).toBe(137);
      const txId = String(crash.lines.find((l) => l.halting === true)?.txId);
      const userCopy = join(dir, 'cleanup-user-copy.db');
      s.sql('PRAGMA wal_checkpoint(TRUNCATE)'); // stillpoint's checker left the file in WAL mode
      await copyFile(s.path, userCopy); // ... the user tables are copied here (records still PREPARED),
      await runDriver('BankDriver', [props, 'read']); // ScalarDB rolls the half forward,
      // and the row is cleaned up (a 2PC commit logs no write set, so finishTransaction answers false for it;
      // the delete below is what its deleteState does once the records are final).
      expect(
        (await runDriver('BankDriver', [props, `finish:${txId}`])).lines.find((l) => l.finish === txId)
          ?.result,
      ).toBe(false);
      s.sql(`DELETE FROM "coordinator$state" WHERE tx_id = '${txId}'`);
      // The restored set: user tables from the early copy, the Coordinator from after the deletion.
      const restored = store('cleanup-user-copy');
      restored.sql(`DELETE FROM "coordinator$state"`);
      const liveRows = s.sql(`SELECT tx_id, tx_state, tx_created_at FROM "coordinator$state"`);
      for (const r of liveRows)
        restored.sql(
          `INSERT INTO "coordinator$state" (tx_id, tx_state, tx_created_at) VALUES ('${String(r.tx_id)}', ${Number(r.tx_state)}, ${Number(r.tx_created_at)})`,
        );
      expect(
        restored.sql(`SELECT count(*) AS n FROM "bank_b$accounts" WHERE tx_id = '${txId}' AND tx_state = 1`),
      ).toEqual([{ n: 1 }]);
      const report = await checkGroup(restored.group, { sweep: true, expiryMs: 0 });
      expect(report.violations).toEqual([]);
      const view = await stillpointView(restored.group);
      expect(view.transfers.bank_b).toContain('x-cleaned');
      expect(
        viewFromLines(
          (
            await runDriver('BankDriver', [
              await propertiesFile(dir, 'cleanup-restored', restored.properties),
              'read',
            ])
          ).lines,
        ),
      ).toEqual(view);
    });

    it("write sets both ways: stillpoint reads and finishes ScalarDB's row; ScalarDB's finishTransaction finishes a stillpoint commit left PREPARED from stillpoint's tx_write_set", async () => {
      const s = store('write-set');
      const props = await propertiesFile(dir, 'write-set', s.properties, {
        [`${CC}coordinator.write_set_logging.enabled`]: 'true',
      });
      const first = await runDriver('BankDriver', [props, 'setup:6:100', 'transfers:1:3']);
      const theirs = String(first.lines.find((l) => typeof l.transfer === 'string')?.txId);
      const ours = `sp-${Date.now()}`;
      const group = await openGroup(s.group);
      try {
        const row = await group.storageFor('coordinator').get(COORDINATOR_TABLE, { tx_id: theirs });
        const tables = decodeWriteSet(row?.tx_write_set as Uint8Array)
          .groups.flatMap((g) => g.entries)
          .map((e) => `${e.table.namespace}.${e.table.table}`);
        expect(new Set(tables)).toEqual(
          new Set(['bank_a.accounts', 'bank_b.accounts', 'bank_a.transfers', 'bank_b.transfers']),
        );
        expect(await finishTransaction(group, theirs)).toBe(true);
        const crashing = createTransactionManager({
          group,
          idGenerator: () => ours,
          failpoints: { afterCommitState: () => Promise.reject(new Error('crash')) },
        });
        await expect(
          crashing.run((tx) => transfer(tx, { transferId: 'sp-finish', from: 0, to: 1, amount: 7 }), {
            retries: 0,
          }),
        ).rejects.toThrow('crash');
      } finally {
        await group.close();
      }
      expect(s.sql(`SELECT tx_id FROM "coordinator$state" WHERE tx_id = '${theirs}'`)).toEqual([]);
      const pending = () =>
        ['bank_a$accounts', 'bank_b$accounts', 'bank_a$transfers', 'bank_b$transfers'].reduce(
          (n, t) =>
            n +
            Number(s.sql(`SELECT count(*) AS n FROM "${t}" WHERE tx_id = '${ours}' AND tx_state = 1`)[0]?.n),
          0,
        );
      expect(pending()).toBe(4);
      const finished = await runDriver('BankDriver', [props, `finish:${ours}`]);
      expect(finished.lines.find((l) => l.finish === ours)?.result).toBe(true);
      expect(pending()).toBe(0);
      expect(s.sql(`SELECT tx_id FROM "coordinator$state" WHERE tx_id = '${ours}'`)).toEqual([]);
      const report = await checkGroup(s.group, { invariants: [bankInvariants] });
      expect(report.violations).toEqual([]);
      const view = await stillpointView(s.group);
      expect(view.transfers.bank_a).toContain('sp-finish');
      expect(viewFromLines((await runDriver('BankDriver', [props, 'read'])).lines)).toEqual(view);
    });
  },
);
