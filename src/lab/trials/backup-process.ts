/**
 * The backup of a trial, run the way an operator runs it: `stillpoint backup --plan <file> --json` in its own
 * process, so that SIGKILL of the orchestrator is a real crash. The runner follows the backup's progress from
 * its NDJSON events and fires a callback once, at the first event that reaches the chosen moment.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { MemberSpec } from '../../engines/contract.ts';
import { startCli, type CliExit, type CliProcess } from './cli-process.ts';
import type { FaultMoment } from './faults.ts';
import type { SpareBackup } from './spare-backup.ts';

export interface TrialPlan {
  readonly file: string;
  readonly catalogPath: string;
  readonly artifactsDir: string;
  readonly leaseMs: number;
}

export interface PlanInput {
  readonly dir: string;
  readonly mode: string;
  /** The nodes' admin endpoints; none: no cluster (mode `single`). */
  readonly adminAddresses: readonly string[];
  /** When set, the plan finds the nodes by this SRV name on this DNS server instead of the fixed list. */
  readonly srv?: { readonly name: string; readonly dnsServer: string };
  readonly members: readonly MemberSpec[];
  /** Pause lease, ms: how long nodes stay paused by themselves if the orchestrator dies. */
  readonly leaseMs: number;
  /** Drain limit per node, ms. */
  readonly drainTimeoutMs: number;
  /** Capture bound, ms (the plan's `window.captureTimeoutMs`); absent: the plan default. */
  readonly captureTimeoutMs?: number;
  /** Shortest window held, ms (gives a fault time to land inside the window). */
  readonly minWindowMs: number;
  /** An artifact store URL (s3://…, azblob://…, file:///…?encryption=local) instead of the local directory. */
  readonly artifactsUrl?: string;
}

/** Writes the plan file of a trial (format: src/plan/plan-schema.ts). */
export async function writeTrialPlan(input: PlanInput): Promise<TrialPlan> {
  const file = join(input.dir, 'plan.yaml');
  const catalogPath = join(input.dir, 'catalog.db');
  const artifactsDir = join(input.dir, 'artifacts');
  const plan = {
    version: 1,
    group: 'trial',
    mode: input.mode,
    clusters:
      input.adminAddresses.length === 0
        ? []
        : [
            {
              name: 'nodes',
              targets: planTargets(input),
              drainTimeoutMs: input.drainTimeoutMs,
              leaseMs: input.leaseMs,
              // A node behind a dropped path fails its call in 2 s, not the production 10 s (twice per attempt).
              callTimeoutMs: 2_000,
            },
          ],
    members: input.members.map((m) => ({
      name: m.name,
      engine: m.engine,
      connection: m.connection,
      namespaces: [...m.namespaces],
      options: m.options,
    })),
    artifacts: input.artifactsUrl === undefined ? { dir: artifactsDir } : { url: input.artifactsUrl },
    catalog: { path: catalogPath },
    window: {
      minMs: input.minWindowMs,
      marginMs: 50,
      maxAttempts: 2,
      ...(input.captureTimeoutMs === undefined ? {} : { captureTimeoutMs: input.captureTimeoutMs }),
    },
  };
  await writeFile(file, stringify(plan));
  return { file, catalogPath, artifactsDir, leaseMs: input.leaseMs };
}

function planTargets(input: PlanInput) {
  return input.srv === undefined
    ? { addresses: [...input.adminAddresses] }
    : { srv: input.srv.name, dnsServers: [input.srv.dnsServer] };
}

/** Orchestrator states (src/catalog/catalog-schema.ts) grouped by the moment they mark. */
const MOMENT_STATES: Readonly<Record<FaultMoment, readonly string[]>> = {
  'before-pause': ['planned', 'preflight'],
  'during-pause': ['paused', 'captured'],
  'after-pause': ['validating', 'finishing'],
};

export interface BackupRun {
  readonly process: CliProcess;
  /** Backup id, once an event named it. */
  backupId(): string | null;
  /** States seen, in order. */
  states(): readonly string[];
  /** Pause attempts the backup announced (0 before the first). */
  attempts(): number;
  readonly exited: Promise<CliExit>;
}

/**
 * Starts `stillpoint backup`; `onMoment` runs once, at the first event that reaches `moment`
 * (never, if the backup ends before it). `execArgv`: Node options of the process (a clock offset).
 * `spare`: a process already started and waiting for its plan (./spare-backup.ts) instead of a new one.
 */
export function startBackup(
  plan: TrialPlan,
  moment: FaultMoment,
  onMoment: () => void,
  execArgv: readonly string[] = [],
  rssSampleMs?: number,
  spare?: SpareBackup,
): BackupRun {
  let id: string | null = null;
  const seen: string[] = [];
  let fired = false;
  let attempts = 0;
  const onLine = (_line: string, json: Record<string, unknown> | undefined): void => {
    if (json === undefined) return;
    const backupId = json.backupId ?? json.id;
    if (id === null && typeof backupId === 'string') id = backupId;
    if (typeof json.attempt === 'number') attempts = Math.max(attempts, json.attempt);
    const state = stateOf(json);
    if (state === undefined) return;
    seen.push(state);
    if (!fired && MOMENT_STATES[moment].includes(state)) {
      fired = true;
      onMoment();
    }
  };
  let child: CliProcess;
  if (spare === undefined) {
    child = startCli({
      args: ['backup', '--plan', plan.file, '--json'],
      execArgv,
      ...(rssSampleMs === undefined ? {} : { rssSampleMs }),
      onLine,
    });
  } else {
    child = spare.process;
    spare.listen(onLine);
    // A plan that cannot be handed over ends the process: the trial then sees a backup that failed to start.
    void readFile(plan.file, 'utf8')
      .then((text) => spare.feed(text))
      .catch(() => child.kill('SIGKILL'));
  }
  return {
    process: child,
    backupId: () => id,
    states: () => seen,
    attempts: () => attempts,
    exited: child.exited,
  };
}

/** The orchestrator state an NDJSON event announces, if any. */
export function stateOf(event: Record<string, unknown>): string | undefined {
  for (const key of ['state', 'to', 'phase']) {
    const value = event[key];
    if (typeof value === 'string') return value;
  }
  return undefined;
}
