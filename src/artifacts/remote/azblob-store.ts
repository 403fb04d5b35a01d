/**
 * `azblob://account/container/prefix` — an artifact store in Azure Blob Storage (or Azurite), through
 * `@azure/storage-blob`.
 *
 * Credentials never sit in the URL (it is stored in every catalog row), first found wins
 * ({@link azblobAuthFrom}): a connection string from STILLPOINT_AZBLOB_CONNECTION_STRING or
 * AZURE_STORAGE_CONNECTION_STRING; a SAS token from AZURE_STORAGE_SAS_TOKEN; an account key from
 * AZURE_STORAGE_KEY; else Microsoft Entra ID through `@azure/identity`'s DefaultAzureCredential (workload
 * identity in AKS, managed identity, AZURE_CLIENT_ID/SECRET, the Azure CLI login…), against
 * `https://<account>.blob.core.windows.net` (or `?endpoint=…`). Azurite accepts only shared keys and SAS,
 * so the Entra ID path is tested by its selection, not against a server.
 *
 * Writes stream as staged blocks ({@link BLOCK_BYTES}, {@link CONCURRENCY} in flight) committed by one
 * final Put Block List: a failed or interrupted upload commits nothing, so no partial blob is ever
 * visible; the service discards uncommitted blocks itself (after 7 days), so this store lists no partial
 * writes.
 */
import type { TokenCredential } from '@azure/core-auth';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CatalogError, ConfigError } from '../../errors.ts';
import type { ArtifactRef, ArtifactStore, PartialWrite } from '../contract.ts';
import { isSafeKey, joinKey, measure, sha256Stream, toReadable } from '../measure.ts';

export const BLOCK_BYTES = 8 * 1024 * 1024;
const CONCURRENCY = 4;
/** Deadline for one request that does not stream a body (properties, list page, delete). */
const REQUEST_TIMEOUT_MS = 30_000;

export interface AzblobStoreOptions {
  readonly account: string;
  readonly container: string;
  readonly prefix: string;
  readonly endpoint: string;
}

export function parseAzblobUrl(location: string): AzblobStoreOptions {
  const url = new URL(location);
  const [container, ...rest] = decodeURIComponent(url.pathname).replace(/^\/+/, '').split('/');
  if (url.hostname.length === 0 || container === undefined || container.length === 0) {
    throw new ConfigError(
      'ARTIFACT_STORE_URL_INVALID',
      `"${location}" must name an account and a container.`,
      {
        context: { location },
        hint: 'Write an Azure Blob store as azblob://account/container/optional/prefix.',
      },
    );
  }
  return {
    account: url.hostname,
    container,
    prefix: rest.join('/').replace(/\/+$/, ''),
    endpoint: url.searchParams.get('endpoint') ?? `https://${url.hostname}.blob.core.windows.net`,
  };
}

/** How a store authenticates, from the environment (secrets stay out of the URL and the catalog). */
export type AzblobAuth =
  | { readonly kind: 'connection-string'; readonly connectionString: string }
  | { readonly kind: 'sas'; readonly sas: string }
  | { readonly kind: 'account-key'; readonly accountKey: string }
  | { readonly kind: 'entra-id' };

export function azblobAuthFrom(env: NodeJS.ProcessEnv): AzblobAuth {
  const connection = env.STILLPOINT_AZBLOB_CONNECTION_STRING || env.AZURE_STORAGE_CONNECTION_STRING;
  if (connection) return { kind: 'connection-string', connectionString: connection };
  if (env.AZURE_STORAGE_SAS_TOKEN)
    return { kind: 'sas', sas: env.AZURE_STORAGE_SAS_TOKEN.replace(/^\?/, '') };
  if (env.AZURE_STORAGE_KEY) return { kind: 'account-key', accountKey: env.AZURE_STORAGE_KEY };
  return { kind: 'entra-id' };
}

export function createAzblobStore(location: string, env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  const options = parseAzblobUrl(location);
  const auth = azblobAuthFrom(env);
  let service: BlobServiceClient;
  if (auth.kind === 'connection-string')
    service = BlobServiceClient.fromConnectionString(auth.connectionString);
  else if (auth.kind === 'sas') service = new BlobServiceClient(`${options.endpoint}?${auth.sas}`);
  else if (auth.kind === 'account-key')
    service = new BlobServiceClient(
      options.endpoint,
      new StorageSharedKeyCredential(options.account, auth.accountKey),
    );
  // No secret given: a token from Entra ID. Nothing is fetched until the first request, so a missing
  // identity surfaces there, as ARTIFACT_STORE_CREDENTIALS_MISSING ({@link noIdentity}).
  else service = new BlobServiceClient(options.endpoint, lazyDefaultCredential());
  return new AzblobStore(location, options, service.getContainerClient(options.container));
}

class AzblobStore implements ArtifactStore {
  constructor(
    readonly location: string,
    private readonly options: AzblobStoreOptions,
    private readonly container: ContainerClient,
  ) {}

  localPath(): undefined {
    return undefined;
  }

