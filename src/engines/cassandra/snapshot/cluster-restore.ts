/**
 * The runbook's full-cluster restore of a Cassandra member, IN PLACE (target `{ mode: cluster }`):
 *
 *   schema  — (cluster up) create missing tables from the backup's schema; note each table's directory
 *             (`<table>-<id>`) and which agent serves which backed-up host id (the nodes are down later);
 *   stop    — every node: `nodetool drain`, then the agent's stop command;
 *   clear   — every node: the live SSTables of the member's tables, the commit log, hints, Paxos state;
 *   place   — each backed-up node's SSTables into the table directories of the node with the same host id;
 *   start   — every node, then wait until each one sees every node up and normal (`UN`);
 *   cleanup — the agents' staging files and the backup's snapshot tag.
 *
 * Each finished step is written to `<backup>/<member>/restore-cluster.json` in the artifact store before the
 * next one starts, so a crashed or interrupted restore resumes at the first unfinished step (every step is
 * idempotent: a step cut short is simply redone). Destructive: it replaces the live source, so it needs
 * --force and --overwrite-source (the target inspects as `live-source`).
 */
import type { AgentClient } from '../../../agent/client.ts';
import type { TableDir } from '../../../agent/node-ops.ts';
import { ConfigError, EngineError } from '../../../errors.ts';
import type { TableSchema } from '../../../txn/contract.ts';
import type { CassandraStorage } from '../../../txn/storages/cassandra/cassandra-storage.ts';
import { createStorage } from '../../../txn/storages/index.ts';
import type {
  RestoredMember,
  RestoreOptions,
  RestoreSession,
  RestoreSessionContext,
  RestoreStep,
  TargetInspection,
} from '../../contract.ts';
import { refuseUnlessRestorable } from '../../restore-refusal.ts';
import {
  agentClients,
  cassandraClusterTargetSchema,
  type CassandraClusterTarget,
  type CassandraOptions,
} from '../options.ts';
import type { NodeManifest } from './capture.ts';
import { SSTABLE } from './restore.ts';

const STEPS = ['schema', 'stop', 'clear', 'place', 'start', 'cleanup'] as const;
type Step = (typeof STEPS)[number];

/** What is persisted between steps. */
interface ClusterRestoreState {
  readonly backupId: string;
  done: Step[];
  finished: boolean;
  /** `<keyspace>.<table>` → its directory on every node. */
  tables: Record<string, TableDir>;
  /** Backed-up host id → index of the agent serving it now. */
  hosts: Record<string, number>;
}

/** Per cluster (its agents' URLs): the end of the chain of full-cluster restores running in this process. */
const CLUSTER_QUEUE = new Map<string, Promise<void>>();

