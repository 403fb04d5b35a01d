/**
 * Non-destructive restore of a Cassandra member: every namespace into a NEW keyspace `<ns>_<suffix>` on the
 * live cluster, the tables recreated from the backup's schema, each node's SSTables staged on the node with
 * the same host id (through its agent) and loaded with `nodetool import`. The group config is rewritten
 * through `namespaces` (logical → new keyspace); the orchestrator then runs the sweep and the checker.
 *
 * A marker row in `stillpoint_restores.markers` (state in-progress → restored) makes a re-run safe:
 * in-progress keyspaces of this backup are redone, restored ones need --force.
 */
import type { AgentClient } from '../../../agent/client.ts';
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
  cassandraTargetSchema,
  type CassandraOptions,
  type CassandraTarget,
} from '../options.ts';
import type { NodeManifest } from './capture.ts';

const MARKER_KS = 'stillpoint_restores';
/**
 * The marker keyspace and table are created by one member at a time: members on one cluster are restored
 * concurrently, and two `CREATE TABLE IF NOT EXISTS` of one table sent at once to two coordinators can each
 * create it (two table ids) before either has seen the other's.
 */
const markerSchemaTurns: { last: Promise<void> } = { last: Promise.resolve() };

/** Runs `fn` after every earlier call on `turns` has ended (whatever their outcome). */
export async function oneAtATime(turns: { last: Promise<void> }, fn: () => Promise<void>): Promise<void> {
  const mine = turns.last.then(fn, fn);
  turns.last = mine.catch(() => undefined);
  return mine;
}
/** SSTable components (`<version>-<generation>-<format>-<Component>`); snapshot manifests are not imported. */
export const SSTABLE = /^[a-z]{2}-[^-]+-(big|bti)-[A-Za-z0-9_.]+$/;

