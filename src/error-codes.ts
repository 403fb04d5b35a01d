/**
 * Every error code stillpoint uses, in one table: the error class that carries it, the CLI exit code, and a
 * one-line summary. The error classes in ./errors.ts accept only the codes listed here for their kind, so a
 * new code is added here (and nowhere else), and docs/error-codes.md is generated from this table
 * (`npm run docs:codes`; a test fails when the page is stale).
 *
 * Exit codes: 0 success · 1 the operation failed · 2 bad input or a refusal that a flag can lift (nothing was
 * changed) · 3 a restore that was not proven (restored, but the check could not run) · 4 a backup whose
 * unpause was not confirmed (targets may still be paused: act now).
 */

export type ErrorKind = 'config' | 'pause' | 'transaction' | 'engine' | 'catalog' | 'internal';

interface CodeSpec {
  /** The error classes that may carry the code (usually one). */
  readonly kinds: readonly ErrorKind[];
  readonly exit: 1 | 2 | 3 | 4;
  readonly summary: string;
}

const c = <const K extends readonly ErrorKind[]>(kinds: K, exit: CodeSpec['exit'], summary: string) =>
  ({ kinds, exit, summary }) as const;

export const ERROR_CODES = {
  // Configuration and flags (nothing was changed)
  ADDRESS_INVALID: c(['config'], 2, 'A target address is not host:port.'),
  CA_UNREADABLE: c(['config'], 2, 'The TLS CA file cannot be read.'),
  CATALOG_REQUIRED: c(['config'], 2, 'No catalog was named (--catalog, STILLPOINT_CATALOG or a plan).'),
  CHECK_INVARIANTS_UNKNOWN: c(['config'], 2, 'An unknown application-invariants plug-in was named.'),
  COMMAND_INVALID: c(['config'], 2, 'An unknown scalar-admin command.'),
  CONFIG_BAD_DURATION: c(['config'], 2, 'A duration in a config file is malformed.'),
  CONFIG_BAD_NUMBER: c(['config'], 2, 'A number flag is malformed.'),
  CONFIG_INVALID: c(['config'], 2, 'A node or group config file does not match its schema.'),
  CONFIG_MISSING: c(['config'], 2, 'A required config file was not given.'),
  CONFIG_NOT_YAML: c(['config'], 2, 'A config file is not YAML or JSON.'),
  CONFIG_SECRET_MISSING: c(['config'], 2, 'A secret the config names (env var or file) is not available.'),
  CONFIG_UNREADABLE: c(['config'], 2, 'A config file cannot be read.'),
  DURATION_INVALID: c(['config'], 2, 'A duration is malformed.'),
  DURATION_OUT_OF_RANGE: c(
    ['config'],
    2,
    'A duration is beyond its bound (Node timers overflow past 24.8 days).',
  ),
  ENGINE_CONNECTION_INVALID: c(['config'], 2, "A member's connection does not suit its engine."),
  ENGINE_OPTIONS_INVALID: c(['config'], 2, "A member's engine options are invalid."),
  ENGINE_UNKNOWN: c(['config'], 2, 'No backup engine of that kind is registered.'),
  FLAG_INVALID: c(['config'], 2, 'A command-line flag is invalid.'),
  K8S_PRODUCT_INVALID: c(['config'], 2, 'An unknown Scalar product for a Kubernetes release.'),
  K8S_SOURCE_INVALID: c(
    ['config'],
    2,
    'A Kubernetes target source is malformed (name one release, workload or selector; an admin port without a release).',
  ),
  KUBERNETES_UNAVAILABLE: c(
    ['config'],
    2,
    'Kubernetes targets were given but no Kubernetes resolver is available.',
  ),
  LEASE_INVALID: c(['config'], 2, 'A pause lease is out of bounds.'),
  LISTENER_INSECURE: c(
    ['config'],
    2,
    'A non-loopback listener without a token and TLS; add both or pass --insecure.',
  ),
  MAX_WAIT_INVALID: c(['config'], 2, 'A maximum pause wait is out of bounds.'),
  NUMBER_INVALID: c(['config'], 2, 'A number is malformed or out of bounds.'),
  PASSWORD_UNAVAILABLE: c(['config'], 2, 'A password source (env var or file) is not available.'),
  PLAN_INVALID: c(['config'], 2, 'The backup plan is invalid.'),
  PLAN_INLINE_PASSWORD: c(
    ['config'],
    2,
    'A plan holds an inline password; use passwordEnv or passwordFile so restores can read it again.',
  ),
  PRUNE_POLICY_MISSING: c(['config'], 2, 'prune was run without a retention policy.'),
  REPLICAS_FILE_INVALID: c(['config'], 2, 'A replicas file is malformed.'),
  REPLICAS_MISSING: c(['config'], 2, 'No replica counts were given to restore.'),
  RESTORE_TARGET_INVALID: c(['config'], 2, 'A restore target is malformed or names no member.'),
  RESTORE_HOOKS_NEED_PLAN: c(
    ['config'],
    2,
    'The backup recorded restore hooks; pass --plan so they are read from the plan, never the catalog.',
  ),
  RESTORE_TARGET_IS_SOURCE: c(
    ['config'],
    2,
    "The restore target is the member's live source; it needs --force and --overwrite-source.",
  ),
  RESTORE_TARGET_NOT_EMPTY: c(
    ['config', 'engine'],
    2,
    'A restore target holds data this restore did not write; --force replaces it.',
  ),
  TARGETS_CONFLICT: c(['config'], 2, 'Both --targets and another target source were given.'),
  TARGETS_MISSING: c(['config'], 2, 'No targets were given.'),
  TOKEN_CONFLICT: c(['config'], 2, 'More than one token source was given.'),
  TOKEN_UNREADABLE: c(['config'], 2, 'The token file cannot be read or is empty.'),
  TIME_ZONE_INVALID: c(['config'], 2, 'An unknown time zone.'),
  TRIALS_FLAG_INVALID: c(['config'], 2, 'A trials flag is invalid.'),
  TRIALS_JOURNAL_MISMATCH: c(
    ['config'],
    2,
    'The trials journal belongs to another campaign (seed, groups, faults) or is damaged.',
  ),
  TRIALS_JOURNAL_MISSING: c(
    ['config'],
    2,
    'A trials journal given to `trials report` does not exist or is empty.',
  ),
  TRIALS_NO_FAULTS: c(['config'], 2, 'No fault kind was selected for the trials.'),
  TXN_NAMESPACE_UNMAPPED: c(['config'], 2, 'A namespace is not placed on any storage.'),
  TXN_RENAME_UNSUPPORTED: c(
    ['config'],
    2,
    'A storage kind that cannot hold namespaces under other names was given a rename.',
  ),
  TXN_STORAGE_KIND: c(['config'], 2, 'An unknown storage kind.'),
  BANK_BAD_REQUEST: c(['config'], 2, 'A malformed bank request.'),
  BANK_SAME_ACCOUNT: c(['config'], 2, 'A transfer from an account to itself.'),
  // The pause protocol
  CHECK_PAUSED_FAILED: c(['pause'], 1, 'CheckPaused failed at some targets.'),
  GATE_PAUSED: c(['pause'], 1, 'The node is paused; retry the transaction after the unpause.'),
  K8S_ADMIN_PORT_NOT_FOUND: c(['pause'], 1, "A pod does not expose the product's admin port."),
  K8S_API_FAILED: c(['pause'], 1, 'A Kubernetes API call failed.'),
  K8S_PAUSE_CANCELLED: c(['pause'], 1, 'A Kubernetes pause was cancelled.'),
  K8S_POD_NOT_RUNNING: c(['pause'], 1, 'A pod of the release is not Running and Ready.'),
  K8S_PRODUCT_AMBIGUOUS: c(['pause'], 1, 'The release could be more than one Scalar product; name it.'),
  K8S_RELEASE_NOT_FOUND: c(['pause'], 1, 'No pods of the named release were found.'),
  K8S_SCALE_CANCELLED: c(['pause'], 1, 'A scale-down or scale-up was cancelled.'),
  K8S_SCALE_TIMEOUT: c(['pause'], 1, 'A workload did not reach its replica count in time.'),
  K8S_SERVICE_NOT_FOUND: c(['pause'], 1, "The release's headless service was not found."),
  K8S_WINDOW_INVALID: c(['pause'], 1, 'The pods changed during the pause; the window is not valid.'),
  K8S_WORKLOAD_AMBIGUOUS: c(['pause'], 1, 'More than one workload matches the release.'),
  NO_TARGETS: c(['pause'], 1, 'A cluster resolved to no targets.'),
  PAUSE_CANCELLED: c(['pause'], 1, 'A pause was cancelled before every target was paused.'),
  PAUSE_FAILED: c(['pause'], 1, 'A target refused or failed the pause; every paused target was unpaused.'),
  PAUSE_TIMED_OUT: c(
    ['pause'],
    1,
    'The drain did not finish within the maximum pause wait; the node unpaused.',
  ),
  PAUSE_TIMED_OUT_STILL_PAUSED: c(
    ['pause'],
    1,
    'The drain did not finish within the maximum pause wait; the node stays paused.',
  ),
  UNPAUSE_FAILED: c(
    ['pause'],
    4,
    'An unpause was not confirmed: targets may still be paused. Unpause them now.',
  ),
  PAUSE_INTERRUPTED: c(['pause'], 1, 'A pause was interrupted (unpause, lease expiry or shutdown).'),
  SRV_LOOKUP_FAILED: c(['pause'], 1, 'A DNS SRV lookup failed.'),
  // The transaction layer and its storages
  BANK_ACCOUNT_EXISTS: c(['transaction'], 1, 'The bank account already exists.'),
  BANK_NO_SUCH_ACCOUNT: c(['transaction'], 1, 'The bank account does not exist.'),
  STORAGE_AUTH_FAILED: c(['transaction'], 1, 'A storage refused the credentials.'),
  STORAGE_CONNECTION_LOST: c(
    ['transaction'],
    1,
    'A storage connection dropped mid-transaction (database restart); retriable.',
  ),
  STORAGE_DATABASE_MISSING: c(['transaction'], 1, "A storage's database does not exist."),
  STORAGE_FAILED: c(['transaction'], 1, 'A storage operation failed.'),
  STORAGE_UNREACHABLE: c(['transaction'], 1, 'A storage cannot be reached (retriable once it is back).'),
  TX_REMOTE: c(['transaction'], 1, 'A node answered a data call with an error (its code is in the context).'),
  TX_CLOSED: c(['internal'], 1, 'A transaction was used after it ended.'),
  TX_COMMIT_UNKNOWN: c(['transaction'], 1, 'The commit outcome is unknown; lazy recovery decides it.'),
  TX_CONDITION_FAILED: c(['transaction'], 1, 'A conditional write found another value.'),
  TX_CONFLICT: c(['transaction'], 1, 'A conflicting transaction won; retry (retriable).'),
  TX_INTERNAL: c(['transaction'], 1, 'The transaction layer failed unexpectedly.'),
  TX_UNKNOWN_STATE_RETRY: c(['transaction'], 1, 'A record is in an undecided state; retry (retriable).'),
  TXN_BAD_CONDITION: c(['transaction'], 1, 'A write condition is malformed.'),
  TXN_BAD_KEY: c(['transaction'], 1, 'A key is malformed.'),
  TXN_TABLE_NOT_FOUND: c(['transaction'], 1, 'A table is not in the metadata.'),
  TXN_WRITE_SET_UNREADABLE: c(['transaction'], 1, 'A Coordinator tx_write_set is of a newer format.'),
  // Backup engines
  ABORTED: c(['engine'], 1, 'The operation was aborted (SIGINT/SIGTERM or a deadline).'),
  BASE_BACKUP_INVALID: c(['engine'], 1, 'A base backup is damaged or does not cover the restore point.'),
  BASE_BACKUP_MISSING: c(['engine'], 1, 'No base backup covers the restore point.'),
  BINLOG_DISABLED: c(['engine'], 1, 'The MariaDB binary log is off.'),
  BINLOG_PURGED: c(['engine'], 1, 'Binary logs the backup needs were purged.'),
  CAPTURE_FAILED: c(['engine'], 1, 'A capture inside the pause failed; the cluster was unpaused.'),
  CAPTURE_MISSING: c(['engine'], 1, 'finish was called without a capture (a bug in the caller).'),
  CLOCK_UNMEASURABLE: c(['engine'], 1, "A clock-based engine cannot measure the database's clock."),
  CONNECT_FAILED: c(['engine'], 1, 'The engine cannot connect to the database.'),
  DATABASE_MISSING: c(['engine'], 1, 'A database the member names does not exist.'),
  DUMP_STALLED: c(['engine'], 1, 'A dump made no progress for too long.'),
  DYNAMODB_TABLE_NOT_ACTIVE: c(['engine'], 1, 'A DynamoDB table did not become ACTIVE in time.'),
  FINISH_FAILED: c(['engine'], 1, 'Copying a capture out after the unpause failed.'),
  HANDLE_KIND: c(['engine', 'config'], 1, 'A restore handle is of a kind this engine cannot restore.'),
  HORIZON_TIMEOUT: c(['engine'], 1, 'A restore point did not become restorable in time.'),
  RESTORE_FAILED: c(['engine'], 1, 'Restoring a member failed.'),
  RESTORE_HOOK_FAILED: c(['engine'], 1, 'A restore hook exited non-zero.'),
  RESTORE_NOT_PROMOTED: c(['engine'], 1, 'A PITR restore did not reach its restore point.'),
  RESTORE_TARGET_UNUSABLE: c(
    ['engine'],
    2,
    'A restore target failed its checks (unreachable, credentials, tools); nothing was changed.',
  ),
  SESSION_CLOSED: c(['engine'], 1, 'An engine session was used after close (the backup or restore ended).'),
  STORE_NOT_LOCAL: c(['engine'], 1, 'This engine method needs a local artifact store.'),
  TOOL_FAILED: c(['engine'], 1, 'An external tool exited non-zero.'),
  TOOL_MISSING: c(['engine'], 1, 'An external tool is not installed.'),
  TOOL_TIMEOUT: c(['engine'], 1, 'An external tool did not finish in time.'),
  WAIT_TIMEOUT: c(['engine'], 1, 'A restored server did not become ready in time.'),
  // Catalog and artifacts
  ARTIFACT_CHECKSUM_MISMATCH: c(
    ['catalog', 'engine'],
    1,
    "An artifact's sha256 does not match the catalog; nothing was changed.",
  ),
  ARTIFACT_FORMAT_UNSUPPORTED: c(
    ['catalog'],
    1,
    'An artifact was written in an envelope version this version cannot read.',
  ),
  ARTIFACT_TAMPERED: c(
    ['catalog'],
    1,
    'An encrypted artifact failed authentication (changed or truncated); nothing was restored.',
  ),
  MANIFEST_INVALID: c(
    ['catalog'],
    1,
    'An object named as a backup manifest in the store is not one stillpoint can read.',
  ),
  ARTIFACT_KEY_INVALID: c(['catalog', 'config'], 1, 'An artifact key escapes the store.'),
  ARTIFACT_MISSING: c(['catalog', 'engine'], 1, 'An artifact the catalog lists is missing.'),
  ARTIFACT_STORE_UNSUPPORTED: c(
    ['config'],
    2,
    'The artifact store URL names a store kind this version does not support.',
  ),
  ENCRYPTION_KEY_INVALID: c(
    ['config'],
    2,
    'The key-encryption key is not 32 bytes (64 hex characters or base64).',
  ),
  ENCRYPTION_KEY_MISSING: c(
    ['config'],
    2,
    'An artifact is encrypted (or encryption was asked for) and no key was given.',
  ),
  ENCRYPTION_KEY_WRONG: c(
    ['config'],
    2,
    'An artifact was encrypted under a different key than the one given; nothing was restored.',
  ),
  ARTIFACT_STORE_CREDENTIALS_MISSING: c(
    ['config'],
    2,
    'A remote artifact store was named but no credentials for it were found.',
  ),
  ARTIFACT_STORE_URL_INVALID: c(['config'], 2, 'The artifact store URL is malformed.'),
  ARTIFACT_WRITE_FAILED: c(['catalog'], 1, 'Writing an artifact failed.'),
  BACKUP_INCOMPLETE: c(['catalog'], 1, 'A backup lacks a restore handle.'),
  BACKUP_NOT_FOUND: c(['catalog'], 1, 'No backup with that id.'),
  BACKUP_NOT_RESTORABLE: c(['catalog'], 1, 'The backup is not complete.'),
  RESTORE_MEMBER_FAILED: c(
    ['catalog'],
    1,
    'One or more members failed to restore; the per-member results say which.',
  ),
  BACKUP_NOT_TERMINAL: c(
    ['catalog'],
    1,
    'The backup is still running (or stale: run `backups recover`); it cannot be deleted.',
  ),
  BACKUP_STATE_FINAL: c(
    ['catalog'],
    1,
    'The backup is complete, failed or invalid; its state cannot change.',
  ),
  CATALOG_UNAVAILABLE: c(['catalog'], 1, 'The catalog cannot be opened.'),
  CATALOG_UNRECOGNIZED: c(['catalog'], 1, 'The file is SQLite but not a stillpoint catalog.'),
  CATALOG_VERSION_TOO_NEW: c(
    ['catalog'],
    1,
    'The catalog was written by a newer stillpoint; upgrade this one.',
  ),
  // Bugs and the lab
  FAULT_UNKNOWN: c(['internal'], 1, 'An unknown trial fault kind.'),
  FAULTY_ADMIN_NO_PORT: c(['internal'], 1, 'The faulty admin server has no port.'),
  INTERNAL: c(['internal'], 1, 'A bug: an invariant of ours did not hold.'),
  K8S_RESTORE_HOOK_ORDER: c(['internal'], 1, 'Kubernetes restore hooks ran out of order.'),
  NODE_START_FAILED: c(['internal'], 1, 'A node process did not start.'),
  PROXY_NO_ADDRESS: c(['internal'], 1, 'A trials proxy has no address.'),
  TRIAL_CHILD_EXITED: c(['internal'], 1, 'A trial child process exited early.'),
  TRIAL_CHILD_TIMEOUT: c(['internal'], 1, 'A trial child process timed out.'),
  TRIAL_CONTROL_PREFLIGHT: c(['internal'], 1, "A negative control's member failed its preflight."),
  TRIAL_HEAL_HUNG: c(['internal'], 1, 'Healing a trial fault hung.'),
  TRIAL_NO_JOINER: c(['internal'], 1, 'A node-join fault found no node to join.'),
  TRIAL_NO_RESTORE_SERVER: c(['internal'], 1, 'A trial has no server to restore into.'),
  TRIAL_NO_SERVER: c(['internal'], 1, 'A trial group has no server.'),
  TRIAL_NO_SERVERS: c(['internal'], 1, 'A trial group has no servers.'),
  TRIAL_SPAWN_FAILED: c(['internal'], 1, 'A trial child process could not be spawned.'),
  TXN_DECISION_VANISHED: c(['internal'], 1, 'A Coordinator decision disappeared.'),
  TXN_MANAGER_CLOSED: c(['internal'], 1, 'The transaction manager was used after close.'),
  // The operator's view: `stillpoint serve` and metrics (issue 17)
  SERVE_TOKEN_REQUIRED: c(['config'], 2, '`serve` on a non-loopback address needs a bearer token.'),
  SERVE_UI_MISSING: c(['config'], 2, 'The dashboard bundle is not built (run `npm run build`).'),
  METRICS_FILE_UNWRITABLE: c(['config'], 2, 'The --metrics-file cannot be written.'),
  // Cosmos DB (storage src/txn/storages/cosmos, engine src/engines/cosmos)
  COSMOS_KEY_INVALID: c(['transaction'], 1, 'A Cosmos DB key value cannot be put into a document id.'),
  COSMOS_VALUE_OUT_OF_RANGE: c(['transaction'], 1, 'A BIGINT value is outside ±2^53 on Cosmos DB.'),
  COSMOS_MANAGEMENT_FAILED: c(['engine'], 1, 'An Azure Resource Manager call for Cosmos DB failed.'),
  COSMOS_RESTORE_TIMEOUT: c(['engine'], 1, 'A restored Cosmos DB account did not become ready in time.'),
  COSMOS_ACCOUNT_NOT_RESTORABLE: c(
    ['engine'],
    1,
    'The Cosmos DB account has no restorable time range covering the restore time.',
  ),
  // Managed SQL (rds, azure-flexible)
  MANAGED_NOT_AVAILABLE: c(
    ['engine'],
    1,
    'A server created by a managed point-in-time restore did not become available in time.',
  ),
  // Artifact stores: KMS, key rotation, restore drills (issue 12, wave 4)
  KMS_KEY_UNUSABLE: c(
    ['config'],
    2,
    'KMS refused the key (missing, disabled, pending deletion or not allowed); nothing was written or restored.',
  ),
  KMS_REQUEST_FAILED: c(['config'], 2, 'A KMS request failed (network, credentials, throttling).'),
  KEYS_ROTATE_TARGET_MISSING: c(['config'], 2, '`keys rotate` was given no key to rotate to.'),
  // Cassandra engine, node agent and storage (issue 16)
  AGENT_BAD_PATH: c(
    ['engine'],
    1,
    'The node agent was asked for a path outside its data or staging directory.',
  ),
  AGENT_NODETOOL_FAILED: c(
    ['engine'],
    1,
    'nodetool on a Cassandra node failed (node down, JMX unreachable).',
  ),
  AGENT_REQUEST_FAILED: c(
    ['engine'],
    1,
    'A call to a node agent failed (unreachable, bad token, or an error there).',
  ),
  AGENT_TIMEOUT: c(
    ['engine'],
    1,
    'A call to a node agent (or the agent’s JMX call to its node) passed its deadline: the node restarted, hangs or is overloaded.',
  ),
  CASSANDRA_RING_CHANGED: c(
    ['engine'],
    1,
    'The ring (nodes, host ids, tokens, restarts) changed around the pause; the attempt is retried.',
  ),
  CASSANDRA_SNAPSHOT_INCOMPLETE: c(
    ['engine'],
    1,
    'A node did not take the snapshot inside the pause; the attempt is retried.',
  ),
  CASSANDRA_RESTORE_NODE_MISSING: c(
    ['engine'],
    1,
    'A backed-up node (host id) has no agent in the restore target.',
  ),
  AGENT_LIFECYCLE_UNSET: c(
    ['engine'],
    1,
    'The node agent was asked to stop or start its node but has no --stop-command / --start-command.',
  ),
  AGENT_NODE_RUNNING: c(
    ['engine'],
    1,
    'The node agent refused to clear data files while its Cassandra node is up.',
  ),
  CASSANDRA_RING_NOT_READY: c(
    ['engine'],
    1,
    'After a full-cluster restore the nodes did not all come back up (UN) in time; re-run to resume.',
  ),
  // Managed databases (rds, azure-flexible): swapping names after a restore
  MANAGED_SWAP_NEEDS_FORCE: c(
    ['config'],
    2,
    'Swapping names renames the live source out of the way: it needs --force.',
  ),
  MANAGED_RENAME_UNSUPPORTED: c(
    ['config'],
    2,
    'Names cannot be swapped for this managed resource (Azure flexible servers cannot be renamed; Aurora clusters are not supported).',
  ),
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes of one kind: what the constructor of that kind's error class accepts. */
export type CodeOf<K extends ErrorKind> = {
  [C in ErrorCode]: K extends (typeof ERROR_CODES)[C]['kinds'][number] ? C : never;
}[ErrorCode];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
