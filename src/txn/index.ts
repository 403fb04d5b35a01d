/**
 * The transaction layer's public entry points (see contract.ts for the types).
 */
export * from './contract.ts';
export {
  cleanupCoordinator,
  DEFAULT_CLEANUP_AGE_MS,
  DEFAULT_CLEANUP_LIMIT,
  finishTransaction,
  type CleanupOptions,
  type CleanupReport,
} from './cleanup.ts';
export { createTransactionManager, DEFAULT_RETRIES, retryDelayMs } from './consensus-commit.ts';
export { openGroup } from './group.ts';
export {
  coordinatorState,
  DEFAULT_EXPIRY_MS,
  decide,
  decideAborted,
  keyOf,
  readCoordinatorStates,
  resolveRecord,
  sweep,
  type RecoveryOptions,
  type Resolution,
  splitGroupCommitId,
} from './recovery.ts';
export * from './schema.ts';
export { createStorage } from './storages/index.ts';
export { decodeWriteSet, encodeWriteSet, type WriteSet, type WriteSetEntry } from './write-set.ts';
