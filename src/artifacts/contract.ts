/**
 * Artifact storage: the contract of this folder. A local directory by default, object storage later.
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
  /** Recomputes the checksum; returns false on mismatch or when missing. */
  verify(ref: ArtifactRef): Promise<boolean>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}
