/**
 * Applying one fault of the catalogue (./faults.ts) to a running trial, and healing it afterwards so the
 * trial's final checks run against a whole cluster again.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TrialArtifactStore } from './artifact-stores.ts';
import type { BackupRun } from './backup-process.ts';
import { killAtCatalogWrite } from './catalog-kill.ts';
import type { FaultKind } from './faults.ts';
import type { TrialDatabases } from './group.ts';
import { ERROR_BEHAVIOURS, SILENT_BEHAVIOURS, startFaultyAdmin } from './faulty-admin.ts';
import type { TrialNode } from './nodes.ts';
import type { Random } from './random.ts';

/** How long after a database restart a node must still be running. */
const NODE_CRASH_GRACE_MS = 1_000;

export interface FaultTarget {
  readonly nodes: readonly TrialNode[];
  readonly databases: TrialDatabases;
  readonly random: Random;
  /** Starts a node that is not in the plan, with its own load; returns a function that stops both. */
  readonly joinNode: () => Promise<() => Promise<void>>;
  /** The plan's artifact store directory (for `artifacts-unusable`). */
  readonly artifactsDir?: string;
  /** For `clock-offset`: the process started with an offset clock (./clock-offset.ts), chosen up front. */
  readonly clockOffset?: ClockOffsetChoice;
  /** For `service-clock-skew`: skews the group's service clocks (./group.ts). */
  readonly skewServiceClock?: (ms: number) => void;
  /** For the `artifact-store-*` faults: the trial's remote store and the proxy in front of it. */
  readonly artifactStore?: TrialArtifactStore;
  /** For `catalog-kill-midwrite`: the plan's catalog file. */
  readonly catalogPath?: string;
}

/** Which process of a `clock-offset` trial runs with a wrong clock, and by how much. */
export interface ClockOffsetChoice {
  /** A node's name, or `orchestrator` for the backup process. */
  readonly process: string;
  readonly offsetMs: number;
}

/** Picks the process (a node or the orchestrator) and an offset of 3–15 s either way. */
export function chooseClockOffset(nodeNames: readonly string[], random: Random): ClockOffsetChoice {
  const sign = random.pick([-1, 1]);
  return { process: random.pick([...nodeNames, 'orchestrator']), offsetMs: sign * random.int(3_000, 15_000) };
}

export interface AppliedFault {
  /** What was done, for the report (e.g. "node n1 SIGKILLed"). */
  readonly note: string;
  readonly orchestratorKilled: boolean;
  /** The dead orchestrator is recovered from "another host" (./other-host.ts), not by the runner itself. */
  readonly recoverElsewhere?: boolean;
  /** A broken guarantee seen while applying the fault (e.g. a node died with its database). */
  readonly violation?: string;
  /** Undoes the fault (restart, proxy back to pass, server started). Idempotent, never throws. */
  heal(): Promise<void>;
}

/**
 * Faults applied before the backup starts: the admin endpoint misbehaves from the first call; the clock
 * offset is in place from the start of the process that has it.
 */
export const UPFRONT_FAULTS: ReadonlySet<FaultKind> = new Set([
  'admin-error',
  'admin-silent',
  'clock-offset',
  'service-clock-skew',
  'artifact-store-unreachable',
  'coordinator-cleanup',
]);

