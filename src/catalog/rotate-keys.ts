/**
 * `stillpoint keys rotate`: every encrypted artifact of every finished backup in the catalog gets its data
 * key rewrapped under a new key-encryption key (../artifacts/encoding/rewrap.ts: the header is rewritten,
 * the data is not re-encrypted), and every complete backup's manifest is written again under the new key.
 *
 * A rewritten object has a new size and sha256, so the catalog records the new refs (an `artifacts` event,
 * as at backup time, which keeps `backups verify` consistent) right after each object, and the manifest is
 * rewritten with them, so a catalog synced from the store agrees too.
 *
 * Resumable: objects already under the target are skipped; if a crash landed between an object's rewrite
 * and its catalog row, the resumed run finds the stored sha256 differing from the row (one read of that
 * object) and records it; manifests not yet under the target are rewritten. Shared artifacts (base backups,
 * WAL) are rotated once and recorded in every backup that references them. Backups still running are left
 * alone (their writer may still be adding artifacts): run the rotation again once they end.
 */
import type { ArtifactStore } from '../artifacts/contract.ts';
import { sha256Stream } from '../artifacts/measure.ts';
import { openArtifactStore, openPlainStore, keyringFor } from '../artifacts/open-store.ts';
import type { KeyProvider } from '../artifacts/encoding/key-providers.ts';
import { inspectWrap, rewrapArtifact, type RewrapOutcome } from '../artifacts/encoding/rewrap.ts';
import type { ArtifactRef } from '../artifacts/contract.ts';
import { TERMINAL_STATES } from './catalog-schema.ts';
import type { Catalog } from './contract.ts';
import { manifestKey, writeManifest } from './manifest.ts';

export interface RotateOptions {
  readonly target: KeyProvider;
  readonly dryRun?: boolean;
  /** Called after each object (artifact or manifest). */
  readonly onObject?: (item: RotatedObject) => void;
}

export interface RotatedObject {
  readonly location: string;
  readonly key: string;
  readonly outcome: RewrapOutcome | 'manifest-rewritten' | 'catalog-updated';
  readonly fromKeyId?: string;
  readonly backups: readonly string[];
}

export interface RotateReport {
  readonly targetKeyId: string;
  readonly dryRun: boolean;
  readonly objects: readonly RotatedObject[];
  readonly counts: Readonly<Record<RotatedObject['outcome'], number>>;
  /** Backups not yet finished, left for a later run. */
  readonly skippedRunning: readonly string[];
}

interface Artifact {
  readonly location: string;
  readonly key: string;
  readonly shared: boolean;
  readonly sha256s: Set<string>;
  readonly users: { backupId: string; member: string }[];
}

export async function rotateKeys(catalog: Catalog, options: RotateOptions): Promise<RotateReport> {
  const { target } = options;
  const dryRun = options.dryRun === true;
  const records = catalog.list();
  const finished = records.filter((r) => TERMINAL_STATES.includes(r.state));
  const artifacts = new Map<string, Artifact>();
  for (const r of finished) {
    for (const a of r.artifacts) {
      const id = `${r.artifactsLocation}\n${a.key}`;
      const entry = artifacts.get(id) ?? {
        location: r.artifactsLocation,
        key: a.key,
        shared: a.shared,
        sha256s: new Set<string>(),
        users: [],
      };
      entry.sha256s.add(a.sha256);
      entry.users.push({ backupId: r.id, member: a.member });
      artifacts.set(id, entry);
    }
  }
  const plainStores = new Map<string, ArtifactStore>();
  const plainOf = (location: string): ArtifactStore => {
    let store = plainStores.get(location);
    if (store === undefined) plainStores.set(location, (store = openPlainStore(location)));
    return store;
  };
  const objects: RotatedObject[] = [];
  const record = (item: RotatedObject): void => {
    objects.push(item);
    options.onObject?.(item);
  };
  const changedBackups = new Set<string>();
  for (const a of artifacts.values()) {
    const plain = plainOf(a.location);
    const backups = [...new Set(a.users.map((u) => u.backupId))];
    if (dryRun) {
      const seen = await inspectWrap(plain, a.key, target);
      record({ location: a.location, key: a.key, ...seen, backups });
      continue;
    }
    const result = await rewrapArtifact(plain, a.key, a.shared, keyringFor(a.location), target);
    let ref: ArtifactRef | undefined = result.ref;
    let outcome: RotatedObject['outcome'] = result.outcome;
    if (result.outcome === 'already') {
      // Resumed: the object may have been rewritten by a run that died before recording it.
      const stored = await sha256Stream(await plain.get(a.key));
      if (a.sha256s.size !== 1 || !a.sha256s.has(stored.sha256)) {
        ref = { key: a.key, shared: a.shared, ...stored };
        outcome = 'catalog-updated';
      }
    }
    if (ref !== undefined) {
      for (const u of a.users) {
        catalog.recordArtifacts(u.backupId, u.member, [ref]);
        changedBackups.add(u.backupId);
      }
    }
    record({
      location: a.location,
      key: a.key,
      outcome,
      ...(result.fromKeyId ? { fromKeyId: result.fromKeyId } : {}),
      backups,
    });
  }
  for (const r of finished.filter((x) => x.state === 'complete')) {
    const plain = plainOf(r.artifactsLocation);
    const key = manifestKey(r.id);
    if (!(await plain.exists(key))) continue;
    const seen = await inspectWrap(plain, key, target);
    if (seen.outcome === 'already' && !changedBackups.has(r.id)) continue;
    if (!dryRun) {
      await writeManifest(
        openArtifactStore(r.artifactsLocation, target),
        catalog.get(r.id),
        catalog.events(r.id),
      );
      catalog.note(r.id, 'keys-rotated', { to: target.keyId, location: r.artifactsLocation });
    }
    record({
      location: r.artifactsLocation,
      key,
      outcome: 'manifest-rewritten',
      ...(seen.fromKeyId ? { fromKeyId: seen.fromKeyId } : {}),
      backups: [r.id],
    });
  }
  const counts = {
    rewrapped: 0,
    reencrypted: 0,
    already: 0,
    'not-encrypted': 0,
    'manifest-rewritten': 0,
    'catalog-updated': 0,
  };
  for (const o of objects) counts[o.outcome]++;
  return {
    targetKeyId: target.keyId,
    dryRun,
    objects,
    counts,
    skippedRunning: records.filter((r) => !TERMINAL_STATES.includes(r.state)).map((r) => r.id),
  };
}
