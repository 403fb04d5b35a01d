/**
 * The transaction layer's public entry points (see contract.ts for the types).
 */
export * from './contract.ts';
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
