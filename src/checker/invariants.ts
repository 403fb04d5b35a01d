/**
 * Application invariants as plug-ins of the checker. The checker core (./check.ts) judges the transaction
 * state of every record (no COMMITTED record of an ABORTED transaction, nothing PREPARED left after the
 * sweep, every mapped namespace present); what the DATA must satisfy belongs to the application that wrote
 * it, so it comes in as an {@link AppInvariant} (the bank's lives with the bank workload, in src/lab/bank/).
 * The product never imports a plug-in: the CLI resolves one by name (`--invariants bank`, or the plan's
 * `check.invariants`).
 */
import type { Row, TableRef, TableSchema } from '../txn/contract.ts';

/** What the core checks; plug-ins add their own kinds (e.g. `balance-not-conserved`). */
export type CoreViolationKind = 'unresolved-record' | 'committed-by-aborted' | 'namespace-missing';

export interface Violation {
  /** A {@link CoreViolationKind}, or the kind a plug-in reports. */
  readonly kind: CoreViolationKind | (string & {});
  readonly detail: string;
  readonly namespace?: string;
  readonly table?: string;
  readonly key?: string;
  /** The plug-in that found it; absent for the core. */
  readonly invariant?: string;
}

/** What a plug-in is given: the committed view (as a reader with lazy recovery would see it) of its tables. */
export interface InvariantInput {
  /** Committed rows of one of the plug-in's {@link AppInvariant.tables}; empty when the table does not exist. */
  view(table: TableRef): readonly Row[];
  /** Whether the group holds `table` at all. */
  has(table: TableRef): boolean;
  /** Ids a workload saw acknowledged (CheckOptions.acknowledged), when given. */
  readonly acknowledged?: Iterable<string>;
}

export interface InvariantResult {
  readonly violations: readonly Omit<Violation, 'invariant'>[];
  /** Figures for the report (merged into CheckReport.stats), e.g. `{ accounts: 10, totalBalance: 10000 }`. */
  readonly stats?: Readonly<Record<string, number | undefined>>;
}

export interface AppInvariant {
  /** Short name used on the command line and in reports, e.g. `bank`. */
  readonly name: string;
  /** Tables whose committed rows the plug-in needs in memory (others are judged record by record only). */
  readonly tables: readonly TableRef[];
  /** Authoritative definitions of its tables (win over what the storages' catalogs say). */
  readonly schemas?: readonly TableSchema[];
  check(input: InvariantInput): InvariantResult;
}

/** A set of plug-ins known by name to a front end (the CLI's lives in src/cli/invariant-plugins.ts). */
export type InvariantPlugins = Readonly<Record<string, AppInvariant>>;
