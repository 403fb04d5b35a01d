/**
 * Where a trial's time goes: each phase (group create, seed, node start, warmup, backup, recovery, live
 * check, restore + check, cleanup) as elapsed ms, reported in each trial's result (`phasesMs`) so a
 * campaign shows what to make cheaper.
 */
export class PhaseClock {
  private last = Date.now();
  private readonly spent: Record<string, number> = {};

  /** Charges the time since the previous mark to `phase` (added up when a phase is marked twice). */
  mark(phase: string): void {
    const now = Date.now();
    this.spent[phase] = (this.spent[phase] ?? 0) + (now - this.last);
    this.last = now;
  }

  snapshot(): Record<string, number> {
    return { ...this.spent };
  }
}

/** Mean of each phase over `rows` (phases a row lacks count as 0), ms, rounded. */
export function meanPhases(
  rows: ReadonlyArray<Readonly<Record<string, number>> | undefined>,
): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const row of rows) for (const [k, v] of Object.entries(row ?? {})) sums[k] = (sums[k] ?? 0) + v;
  return Object.fromEntries(
    Object.entries(sums).map(([k, v]) => [k, Math.round(v / Math.max(1, rows.length))]),
  );
}
