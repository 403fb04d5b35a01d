/**
 * The consistency checker: judges a set of databases (live, quiesced or restored) by reading RAW records with
 * `Storage.scanAll`, never through transactions, optionally after the eager recovery sweep.
 *
 * Invariants (each failure is one {@link Violation}):
 * - `balance-not-conserved`: the committed balances sum to the total recorded in `bank_a.meta`;
 * - `account-count-mismatch`: as many accounts exist as `bank_a.meta` says;
 * - `meta-missing`: the meta row exists (a bank that was set up carries it);
 * - `transfer-torn` / `transfer-mismatch`: every transfer id is in both `bank_a.transfers` and
 *   `bank_b.transfers` with the same content, or in neither;
 * - `unresolved-record` (after a sweep): no PREPARED/DELETED record is left;
 * - `committed-by-aborted`: no COMMITTED record was written by a transaction the Coordinator says ABORTED;
 * - `acknowledged-lost` (when given the ids a workload saw committed): each of them is present.
 */
import type { GroupConfig, Row, Storage, StorageGroup, SweepReport, TableSchema } from '../txn/contract.ts';
import { TxState } from '../txn/contract.ts';
import { openGroup } from '../txn/group.ts';
import { readCoordinatorStates, sweep as runSweep } from '../txn/recovery.ts';
import { BANK_A, BANK_B, BANK_TABLES, META_TABLE, toBigInt, toInt } from '../workload/bank-schema.ts';
import { committedView, isUnfinished, stateOf, txIdOf, type Decisions } from './records.ts';

export type ViolationKind =
  | 'meta-missing'
  | 'balance-not-conserved'
  | 'account-count-mismatch'
  | 'transfer-torn'
  | 'transfer-mismatch'
  | 'unresolved-record'
  | 'committed-by-aborted'
  | 'acknowledged-lost';

export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
  readonly namespace?: string;
  readonly table?: string;
  readonly key?: string;
}

export interface CheckOptions {
  /** Run the eager recovery sweep first (writes: rolls records forward/back). Default false. */
  readonly sweep?: boolean;
  /** Expiry for the sweep's abort of undecided records, in ms. Default: the sweep's own (15 000). */
  readonly expiryMs?: number;
  /** Transfer ids a workload saw acknowledged; each must be present. */
  readonly acknowledged?: Iterable<string>;
  /** Keep at most this many violations in the report (the count is still exact). Default 1000. */
  readonly maxViolations?: number;
  readonly signal?: AbortSignal;
}

export interface CheckStats {
  readonly accounts: number;
  /** Sum of committed balances (a JS number: totals stay far below 2^53). */
  readonly totalBalance: number;
  /** From `bank_a.meta`; absent when the meta row is missing. */
  readonly expectedTotal?: number;
  readonly expectedAccounts?: number;
  /** Distinct transfer ids seen in either namespace. */
  readonly transfers: number;
  /** Raw records scanned, Coordinator rows included. */
  readonly records: number;
  /** PREPARED/DELETED records seen (after the sweep when one ran). */
  readonly unfinished: number;
  /** COMMITTED records whose tx id has no Coordinator row (legal after a one-phase commit or a purge). */
  readonly committedWithoutDecision: number;
  readonly coordinator: { readonly committed: number; readonly aborted: number };
  readonly violationsTotal: number;
  readonly sweep?: SweepReport;
  readonly elapsedMs: number;
}

export interface CheckReport {
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly stats: CheckStats;
}

const BANK_TABLE_NAMES = new Set(BANK_TABLES.map((t) => `${t.namespace}.${t.table}`));

/** A group the checker can read: one storage per namespace, and the namespaces to cover. */
type Group = StorageGroup;

/**
 * Checks a group. Given a GroupConfig it opens (and closes) the storages itself; given a StorageGroup it uses
 * it and leaves it open. Never throws for a violated invariant (see `ok`); throws only when a database
 * cannot be read.
 */
