/**
 * The consistency checker: judges a set of databases (live, quiesced or restored) by reading RAW records with
 * `Storage.scanAll`, never through transactions, optionally after the eager recovery sweep.
 *
 * The core checks the transaction state across namespaces (each failure is one {@link Violation}):
 * - `namespace-missing`: every namespace the group maps holds tables (a restore that lost or misnamed one
 *   would otherwise pass with nothing to judge);
 * - `unresolved-record` (after a sweep): no PREPARED/DELETED record is left;
 * - `committed-by-aborted`: no COMMITTED record was written by a transaction the Coordinator says ABORTED.
 * What the data itself must satisfy (the bank's total, a transfer in both namespaces) comes from
 * {@link AppInvariant} plug-ins passed in `invariants` (./invariants.ts).
 */
import type { GroupConfig, Row, Storage, StorageGroup, SweepReport, TableSchema } from '../txn/contract.ts';
import { TxState } from '../txn/contract.ts';
import { openGroup } from '../txn/group.ts';
import { readCoordinatorStates, sweep as runSweep } from '../txn/recovery.ts';
import type { AppInvariant, Violation } from './invariants.ts';
import { committedView, isUnfinished, stateOf, txIdOf, type Decisions } from './records.ts';

export type { AppInvariant, CoreViolationKind, Violation } from './invariants.ts';
/** @deprecated kept for the library API: a violation kind is a core kind or a plug-in's own. */
export type ViolationKind = Violation['kind'];

export interface CheckOptions {
  /** Run the eager recovery sweep first (writes: rolls records forward/back). Default false. */
  readonly sweep?: boolean;
  /** Expiry for the sweep's abort of undecided records, in ms. Default: the sweep's own (15 000). */
  readonly expiryMs?: number;
  /** Application invariants to check besides the core (default none). */
  readonly invariants?: readonly AppInvariant[];
  /** Ids a workload saw acknowledged, handed to the plug-ins (the bank's checks each transfer is present). */
  readonly acknowledged?: Iterable<string>;
  /** Keep at most this many violations in the report (the count is still exact). Default 1000. */
  readonly maxViolations?: number;
  readonly signal?: AbortSignal;
}

/** The core's figures. */
export interface CoreCheckStats {
  /** Raw records scanned, Coordinator rows included. */
  readonly records: number;
  /** PREPARED/DELETED records seen (after the sweep when one ran). */
  readonly unfinished: number;
  /** COMMITTED records whose tx id has no Coordinator row (legal after a one-phase commit or a purge). */
  readonly committedWithoutDecision: number;
  readonly coordinator: { readonly committed: number; readonly aborted: number };
  readonly violationsTotal: number;
  readonly sweep?: SweepReport;
  /** Names of the plug-ins that ran. */
  readonly invariants: readonly string[];
  readonly elapsedMs: number;
}

/** The core's figures plus every plug-in's (e.g. the bank's `accounts`, `totalBalance`, `transfers`). */
export type CheckStats = CoreCheckStats & { readonly [figure: string]: unknown };

export interface CheckReport {
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly stats: CheckStats;
}

/** A group the checker can read: one storage per namespace, and the namespaces to cover. */
type Group = StorageGroup;

/**
 * Checks a group. Given a GroupConfig it opens (and closes) the storages itself; given a StorageGroup it uses
 * it and leaves it open. Never throws for a violated invariant (see `ok`); throws only when a database
 * cannot be read.
 */
export async function checkGroup(
  group: Group | GroupConfig,
  options: CheckOptions = {},
): Promise<CheckReport> {
  if (isConfig(group)) {
    const opened = await openGroup(group);
    try {
      return await checkOpenGroup(opened, options);
    } finally {
      await opened.close();
    }
  }
  return checkOpenGroup(group, options);
}

function isConfig(group: Group | GroupConfig): group is GroupConfig {
  return !('storageFor' in group);
}

class Findings {
  readonly violations: Violation[] = [];
  total = 0;
  constructor(private readonly max: number) {}
  add(v: Violation): void {
    this.total += 1;
    if (this.violations.length < this.max) this.violations.push(v);
  }
}

