/**
 * The backup manifest (docs/store-format.md, "Backup manifest"): one object per complete backup,
 * `<backupId>/manifest.json`, written into the store before the backup is marked complete, so the store alone
 * describes every backup and `backups sync` can rebuild an empty catalog from it.
 */
import type { Catalog, BackupRecord } from './contract.ts';
import { CatalogError } from '../errors.ts';
import type { ArtifactStore } from '../artifacts/contract.ts';

export const MANIFEST_FORMAT = 'stillpoint-backup-manifest';
export const MANIFEST_VERSION = 1;
export const MANIFEST_NAME = 'manifest.json';

export interface BackupManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: number;
  readonly writtenAt: string;
  /** The backup as it is complete (owner omitted: ownership is per catalog). */
  readonly backup: Omit<BackupRecord, 'owner'>;
  readonly events: ReturnType<Catalog['events']>;
}

export const manifestKey = (backupId: string): string => `${backupId}/${MANIFEST_NAME}`;

/** Writes the manifest of `record` as complete (its members complete too). */
export async function writeManifest(
  store: ArtifactStore,
  record: BackupRecord,
  events: ReturnType<Catalog['events']>,
): Promise<void> {
  const { owner: _owner, ...rest } = record;
  const backup = {
    ...rest,
    state: 'complete' as const,
    reason: null,
    members: rest.members.map((m) => ({ ...m, state: 'complete' })),
  };
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    writtenAt: new Date().toISOString(),
    backup,
    events,
  };
  await store.put(manifestKey(record.id), JSON.stringify(manifest, null, 2));
}

export async function readManifest(store: ArtifactStore, key: string): Promise<BackupManifest> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(chunk as Buffer);
  let parsed: Partial<BackupManifest>;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<BackupManifest>;
  } catch (cause) {
    throw new CatalogError('MANIFEST_INVALID', `The manifest ${key} in ${store.location} is not JSON.`, {
      context: { key },
      hint: 'Check the object; it may be damaged.',
      cause,
    });
  }
  if (parsed.format !== MANIFEST_FORMAT || parsed.backup === undefined) {
    throw new CatalogError(
      'MANIFEST_INVALID',
      `${key} in ${store.location} is not a stillpoint backup manifest.`,
      {
        context: { key },
        hint: 'Only objects named <backupId>/manifest.json written by stillpoint are read.',
      },
    );
  }
  if (typeof parsed.version !== 'number' || parsed.version > MANIFEST_VERSION) {
    throw new CatalogError(
      'ARTIFACT_FORMAT_UNSUPPORTED',
      `The manifest ${key} has version ${String(parsed.version)}; this version reads ${MANIFEST_VERSION}.`,
      { context: { key }, hint: 'Sync with the stillpoint version that wrote it, or a newer one.' },
    );
  }
  return parsed as BackupManifest;
}

export interface SyncResult {
  readonly imported: string[];
  readonly alreadyKnown: string[];
  /** Manifests that could not be read, with the error code (the others are still imported). */
  readonly failed: { key: string; code: string; message: string }[];
}

/**
 * Imports every backup whose manifest is in `store` and missing from `catalog`, as `complete`, recording
 * `store.location` as its artifact location. Never throws halfway: unreadable manifests are reported.
 */
export async function syncFromStore(catalog: Catalog, store: ArtifactStore): Promise<SyncResult> {
  const keys = (await store.list('')).filter(
    (k) => k.endsWith(`/${MANIFEST_NAME}`) && k.split('/').length === 2,
  );
  const result: SyncResult = { imported: [], alreadyKnown: [], failed: [] };
  for (const key of keys) {
    try {
      const { backup: b } = await readManifest(store, key);
      if (catalog.find(b.id) !== undefined) {
        result.alreadyKnown.push(b.id);
        continue;
      }
      catalog.createBackup({
        id: b.id,
        planDigest: b.planDigest,
        group: b.group,
        mode: b.mode,
        members: b.members.map((m) => m.spec),
        artifactsLocation: store.location,
        hooks: b.hooks,
      });
      for (const m of b.members) {
        catalog.updateMember(b.id, m.name, {
          state: m.state,
          handle: m.handle,
          bytes: m.bytes,
          captureMs: m.captureMs,
          error: m.error,
        });
        catalog.recordArtifacts(
          b.id,
          m.name,
          b.artifacts.filter((a) => a.member === m.name).map(({ member: _m, ...ref }) => ref),
        );
      }
      catalog.note(b.id, 'synced-from-store', { location: store.location, manifest: key });
      catalog.transition(b.id, 'complete', {
        reason: null,
        pausedAtMs: b.window?.pausedAtMs ?? null,
        unpauseStartedAtMs: b.window?.unpauseStartedAtMs ?? null,
        midMs: b.window?.midMs ?? null,
        drainMs: b.drainMs,
        attempts: b.attempts,
        targets: b.targets,
      });
      result.imported.push(b.id);
    } catch (error) {
      const e = error as { code?: string; message?: string };
      result.failed.push({ key, code: e.code ?? 'INTERNAL', message: e.message ?? String(error) });
    }
  }
  return result;
}
