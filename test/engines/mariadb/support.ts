/**
 * Test support for the MariaDB engine tests: sessions opened the way the orchestrator opens them (options
 * parsed once by the kind), the real local-directory store, and a count of the server's client connections
 * (the leak check for close()).
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalDirStore } from '../../../src/artifacts/local-dir-store.ts';
import type { ArtifactStore } from '../../../src/artifacts/contract.ts';
import type {
  BackupSession,
  Logger,
  MemberRecord,
  MemberSpec,
  RestoreSession,
  RestoreTarget,
} from '../../../src/engines/contract.ts';
import { mariadbEngine } from '../../../src/engines/mariadb/engine.ts';
import type { LocalMariaDb } from '../../../src/lab/local-servers/mariadb-server.ts';

export type Store = ArtifactStore & { destroy(): Promise<void> };

/** The real local-directory store in a temp dir, world-traversable so server OS users can archive into it. */
export async function tempDirStore(): Promise<Store> {
  const root = await mkdtemp(join(tmpdir(), 'stillpoint-engine-store-'));
  await chmod(root, 0o755);
  const store = createLocalDirStore(root);
  return Object.assign(Object.create(store) as ArtifactStore, {
    destroy: () => rm(root, { recursive: true, force: true }),
  });
}

export const quietLog: Logger = { info: () => {}, warn: () => {} };
export const finishWindow = { pausedAtMs: Date.now(), unpauseStartedAtMs: Date.now(), midMs: Date.now() };
export const never = (): AbortSignal => new AbortController().signal;

export function openBackup(store: ArtifactStore, member: MemberSpec, backupId: string): BackupSession {
  const options = mariadbEngine.parseOptions(member);
  return mariadbEngine.openBackup(
    {
      backupId,
      member,
      artifacts: store,
      artifactPrefix: `${backupId}/${member.name}/`,
      sharedPrefix: `shared/${member.name}/`,
      log: quietLog,
    },
    options,
  );
}

export function openRestore(
  store: ArtifactStore,
  record: MemberRecord,
  target?: RestoreTarget,
): RestoreSession {
  return mariadbEngine.openRestore(
    { record, target, artifacts: store, log: quietLog },
    mariadbEngine.parseOptions(record.member),
  );
}

/** A whole backup of one member: prepare, capture, finish, close. */
export async function backup(
  store: ArtifactStore,
  member: MemberSpec,
  backupId: string,
  between?: () => Promise<void>,
): Promise<MemberRecord> {
  const session = openBackup(store, member, backupId);
  try {
    await session.prepare(never());
    await session.capture(never());
    await between?.();
    const finished = await session.finish(finishWindow, never());
    await session.horizon(finished.handle, never());
    return { backupId, member, handle: finished.handle, artifacts: finished.artifacts };
  } finally {
    await session.close();
  }
}

/** Client connections to `server` other than the asking one (and the server's own threads). */
export async function clientConnections(server: LocalMariaDb): Promise<number> {
  const rows = (await server.query(
    `SELECT count(*) AS n FROM information_schema.processlist WHERE command NOT IN ('Daemon', 'Binlog Dump') AND user <> 'system user' AND id <> CONNECTION_ID()`,
  )) as Array<{ n: number }>;
  return Number(rows[0]!.n);
}

/**
 * The connection count once earlier tests' closed connections are gone: the server drops a closed
 * connection's thread a moment after the client quits, so a count taken right after another test may still
 * hold it. Waits until the count has not changed for 500 ms (at most 10 s).
 */
export async function settledConnections(server: LocalMariaDb): Promise<number> {
  let last = await clientConnections(server);
  let stableSince = Date.now();
  const deadline = Date.now() + 10_000;
  while (Date.now() - stableSince < 500 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = await clientConnections(server);
    if (now !== last) [last, stableSince] = [now, Date.now()];
  }
  return last;
}
