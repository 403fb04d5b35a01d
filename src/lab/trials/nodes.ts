/**
 * Node processes for a trial: each `stillpoint node --config <file>` runs in its own child process (so the
 * runner can SIGKILL it) on a port chosen up front (so a restarted node comes back at the same address),
 * behind a TCP proxy that the backup's admin calls go through (so the runner can slow, silence or break that
 * path without touching the workload's path, which connects directly).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../local-servers/process.ts';
import type { CoordinatorCleanupSettings } from '../../node/coordinator-cleanup.ts';
import type { GroupConfig } from '../../txn/contract.ts';
import { startNodeProcess, type NodeProcess } from '../demo/node-process.ts';
import { cliEntry } from './cli-entry.ts';
import { clockOffsetExecArgv } from './clock-offset.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

/** How long a node may take to print its ready line (tsx start + storages opened), ms. */
const READY_TIMEOUT_MS = 60_000;

export interface TrialNode {
  readonly name: string;
  readonly port: number;
  /** Direct address (data API and admin share the port): for the workload and the runner's own checks. */
  readonly address: string;
  /** The admin path the backup uses (through {@link TrialNode.proxy}). */
  readonly proxy: TcpProxy;
  readonly running: boolean;
  /** SIGKILL (no cleanup at all: the gate and its lease die with the process). */
  kill(): Promise<void>;
  /** Starts the process again on the same port; a no-op when running. */
  start(): Promise<void>;
  /** SIGTERM, then the proxy. Idempotent. */
  close(): Promise<void>;
}

export interface TrialNodeSettings {
  /** Lazy-recovery expiry, ms. */
  readonly expiryMs: number;
  /** What the node's gate does with new work while paused: answer UNAVAILABLE (ScalarDB Server) or hold it (ScalarDL). */
  readonly whilePaused?: 'reject' | 'hold';
  /** Runs the node's wall clock ahead (or behind, negative) of real time, restarts included (./clock-offset.ts). */
  readonly clockOffsetMs?: number;
  /** The node's periodic Coordinator cleanup (the `coordinator-cleanup` fault); absent: none. */
  readonly coordinatorCleanup?: CoordinatorCleanupSettings;
}

/** Times a first start may find its port taken (chosen free, then taken by another process before the bind). */
const PORT_ATTEMPTS = 3;

/**
 * Writes the node's config file and starts it; resolves once its ready line was printed. The port is picked
 * free and bound by the node a moment later: when another process took it meanwhile, a new one is picked.
 */
export async function startTrialNode(
  dir: string,
  name: string,
  group: GroupConfig,
  settings: TrialNodeSettings,
): Promise<TrialNode> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnFreePort(dir, name, group, settings);
    } catch (error) {
      if (attempt >= PORT_ATTEMPTS || !/EADDRINUSE/.test((error as Error).message)) throw error;
    }
  }
}

async function startOnFreePort(
  dir: string,
  name: string,
  group: GroupConfig,
  settings: TrialNodeSettings,
): Promise<TrialNode> {
  const { expiryMs, whilePaused = 'reject', clockOffsetMs = 0, coordinatorCleanup } = settings;
  const port = await freePort();
  const configFile = join(dir, `${name}.yaml`);
  const config = {
    name,
    group,
    listen: { host: '127.0.0.1', port },
    expiryMs,
    gate: { whilePaused },
    ...(coordinatorCleanup === undefined ? {} : { coordinatorCleanup }),
  };
  await writeFile(configFile, stringify(config), { mode: 0o600 });
  const proxy = await startTcpProxy({ upstreamHost: '127.0.0.1', upstreamPort: port });
  let child: NodeProcess | undefined;

  const start = async (): Promise<void> => {
    if (child?.running) return;
    child = await startNodeProcess(configFile, name, {
      readyTimeoutMs: READY_TIMEOUT_MS,
      entry: cliEntry(),
      execArgv: clockOffsetMs === 0 ? [] : clockOffsetExecArgv(clockOffsetMs),
    });
  };

  const node: TrialNode = {
    name,
    port,
    address: `127.0.0.1:${port}`,
    proxy,
    get running() {
      return child?.running ?? false;
    },
    kill: async () => child?.kill(),
    start,
    async close() {
      await child?.stop(5_000);
      await proxy.close();
    },
  };
  try {
    await start();
  } catch (error) {
    await proxy.close();
    throw error;
  }
  return node;
}