export class CassandraImportRestoreSession implements RestoreSession {
  readonly target: CassandraTarget & { readonly suffix: string };
  private storage: CassandraStorage | undefined;

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: CassandraOptions,
  ) {
    const parsed = cassandraTargetSchema.safeParse(ctx.target ?? {});
    if (!parsed.success) {
      throw new ConfigError('PLAN_INVALID', `Bad cassandra restore target: ${parsed.error.message}`, {
        hint: 'Give { suffix: "<a-z0-9_>" } or nothing.',
        context: { member: ctx.record.member.name },
      });
    }
    const fallback = `r_${ctx.record.backupId
      .replace(/[^a-z0-9]/gi, '')
      .toLowerCase()
      .slice(-8)}`;
    this.target = { ...parsed.data, suffix: parsed.data.suffix ?? fallback };
  }

  private keyspaceOf(ns: string): string {
    return `${ns}_${this.target.suffix}`;
  }

  private mapping(): Record<string, string> {
    return Object.fromEntries(this.ctx.record.member.namespaces.map((ns) => [ns, this.keyspaceOf(ns)]));
  }

  plan(): Promise<readonly RestoreStep[]> {
    const ks = Object.values(this.mapping()).join(', ');
    return Promise.resolve([
      { title: `Create keyspaces ${ks} and their tables from the backup's schema`, destructive: false },
      { title: 'Stage each node’s SSTables on the node with the same host id (agent)', destructive: false },
      {
        title: `nodetool import into ${ks} on every node`,
        detail: 'nodetool import <ks> <table> <staging dir>',
        destructive: false,
      },
    ]);
  }

  private async open(): Promise<CassandraStorage> {
    this.storage ??= (await createStorage(
      this.ctx.record.member.name,
      this.ctx.record.member.connection,
    )) as CassandraStorage;
    return this.storage;
  }

  async inspect(_signal: AbortSignal): Promise<TargetInspection> {
    let storage: CassandraStorage;
    try {
      storage = await this.open();
    } catch (error) {
      return {
        checks: [{ name: 'cassandra', ok: false, detail: (error as Error).message }],
        state: 'absent',
        detail: 'unreachable',
      };
    }
    const marker = await this.marker();
    const existing: string[] = [];
    for (const ks of Object.values(this.mapping())) {
      const rs = await storage.client.execute(
        'SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?',
        [ks],
      );
      if (rs.rows.length > 0) existing.push(`${ks} (${rs.rows.length} tables)`);
    }
    const checks = [{ name: 'cassandra', ok: true, detail: 'reachable' }];
    if (marker === 'restored')
      return {
        checks,
        state: 'restored',
        detail: `backup ${this.ctx.record.backupId} was restored into ${existing.join(', ')}`,
      };
    if (marker === 'in-progress')
      return {
        checks,
        state: 'in-progress',
        detail: `an earlier restore of this backup left ${existing.join(', ')}`,
      };
    if (existing.length > 0) {
      return {
        checks,
        state: 'foreign',
        detail: `keyspaces exist: ${existing.join(', ')}`,
        hint: 'Pick another suffix or DROP those keyspaces.',
      };
    }
    return {
      checks,
      state: 'absent',
      detail: `keyspaces ${Object.values(this.mapping()).join(', ')} do not exist`,
    };
  }

  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    refuseUnlessRestorable(await this.inspect(opts.signal), opts, {
      member: this.ctx.record.member.name,
      target: Object.values(this.mapping()).join(','),
    });
    const storage = await this.open();
    await this.setMarker('in-progress');
    const mapping = this.mapping();
    // Redo from scratch: an in-progress leftover (or a forced target) is truncated before the import.
    storage.usePhysicalNames(mapping);
    const schemas = JSON.parse(
      await this.read(`${this.ctx.record.backupId}/${this.ctx.record.member.name}/schema.json`),
    ) as TableSchema[];
    for (const schema of schemas) {
      await storage.createTable(schema);
      await storage.client.execute(`TRUNCATE "${mapping[schema.namespace]}"."${schema.table}"`);
    }
    const agents = agentClients(this.options, this.ctx.record.member.name);
    const byHost = new Map<string, AgentClient>();
    for (const a of agents) byHost.set((await a.identity(opts.signal)).hostId, a);
    // Per member: members on one cluster are restored concurrently through the same agents.
    const restoreId = `restore-${this.ctx.record.backupId}-${this.ctx.record.member.name}`.replace(
      /[^A-Za-z0-9_.-]/g,
      '_',
    );
    const manifests = this.ctx.record.artifacts.filter((r) => /\/nodes\/[^/]+\.json$/.test(r.key));
    for (const ref of manifests) {
      const node = JSON.parse(await this.read(ref.key)) as NodeManifest;
      const agent = byHost.get(node.hostId);
      if (agent === undefined) {
        throw new EngineError(
          'CASSANDRA_RESTORE_NODE_MISSING',
          `Node ${node.hostId} of backup ${this.ctx.record.backupId} has no agent in this cluster.`,
          {
            hint: 'Import needs the same nodes (host ids) as the backup; use the full-cluster restore for a new cluster.',
            context: { member: this.ctx.record.member.name, hostId: node.hostId },
          },
        );
      }
      await agent.clearStaging(restoreId, opts.signal);
      const tables = new Set<string>();
      for (const file of node.files) {
        if (!SSTABLE.test(file.name)) continue;
        const ks = mapping[file.keyspace];
        if (ks === undefined) continue;
        await agent.stage(
          restoreId,
          ks,
          file.table,
          file.name,
          await this.ctx.artifacts.get(file.key),
          opts.signal,
        );
        tables.add(`${ks}\u0000${file.table}`);
      }
      for (const t of tables) {
        const [ks, table] = t.split('\u0000') as [string, string];
        await agent.importStaged(restoreId, ks, table, opts.signal);
      }
      await agent.clearStaging(restoreId, opts.signal);
    }
    return { connection: this.ctx.record.member.connection, namespaces: mapping };
  }

  async markFinished(): Promise<void> {
    await this.setMarker('restored');
  }

  async close(): Promise<void> {
    await this.storage?.close();
    this.storage = undefined;
  }

  private async read(key: string): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.ctx.artifacts.get(key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private async marker(): Promise<string | undefined> {
    const storage = await this.open();
    const rs = await storage.client
      .execute(`SELECT state FROM ${MARKER_KS}.markers WHERE target = ?`, [this.markerKey()])
      .catch(() => undefined);
    return rs?.rows[0]?.get('state') as string | undefined;
  }

  private async setMarker(state: 'in-progress' | 'restored'): Promise<void> {
    const storage = await this.open();
    const rf =
      this.ctx.record.member.connection.kind === 'cassandra'
        ? (this.ctx.record.member.connection.replicationFactor ?? 3)
        : 3;
    await oneAtATime(markerSchemaTurns, async () => {
      await storage.client.execute(
        `CREATE KEYSPACE IF NOT EXISTS ${MARKER_KS} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${rf}}`,
      );
      await storage.client.execute(
        `CREATE TABLE IF NOT EXISTS ${MARKER_KS}.markers (target text PRIMARY KEY, backup_id text, state text)`,
      );
    });
    await storage.client.execute(
      `INSERT INTO ${MARKER_KS}.markers (target, backup_id, state) VALUES (?, ?, ?)`,
      [this.markerKey(), this.ctx.record.backupId, state],
      { prepare: true },
    );
  }

  /** The target itself (its keyspaces), not only member and suffix: another member or backup's keyspaces differ. */
  private markerKey(): string {
    return `${this.ctx.record.member.name}/${Object.values(this.mapping()).sort().join(',')}`;
  }
}
