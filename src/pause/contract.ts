/**
 * The pause protocol: the contract of this folder.
 *
 * Server side: a {@link Gate} counts in-flight work (a request, or a whole multi-request transaction) and
 * can be closed and drained; an admin gRPC server (`rpc.Admin`, wire-compatible with scalar-admin, see
 * ../../../shared/reference/pause-protocol.md and ./proto/admin.proto) drives it.
 *
 * Client side: {@link PauseClient} pauses a whole set of targets at once, all-or-nothing, with a deadline per
 * call and an optional lease, and hands back a {@link PausedGroup} that is the only way to end the pause.
 * Whoever holds a PausedGroup owns the pause and must call `unpause()` in a `finally`.
 */

// ---------------------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------------------

/** One admin endpoint. `label` is `host:port`, or `[v6]:port` for IPv6 literals (used as a JSON key). */
export interface Target {
  readonly host: string;
  readonly port: number;
  readonly label: string;
}

/** Where targets come from. Resolved once per pause; SRV names are resolved again to check membership. */
export type TargetSource =
  | { readonly kind: 'addresses'; readonly addresses: readonly string[] }
  | { readonly kind: 'srv'; readonly name: string }
  | {
      readonly kind: 'kubernetes';
      readonly namespace: string;
      readonly product?: 'scalardb' | 'scalardb-cluster' | 'scalardl-ledger' | 'scalardl-auditor';
      /** Exactly one of a Helm release, a Deployment, a StatefulSet or a pod label selector (src/k8s/release.ts). */
      readonly release?: string;
      readonly deployment?: string;
      readonly statefulset?: string;
      readonly selector?: string;
      /** With deployment / statefulset / selector: a port number or a container port name. */
      readonly adminPort?: number | string;
    };

/** Resolves a source into targets, plus an opaque membership fingerprint compared before and after a window. */
export interface TargetResolver {
  resolve(source: TargetSource, signal?: AbortSignal): Promise<ResolvedTargets>;
}

export interface ResolvedTargets {
  readonly targets: readonly Target[];
  /** Anything whose change during a window makes the window invalid (pod names, restart counts, …). */
  readonly membership: MembershipSnapshot;
  /** The last resort when Unpause cannot reach the targets, as a command (Kubernetes: `kubectl rollout restart …`). */
  readonly unpauseFallback?: string;
}