export async function checkGroup(group: Group | GroupConfig, options: CheckOptions = {}): Promise<CheckReport> {
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
  const sweepReport = options.sweep === true ? await runSweep(group, options.expiryMs === undefined ? {} : { expiryMs: options.expiryMs }) : undefined;
  options.signal?.throwIfAborted();
  const findings = new Findings(options.maxViolations ?? 1000);
  const rows = await readDecisions(group.storageFor('coordinator'));
  // Group-commit members (`<parent>$<child>`) are decided by their parent's row, as ScalarDB's readers see it.
  const decisions = await readCoordinatorStates(group);
  const tables = await userTables(group);
  let records = rows.size;
  let unfinished = 0;
  let committedWithoutDecision = 0;
  const views = new Map<string, Row[]>();
  for (const schema of tables) {
    options.signal?.throwIfAborted();
    const name = `${schema.namespace}.${schema.table}`;
    // Only the bank's tables are kept in memory (their invariants span rows); others are judged record by record.
    const rows: Row[] | undefined = BANK_TABLE_NAMES.has(name) ? [] : undefined;
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
  const bank = checkBank(views, findings, options.acknowledged);
  return {
    ok: findings.total === 0,
    violations: findings.violations,
    stats: {
      ...bank,
      records,
      unfinished,
      committedWithoutDecision,
      coordinator: countDecisions(rows),
      violationsTotal: findings.total,
      ...(sweepReport === undefined ? {} : { sweep: sweepReport }),
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

/** Every transactional table of the group, as the storages' catalogs know them (the bank's definitions win). */
async function userTables(group: Group): Promise<TableSchema[]> {
  const bank = new Map(BANK_TABLES.map((t) => [`${t.namespace}.${t.table}`, t]));
  return (await group.tables())
    .filter((t) => t.transactional !== false && t.namespace !== 'coordinator')
    .map((t) => bank.get(`${t.namespace}.${t.table}`) ?? t);
}

function judgeRecord(row: Row, schema: TableSchema, decisions: Decisions, findings: Findings, swept: boolean): 'ok' | 'unfinished' | 'no-decision' {
  const key = keyOf(row, schema);
  const txId = txIdOf(row);
  if (isUnfinished(row)) {
    if (swept) {
      findings.add({ kind: 'unresolved-record', detail: `record is still ${stateOf(row) === TxState.PREPARED ? 'PREPARED' : 'DELETED'} by ${txId ?? '?'} after the sweep`, namespace: schema.namespace, table: schema.table, key });
    }
    return 'unfinished';
  }
  if (stateOf(row) !== TxState.COMMITTED || txId === undefined) return 'ok';
  const decision = decisions.get(txId);
  if (decision === TxState.ABORTED) {
    findings.add({ kind: 'committed-by-aborted', detail: `record is COMMITTED by ${txId}, which the Coordinator says ABORTED`, namespace: schema.namespace, table: schema.table, key });
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

type BankStats = Pick<CheckStats, 'accounts' | 'totalBalance' | 'expectedTotal' | 'expectedAccounts' | 'transfers'>;

function checkBank(views: ReadonlyMap<string, Row[]>, findings: Findings, acknowledged: Iterable<string> | undefined): BankStats {
  const accountRows = [...(views.get(`${BANK_A}.accounts`) ?? []), ...(views.get(`${BANK_B}.accounts`) ?? [])];
  const total = accountRows.reduce((sum, r) => sum + toBigInt(r.balance), 0n);
  const meta = (views.get(`${META_TABLE.namespace}.${META_TABLE.table}`) ?? []).find((r) => r.name === 'bank');
  let expected: Pick<BankStats, 'expectedTotal' | 'expectedAccounts'> = {};
  if (meta === undefined) {
    findings.add({ kind: 'meta-missing', detail: 'bank_a.meta has no row "bank": was the bank set up (stillpoint workload bank --setup)?', namespace: BANK_A, table: 'meta', key: 'bank' });
  } else {
    const expectedTotal = toBigInt(meta.total);
    const expectedAccounts = toInt(meta.accounts);
    expected = { expectedTotal: Number(expectedTotal), expectedAccounts };
    if (total !== expectedTotal) {
      findings.add({ kind: 'balance-not-conserved', detail: `balances sum to ${total}, expected ${expectedTotal} (difference ${total - expectedTotal})` });
    }
    if (accountRows.length !== expectedAccounts) {
      findings.add({ kind: 'account-count-mismatch', detail: `${accountRows.length} accounts exist, bank_a.meta says ${expectedAccounts}` });
    }
  }
  const transfers = checkTransfers(views.get(`${BANK_A}.transfers`) ?? [], views.get(`${BANK_B}.transfers`) ?? [], findings);
  for (const id of acknowledged ?? []) {
    if (!transfers.has(id)) findings.add({ kind: 'acknowledged-lost', detail: `transfer ${id} was acknowledged to a client but is in neither namespace`, key: id });
  }
  return { accounts: accountRows.length, totalBalance: Number(total), ...expected, transfers: transfers.size };
}

function checkTransfers(aRows: readonly Row[], bRows: readonly Row[], findings: Findings): Set<string> {
  const a = new Map(aRows.map((r) => [String(r.transfer_id), r]));
  const b = new Map(bRows.map((r) => [String(r.transfer_id), r]));
  const all = new Set([...a.keys(), ...b.keys()]);
  for (const id of all) {
    const ra = a.get(id);
    const rb = b.get(id);
    if (ra === undefined || rb === undefined) {
      const [has, lacks] = ra === undefined ? [BANK_B, BANK_A] : [BANK_A, BANK_B];
      findings.add({ kind: 'transfer-torn', detail: `transfer ${id} is in ${has}.transfers but not in ${lacks}.transfers`, namespace: lacks, table: 'transfers', key: id });
    } else if (signature(ra) !== signature(rb)) {
      findings.add({ kind: 'transfer-mismatch', detail: `transfer ${id} differs: ${BANK_A} has ${signature(ra)}, ${BANK_B} has ${signature(rb)}`, table: 'transfers', key: id });
    }
  }
  return all;
}

function signature(r: Row): string {
  return `${toInt(r.from_account)}→${toInt(r.to_account)}:${toBigInt(r.amount)}`;
}
