/**
 * A Cassandra member's backup: every node of the cluster through its agent.
 *
 *   prepare  — ring before the pause (host id, gossip generation, tokens of every node); flush every node,
 *              so the flush that `nodetool snapshot` does inside the pause is small
 *   capture  — inside the pause: `nodetool snapshot -t <tag>` on every node in parallel (one tag per
 *              member and attempt); through the agent's JMX helper: flush, then hard links, each timed
 *   windowProblems — after the unpause: a node that did not snapshot, or a ring that changed (a node
 *              restarted: new generation; joined, left, moved) makes the window invalid → discard + retry
 *   finish   — every node's snapshot files uploaded DIFFERENTIALLY: SSTables are immutable, so a file whose
 *              shared key (node, keyspace, table, sha256, name) already holds the same size is referenced,
 *              not uploaded; plus each node's file list and the schema; then the snapshot is cleared
 */
import type { ArtifactRef } from '../../../artifacts/contract.ts';
import type { AgentClient } from '../../../agent/client.ts';
import type { NodeIdentity, SnapshotFile } from '../../../agent/node-ops.ts';
import { EngineError } from '../../../errors.ts';
import type { TableSchema } from '../../../txn/contract.ts';
import { createStorage } from '../../../txn/storages/index.ts';
import type {
  EngineCapabilities,
  BackupSession,
  BackupSessionContext,
  CaptureResult,
  FinishedMember,
  PreflightCheck,
  RestoreHandle,
} from '../../contract.ts';
import { agentClients, type CassandraOptions } from '../options.ts';

/** Snapshots are hard links taken inside the pause, copied after it; nothing to wait for afterwards. */
export const CASSANDRA_CAPABILITIES: EngineCapabilities = Object.freeze({
  atomicCapture: false,
  snapshotInsidePause: true,
  clockBased: false,
  horizonWait: false,
});

/** One node's part of a backup, stored as `<prefix>nodes/<hostId>.json`. */
export interface NodeManifest {
  readonly hostId: string;
  readonly tokens: readonly string[];
  readonly files: readonly (Pick<SnapshotFile, 'keyspace' | 'table' | 'name' | 'bytes' | 'sha256'> & {
    key: string;
  })[];
}

/** The upload figures of one backup (the differential upload's effect). */
export interface UploadFigures {
  readonly uploadedBytes: number;
  readonly referencedBytes: number;
  readonly uploadedFiles: number;
  readonly referencedFiles: number;
}