async function checkOpenGroup(group: Group, options: CheckOptions): Promise<CheckReport> {
  const started = Date.now();
  const invariants = options.invariants ?? [];
  const sweepReport =
    options.sweep === true
      ? await runSweep(group, options.expiryMs === undefined ? {} : { expiryMs: options.expiryMs })
      : undefined;
  options.signal?.throwIfAborted();
  const findings = new Findings(options.maxViolations ?? 1000);
  const rows = await readDecisions(group.storageFor('coordinator'));
  // Group-commit members (`<parent>$<child>`) are decided by their parent's row, as ScalarDB's readers see it.
  const decisions = await readCoordinatorStates(group);
  const all = await group.tables();
  for (const ns of group.namespaces()) {
    if (!all.some((t) => t.namespace === ns)) {
      findings.add({
        kind: 'namespace-missing',
        detail: `namespace ${ns} holds no table: is it mapped to the right storage and physical name?`,
        namespace: ns,
      });
    }
  }
  const kept = new Set(invariants.flatMap((p) => p.tables.map((t) => `${t.namespace}.${t.table}`)));
  let records = rows.size;
  let unfinished = 0;
  let committedWithoutDecision = 0;
  const views = new Map<string, Row[]>();
  for (const schema of userTables(all, invariants)) {
    options.signal?.throwIfAborted();
    const name = `${schema.namespace}.${schema.table}`;
    // Only the plug-ins' tables are kept in memory (their invariants span rows); others are judged record by record.
    const rows: Row[] | undefined = kept.has(name) ? [] : undefined;
    for await (const row of group.storageFor(schema.namespace).scanAll(schema)) {
      records += 1;
      const verdict = judgeRecord(row, schema, decisions, findings, sweepReport !== undefined);
      if (verdict === 'unfinished') unfinished += 1;
      if (verdict === 'no-decision') committedWithoutDecision += 1;
      const view = rows === undefined ? undefined : committedView(row, schema, decisions);
      if (view !== undefined) rows?.push(view);
    }
    if (rows !== undefined) views.set(name, rows);
  }
  let appStats: Record<string, number | undefined> = {};
  for (const plugin of invariants) {
    const result = plugin.check({
      view: (t) => views.get(`${t.namespace}.${t.table}`) ?? [],
      has: (t) => views.has(`${t.namespace}.${t.table}`),
      ...(options.acknowledged === undefined ? {} : { acknowledged: options.acknowledged }),
    });
    for (const v of result.violations) findings.add({ ...v, invariant: plugin.name });
    appStats = { ...appStats, ...result.stats };
  }
  return {
    ok: findings.total === 0,
    violations: findings.violations,
    stats: {
      ...appStats,
      records,
      unfinished,
      committedWithoutDecision,
      coordinator: countDecisions(rows),
      violationsTotal: findings.total,
      ...(sweepReport === undefined ? {} : { sweep: sweepReport }),
      invariants: invariants.map((p) => p.name),
      elapsedMs: Date.now() - started,
    },
  };
}

/** Coordinator rows from `coordinator.state`: tx id → state (group rows under their parent id, unexpanded). */
export async function readDecisions(storage: Storage): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const row of storage.scanAll({ namespace: 'coordinator', table: 'state' })) {
    const id = txIdOf(row);
    const state = stateOf(row);
    if (id !== undefined && state !== undefined) out.set(id, state);
  }
  return out;
}

/** Every transactional table of the group, as the storages' catalogs know them (the plug-ins' definitions win). */
function userTables(all: readonly TableSchema[], invariants: readonly AppInvariant[]): TableSchema[] {
  const declared = new Map(
    invariants.flatMap((p) => p.schemas ?? []).map((t) => [`${t.namespace}.${t.table}`, t]),
  );
  return all
    .filter((t) => t.transactional !== false && t.namespace !== 'coordinator')
    .map((t) => declared.get(`${t.namespace}.${t.table}`) ?? t);
}

function judgeRecord(
  row: Row,
  schema: TableSchema,
  decisions: Decisions,
  findings: Findings,
  swept: boolean,
): 'ok' | 'unfinished' | 'no-decision' {
  const key = keyOf(row, schema);
  const txId = txIdOf(row);
  if (isUnfinished(row)) {
    if (swept) {
      findings.add({
        kind: 'unresolved-record',
        detail: `record is still ${stateOf(row) === TxState.PREPARED ? 'PREPARED' : 'DELETED'} by ${txId ?? '?'} after the sweep`,
        namespace: schema.namespace,
        table: schema.table,
        key,
      });
    }
    return 'unfinished';
  }
  if (stateOf(row) !== TxState.COMMITTED || txId === undefined) return 'ok';
  const decision = decisions.get(txId);
  if (decision === TxState.ABORTED) {
    findings.add({
      kind: 'committed-by-aborted',
      detail: `record is COMMITTED by ${txId}, which the Coordinator says ABORTED`,
      namespace: schema.namespace,
      table: schema.table,
      key,
    });
  }
  return decision === undefined ? 'no-decision' : 'ok';
}

function keyOf(row: Row, schema: TableSchema): string {
  return [...schema.partitionKey, ...schema.clusteringKey].map((c) => String(row[c] ?? null)).join('/');
}

function countDecisions(decisions: Decisions): { committed: number; aborted: number } {
  let committed = 0;
  let aborted = 0;
  for (const s of decisions.values()) {
    if (s === TxState.COMMITTED) committed += 1;
    else if (s === TxState.ABORTED) aborted += 1;
  }
  return { committed, aborted };
}
