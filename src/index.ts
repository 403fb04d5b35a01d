/**
 * stillpoint as a library: the public API, re-exported from the folders that own it. The CLI (src/cli/) is a
 * thin layer over exactly this. Kubernetes support (src/k8s/) is not re-exported here so that importing the
 * library does not load the Kubernetes client; plans with `kubernetes` targets load it on demand.
 */

// Errors: stable codes, hints, exit codes.
export * from './errors.ts';

// The pause protocol: gate, admin gRPC server, all-or-nothing client, targets (docs/pause.md).
export * from './pause/index.ts';

// The transaction layer: Consensus Commit in ScalarDB's on-disk format, storages, recovery sweep.
export * from './txn/index.ts';
export {
  describeGroup,
  groupConfigSchema,
  loadGroupConfig,
  parseGroupConfig,
  storageConfigSchema,
} from './config/group-config.ts';

// The consistency checker.
export {
  checkGroup,
  type CheckOptions,
  type CheckReport,
  type CheckStats,
  type CoreCheckStats,
  type Violation,
  type ViolationKind,
} from './checker/check.ts';
export type {
  AppInvariant,
  CoreViolationKind,
  InvariantInput,
  InvariantResult,
} from './checker/invariants.ts';

// Plans (docs/backup-and-restore.md).
export { loadPlan, parsePlan, type ClusterPlan, type Plan, type WindowOptions } from './plan/load-plan.ts';
export { planSchema, type PlanInput } from './plan/plan-schema.ts';

// Backup engines: the contract, and the registry the orchestrator looks engines up in.
export type * from './engines/contract.ts';
export {
  engineKinds,
  getEngineKind,
  registerEngineKind,
  resolveMember,
  type ResolvedMember,
} from './engines/registry.ts';

// Artifacts and the catalog.
export type { ArtifactRef, ArtifactStore } from './artifacts/contract.ts';
export { createLocalDirStore } from './artifacts/local-dir-store.ts';
export { openArtifactStore } from './artifacts/open-store.ts';
export {
  type Catalog,
  openCatalog,
  type BackupMode,
  type BackupRecord,
  type BackupState,
} from './catalog/catalog.ts';
export {
  deleteBackups,
  planPrune,
  type DeleteOutcome,
  type PruneDecision,
  type PrunePolicy,
} from './catalog/retention.ts';
export { verifyBackup, type VerifyReport } from './catalog/verify-backup.ts';

// The orchestrator: backup, dead-orchestrator recovery, restore.
export {
  runBackup,
  type BackupOptions,
  type BackupResult,
  type MemberResult,
} from './orchestrator/backup.ts';
export { describeEvent, type BackupEvent, type EventSink } from './orchestrator/events.ts';
export { chooseMode, requiredWindowMs } from './orchestrator/modes.ts';
export { resumeIncomplete, type RecoveredBackup, type ResumeOptions } from './orchestrator/recovery.ts';
export {
  runRestore,
  type RestoreEvent,
  type RestoreOptions,
  type RestoreReport,
} from './orchestrator/restore.ts';
export { planRestore, type RestorePlan, type RestoreRequest } from './orchestrator/restore-plan.ts';
