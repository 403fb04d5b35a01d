/**
 * Trial groups as plug-ins. A {@link TrialGroupKind} starts what every trial of its group shares (database
 * servers, local emulators, control-plane fakes) ONCE per campaign; the started {@link TrialGroupServers}
 * then builds a fresh group per trial (fresh files, databases, table prefixes), says where each member is
 * restored, and stops everything at the end. The kinds live in ./groups/ and are listed in ./groups/index.ts.
 *
 * The backup reaches server members through TCP proxies where a group has them (so a fault can slow or drop
 * that path); the nodes, the workload and the runner's checks connect directly.
 */
import type { MemberSpec, RestoreTarget } from '../../engines/contract.ts';
import type { GroupConfig } from '../../txn/contract.ts';
import type { GroupKind } from './faults.ts';
import type { Random } from './random.ts';
import type { TcpProxy } from './tcp-proxy.ts';
import type { TrialSizes } from './sizes.ts';

export interface TrialDatabases {
  readonly kind: GroupKind;
  readonly dir: string;
  /** Direct connections: nodes, workload, live checks. */
  readonly group: GroupConfig;
  /** Plan members (server members through their proxy). */
  readonly members: readonly MemberSpec[];
  /** Proxies on the backup's path to each server member, by member name (empty when there are none). */
  readonly proxies: ReadonlyMap<string, TcpProxy>;
  /** Stops the server behind `member` (immediate); returns a function that starts it again. */
  stopServer(member: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** What one group kind shares across a campaign, once started. */
export interface TrialGroupServers {
  /** A fresh group for trial `index` under `dir` (which exists). */
  create(dir: string, index: number): Promise<TrialDatabases>;
  /**
   * Where a restored member goes: always somewhere new (a file, a database, a table prefix, an instance),
   * in the target format its engine's restore session parses. `random` names it.
   */
  restoreTarget(member: MemberSpec, into: string, random: Random): RestoreTarget;
  /**
   * Skews the service clock of the group's time-handle databases (their control planes' `Date` and
   * restore times) by `ms`; absent for groups whose databases have no service clock.
   */
  readonly skewServiceClock?: (ms: number) => void;
  /** Frees what restores of one trial created (new instances, servers); called after each trial. */
  releaseRestored?(): Promise<void>;
  stop(): Promise<void>;
}

export interface TrialGroupKind {
  readonly name: GroupKind;
  /**
   * Backup modes its members support, drawn from per trial (`snapshot` needs a snapshot inside the pause:
   * time-handle engines have none). The order is part of a seed's draws: append, never reorder.
   */
  readonly modes: readonly string[];
  /**
   * Sizes this group's trials need over DEFAULT_SIZES (./trial.ts), e.g. a larger backup budget for a real
   * cluster; sizes the runner is given explicitly still win.
   */
  readonly sizes?: Partial<TrialSizes>;
  /** Starts the shared servers/fakes (slow: once per campaign). */
  start(): Promise<TrialGroupServers>;
}