export interface MembershipSnapshot {
  /** Stable, comparable description; equal strings mean unchanged membership. */
  readonly fingerprint: string;
  /** Human-readable items, for reporting what changed. */
  readonly items: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------
// Connection and call options
// ---------------------------------------------------------------------------------------------------------

export interface AdminConnectionOptions {
  /** TLS: absent means plaintext. */
  readonly tls?: {
    readonly caPem?: string;
    readonly overrideAuthority?: string;
  };
  /** Bearer token sent as `authorization: Bearer <token>` metadata. */
  readonly token?: string;
  /** Deadline per RPC in ms (default 10 000); a Pause gets the drain time on top. */
  readonly callDeadlineMs?: number;
}

export interface PauseOptions {
  /** Wait for outstanding work to drain (default true). `false` is not a consistent point. */
  readonly waitOutstanding?: boolean;
  /** Drain limit sent as `max_pause_wait_time`; omitted means the server default (30 000 ms). */
  readonly maxPauseWaitMs?: number;
  /**
   * Pause lease in ms, sent as gRPC metadata `stillpoint-lease-ms`. The PausedGroup renews it (CheckPaused
   * with the same metadata) every leaseMs/3 until unpause; a server whose lease lapses unpauses by itself.
   * Absent: upstream semantics (paused until Unpause).
   */
  readonly leaseMs?: number;
  readonly signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------------------

/** What happened at one target. Fan-outs always return one of these per target, never throw halfway. */
export interface TargetStatus {
  readonly target: string;
  readonly ok: boolean;
  /** Last known pause state at that target, when known. */
  readonly paused?: boolean;
  readonly attempts: number;
  readonly elapsedMs: number;
  /** Stable code (e.g. PAUSE_TIMED_OUT, TARGET_UNREACHABLE, UNAUTHENTICATED) and message when !ok. */
  readonly error?: { readonly code: string; readonly message: string };
}

/** The safe window as clients saw it: [pausedAtMs, unpauseStartedAtMs], epoch ms on OUR clock. */
export interface PauseWindow {
  readonly pausedAtMs: number;
  readonly unpauseStartedAtMs: number;
  readonly midMs: number;
}

export interface UnpauseResult {
  readonly ok: boolean;
  readonly window: PauseWindow;
  readonly targets: readonly TargetStatus[];
}

/** A successful all-or-nothing pause. The holder must call `unpause()` (idempotent) in a `finally`. */
export interface PausedGroup {
  readonly targets: readonly Target[];
  /** Epoch ms (our clock) after the last Pause returned. */
  readonly pausedAtMs: number;
  /** Per-target pause statuses (all ok). */
  readonly statuses: readonly TargetStatus[];
  /** CheckPaused on every target (renews the lease); `allPaused` false if any is unpaused or unreachable. */
  checkPaused(): Promise<{ readonly allPaused: boolean; readonly targets: readonly TargetStatus[] }>;
  /** Stops lease renewal, records unpauseStartedAt, unpauses every target with retries. Never throws. */
  unpause(): Promise<UnpauseResult>;
}

// ---------------------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------------------

export interface PauseClient {
  /**
   * Pauses every target in parallel. All-or-nothing: if any target fails, the ones that paused are unpaused
   * (with retries) and a `PauseError` with code `PAUSE_FAILED` is thrown whose `context.targets` holds every
   * target's {@link TargetStatus} (including the rollback outcome).
   */
  pauseAll(targets: readonly Target[], options?: PauseOptions): Promise<PausedGroup>;
  /** Unpauses every target (with retries). Never throws; see `ok`. */
  unpauseAll(
    targets: readonly Target[],
  ): Promise<{ readonly ok: boolean; readonly targets: readonly TargetStatus[] }>;
  /** CheckPaused on every target. Never throws; unreachable targets are `ok: false`. */
  checkPausedAll(targets: readonly Target[]): Promise<readonly TargetStatus[]>;
  /**
   * Whether each target honours the pause lease: a `stillpoint node` answers `Stats` (ours, beside the
   * upstream three calls); an upstream scalar-admin server (ScalarDB Server 3.13, ScalarDL) answers
   * UNIMPLEMENTED and ignores the lease metadata. `undefined` when the target could not be asked.
   */
  leaseSupportAll?(
    targets: readonly Target[],
  ): Promise<readonly { readonly target: string; readonly lease: boolean | undefined }[]>;
  close(): void;
}

// ---------------------------------------------------------------------------------------------------------
// Gate (server side)
// ---------------------------------------------------------------------------------------------------------

/** What new work meets while the gate is closed. */
export type PausedBehaviour =
  | { readonly kind: 'reject' } // ScalarDB Server: fail at once (gRPC UNAVAILABLE); clients retry.
  | { readonly kind: 'hold'; readonly maxQueued: number; readonly maxHoldMs: number }; // ScalarDL: wait.

/** One admitted unit of work. `release()` is idempotent: the second call is a no-op (upstream double-decrement bug). */
export interface GateTicket {
  release(): void;
  /** How long a hold-mode gate held this unit before admitting it, ms (0 when admitted at once). */
  readonly heldMs: number;
}

export interface GateStats {
  readonly outstanding: number;
  readonly paused: boolean;
  /** Epoch ms when the gate last closed, while closed. */
  readonly pausedSinceMs: number | null;
  readonly lastDrainMs: number | null;
  readonly admittedTotal: number;
  readonly rejectedTotal: number;
  readonly heldTotal: number;
  readonly pausesTotal: number;
  readonly pauseTimeoutsTotal: number;
  readonly leaseExpiriesTotal: number;
}

export interface GatePauseOptions {
  readonly waitOutstanding: boolean;
  /** Drain limit; default 30 000. */
  readonly maxWaitMs?: number;
  /** Lease in ms: unpause by itself unless renewed (another pause, or `renewLease`). */
  readonly leaseMs?: number;
  /** Aborting gives the drain up like a timeout (`PAUSE_CANCELLED`; the gate reopens if this pause closed it). */
  readonly signal?: AbortSignal;
}

export interface Gate {
  /** Admits one unit; throws PauseError `GATE_PAUSED` (reject mode) or waits (hold mode) while closed. */
  enter(): Promise<GateTicket>;
  /** Closes and drains. Fails with PauseError `PAUSE_TIMED_OUT` (gate reopened unless another pause holds it). */
  pause(options: GatePauseOptions): Promise<void>;
  /** Opens the gate; idempotent. A drain in progress then fails with `PAUSE_INTERRUPTED`. */
  unpause(reason?: string): void;
  renewLease(leaseMs: number): void;
  readonly paused: boolean;
  stats(): GateStats;
}

/** gRPC metadata key carrying the lease in ms. */
export const LEASE_METADATA_KEY = 'stillpoint-lease-ms';
/** Server default for max_pause_wait_time when absent or 0 (upstream). */
export const DEFAULT_MAX_PAUSE_WAIT_MS = 30_000;
