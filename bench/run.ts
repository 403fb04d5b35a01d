/**
 * `npm run bench [-- --quick] [-- --only name,name]`: runs every benchmark module in one run and writes
 * BENCHMARKS.md (machine, date, one table per benchmark). With `--only`, the named sections are replaced
 * (each with its own date line) and the others are kept as they were.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import type { Benchmark, BenchRow } from './contract.ts';

const modules: Array<() => Promise<{ benchmarks: readonly Benchmark[] }>> = [
  () => import('./bank.ts'),
  () => import('./pause.ts'),
  () => import('./window.ts'),
  () => import('./engines.ts'),
  () => import('./cassandra.ts'),
  () => import('./product.ts'),
  () => import('./memory.ts'),
  () => import('./dynamodb.ts'),
  () => import('./startup.ts'),
  () => import('./stores.ts'),
];

const quick = process.argv.includes('--quick');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex >= 0 ? new Set((process.argv[onlyIndex + 1] ?? '').split(',')) : undefined;

const sections = new Map<string, string>();
for (const load of modules) {
  for (const bench of (await load()).benchmarks) {
    if (only && !only.has(bench.name)) continue;
    process.stderr.write(`bench: ${bench.name}…\n`);
    let rows: readonly BenchRow[];
    const loadBefore = loadavg()[0]!;
    try {
      rows = await bench.run({ quick });
    } catch (error) {
      rows = [
        {
          metric: 'run',
          value: 'failed',
          goal: '—',
          note: error instanceof Error ? error.message : String(error),
        },
      ];
    }
    const table = rows.map(
      (r) =>
        `| ${r.metric} | ${r.value} | ${r.goal} | ${r.met === undefined ? '—' : r.met ? 'yes' : '**no**'} | ${r.note ?? ''} |`,
    );
    // The machine is shared: the load around a section says how far its figures can be trusted.
    const load = `Load average (1 min) on ${cpus().length} cores: ${loadBefore.toFixed(1)} at the start of this section, ${loadavg()[0]!.toFixed(1)} at its end.`;
    const dated = only
      ? `Updated alone by \`npm run bench -- --only ${bench.name}\` on ${machine()}. ${load}\n\n`
      : `${load}\n\n`;
    sections.set(
      bench.name,
      `## ${bench.name}\n\n${dated}| metric | value | goal | met | note |\n|---|---|---|---|---|\n${table.join('\n')}\n`,
    );
    process.stderr.write(`${table.join('\n')}\n`);
  }
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}${quick ? ' (--quick)' : ''}`;
}

const file = new URL('../BENCHMARKS.md', import.meta.url);
if (only) {
  // Keep the sections not run: split the old page at its `## name` headings and replace the ones run now.
  const old = await readFile(file, 'utf8').catch(() => '');
  const [head = '', ...rest] = old.split(/^(?=## )/m);
  const merged = rest.map((section) => sections.get(/^## (.+)$/m.exec(section)?.[1] ?? '') ?? section);
  for (const [name, section] of sections)
    if (!rest.some((r) => r.startsWith(`## ${name}\n`))) merged.push(section);
  await writeFile(file, `${head}${merged.map((m) => m.trimEnd() + '\n').join('\n')}`);
} else {
  const header =
    `# Benchmarks\n\nMeasured by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${machine()}. ` +
    'Shared, noisy machine: compare the ratios within one run, not absolute figures across runs.\n';
  await writeFile(file, `${header}\n${[...sections.values()].join('\n')}`);
}
