/**
 * Test support for the engine tests: a tiny directory artifact store (until the real local-directory store
 * is used), phase and restore contexts, and a logger that stays quiet.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactRef, ArtifactStore } from '../../../src/artifacts/contract.ts';
import type { Logger, MemberRecord, MemberSpec, PhaseContext, RestoreContext, RestoreTarget } from '../../../src/engines/contract.ts';

async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** A minimal directory store; world-traversable so server OS users can write archives into it. */
export async function tempDirStore(): Promise<ArtifactStore & { destroy(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'stillpoint-engine-store-'));
  await chmod(root, 0o755);
  const path = (key: string): string => join(root, key);
  async function walk(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) out.push(...(await walk(p)));
      else out.push(relative(root, p));
    }
    return out;
  }
  return {
    location: root,
    async put(key, source) {
      const target = path(key);
      await mkdir(dirname(target), { recursive: true });
      const tmp = `${target}.tmp-${process.pid}`;
      const stream = typeof source === 'string' || source instanceof Uint8Array ? Readable.from([Buffer.from(source)]) : source;
      await pipeline(stream, createWriteStream(tmp));
      await rename(tmp, target);
      return { key, ...(await hashFile(target)), shared: key.startsWith('shared/') };
    },
    async adopt(key, shared) {
      return { key, ...(await hashFile(path(key))), shared };
    },
    get: (key) => Promise.resolve(createReadStream(path(key))),
    localPath: (key) => path(key),
    exists: (key) => stat(path(key)).then(() => true, () => false),
    async verify(ref: ArtifactRef) {
      const h = await hashFile(path(ref.key)).catch(() => undefined);
      return h?.sha256 === ref.sha256;
    },
    async list(prefix) {
      return (await walk(root)).filter((k) => k.startsWith(prefix)).sort();
    },
    delete: (key) => rm(path(key), { force: true }),
    destroy: () => rm(root, { recursive: true, force: true }),
  };
}

export const quietLog: Logger = { info: () => {}, warn: () => {} };

export function phaseContext(store: ArtifactStore, member: MemberSpec, backupId: string): PhaseContext {
  return {
    backupId,
    member,
    artifacts: store,
    artifactPrefix: `${backupId}/${member.name}/`,
    sharedPrefix: `shared/${member.name}/`,
    log: quietLog,
    signal: new AbortController().signal,
  };
}

export function restoreContext(store: ArtifactStore, record: MemberRecord, target: RestoreTarget, force = false): RestoreContext {
  return { record, target, artifacts: store, force, log: quietLog, signal: new AbortController().signal };
}

export const finishWindow = { pausedAtMs: Date.now(), unpauseStartedAtMs: Date.now(), midMs: Date.now() };
