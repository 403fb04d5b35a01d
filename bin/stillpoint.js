#!/usr/bin/env node
// The CLI entry. In an installed package or the container image (only dist/) it runs the compiled CLI.
// In a checkout (src/ is here) it never runs a stale build: dist/ is used only while dist/.build-stamp is at
// least as new as everything under src/ (and the tsconfigs). `npm install` builds it (prepare); after an
// edit, the next call runs the sources through tsx (as fast as before) and starts a build in the
// background, so the calls after it run the build again (about half the time, see the commit message).
// A tree that does not compile simply keeps running through tsx.
import { execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'src');
const dist = join(root, 'dist');
const stamp = join(dist, '.build-stamp');
const compiled = join(dist, 'main.js');
/** A lock older than this was left by a killed build. */
const STALE_LOCK_MS = 5 * 60_000;

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return newest;
}

function sourcesMtime() {
  const configs = ['tsconfig.json', 'tsconfig.build.json'].map((f) => join(root, f)).filter(existsSync);
  return Math.max(newestMtime(src), ...configs.map((f) => statSync(f).mtimeMs));
}

function buildIsCurrent(sourcesMs) {
  // Whole ms on both sides: file times round-trip through utimes at ms precision at best.
  return (
    existsSync(compiled) && existsSync(stamp) && Math.floor(statSync(stamp).mtimeMs) >= Math.floor(sourcesMs)
  );
}

/** Compiles into a fresh directory and swaps it in; false when another build runs or tsc fails. */
function build(sourcesMs) {
  const lock = join(root, '.dist-build-lock');
  try {
    mkdirSync(lock);
  } catch {
    if (Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs < STALE_LOCK_MS) return false;
    rmSync(lock, { recursive: true, force: true });
    return false;
  }
  const next = join(root, `.dist-build-${process.pid}`);
  try {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', next], {
      stdio: 'ignore',
    });
    for (const proto of ['pause/proto', 'lab/bank/proto'])
      cpSync(join(src, proto), join(next, proto), { recursive: true });
    // The dashboard's browser bundle (esbuild; scripts/build-ui.ts), over tsc's unbundled app.js — when the
    // checkout has the dashboard (a project reusing this bin may not).
    if (existsSync(join(src, 'serve', 'ui')))
      execFileSync(
        process.execPath,
        ['--import', 'tsx', join(root, 'scripts', 'build-ui.ts'), join(next, 'serve', 'ui')],
        { stdio: 'ignore' },
      );
    // The stamp carries the sources' time as seen BEFORE compiling: an edit during the build makes it stale.
    const stampFile = join(next, '.build-stamp');
    writeFileSync(stampFile, `built from sources as of ${new Date(sourcesMs).toISOString()}\n`);
    utimesSync(stampFile, Math.ceil(sourcesMs) / 1000, Math.ceil(sourcesMs) / 1000);
    rmSync(dist, { recursive: true, force: true });
    renameSync(next, dist);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(next, { recursive: true, force: true });
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Builds in a detached process, so no call ever waits for a build (a node's ready line has a deadline). */
function buildInBackground() {
  spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, STILLPOINT_BUILD_ONLY: '1' },
  }).unref();
}

if (process.env.STILLPOINT_BUILD_ONLY === '1') {
  // `npm install` (prepare) and the background build: compile if stale; never fail an install over it.
  if (existsSync(src)) {
    const sourcesMs = sourcesMtime();
    if (!buildIsCurrent(sourcesMs)) build(sourcesMs);
  }
} else if (!existsSync(src)) {
  await import(pathToFileURL(compiled).href);
} else if (buildIsCurrent(sourcesMtime())) {
  await import(pathToFileURL(compiled).href);
} else {
  buildInBackground();
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(src, 'main.ts')).href);
}
