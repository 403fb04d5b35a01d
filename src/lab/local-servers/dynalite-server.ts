/**
 * A real DynamoDB data plane for tests and the lab: dynalite (DynamoDB's API over LevelDB), started in this
 * process on 127.0.0.1 on a free port, on disk in a fresh temp dir (0700), removed on destroy. It has no
 * control plane for backups (PITR, restores, auto-scaling): ../fakes/dynamodb-pitr-fake.ts adds that.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dynalite from 'dynalite';
import type { StorageConfig } from '../../txn/contract.ts';

export interface LocalDynalite {
  readonly endpoint: string;
  readonly region: string;
  readonly dir: string;
  /** A `kind: dynamodb` storage config for this server (dummy credentials). */
  connection(prefix?: string): Extract<StorageConfig, { kind: 'dynamodb' }>;
  destroy(): Promise<void>;
}

export interface DynaliteStartOptions {
  /** How long CreateTable / DeleteTable keep a table CREATING / DELETING (dynalite's default is 500 ms). */
  readonly tableStatusMs?: number;
}

export async function startLocalDynalite(options: DynaliteStartOptions = {}): Promise<LocalDynalite> {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-dynalite-'));
  const ms = options.tableStatusMs ?? 0;
  const server = dynalite({ path: dir, createTableMs: ms, deleteTableMs: ms, updateTableMs: ms });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const region = 'us-east-1';
  return {
    endpoint,
    region,
    dir,
    connection: (prefix) => ({
      kind: 'dynamodb',
      region,
      endpoint,
      dummyCredentials: true,
      ...(prefix === undefined ? {} : { prefix }),
    }),
    destroy: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
