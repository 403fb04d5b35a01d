/**
 * A restore's progress, persisted as one JSON document in the artifact store next to the backup's
 * artifacts: the time-handle engines (rds, azure-flexible, dynamodb, cosmos) write it after every finished
 * step, so a restore killed part-way resumes where it stopped instead of redoing (or duplicating) service
 * calls. A restore that finished deletes it when asked to start over.
 */
import { text } from 'node:stream/consumers';
import type { ArtifactStore } from '../artifacts/contract.ts';

export class RestoreJournal<T> {
  #value: T;

  constructor(
    private readonly artifacts: ArtifactStore,
    /** The document's key, e.g. `<backup>/<member>/restore-state-<target>.json`. */
    readonly key: string,
    private readonly initial: T,
  ) {
    this.#value = structuredClone(initial);
  }

  /** What was last loaded or saved (the initial value before any). */
  get value(): T {
    return this.#value;
  }

  /** Reads the persisted progress, if a previous run left some. */
  async load(): Promise<T> {
    if (await this.artifacts.exists(this.key))
      this.#value = JSON.parse(await text(await this.artifacts.get(this.key))) as T;
    return this.#value;
  }

  /** Takes `value` at once (so concurrent steps build on each other), then persists it. */
  async save(value: T): Promise<void> {
    this.#value = value;
    await this.artifacts.put(this.key, JSON.stringify(value));
  }

  /** Forgets the progress (a finished restore started over, or one that completed). Never throws. */
  async clear(): Promise<void> {
    await this.artifacts.delete(this.key).catch(() => undefined);
    this.#value = structuredClone(this.initial);
  }
}
