/**
 * Which script the trial's child processes (nodes, backups, restores, recovery) run. A process started from
 * the TypeScript sources (tsx) compiles for seconds before it does anything; the compiled build (`dist/`)
 * starts in a fraction of that. bin/stillpoint.js uses the build only while it is at least as new as the
 * sources, and otherwise runs tsx AND starts a background build: a checkout edited during a campaign would run
 * many of its processes through tsx while compiling next to the trials.
 *
 * So a campaign builds once when it starts (bin/stillpoint.js with STILLPOINT_BUILD_ONLY=1, what
 * `npm install` runs; a no-op when current) and pins every child to `dist/main.js` for its whole run: the
 * campaign tests the code it started with. Without a current build (a tree that does not compile) the
 * children go through bin/stillpoint.js as before.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'stillpoint.js');
const COMPILED = join(ROOT, 'dist', 'main.js');
const STAMP = join(ROOT, 'dist', '.build-stamp');

let pinned: string = BIN;

/** The script a child process runs: dist/main.js once {@link pinCompiledBuild} found it current, else bin. */
export function cliEntry(): string {
  return pinned;
}

/** Builds dist/ when stale and pins the children to it when it is current; returns the entry now used. */
export async function pinCompiledBuild(): Promise<string> {
  if (existsSync(join(ROOT, 'src'))) {
    await promisify(execFile)(process.execPath, [BIN], {
      env: { ...process.env, STILLPOINT_BUILD_ONLY: '1' },
      timeout: 600_000,
    }).catch(() => undefined);
  }
  pinned = buildIsCurrent() ? COMPILED : BIN;
  return pinned;
}

/** bin/stillpoint.js's rule: the stamp at least as new as everything under src/ and the tsconfigs. */
function buildIsCurrent(): boolean {
  if (!existsSync(COMPILED) || !existsSync(STAMP)) return false;
  if (!existsSync(join(ROOT, 'src'))) return true;
  const configs = ['tsconfig.json', 'tsconfig.build.json'].map((f) => join(ROOT, f)).filter(existsSync);
  const sources = Math.max(newestMtime(join(ROOT, 'src')), ...configs.map((f) => statSync(f).mtimeMs));
  return Math.floor(statSync(STAMP).mtimeMs) >= Math.floor(sources);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}