export class CassandraClusterRestoreSession implements RestoreSession {
  readonly target: CassandraClusterTarget;
  private readonly agents: AgentClient[];

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: CassandraOptions,
  ) {
    const parsed = cassandraClusterTargetSchema.safeParse(ctx.target);
    if (!parsed.success) {
      throw new ConfigError('PLAN_INVALID', `Bad cassandra restore target: ${parsed.error.message}`, {
        hint: 'Give { mode: "cluster", readyTimeoutMs?: <ms> }.',
        context: { member: ctx.record.member.name },
      });
    }
    this.target = parsed.data;
    this.agents = agentClients(options, ctx.record.member.name);
  }

  private get member(): string {
    return this.ctx.record.member.name;
  }

  private get stateKey(): string {
    return `${this.ctx.record.backupId}/${this.member}/restore-cluster.json`;
  }

  plan(): Promise<readonly RestoreStep[]> {
    const ks = this.ctx.record.member.namespaces.join(', ');
    const n = this.options.agents.length;
    return Promise.resolve([
      { title: `Create missing tables of ${ks} from the backup's schema`, destructive: false },
      { title: `Stop all ${n} nodes (nodetool drain, then the agent's stop command)`, destructive: true },
      {
        title: `Delete the live SSTables of ${ks}, the commit logs, hints and Paxos state`,
        destructive: true,
      },
      { title: "Place each backed-up node's SSTables on the node with the same host id", destructive: true },
      { title: 'Start every node and wait until all are up and normal (UN)', destructive: false },
      { title: 'Clear the staging files and the snapshot', destructive: false },
    ]);
  }

  async inspect(_signal: AbortSignal): Promise<TargetInspection> {
    const state = await this.load();
    const checks = [{ name: 'agents', ok: true, detail: `${this.agents.length} agents` }];
    if (state?.finished === true)
      return { checks, state: 'restored', detail: `backup ${state.backupId} was restored in place` };
    if (state !== undefined)
      return {
        checks,
        state: 'in-progress',
        detail: `an interrupted full-cluster restore finished ${state.done.join(', ') || 'no step'}; it resumes`,
      };
    return {
      checks,
      state: 'live-source',
      detail: `the full-cluster restore stops every node and replaces ${this.ctx.record.member.namespaces.join(', ')}`,
      hint: 'This replaces the live keyspaces: pass --force --overwrite-source, or restore into new keyspaces (target {"suffix": …}).',
    };
  }

  /**
   * Members on one cluster (the same agents) are restored one after another: each stops and starts every
   * node, and one member's schema step needs the cluster up while another's would have it down.
   */
  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    const cluster = this.agents
      .map((a) => a.endpoint.url)
      .sort()
      .join(' ');
    const before = CLUSTER_QUEUE.get(cluster) ?? Promise.resolve();
    const mine = before.then(() => this.restoreAlone(opts));
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    CLUSTER_QUEUE.set(cluster, settled);
    try {
      return await mine;
    } finally {
      if (CLUSTER_QUEUE.get(cluster) === settled) CLUSTER_QUEUE.delete(cluster);
    }
  }

  private async restoreAlone(opts: RestoreOptions): Promise<RestoredMember> {
    const inspection = await this.inspect(opts.signal);
    refuseUnlessRestorable(inspection, opts, {
      member: this.member,
      target: `cluster (${this.ctx.record.member.namespaces.join(',')})`,
    });
    let state = await this.load();
    if (state === undefined || state.finished) {
      state = { backupId: this.ctx.record.backupId, done: [], finished: false, tables: {}, hosts: {} };
    }
    for (const step of STEPS) {
      if (state.done.includes(step)) continue;
      opts.signal.throwIfAborted();
      this.ctx.log.info(`cassandra cluster restore: ${step}`, { member: this.member });
      await this.run(step, state, opts.signal);
      state.done.push(step);
      await this.save(state);
    }
    return { connection: this.ctx.record.member.connection };
  }

  private async run(step: Step, state: ClusterRestoreState, signal: AbortSignal): Promise<void> {
    const all = <T>(f: (a: AgentClient) => Promise<T>): Promise<T[]> => Promise.all(this.agents.map(f));
    const tableDirs = Object.values(state.tables);
    const restoreId = `cluster-${this.ctx.record.backupId}-${this.member}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    switch (step) {
      case 'schema':
        return this.prepareSchema(state, signal);
      case 'stop':
        await all((a) => a.stopNode(signal));
        return;
      case 'clear':
        await all((a) => a.clearData(tableDirs, signal));
        return;
      case 'place':
        for (const node of await this.manifests()) {
          const agent = this.agents[state.hosts[node.hostId] ?? -1];
          if (agent === undefined) throw this.nodeMissing(node.hostId);
          for (const file of node.files) {
            const dir = state.tables[`${file.keyspace}.${file.table}`];
            if (dir === undefined || !SSTABLE.test(file.name)) continue;
            await agent.place(restoreId, dir, file.name, await this.ctx.artifacts.get(file.key), signal);
          }
        }
        return;
      case 'start':
        // One after another, as a cluster is brought up; then every node must see all of them UN.
        for (const a of this.agents) await a.startNode(signal);
        return this.waitForRing(signal);
      case 'cleanup': {
        const tag =
          this.ctx.record.handle.kind === 'snapshot' ? this.ctx.record.handle.snapshotId : undefined;
        await all(async (a) => {
          await a.clearStaging(restoreId, signal);
          if (tag !== undefined) await a.clearSnapshot(tag, signal);
        });
        return;
      }
    }
  }

  /** Tables and host ids, read while the cluster is up; refuses before anything is stopped. */
  private async prepareSchema(state: ClusterRestoreState, signal: AbortSignal): Promise<void> {
    const hosts: Record<string, number> = {};
    const identities = await Promise.all(this.agents.map((a) => a.identity(signal)));
    identities.forEach((id, i) => (hosts[id.hostId] = i));
    for (const node of await this.manifests()) {
      if (hosts[node.hostId] === undefined) throw this.nodeMissing(node.hostId);
    }
    const schemas = JSON.parse(
      await this.read(`${this.ctx.record.backupId}/${this.member}/schema.json`),
    ) as TableSchema[];
    const storage = (await createStorage(this.member, this.ctx.record.member.connection)) as CassandraStorage;
    try {
      const tables: Record<string, TableDir> = {};
      for (const schema of schemas) {
        await storage.createTable(schema);
        const rs = await storage.client.execute(
          'SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?',
          [schema.namespace, schema.table],
          { prepare: true },
        );
        const id = String(rs.rows[0]?.get('id') ?? '').replace(/-/g, '');
        tables[`${schema.namespace}.${schema.table}`] = {
          keyspace: schema.namespace,
          dir: `${schema.table}-${id}`,
        };
      }
      state.tables = tables;
      state.hosts = hosts;
    } finally {
      await storage.close();
    }
  }

  private async waitForRing(signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + (this.target.readyTimeoutMs ?? 300_000);
    const want = this.agents.length;
    let seen: number[] = [];
    while (Date.now() < deadline) {
      signal.throwIfAborted();
      seen = await Promise.all(this.agents.map((a) => a.upNodes(signal).catch(() => 0)));
      if (seen.every((n) => n >= want)) return;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    throw new EngineError(
      'CASSANDRA_RING_NOT_READY',
      `After the full-cluster restore the nodes see ${seen.join('/')} of ${want} nodes up.`,
      {
        hint: 'Look at the nodes (nodetool status, their logs); re-run the same restore to resume at this step.',
        context: { member: this.member },
      },
    );
  }

  async markFinished(): Promise<void> {
    const state = await this.load();
    if (state !== undefined) await this.save({ ...state, finished: true });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private nodeMissing(hostId: string): EngineError {
    return new EngineError(
      'CASSANDRA_RESTORE_NODE_MISSING',
      `Node ${hostId} of backup ${this.ctx.record.backupId} has no agent in this cluster.`,
      {
        hint: 'Give one agent per node of the backed-up cluster (same host ids) in the plan.',
        context: { member: this.member, hostId },
      },
    );
  }

  private async manifests(): Promise<NodeManifest[]> {
    const refs = this.ctx.record.artifacts.filter((r) => /\/nodes\/[^/]+\.json$/.test(r.key));
    return Promise.all(refs.map(async (r) => JSON.parse(await this.read(r.key)) as NodeManifest));
  }

  private async load(): Promise<ClusterRestoreState | undefined> {
    if (!(await this.ctx.artifacts.exists(this.stateKey))) return undefined;
    return JSON.parse(await this.read(this.stateKey)) as ClusterRestoreState;
  }

  private async save(state: ClusterRestoreState): Promise<void> {
    await this.ctx.artifacts.put(this.stateKey, JSON.stringify(state));
  }

  private async read(key: string): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.ctx.artifacts.get(key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
}
