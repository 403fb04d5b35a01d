/**
 * A stillpoint node: the transaction manager behind the gate, serving the data services it is given
 * (./node-service.ts; the lab's bank service in the CLI) and the admin service (`rpc.Admin`) on ONE gRPC port,
 * so `adminPort === dataPort`. Several nodes may share one group of
 * databases (SQLite files in WAL mode work across processes). Optionally it cleans up the Coordinator
 * periodically, behind the same gate (./coordinator-cleanup.ts).
 */
import * as grpc from '@grpc/grpc-js';
import type { Gate, GateStats } from '../pause/contract.ts';
import { addAdminService, closeServer, makeAuthorizer } from '../pause/admin-server.ts';
import { createGate, stderrLog, type PauseLog } from '../pause/gate.ts';
import { checkListenerSecurity } from '../pause/listener-security.ts';
import type { StorageGroup, TransactionManager } from '../txn/contract.ts';
import { createTransactionManager } from '../txn/consensus-commit.ts';
import { openGroup } from '../txn/group.ts';
import {
  startCoordinatorCleanup,
  type CoordinatorCleanupLoop,
  type CoordinatorCleanupStats,
} from './coordinator-cleanup.ts';
import type { NodeConfig } from './node-config.ts';
import type { NodeService } from './node-service.ts';

export interface StartNodeOptions {
  /** Log sink for gate and admin events. Default: stderr. */
  readonly log?: PauseLog;
  /** Data services served behind the gate on the node's port. Default: none (admin service only). */
  readonly services?: readonly NodeService[];
}

export interface RunningNode {
  readonly name: string;
  readonly host: string;
  /** The admin service's port (the same as `dataPort`). */
  readonly adminPort: number;
  readonly dataPort: number;
  /** `host:port` (or `[v6]:port`) to give clients. */
  readonly address: string;
  /** Absent when the config disabled the gate. */
  readonly gate?: Gate;
  readonly group: StorageGroup;
  stats(): { readonly gate?: GateStats; readonly coordinatorCleanup?: CoordinatorCleanupStats };
  /** Graceful shutdown: stop accepting, release the gate, finish calls (forced after 5 s), close pools. Idempotent. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 5_000;

/** Opens the group, starts the transaction manager, gate, and one gRPC server; resolves once listening. */
export async function startNode(config: NodeConfig, options: StartNodeOptions = {}): Promise<RunningNode> {
  // Before anything opens: an exposed node without token and TLS is refused unless the operator said insecure.
  const token = config.admin?.token;
  checkListenerSecurity(
    {
      host: config.listen.host,
      token: token !== undefined,
      tls: config.admin?.tls !== undefined,
      insecure: config.insecure === true,
    },
    options.log ?? stderrLog,
  );
  const group = await openGroup(config.group);
  let tm: TransactionManager | undefined;
  const server = new grpc.Server();
  try {
    const manager = createTransactionManager({
      group,
      ...(config.expiryMs === undefined ? {} : { expiryMs: config.expiryMs }),
    });
    tm = manager;
    const gateEnabled = config.gate?.enabled ?? true;
    const gate = gateEnabled
      ? createGate({
          pausedBehaviour: config.gate?.pausedBehaviour ?? { kind: 'reject' },
          ...(options.log ? { log: options.log } : {}),
        })
      : undefined;
    // The token guards the data API too: whoever may move money may also be trusted to pause.
    const authorised = token === undefined ? undefined : makeAuthorizer(token, options.log ?? stderrLog);
    const context = { tm: manager, ...(gate ? { gate } : {}), ...(authorised ? { authorised } : {}) };
    for (const service of options.services ?? [])
      server.addService(service.definition(), service.handlers(context));
    // Without a gate there is nothing to pause: no admin service, so a pause fails loudly instead of lying.
    if (gate)
      addAdminService(server, gate, {
        ...(config.admin?.token ? { token: config.admin.token } : {}),
        ...(options.log ? { log: options.log } : {}),
      });
    const host = config.listen.host;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const port = await bind(server, `${hostPart}:${config.listen.port}`, credentialsFor(config));
    const cleanup =
      config.coordinatorCleanup === undefined
        ? undefined
        : startCoordinatorCleanup(group, gate, config.coordinatorCleanup, options.log ?? stderrLog);
    return makeRunning({ config, group, tm: manager, server, host, hostPart, port, gate, cleanup });
  } catch (error) {
    server.forceShutdown();
    await tm?.close();
    await group.close();
    throw error;
  }
}

interface Parts {
  config: NodeConfig;
  group: StorageGroup;
  tm: TransactionManager;
  server: grpc.Server;
  host: string;
  hostPart: string;
  port: number;
  gate: Gate | undefined;
  cleanup: CoordinatorCleanupLoop | undefined;
}

function makeRunning(p: Parts): RunningNode {
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    const shutdown = closeServer(p.server, SHUTDOWN_GRACE_MS);
    // Held (hold mode) or paused callers must not wait for an unpause that will never come.
    p.gate?.unpause('node shutting down');
    await shutdown;
    await p.cleanup?.stop();
    await p.tm.close();
    await p.group.close();
  };
  return {
    name: p.config.name ?? `node-${process.pid}`,
    host: p.host,
    adminPort: p.port,
    dataPort: p.port,
    address: `${p.hostPart}:${p.port}`,
    ...(p.gate ? { gate: p.gate } : {}),
    group: p.group,
    stats: () => ({
      ...(p.gate ? { gate: p.gate.stats() } : {}),
      ...(p.cleanup ? { coordinatorCleanup: p.cleanup.stats() } : {}),
    }),
    close: () => (closing ??= close()),
  };
}

function credentialsFor(config: NodeConfig): grpc.ServerCredentials {
  const tls = config.admin?.tls;
  return tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.certPem, private_key: tls.keyPem }])
    : grpc.ServerCredentials.createInsecure();
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}
