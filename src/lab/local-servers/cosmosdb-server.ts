/**
 * A real Cosmos DB data plane for tests and the lab: @vercel/cosmosdb-server (Cosmos DB's REST API over
 * memory), started in this process on 127.0.0.1, over HTTPS with a self-signed certificate made for this
 * run by `openssl`. Clients trust it through `caFile` (the storage's own CA option), never by turning off
 * certificate checks. It has no management plane (accounts, restores) and runs no stored procedures:
 * ../fakes/cosmos-management-fake.ts adds the management plane, and the storage writes with ETag
 * conditions on this server (docs/decisions/0009-cosmos-mutations.md).
 */
import { execFile } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHttpsServer } from '@vercel/cosmosdb-server';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StorageConfig } from '../../txn/contract.ts';

/** Any base64 text: cosmosdb-server does not check the key, the SDK only needs one to sign with. */
export const LOCAL_COSMOS_KEY = Buffer.from('stillpoint-local-cosmos-key').toString('base64');

export interface LocalTls {
  readonly dir: string;
  /** PEM of the self-signed certificate (it is its own CA). */
  readonly cert: string;
  readonly key: string;
  /** Path of the certificate, for `caFile`. */
  readonly caFile: string;
  destroy(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1/localhost, in a fresh 0700 temp dir (removed on destroy). */
export async function createLocalTls(): Promise<LocalTls> {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ]);
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    await writeFile(keyPath, key, { mode: 0o600 });
    return { dir, cert, key, caFile: certPath, destroy: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface LocalCosmos {
  readonly endpoint: string;
  readonly caFile: string;
  /** A `kind: cosmos` storage config for this server (ETag mutations: no stored procedures here). */
  connection(prefix?: string): Extract<StorageConfig, { kind: 'cosmos' }>;
  destroy(): Promise<void>;
}

export interface LocalCosmosOptions {
  /** Reuse a certificate (the management fake starts several servers with one); a new one otherwise. */
  readonly tls?: LocalTls;
  /** Sees every request before the server does (the management fake keeps its write log with it). */
  readonly observe?: (req: IncomingMessage, res: ServerResponse) => void;
}

export async function startLocalCosmos(options: LocalCosmosOptions = {}): Promise<LocalCosmos> {
  const tls = options.tls ?? (await createLocalTls());
  const server = createHttpsServer({ cert: tls.cert, key: tls.key, keepAlive: true });
  if (options.observe !== undefined) server.prependListener('request', options.observe);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    if (options.tls === undefined) await tls.destroy();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const endpoint = `https://127.0.0.1:${port}/`;
  return {
    endpoint,
    caFile: tls.caFile,
    connection: (prefix) => ({
      kind: 'cosmos',
      endpoint,
      password: LOCAL_COSMOS_KEY,
      caFile: tls.caFile,
      mutations: 'etag',
      ...(prefix === undefined ? {} : { prefix }),
    }),
    destroy: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (options.tls === undefined) await tls.destroy();
    },
  };
}
