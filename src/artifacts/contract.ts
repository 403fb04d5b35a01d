/**
 * Artifact storage: the contract of this folder. Stores are created from a URL by `openArtifactStore`
 * (./open-store.ts): a local directory today, object storage later.
 * Every artifact is written through `put`, which computes its sha256 and size while streaming, and is
 * checked against them before any restore.
 *
 * Keys are `/`-separated relative paths: `<backupId>/<member>/…` for one backup's files, and
 * `shared/<member>/…` for files many backups need (base backups, archived WAL and binlogs).
 */
import type { Readable } from 'node:stream';

export interface ArtifactRef {
  readonly key: string;
  readonly bytes: number;
  readonly sha256: string;
  /** True for files under `shared/` that other backups may also reference. */
  readonly shared: boolean;
}

export interface ArtifactStore {
  /** Human-readable location (a directory path, a bucket URL). */
  readonly location: string;
  /** Streams `source` into `key` (atomically: a temp name, then rename). Returns size and sha256. */
  put(key: string, source: Readable | Uint8Array | string): Promise<ArtifactRef>;
  /** Registers a file already written under the store's root by an external tool (pg_basebackup, archive_command). */
  adopt(key: string, shared: boolean): Promise<ArtifactRef>;
  get(key: string): Promise<Readable>;
  /** A local filesystem path for tools that need one (pg_restore, mariabackup), or undefined for remote stores. */
  localPath(key: string): string | undefined;
  exists(key: string): Promise<boolean>;
  /** Size in bytes of the stored object, or undefined when it is missing (one metadata request, no read). */
  size(key: string): Promise<number | undefined>;
  /** Recomputes the checksum; returns false on mismatch or when missing. */
  verify(ref: ArtifactRef): Promise<boolean>;
  /** Committed keys under `prefix` (never the temp files of writes in progress or interrupted). */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * Temp files of writes that are in progress or were interrupted (a crash between the first byte and the
   * rename). They never sit under a real key, so readers never see them; `backups recover` removes the
   * ones older than its age bound with {@link removePartialWrite}.
   */
  listPartialWrites(): Promise<PartialWrite[]>;
  removePartialWrite(name: string): Promise<void>;
}

/** One temp file of an unfinished `put`. `name` is store-relative (`<key>.tmp-<hex>`). */
export interface PartialWrite {
  readonly name: string;
  readonly bytes: number;
  readonly modifiedAtMs: number;
}

/** The suffix every store puts between a key and a random tag while a write is in progress. */
export const PARTIAL_WRITE_MARK = '.tmp-';
