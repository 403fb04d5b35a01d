/**
 * A store that reports the bytes of every `put` and `get` as they stream (issue 17: bytes, rate and ETA of
 * the finish and restore phases). The orchestrator wraps the store it hands each engine session, so every
 * engine that writes or reads through the store reports progress without code of its own.
 */
import { stat } from 'node:fs/promises';
import { Readable, Transform, pipeline } from 'node:stream';
import type { ArtifactRef, ArtifactStore } from './contract.ts';

export interface StoreTransfer {
  readonly key: string;
  readonly bytesDone: number;
  readonly bytesTotal?: number;
  readonly done: boolean;
}

export interface ProgressStoreOptions {
  /** Fewest milliseconds between two reports of one transfer (the final report is always made). Default 100. */
  readonly minIntervalMs?: number;
}

export function withProgress(
  store: ArtifactStore,
  report: (transfer: StoreTransfer) => void,
  options: ProgressStoreOptions = {},
): ArtifactStore {
  const minIntervalMs = options.minIntervalMs ?? 100;
  /**
   * A pass-through that reports as bytes flow. A write's final report is made after the store's `put` (it
   * knows the stored size); a read's when the stream ends (`reportEnd`).
   */
  const counter = (key: string, bytesTotal: number | undefined, reportEnd: boolean): Transform => {
    let bytesDone = 0;
    let lastAt = Date.now();
    const total = bytesTotal === undefined ? {} : { bytesTotal };
    report({ key, bytesDone: 0, ...total, done: false });
    return new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytesDone += chunk.length;
        if (Date.now() - lastAt >= minIntervalMs) {
          lastAt = Date.now();
          report({ key, bytesDone, ...total, done: false });
        }
        callback(null, chunk);
      },
      flush(callback) {
        if (reportEnd) report({ key, bytesDone, ...total, done: true });
        callback();
      },
    });
  };

  return {
    location: store.location,
    async put(key, source): Promise<ArtifactRef> {
      if (!(source instanceof Readable)) {
        const ref = await store.put(key, source);
        report({ key, bytesDone: ref.bytes, bytesTotal: ref.bytes, done: true });
        return ref;
      }
      const bytesTotal = await fileSize(source);
      // pipeline: an error of the source destroys the counter (so the store's write fails), and a failed
      // write destroys the source, exactly as if the store read the source itself.
      const counted = pipeline(source, counter(key, bytesTotal, false), () => undefined);
      const ref = await store.put(key, counted);
      report({ key, bytesDone: ref.bytes, bytesTotal: ref.bytes, done: true });
      return ref;
    },
    async get(key): Promise<Readable> {
      const bytesTotal = await store.size(key);
      const source = await store.get(key);
      return pipeline(source, counter(key, bytesTotal, true), () => undefined);
    },
    adopt: (key, shared) => store.adopt(key, shared),
    localPath: (key) => store.localPath(key),
    exists: (key) => store.exists(key),
    size: (key) => store.size(key),
    verify: (ref) => store.verify(ref),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
    listPartialWrites: () => store.listPartialWrites(),
    removePartialWrite: (name) => store.removePartialWrite(name),
  };
}

/** The size of a file being streamed (fs.createReadStream keeps its path), else undefined. */
async function fileSize(source: Readable): Promise<number | undefined> {
  const path = (source as Readable & { path?: unknown }).path;
  if (typeof path !== 'string') return undefined;
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}
