/**
 * Bundles the dashboard (src/serve/ui/: preact + htm) with esbuild into one app.js next to index.html, so
 * `stillpoint serve` ships without a CDN or a node_modules at run time (docs/decisions/0010-dashboard-stack.md).
 * `npm run build` and bin/stillpoint.js run it into dist/serve/ui; the dashboard test into a temp dir.
 * Usage: tsx scripts/build-ui.ts <outDir>
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const uiSrc = fileURLToPath(new URL('../src/serve/ui/', import.meta.url));

export async function buildUi(outDir: string): Promise<void> {
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  await build({
    entryPoints: [join(uiSrc, 'app.ts')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  copyFileSync(join(uiSrc, 'index.html'), join(outDir, 'index.html'));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2];
  if (out === undefined) {
    process.stderr.write('usage: tsx scripts/build-ui.ts <outDir>\n');
    process.exit(2);
  }
  await buildUi(out);
}
