/**
 * bin/stillpoint.js in a checkout: runs the compiled build only while it is current, builds it in the
 * background after an edit, and never runs a stale build. Exercised on a tiny project (same bin, same
 * tsconfigs, a two-line src/main.ts) so the build takes seconds, not the whole tree's.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'stillpoint-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeMain(version: string): void {
  // Prints where it runs from, so the test sees dist/ vs src/.
  writeFileSync(
    join(dir, 'src', 'main.ts'),
    `const where: string = import.meta.url;\nconsole.log('${version}', where.includes('/dist/') ? 'dist' : 'src');\n`,
  );
}

const cli = (): string =>
  execFileSync(process.execPath, [join(dir, 'bin', 'stillpoint.js')], { cwd: dir, encoding: 'utf8' }).trim();

async function waitForBuild(): Promise<void> {
  for (let i = 0; i < 240 && !existsSync(join(dir, 'dist', '.build-stamp')); i += 1) await sleep(500);
}

describe('bin/stillpoint.js in a checkout', () => {
  it('runs src through tsx until the build is current, then dist; an edit is never hidden by a stale build', async () => {
    for (const sub of ['bin', 'src/cli', 'src/pause/proto', 'src/lab/bank/proto'])
      mkdirSync(join(dir, sub), { recursive: true });
    cpSync(join(ROOT, 'bin', 'stillpoint.js'), join(dir, 'bin', 'stillpoint.js'));
    for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json'])
      cpSync(join(ROOT, f), join(dir, f));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeMain('v1');
    expect(cli()).toBe('v1 src'); // no build yet: the sources, and a build starts in the background
    await waitForBuild();
    expect(cli()).toBe('v1 dist');
    await sleep(20); // a later mtime than the stamp
    writeMain('v2');
    expect(cli()).toBe('v2 src'); // the build is stale: never run it
    await sleep(1_000);
    for (let i = 0; i < 240 && cli() !== 'v2 dist'; i += 1) await sleep(500);
    expect(cli()).toBe('v2 dist');
  }, 240_000);
});