/** Applies `kind` now. */
export async function applyFault(
  kind: FaultKind,
  target: FaultTarget,
  backup: BackupRun | undefined,
): Promise<AppliedFault> {
  const { random } = target;
  const node = random.pick(target.nodes);
  const members = [...target.databases.proxies.keys()];
  const healed = (
    note: string,
    heal: () => Promise<void>,
    orchestratorKilled = false,
    violation?: string,
    recoverElsewhere = false,
  ): AppliedFault => {
    let done = false;
    return {
      note,
      orchestratorKilled,
      ...(recoverElsewhere ? { recoverElsewhere } : {}),
      ...(violation === undefined ? {} : { violation }),
      async heal() {
        if (done) return;
        done = true;
        await heal().catch(() => undefined);
      },
    };
  };
  switch (kind) {
    case 'none':
      return healed('nothing done', () => Promise.resolve());
    case 'coordinator-cleanup':
      // The nodes were started with it (./trial.ts): nothing to switch on now, nothing to heal.
      return healed('the nodes clean up the Coordinator behind their gates', () => Promise.resolve());
    case 'clock-offset': {
      const c = target.clockOffset;
      const note =
        c === undefined
          ? 'no process chosen'
          : `${c.process} clock ${Math.abs(c.offsetMs)} ms ${c.offsetMs > 0 ? 'ahead' : 'behind'}`;
      return healed(note, () => Promise.resolve());
    }
    case 'orchestrator-kill':
      backup?.process.kill('SIGKILL');
      return healed('backup process SIGKILLed', () => Promise.resolve(), true);
    case 'orchestrator-kill-other-host':
      backup?.process.kill('SIGKILL');
      return healed(
        'backup process SIGKILLed; recovered from another host',
        () => Promise.resolve(),
        true,
        undefined,
        true,
      );
    case 'restore-kill':
      return healed('the restore is killed and resumed after the backup', () => Promise.resolve());
    case 'restore-target-non-empty':
      // Applied after the backup, by the trial's restore step (./trial.ts): nothing to do now.
      return healed('a restore target holds a file (checked after the backup)', () => Promise.resolve());
    case 'service-clock-skew': {
      const skew = target.skewServiceClock;
      if (skew === undefined) return healed('the group has no service clock', () => Promise.resolve());
      const ms = random.pick([-1, 1]) * random.int(500, 5_000);
      skew(ms);
      // Not healed: a real service clock stays wrong through the restore (the group resets it per trial).
      return healed(`service clock ${Math.abs(ms)} ms ${ms > 0 ? 'ahead' : 'behind'}`, () =>
        Promise.resolve(),
      );
    }
    case 'artifacts-lost-midway':
    case 'artifacts-unusable': {
      const dir = target.artifactsDir;
      if (dir === undefined) return healed('no artifact store to break', () => Promise.resolve());
      const moved = `${dir}.moved`;
      await rename(dir, moved).catch(() => mkdir(moved, { recursive: true }));
      await replaceWithFile(dir);
      return healed(
        `artifact store directory replaced by a file${kind === 'artifacts-lost-midway' ? ' mid-backup, put back after it' : ''}`,
        async () => {
          await rm(dir, { force: true, recursive: true });
          await rename(moved, dir);
        },
      );
    }
    case 'node-kill':
      await node.kill();
      return healed(`node ${node.name} SIGKILLed`, () => node.start());
    case 'node-restart':
      await node.kill();
      await node.start();
      return healed(`node ${node.name} SIGKILLed and started again`, () => node.start());
    case 'node-join': {
      const stop = await target.joinNode();
      return healed('a node outside the plan joined and took transfers', stop);
    }
    case 'database-stop': {
      const member = random.pick(members);
      const start = await target.databases.stopServer(member);
      return healed(`database server of member ${member} stopped`, start);
    }
    case 'database-restart': {
      const member = random.pick(members);
      const start = await target.databases.stopServer(member);
      await start();
      // A node's connections were all cut; it must reconnect, not die (issue 19). Give a crash time to show.
      await sleep(NODE_CRASH_GRACE_MS);
      const dead = target.nodes.filter((n) => !n.running).map((n) => n.name);
      const violation =
        dead.length === 0
          ? undefined
          : `node(s) ${dead.join(', ')} died when the database server of member ${member} restarted`;
      return healed(
        `database server of member ${member} restarted${dead.length === 0 ? '' : `; ${violation}`}`,
        async () => {
          for (const n of target.nodes) await n.start();
        },
        false,
        violation,
      );
    }
    case 'node-path-slow':
    case 'database-path-slow': {
      // A slow spell, not a permanent crawl: a chatty dump over a path this slow would take many minutes,
      // which proves nothing but the arithmetic. A dropped path stays dropped (./faults.ts).
      const delayMs = random.int(100, 800);
      const forMs = random.int(3_000, 10_000);
      const [name, proxy] = pathProxy(kind, node, target.databases, random);
      proxy.setMode({ kind: 'delay', delayMs });
      const timer = setTimeout(() => proxy.setMode({ kind: 'pass' }), forMs);
      return healed(`path to ${name} delayed ${delayMs} ms per chunk for ${forMs} ms`, () => {
        clearTimeout(timer);
        proxy.setMode({ kind: 'pass' });
        return Promise.resolve();
      });
    }
    case 'node-path-drop':
    case 'database-path-drop': {
      const [name, proxy] = pathProxy(kind, node, target.databases, random);
      proxy.setMode({ kind: 'drop' });
      return healed(`path to ${name} blackholed`, () => Promise.resolve(proxy.setMode({ kind: 'pass' })));
    }
    case 'admin-error':
    case 'admin-silent': {
      const behaviour = random.pick(kind === 'admin-error' ? ERROR_BEHAVIOURS : SILENT_BEHAVIOURS);
      const faulty = await startFaultyAdmin(node.address, behaviour);
      node.proxy.setMode({ kind: 'redirect', port: faulty.port });
      return healed(`admin endpoint of ${node.name}: Pause ${behaviour}`, async () => {
        node.proxy.setMode({ kind: 'pass' });
        await faulty.close();
      });
    }
    case 'artifact-store-unreachable':
    case 'artifact-store-fails-midway': {
      const store = target.artifactStore;
      if (store === undefined) return healed('no remote artifact store', () => Promise.resolve());
      store.proxy.setMode({ kind: 'reset' });
      return healed(
        `${store.kind} artifact store: every connection reset ${kind === 'artifact-store-unreachable' ? 'from the start' : 'from here'} until the backup ended`,
        () => Promise.resolve(store.proxy.setMode({ kind: 'pass' })),
      );
    }
    case 'artifact-store-slow': {
      const store = target.artifactStore;
      if (store === undefined) return healed('no remote artifact store', () => Promise.resolve());
      const delayMs = random.int(100, 800);
      const forMs = random.int(3_000, 10_000);
      store.proxy.setMode({ kind: 'delay', delayMs });
      const timer = setTimeout(() => store.proxy.setMode({ kind: 'pass' }), forMs);
      return healed(`${store.kind} artifact store delayed ${delayMs} ms per chunk for ${forMs} ms`, () => {
        clearTimeout(timer);
        store.proxy.setMode({ kind: 'pass' });
        return Promise.resolve();
      });
    }
    case 'encryption-key-missing':
      // Applied after the backup, by the trial's restore step (./key-missing-restore.ts).
      return healed('the key file moved away before a restore (checked after the backup)', () =>
        Promise.resolve(),
      );
    case 'catalog-kill-midwrite': {
      if (backup === undefined || target.catalogPath === undefined)
        return healed('no backup process to kill', () => Promise.resolve());
      const killed = await killAtCatalogWrite(target.catalogPath, backup);
      return healed(
        killed
          ? 'backup process SIGKILLed at a catalog write'
          : 'the backup ended before writing its catalog again',
        () => Promise.resolve(),
        killed,
      );
    }
  }
}

function pathProxy(kind: FaultKind, node: TrialNode, databases: TrialDatabases, random: Random) {
  if (kind.startsWith('database-')) {
    const member = random.pick([...databases.proxies.keys()]);
    const proxy = databases.proxies.get(member);
    if (proxy !== undefined) return [`database ${member}`, proxy] as const;
  }
  return [`node ${node.name}`, node.proxy] as const;
}

/**
 * Puts a file where the artifact directory was. The running backup may create the directory again between
 * the rename and the write (its `mkdir -p` of a member's folder): what it wrote there is lost too (the
 * fault), and the file goes in on the next try.
 */
export async function replaceWithFile(dir: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await writeFile(dir, 'not a directory\n', { flag: 'wx' });
      return;
    } catch (error) {
      if (attempt >= 10) throw error;
      await rm(dir, { recursive: true, force: true });
    }
  }
}
