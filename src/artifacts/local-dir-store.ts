/**
 * The default artifact store: a local directory. Writes go to a temp name in the same directory and are
 * renamed into place, so a crash never leaves a half-written file under a real key. The sha256 and size
 * are computed while streaming. Files are created 0600 and directories 0700: artifacts hold whole
 * databases. Temp names carry {@link PARTIAL_WRITE_MARK}, so an interrupted write can be found and removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CatalogError, ConfigError } from '../errors.ts';
import { PARTIAL_WRITE_MARK, type ArtifactRef, type ArtifactStore, type PartialWrite } from './contract.ts';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** Opens (and creates) a local-directory store rooted at `root` (absolute or relative to the cwd). */
export function createLocalDirStore(root: string): ArtifactStore {
  return new LocalDirStore(resolve(root));
}

class LocalDirStore implements ArtifactStore {
  readonly location: string;

  constructor(root: string) {
    this.location = root;
  }

  localPath(key: string): string {
    return this.pathFor(key);
  }

  async put(key: string, source: Readable | Uint8Array | string): Promise<ArtifactRef> {
    const path = this.pathFor(key);
    await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
    const temp = `${path}${PARTIAL_WRITE_MARK}${randomBytes(4).toString('hex')}`;
    const hash = createHash('sha256');
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    const input = source instanceof Readable ? source : Readable.from([Buffer.from(source)]);
    try {
      await pipeline(input, counter, createWriteStream(temp, { mode: FILE_MODE }));
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw new CatalogError('ARTIFACT_WRITE_FAILED', `Could not write artifact ${key}: ${String(error)}.`, {
        context: { key },
        hint: `Check that ${this.location} is writable and has free space.`,
        cause: error,
      });
    }
    return { key, bytes, sha256: hash.digest('hex'), shared: isShared(key) };
  }

  async adopt(key: string, shared: boolean): Promise<ArtifactRef> {
    const path = this.pathFor(key);
    const digest = await sha256File(path).catch((error: unknown) => {
      throw new CatalogError('ARTIFACT_MISSING', `Cannot adopt ${key}: the file ${path} is not readable.`, {
        context: { key },
        hint: 'Write the file under the store root before adopting it.',
        cause: error,
      });
    });
    return { key, bytes: digest.bytes, sha256: digest.sha256, shared };
  }

  get(key: string): Promise<Readable> {
    const path = this.pathFor(key);
    return stat(path).then(
      () => createReadStream(path),
      (error: unknown) => {
        throw new CatalogError('ARTIFACT_MISSING', `Artifact ${key} is missing from ${this.location}.`, {
          context: { key },
          hint: 'Run `stillpoint backups verify <id>` to see which artifacts are gone.',
          cause: error,
        });
      },
    );
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathFor(key))).isFile();
    } catch {
      return false;
    }
  }

  async size(key: string): Promise<number | undefined> {
    const info = await stat(this.pathFor(key)).catch(() => undefined);
    return info?.isFile() === true ? info.size : undefined;
  }

  async verify(ref: ArtifactRef): Promise<boolean> {
    try {
      const digest = await sha256File(this.pathFor(ref.key));
      return digest.sha256 === ref.sha256 && digest.bytes === ref.bytes;
    } catch {
      return false;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    await walk(this.location, async (file) => {
      const key = relative(this.location, file).split(sep).join('/');
      if (key.startsWith(prefix) && !key.includes(PARTIAL_WRITE_MARK)) out.push(key);
      return Promise.resolve();
    });
    return out.sort();
  }

  async listPartialWrites(): Promise<PartialWrite[]> {
    const out: PartialWrite[] = [];
    await walk(this.location, async (file) => {
      const name = relative(this.location, file).split(sep).join('/');
      if (!name.includes(PARTIAL_WRITE_MARK)) return;
      const info = await stat(file).catch(() => undefined);
      if (info !== undefined) out.push({ name, bytes: info.size, modifiedAtMs: info.mtimeMs });
    });
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async removePartialWrite(name: string): Promise<void> {
    if (!name.includes(PARTIAL_WRITE_MARK)) {
      throw new ConfigError('ARTIFACT_KEY_INVALID', `"${name}" is not a partial write.`, {
        context: { key: name },
        hint: 'Only names returned by listPartialWrites can be removed this way.',
      });
    }
    await rm(this.pathFor(name), { force: true });
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathFor(key), { force: true });
  }

  private pathFor(key: string): string {
    const path = resolve(this.location, key);
    if (key.length === 0 || key.startsWith('/') || !path.startsWith(this.location + sep)) {
      throw new ConfigError('ARTIFACT_KEY_INVALID', `Artifact key "${key}" escapes the store root.`, {
        context: { key },
        hint: 'Use a relative, `/`-separated key without `..`.',
      });
    }
    return path;
  }
}

function isShared(key: string): boolean {
  return key.startsWith('shared/');
}

/** sha256 and size of a file, streamed. */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    const buf = chunk as Buffer;
    hash.update(buf);
    bytes += buf.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function walk(dir: string, visit: (file: string) => Promise<void>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) await walk(full, visit);
    else if (entry.isFile()) await visit(full);
  }
}
