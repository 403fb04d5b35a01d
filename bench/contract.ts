/**
 * Benchmarks: each area has one module `bench/<area>.ts` exporting `benchmarks: Benchmark[]`; `bench/run.ts`
 * runs them all in one process, one after another, and writes BENCHMARKS.md with the machine and the date.
 * Figures are compared as ratios measured side by side in the same run, never asserted in tests.
 */
export interface BenchRow {
  /** What was measured, e.g. "pause latency, 64 targets / 1 target". */
  readonly metric: string;
  /** The figure with its unit, e.g. "1.34×" or "12.1 ms". */
  readonly value: string;
  /** The goal it is measured against, e.g. "≤ 2×" (or "—" when there is none). */
  readonly goal: string;
  /** Whether the goal was met; undefined when there is no goal. */
  readonly met?: boolean;
  readonly note?: string;
}

export interface Benchmark {
  readonly name: string;
  /** Runs the benchmark; `quick` is a smaller size for smoke runs (`npm run bench -- --quick`). */
  run(options: { readonly quick: boolean }): Promise<readonly BenchRow[]>;
}