  async put(key: string, source: Readable | Uint8Array | string): Promise<ArtifactRef> {
    const blob = this.container.getBlockBlobClient(this.blobName(key));
    const measured = measure();
    const abort = new AbortController();
    const feeding = pipeline(toReadable(source), measured.stream).catch((error: unknown) => {
      abort.abort(); // stop staging blocks: the block list is never committed
      throw error;
    });
    try {
      await Promise.all([
        blob.uploadStream(measured.stream, BLOCK_BYTES, CONCURRENCY, { abortSignal: abort.signal }),
        feeding,
      ]);
    } catch (error) {
      abort.abort();
      throw (
        noIdentity(error, this.location) ??
        new CatalogError(
          'ARTIFACT_WRITE_FAILED',
          `Could not write artifact ${key} to ${this.location}: ${String(error)}.`,
          {
            context: { key },
            hint: 'Check the credentials, that the container exists, and the network; no partial blob was committed.',
            cause: error,
          },
        )
      );
    }
    return { key, ...measured.result(), shared: key.startsWith('shared/') };
  }

  adopt(key: string): Promise<ArtifactRef> {
    return Promise.reject(
      new ConfigError(
        'ARTIFACT_STORE_UNSUPPORTED',
        `Cannot adopt ${key}: ${this.location} has no local directory for external tools.`,
        {
          context: { key },
          hint: 'Engines that need a local directory (PostgreSQL PITR, directory dumps) need a file:// store.',
        },
      ),
    );
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.container.getBlobClient(this.blobName(key)).download();
      return out.readableStreamBody as Readable;
    } catch (error) {
      throw (
        noIdentity(error, this.location) ??
        new CatalogError('ARTIFACT_MISSING', `Artifact ${key} is missing from ${this.location}.`, {
          context: { key },
          hint: 'Run `stillpoint backups verify <id>` to see which artifacts are gone.',
          cause: error,
        })
      );
    }
  }

  exists(key: string): Promise<boolean> {
    return this.container
      .getBlobClient(this.blobName(key))
      .exists({ abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  }

  async size(key: string): Promise<number | undefined> {
    const blob = this.container.getBlobClient(this.blobName(key));
    if (!(await blob.exists({ abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }))) return undefined;
    return (await blob.getProperties({ abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).contentLength;
  }

  async verify(ref: ArtifactRef): Promise<boolean> {
    try {
      const digest = await sha256Stream(await this.get(ref.key));
      return digest.sha256 === ref.sha256 && digest.bytes === ref.bytes;
    } catch {
      return false;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const full = joinKey(this.options.prefix, prefix);
    for await (const blob of this.container.listBlobsFlat({
      prefix: full,
      abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })) {
      out.push(
        this.options.prefix.length === 0 ? blob.name : blob.name.slice(this.options.prefix.length + 1),
      );
    }
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.container
      .getBlobClient(this.blobName(key))
      .deleteIfExists({ abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  }

  listPartialWrites(): Promise<PartialWrite[]> {
    return Promise.resolve([]);
  }

  removePartialWrite(name: string): Promise<void> {
    return Promise.reject(
      new ConfigError(
        'ARTIFACT_KEY_INVALID',
        `"${name}" is not a partial write: Azure Blob stores have none.`,
        {
          context: { key: name },
          hint: 'Uncommitted blocks are discarded by the service itself.',
        },
      ),
    );
  }

  private blobName(key: string): string {
    if (!isSafeKey(key)) {
      throw new ConfigError('ARTIFACT_KEY_INVALID', `Artifact key "${key}" escapes the store root.`, {
        context: { key },
        hint: 'Use a relative, `/`-separated key without `..`.',
      });
    }
    return joinKey(this.options.prefix, key);
  }
}

/**
 * DefaultAzureCredential, imported on the first token request: @azure/identity is large, and every CLI
 * command that opens a store would otherwise load it at start-up.
 */
function lazyDefaultCredential(): TokenCredential {
  let credential: TokenCredential | undefined;
  return {
    async getToken(scopes, options) {
      if (credential === undefined) {
        const { DefaultAzureCredential } = await import('@azure/identity');
        credential = new DefaultAzureCredential();
      }
      return credential.getToken(scopes, options);
    },
  };
}

const IDENTITY_ERRORS = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AggregateAuthenticationError',
]);

/** The coded error for "no Entra ID identity could get a token", or undefined for any other failure. */
export function noIdentity(error: unknown, location: string): ConfigError | undefined {
  const name = (error as { name?: string }).name ?? '';
  if (!IDENTITY_ERRORS.has(name)) return undefined;
  return new ConfigError(
    'ARTIFACT_STORE_CREDENTIALS_MISSING',
    `No credentials for ${location}: DefaultAzureCredential found no identity (${name}).`,
    {
      context: { location },
      hint: 'Set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_KEY, or give this pod/host an Entra ID identity (workload or managed identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, `az login`) with the Storage Blob Data Contributor role.',
      cause: error,
    },
  );
}
