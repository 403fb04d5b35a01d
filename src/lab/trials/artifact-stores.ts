/**
 * Remote artifact stores for the trials that break one: a real S3-compatible server (s3rver) and a real
 * Azure Blob server (Azurite), started once per campaign when the first such trial comes, each behind a TCP
 * proxy the runner controls (./tcp-proxy.ts), so a fault can make the store slow, unreachable, or fail
 * part-way through an upload. Each trial gets its own bucket / container; its plan's `artifacts.url` points
 * at the proxy.
 *
 * Credentials reach the backup process and the in-process restore alike through the environment, as an
 * operator would set them: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (s3rver's fixed pair) and
 * STILLPOINT_AZBLOB_CONNECTION_STRING (Azurite's development account, its endpoint the proxy). They are
 * restored when the stores stop.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import {
  AZURITE_ACCOUNT,
  S3RVER_CREDENTIALS,
  startAzurite,
  startS3rver,
  type RunningAzurite,
  type RunningObjectServer,
} from '../local-servers/object-store-servers.ts';
import type { Random } from './random.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export type RemoteStoreKind = 's3' | 'azblob';

export interface TrialArtifactStore {
  readonly kind: RemoteStoreKind;
  /** The plan's `artifacts.url` (through the proxy). */
  readonly url: string;
  /** The proxy on every path to the store (the backup's and the restore's). */
  readonly proxy: TcpProxy;
}

export interface ArtifactStores {
  /** A fresh bucket (S3) or container (Azure) for one trial. */
  create(kind: RemoteStoreKind, random: Random): Promise<TrialArtifactStore>;
  stop(): Promise<void>;
}

const ENV_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'STILLPOINT_AZBLOB_CONNECTION_STRING'];

export async function startArtifactStores(): Promise<ArtifactStores> {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    // Started once per campaign, possibly on a busy machine: a generous start deadline.
    const [s3, azurite] = await Promise.all([startS3rver(), startAzurite(120_000)]);
    stops.push(
      () => s3.stop(),
      () => azurite.stop(),
    );
    const s3Proxy = await proxyTo(s3);
    stops.push(() => s3Proxy.close());
    const azProxy = await proxyTo(azurite);
    stops.push(() => azProxy.close());
    const s3Endpoint = `http://127.0.0.1:${s3Proxy.port}`;
    const azEndpoint = `http://127.0.0.1:${azProxy.port}/${AZURITE_ACCOUNT}`;
    const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
    stops.push(() => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      return Promise.resolve();
    });
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    process.env.STILLPOINT_AZBLOB_CONNECTION_STRING = azurite.connectionString.replace(
      azurite.endpoint,
      azEndpoint,
    );
    // Buckets and containers are made directly, not through the proxy a fault may be breaking.
    const s3Admin = new S3Client({
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
    stops.push(() => Promise.resolve(s3Admin.destroy()));
    const azAdmin = BlobServiceClient.fromConnectionString(azurite.connectionString);
    let n = 0;
    return {
      async create(kind, random) {
        const name = `trial-${Date.now().toString(36)}-${random.int(0, 1e6)}-${n++}`;
        if (kind === 's3') {
          await s3Admin.send(new CreateBucketCommand({ Bucket: name }));
          return {
            kind,
            proxy: s3Proxy,
            url: `s3://${name}/trial?endpoint=${encodeURIComponent(s3Endpoint)}`,
          };
        }
        await azAdmin.getContainerClient(name).create();
        return {
          kind,
          proxy: azProxy,
          url: `azblob://${AZURITE_ACCOUNT}/${name}/trial?endpoint=${encodeURIComponent(azEndpoint)}`,
        };
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function proxyTo(server: RunningObjectServer | RunningAzurite): Promise<TcpProxy> {
  const url = new URL(server.endpoint);
  return startTcpProxy({ upstreamHost: url.hostname, upstreamPort: Number(url.port) });
}
