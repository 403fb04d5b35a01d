/** The restore journal the time-handle engines resume from: persisted, reloaded, cleared, never aliased. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalDirStore } from '../../src/artifacts/local-dir-store.ts';
import { RestoreJournal } from '../../src/engines/restore-journal.ts';

interface Progress {
  done: string[];
}

describe('RestoreJournal', () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('a second session resumes from what the first saved, and a cleared journal starts over', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-journal-'));
    const store = createLocalDirStore(dir);
    const key = 'bk-1/m/restore-state-x.json';
    const first = new RestoreJournal<Progress>(store, key, { done: [] });
    expect(await first.load()).toEqual({ done: [] });
    await first.save({ done: [...first.value.done, 'create'] });
    await first.save({ done: [...first.value.done, 'consistency'] });

    const second = new RestoreJournal<Progress>(store, key, { done: [] });
    expect(await second.load()).toEqual({ done: ['create', 'consistency'] });

    await second.clear();
    expect(second.value).toEqual({ done: [] });
    expect(await store.exists(key)).toBe(false);
    const third = new RestoreJournal<Progress>(store, key, { done: [] });
    expect(await third.load()).toEqual({ done: [] });
  });

  it('never hands out its initial value, so changing one journal value cannot leak into the next start', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-journal-'));
    const initial: Progress = { done: [] };
    const journal = new RestoreJournal<Progress>(createLocalDirStore(dir), 'k.json', initial);
    journal.value.done.push('mutated in place');
    await journal.clear();
    expect(journal.value).toEqual({ done: [] });
    expect(initial).toEqual({ done: [] });
  });
});
