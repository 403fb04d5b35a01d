/**
 * The demo's files: three SQLite databases (bank_a, bank_b, coordinator), a group config, one node
 * config per node, and the backup plan over those nodes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { GroupConfig } from '../../txn/contract.ts';
import { openGroup } from '../../txn/group.ts';
import type { DemoBackend } from './demo-servers.ts';
import { setupBank } from '../bank/bank-setup.ts';

export const DEMO_MEMBERS = ['bank_a', 'bank_b', 'coordinator'] as const;

/** The demo group: each namespace in its own SQLite file under `dataDir`. */
export function demoGroup(dataDir: string): GroupConfig {
  const storages = Object.fromEntries(
    DEMO_MEMBERS.map((m) => [m, { kind: 'sqlite' as const, path: join(dataDir, `${m}.db`) }]),
  );
  const namespaces = Object.fromEntries(DEMO_MEMBERS.map((m) => [m, m]));
  return { storages, namespaces };
}

/** Creates the databases and seeds the bank. */
export async function seedBank(group: GroupConfig, accounts: number): Promise<{ total: number }> {
  const opened = await openGroup(group);
  try {
    return await setupBank(opened, { accounts });
  } finally {
    await opened.close();
  }
}

/** Writes one node config per node (port 0: any free port) and returns their paths. */
export function writeNodeConfigs(dir: string, group: GroupConfig, count: number): string[] {
  mkdirSync(dir, { recursive: true });
  return Array.from({ length: count }, (_, i) => {
    const file = join(dir, `node-${i + 1}.yaml`);
    writeFileSync(file, stringify({ name: `node-${i + 1}`, group, listen: { host: '127.0.0.1', port: 0 } }));
    return file;
  });
}

export interface DemoPlanOptions {
  readonly addresses: readonly string[];
  readonly dataDir: string;
  readonly leaseMs: number;
  readonly minWindowMs: number;
}

/** Writes the backup plan (snapshot mode is derived: every member is SQLite) and returns its path. */
export function writeDemoPlan(dir: string, options: DemoPlanOptions): string {
  const plan = {
    version: 1,
    group: 'demo-bank',
    clusters: [
      {
        name: 'bank-nodes',
        targets: { addresses: options.addresses },
        leaseMs: options.leaseMs,
        drainTimeoutMs: 10_000,
      },
    ],
    members: DEMO_MEMBERS.map((m) => ({
      name: m,
      engine: 'sqlite',
      connection: { kind: 'sqlite', path: join(options.dataDir, `${m}.db`) },
      namespaces: [m],
    })),
    artifacts: { dir: './.stillpoint/artifacts' },
    catalog: { path: './.stillpoint/catalog.db' },
    window: { minMs: options.minWindowMs, maxAttempts: 3 },
  };
  const file = join(dir, 'plan.yaml');
  writeFileSync(file, stringify(plan));
  return file;
}

/** The SQLite group as a demo backend: snapshot backups, each restored into its own directory. */
export function sqliteBackend(
  dir: string,
  dataDir: string,
  options: { leaseMs: number; minWindowMs: number },
): DemoBackend {
  return {
    description: '3 SQLite databases',
    group: demoGroup(dataDir),
    methodOf: () => 'snapshot',
    planFor: (_index, addresses) => writeDemoPlan(dir, { addresses, dataDir, ...options }),
    restoreInto: (_index, into) => Promise.resolve({ intoDir: into }),
    close: () => Promise.resolve(),
  };
}
