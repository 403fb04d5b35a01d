/**
 * `npm run bench [-- --quick] [-- --only name,name]`: runs every benchmark module in one run and writes
 * BENCHMARKS.md (machine, date, one table per benchmark).
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import type { Benchmark, BenchRow } from './contract.ts';

const modules: Array<() => Promise<{ benchmarks: readonly Benchmark[] }>> = [
  () => import('./bank.ts'),
  () => import('./pause.ts'),
  () => import('./window.ts'),
  () => import('./engines.ts'),
  () => import('./product.ts'),
  () => import('./memory.ts'),
];

const quick = process.argv.includes('--quick');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex >= 0 ? new Set((process.argv[onlyIndex + 1] ?? '').split(',')) : undefined;

const sections: string[] = [];
for (const load of modules) {
  for (const bench of (await load()).benchmarks) {
    if (only && !only.has(bench.name)) continue;
    process.stderr.write(`bench: ${bench.name}…\n`);
    let rows: readonly BenchRow[];
    try {
      rows = await bench.run({ quick });
    } catch (error) {
      rows = [{ metric: 'run', value: 'failed', goal: '—', note: error instanceof Error ? error.message : String(error) }];
    }
    const table = rows.map(
      (r) => `| ${r.metric} | ${r.value} | ${r.goal} | ${r.met === undefined ? '—' : r.met ? 'yes' : '**no**'} | ${r.note ?? ''} |`,
    );
    sections.push(`## ${bench.name}\n\n| metric | value | goal | met | note |\n|---|---|---|---|---|\n${table.join('\n')}\n`);
    process.stderr.write(`${table.join('\n')}\n`);
  }
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const header =
  `# Benchmarks\n\nMeasured by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${new Date().toISOString().slice(0, 10)}, ` +
  `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}. ` +
  'Shared, noisy machine: compare the ratios within one run, not absolute figures across runs.\n';
await writeFile(new URL('../BENCHMARKS.md', import.meta.url), `${header}\n${sections.join('\n')}`);