export class CassandraSnapshotBackupSession implements BackupSession {
  readonly capabilities = CASSANDRA_CAPABILITIES;
  private clients: AgentClient[] | undefined;
  private ringBefore: NodeIdentity[] = [];
  private tag: string | undefined;
  private attempt = 0;
  /** The agents whose node took this attempt's snapshot. */
  private snapshots = new Set<AgentClient>();
  private failedNodes: string[] = [];
  /** Inside the pause, per node of this attempt: the agent's snapshot call and its flush share, ms. */
  private pauseTimings: { node: string; snapshotMs: number; flushMs?: number }[] = [];

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: CassandraOptions,
  ) {}

  private agents(): AgentClient[] {
    this.clients ??= agentClients(this.options, this.ctx.member.name);
    return this.clients;
  }

  /** Keyspaces of this member (namespace = keyspace in ScalarDB's Cassandra format). */
  private keyspaces(): string[] {
    return [...this.ctx.member.namespaces];
  }

  async preflight(signal: AbortSignal): Promise<readonly PreflightCheck[]> {
    let agents: AgentClient[];
    try {
      agents = this.agents();
    } catch (error) {
      return [{ name: 'agents', ok: false, detail: (error as Error).message }];
    }
    return Promise.all(
      agents.map(async (a): Promise<PreflightCheck> => {
        try {
          const id = await a.identity(signal);
          return { name: `agent ${a.endpoint.url}`, ok: true, detail: `node ${id.hostId}` };
        } catch (error) {
          return {
            name: `agent ${a.endpoint.url}`,
            ok: false,
            detail: (error as Error).message,
            hint: 'Run `stillpoint agent` next to every Cassandra node (docs/backup-and-restore.md, Cassandra).',
          };
        }
      }),
    );
  }

  async prepare(signal: AbortSignal): Promise<void> {
    this.ringBefore = await this.ring(signal);
    await Promise.all(this.agents().map((a) => a.flush(this.keyspaces(), signal)));
  }

  async capture(signal: AbortSignal): Promise<CaptureResult> {
    this.attempt += 1;
    // The member's name is in the tag: members on one cluster snapshot the same nodes in the same window.
    const tag = `stillpoint-${this.ctx.backupId}-${this.ctx.member.name}-${this.attempt}`.replace(
      /[^A-Za-z0-9_.-]/g,
      '_',
    );
    this.tag = tag;
    this.snapshots.clear();
    this.failedNodes = [];
    this.pauseTimings = [];
    const results = await Promise.allSettled(
      this.agents().map(async (a) => {
        // Only the snapshot inside the pause: listing and hashing its files waits for finish.
        const { snapshotMs, flushMs } = await a.snapshot(tag, this.keyspaces(), signal, false);
        this.snapshots.add(a);
        this.pauseTimings.push({
          node: a.endpoint.url,
          snapshotMs,
          ...(flushMs === undefined ? {} : { flushMs }),
        });
      }),
    );
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        this.failedNodes.push(`${this.agents()[i]?.endpoint.url}: ${(r.reason as Error).message}`);
      }
    });
    const handle: RestoreHandle = { kind: 'snapshot', snapshotId: tag };
    return { handle, capturedAtMs: Date.now() };
  }

  async windowProblems(signal: AbortSignal): Promise<readonly string[]> {
    const problems = this.failedNodes.map((f) => `cassandra node did not snapshot: ${f}`);
    const after = await this.ring(signal).catch((error: Error) => {
      problems.push(`cassandra ring unreadable after the pause: ${error.message}`);
      return undefined;
    });
    if (after !== undefined && ringKey(after) !== ringKey(this.ringBefore)) {
      problems.push(
        `cassandra ring changed around the pause: ${describeRing(this.ringBefore)} → ${describeRing(after)}`,
      );
      this.ringBefore = after;
    }
    return problems;
  }

  async finish(_window: unknown, signal: AbortSignal): Promise<FinishedMember> {
    const tag = this.tag;
    if (tag === undefined || this.failedNodes.length > 0 || this.snapshots.size !== this.agents().length) {
      throw new EngineError(
        'CASSANDRA_SNAPSHOT_INCOMPLETE',
        `Member ${this.ctx.member.name}: not every node took snapshot ${tag ?? '(none)'}.`,
        {
          hint: 'Check the agents and nodes (nodetool status); run the backup again.',
          context: { member: this.ctx.member.name },
        },
      );
    }
    const refs: ArtifactRef[] = [];
    const figures = { uploadedBytes: 0, referencedBytes: 0, uploadedFiles: 0, referencedFiles: 0 };
    const identities = new Map(this.ringBefore.map((n, i) => [this.agents()[i], n]));
    const nodes: string[] = [];
    for (const agent of this.snapshots) {
      const files = await agent.snapshotFiles(tag, this.keyspaces(), signal);
      const id = identities.get(agent) ?? (await agent.identity(signal));
      const entries: NodeManifest['files'][number][] = [];
      for (const file of files) {
        const key = `${this.ctx.sharedPrefix}sstables/${id.hostId}/${file.keyspace}/${file.table}/${file.sha256.slice(0, 16)}-${file.name}`;
        if ((await this.ctx.artifacts.size(key)) === file.bytes) {
          refs.push({ key, bytes: file.bytes, sha256: file.sha256, shared: true });
          figures.referencedBytes += file.bytes;
          figures.referencedFiles += 1;
        } else {
          const ref = await this.ctx.artifacts.put(key, await agent.readFile(file.path, signal));
          if (ref.sha256 !== file.sha256 || ref.bytes !== file.bytes) {
            throw new EngineError(
              'CASSANDRA_SNAPSHOT_INCOMPLETE',
              `File ${file.path} of node ${id.hostId} changed while it was copied.`,
              {
                hint: 'Snapshot files are hard links and never change; check the node’s disk, then run the backup again.',
                context: { member: this.ctx.member.name, path: file.path },
              },
            );
          }
          refs.push({ ...ref, shared: true });
          figures.uploadedBytes += file.bytes;
          figures.uploadedFiles += 1;
        }
        entries.push({
          keyspace: file.keyspace,
          table: file.table,
          name: file.name,
          bytes: file.bytes,
          sha256: file.sha256,
          key,
        });
      }
      const manifest: NodeManifest = { hostId: id.hostId, tokens: id.tokens, files: entries };
      refs.push(
        await this.ctx.artifacts.put(
          `${this.ctx.artifactPrefix}nodes/${id.hostId}.json`,
          JSON.stringify(manifest),
        ),
      );
      nodes.push(id.hostId);
    }
    refs.push(
      await this.ctx.artifacts.put(
        `${this.ctx.artifactPrefix}schema.json`,
        JSON.stringify(await this.schema()),
      ),
    );
    await this.clearSnapshots();
    return {
      // `pause`: each node's snapshot call inside the pause and its flush share (benchmarks, diagnosis).
      handle: { kind: 'snapshot', snapshotId: tag, detail: { nodes, pause: this.pauseTimings } },
      artifacts: refs,
      bytes: figures.uploadedBytes,
      detail: { ...figures },
    };
  }

  async discard(): Promise<void> {
    await this.clearSnapshots().catch(() => {});
  }

  horizon(_handle: RestoreHandle, _signal: AbortSignal): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.discard();
  }

  private async clearSnapshots(): Promise<void> {
    const tag = this.tag;
    if (tag === undefined || this.clients === undefined) return;
    await Promise.allSettled(this.clients.map((a) => a.clearSnapshot(tag)));
  }

  /** The member's table schemas, read from Cassandra (restore recreates the tables from them). */
  private async schema(): Promise<TableSchema[]> {
    const storage = await createStorage(this.ctx.member.name, this.ctx.member.connection);
    try {
      const out: TableSchema[] = [];
      for (const ns of this.ctx.member.namespaces) out.push(...(await storage.listTables(ns)));
      return out;
    } finally {
      await storage.close();
    }
  }

  private async ring(signal: AbortSignal): Promise<NodeIdentity[]> {
    return Promise.all(this.agents().map((a) => a.identity(signal)));
  }
}

function ringKey(ring: readonly NodeIdentity[]): string {
  return JSON.stringify(ring.map((n) => [n.hostId, n.generation, n.tokens]));
}

function describeRing(ring: readonly NodeIdentity[]): string {
  return ring.map((n) => `${n.hostId.slice(0, 8)}@gen${n.generation}`).join(',');
}
