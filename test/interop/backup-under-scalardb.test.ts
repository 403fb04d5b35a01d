/**
 * Issue 13 item 4 (last sentence): a backup taken by stillpoint while REAL ScalarDB 3.19 runs a bank
 * workload (Consensus Commit over JDBC on one SQLite file: every namespace in one member, mode `single`),
 * restored by stillpoint (recovery sweep + checker with the bank invariants), then read — and lazily
 * recovered where the cut caught a transaction mid-commit — by real ScalarDB, which sees the same bank.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import type { StorageConfig } from '../../src/txn/contract.ts';
import { propertiesFile, stillpointView, viewFromLines } from './format-suite.ts';
import { interopSkipReason, runDriver, startDriver, VERSIONS } from './harness.ts';

const skip = await interopSkipReason();
if (skip !== undefined) console.warn(`interop skipped: ${skip}`);

let dir = '';

function sqliteProperties(path: string): Record<string, string> {
  return {
    'scalar.db.storage': 'jdbc',
    'scalar.db.contact_points': `jdbc:sqlite:${path}`,
    'scalar.db.username': '',
    'scalar.db.password': '',
  };
}

describe.skipIf(skip !== undefined)(
  `a stillpoint backup under a real ScalarDB ${VERSIONS.scalardb} workload${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'stillpoint-interop-backup-'));
    });
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('backs up mid-workload, restores with the checker passing, and ScalarDB reads the restored bank as stillpoint does (total 800)', async () => {
      const live = join(dir, 'bank.db');
      const props = await propertiesFile(dir, 'live', sqliteProperties(live));
      await runDriver('BankDriver', [props, 'setup:8:100']);
      // stillpoint's SQLite engine reads a snapshot in WAL mode only (rollback mode would block the writers).
      const db = new Database(live);
      db.pragma('journal_mode = WAL');
      db.close();
      const workload = startDriver('BankDriver', [props, 'workload:11']);
      try {
        // Mid-workload: a few transfers committed, more running while the capture is taken.
        await workload.next((l) => typeof l.transfer === 'string' && l.transfer.endsWith('-3'), 120_000);
        const planFile = join(dir, 'plan.yaml');
        await writeFile(
          planFile,
          JSON.stringify({
            version: 1,
            group: 'sdb',
            members: [
              {
                name: 'bank',
                engine: 'sqlite',
                connection: { kind: 'sqlite', path: live },
                namespaces: ['bank_a', 'bank_b', 'coordinator'],
              },
            ],
            artifacts: { dir: join(dir, 'artifacts') },
            catalog: { path: join(dir, 'catalog.db') },
          }),
          { mode: 0o600 },
        );
        const plan = loadPlan(planFile);
        const catalog = openCatalog(plan.catalogPath);
        try {
          const backup = await runBackup({ plan, catalog });
          expect(backup.state, String(backup.reason)).toBe('complete');
          expect(backup.mode).toBe('single');
          const report = await runRestore(catalog, {
            backupId: backup.backupId,
            plan,
            intoDir: join(dir, 'restored'),
            invariants: [bankInvariants],
          });
          expect(report.check?.violations).toEqual([]);
          const restored = report.restored.find((r) => r.member === 'bank')!;
          const restoredPath = (restored.connection as Extract<StorageConfig, { kind: 'sqlite' }>).path;
          const ours = await stillpointView(report.group!);
          const theirs = viewFromLines(
            (
              await runDriver('BankDriver', [
                await propertiesFile(dir, 'restored', sqliteProperties(restoredPath)),
                'read',
              ])
            ).lines,
          );
          expect(theirs).toEqual(ours);
          expect(Object.values(theirs.balances).reduce((a, b) => a + b, 0)).toBe(800);
          expect(theirs.transfers.bank_a.length).toBeGreaterThanOrEqual(4);
          expect(theirs.transfers.bank_a.sort()).toEqual(theirs.transfers.bank_b.sort());
          // The workload goes on after the cut: two more transfers, then stop; the restore has none of them.
          const cut = Math.max(...theirs.transfers.bank_a.map((id) => Number(id.split('-')[2])));
          await workload.next(
            (l) => typeof l.transfer === 'string' && Number(l.transfer.split('-')[2]) > cut + 1,
            120_000,
          );
          workload.send('stop');
          const ended = await workload.done();
          expect(ended.lines.at(-1)).toMatchObject({ op: 'workload', ok: true });
          // Cut before the end: the live bank has transfers the restored one does not.
          const liveView = viewFromLines((await runDriver('BankDriver', [props, 'read'])).lines);
          expect(liveView.transfers.bank_a.length).toBeGreaterThan(theirs.transfers.bank_a.length);
        } finally {
          catalog.close();
        }
      } finally {
        workload.kill();
      }
    }, 600_000);
  },
);
