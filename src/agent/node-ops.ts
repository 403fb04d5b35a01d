/**
 * What `stillpoint agent` does on its own Cassandra node: flush, snapshot, clearsnapshot and the node's
 * identity through the long-lived JMX helper (./jmx-session.ts) when it has one, nodetool (over local JMX)
 * otherwise and for everything else (import, status, drain); the data directories for listing, checksumming and reading
 * snapshot files and for staging files of a restore. The agent server (./server.ts) exposes these over HTTP.
 *
 * Paths handed out are RELATIVE to a data directory (`<ks>/<table>-<id>/snapshots/<tag>/<file>`) and every
 * path taken in is checked to stay inside it (no `..`, no absolute paths).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { promisify } from 'node:util';
import { EngineError } from '../errors.ts';
import { JmxSession } from './jmx-session.ts';

const execFileAsync = promisify(execFile);

const DEFAULT_JMX_TIMEOUT_MS = 60_000;
const STATUS_JMX_TIMEOUT_MS = 20_000;

export interface NodeOpsConfig {
  /** The nodetool command line up to its arguments, e.g. `['nodetool', '-h', '127.0.0.1', '-p', '7199']`. */
  readonly nodetool: readonly string[];
  /** The node's `data_file_directories` (snapshots live under them). */
  readonly dataDirs: readonly string[];
  /** Where restore files are staged before `nodetool import` (default `<first data dir>/../stillpoint-staging`). */
  readonly stagingDir?: string;
  readonly timeoutMs?: number;
  /**
   * The node's JMX endpoint for the agent's long-lived JMX helper (./jmx-session.ts): flush and snapshot
   * then cost one MBean call instead of a nodetool JVM. Absent: nodetool for everything.
   */
  readonly jmx?: { readonly host: string; readonly port: number };
  /**
   * How long one flush or snapshot through the JMX helper may take, ms (default 60 s): past it the helper
   * is replaced and the call fails with `AGENT_TIMEOUT`. Below the client's snapshot deadline (120 s), so
   * that a hung helper is gone before the next attempt's call.
   */
  readonly jmxTimeoutMs?: number;
  /** The node's commitlog and hints directories (cleared by a full-cluster restore while the node is down). */
  readonly commitlogDir?: string;
  readonly hintsDir?: string;
  /** How to stop and start the node (full-cluster restore); absent: the agent refuses those calls. */
  readonly lifecycle?: NodeLifecycle;
}

/** Stops / starts the Cassandra process next to the agent; both must be no-ops when already done. */
export interface NodeLifecycle {
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** One table of a full-cluster restore: its directory under the keyspace (`<table>-<id without dashes>`). */
export interface TableDir {
  readonly keyspace: string;
  readonly dir: string;
}

export interface NodeIdentity {
  readonly hostId: string;
  /** Gossip generation: changes whenever the node restarts. */
  readonly generation: number;
  readonly tokens: readonly string[];
}

export interface SnapshotFile {
  /** Relative to the data directory: `<keyspace>/<table>-<id>/snapshots/<tag>/<name>`. */
  readonly path: string;
  readonly keyspace: string;
  readonly table: string;
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

export class NodeOps {
  private readonly jmx: JmxSession | undefined;

  constructor(readonly config: NodeOpsConfig) {
    const jmxTimeoutMs = config.jmxTimeoutMs ?? DEFAULT_JMX_TIMEOUT_MS;
    this.jmx =
      config.jmx === undefined
        ? undefined
        : new JmxSession(config.jmx.host, config.jmx.port, 'java', jmxTimeoutMs);
  }

  /** Stops the JMX helper. */
  close(): void {
    this.jmx?.close();
  }

  /**
   * The JMX helper's answer words (ms first) when there is a helper; undefined when there is none or it
   * failed (e.g. no `java` next to the agent, or the node is down): the caller then runs nodetool, which
   * reports the real error, if any. A JMX call past its deadline fails the call instead: the node hangs,
   * and a nodetool JVM would hang on it too, past the caller's deadline.
   */
  private async viaJmx(
    command: readonly string[],
    timeoutMs = this.jmxTimeoutMs(),
  ): Promise<string[] | undefined> {
    if (this.jmx === undefined) return undefined;
    try {
      return await this.jmx.run(command, timeoutMs);
    } catch (error) {
      if (error instanceof EngineError && error.code === 'AGENT_TIMEOUT') throw error;
      return undefined;
    }
  }

  private jmxTimeoutMs(): number {
    return this.config.jmxTimeoutMs ?? DEFAULT_JMX_TIMEOUT_MS;
  }

  /** For the short calls (identity, clear a snapshot): under the client's status deadline (30 s). */
  private statusJmxTimeoutMs(): number {
    return Math.min(this.jmxTimeoutMs(), STATUS_JMX_TIMEOUT_MS);
  }

  async nodetool(args: readonly string[]): Promise<string> {
    const [command, ...prefix] = this.config.nodetool;
    if (command === undefined) throw new Error('agent: empty nodetool command');
    try {
      const { stdout } = await execFileAsync(command, [...prefix, ...args], {
        timeout: this.config.timeoutMs ?? 300_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    } catch (error) {
      const e = error as { stderr?: string; stdout?: string; message: string };
      throw new EngineError(
        'AGENT_NODETOOL_FAILED',
        `nodetool ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim().slice(0, 2000)}`,
        {
          hint: 'Check that Cassandra is up and JMX is reachable with the agent’s nodetool settings.',
          context: { args: args.join(' ') },
          cause: error,
        },
      );
    }
  }

  /**
   * Host id, gossip generation and tokens: the JMX helper's `identity` (one MBean round trip per value), or
   * `nodetool info -T` (a JVM start: 2–10 s on two cores next to three nodes, and the ring is read around
   * every pause).
   */
  async identity(): Promise<NodeIdentity> {
    const words = await this.viaJmx(['identity'], this.statusJmxTimeoutMs());
    if (words !== undefined) {
      const [, hostId = '', generation = '0', tokens = ''] = words;
      return {
        hostId: hostId === 'null' ? '' : hostId, // a node still starting has none yet
        generation: Number(generation),
        tokens: tokens.split(',').filter(Boolean).sort(),
      };
    }
    const out = await this.nodetool(['info', '-T']);
    const hostId = /^ID\s*:\s*(\S+)/m.exec(out)?.[1] ?? '';
    const generation = Number(/^Generation No\s*:\s*(\d+)/m.exec(out)?.[1] ?? 0);
    const tokens = [...out.matchAll(/^Token\s*:\s*(\S+)/gm)].map((m) => m[1] ?? '').sort();
    return { hostId, generation, tokens };
  }

  async flush(keyspaces: readonly string[]): Promise<void> {
    for (const ks of keyspaces) {
      if ((await this.viaJmx(['flush', ks])) === undefined) await this.nodetool(['flush', '--', ks]);
    }
  }

  /**
   * `nodetool snapshot -t <tag>` of the keyspaces (flushes first, then hard links). Through the JMX helper
   * the flush is timed on its own: `flushMs` (absent through nodetool).
   */
  async snapshot(tag: string, keyspaces: readonly string[]): Promise<{ flushMs?: number }> {
    checkName(tag, 'tag');
    const words = await this.viaJmx(['snapshot', tag, ...keyspaces]);
    if (words === undefined) {
      await this.nodetool(['snapshot', '-t', tag, '--', ...keyspaces]);
      return {};
    }
    return { flushMs: Number(words[1]) };
  }

  async clearSnapshot(tag: string): Promise<void> {
    checkName(tag, 'tag');
    if ((await this.viaJmx(['clearsnapshot', tag], this.statusJmxTimeoutMs())) !== undefined) return;
    await this.nodetool(['clearsnapshot', '-t', tag, '--all']).catch(() =>
      this.nodetool(['clearsnapshot', '-t', tag]),
    );
  }

  /** Every file of snapshot `tag`, with size and sha256 (SSTables are immutable: hashing once is enough). */
  async snapshotFiles(tag: string, keyspaces: readonly string[]): Promise<SnapshotFile[]> {
    checkName(tag, 'tag');
    const out: SnapshotFile[] = [];
    for (const dataDir of this.config.dataDirs) {
      for (const keyspace of keyspaces) {
        const ksDir = join(dataDir, keyspace);
        for (const tableDir of await dirs(ksDir)) {
          const snapDir = join(ksDir, tableDir, 'snapshots', tag);
          for (const name of await filesIn(snapDir)) {
            const full = join(snapDir, name);
            out.push({
              path: [keyspace, tableDir, 'snapshots', tag, name].join('/'),
              keyspace,
              table: tableDir.replace(/-[0-9a-f]{32}$/, ''),
              name,
              bytes: (await stat(full)).size,
              sha256: await sha256(full),
            });
          }
        }
      }
    }
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Opens a snapshot file for reading; only paths under `…/snapshots/…` of a data directory. */
  openSnapshotFile(path: string): NodeJS.ReadableStream {
    const rel = safeRelative(path);
    if (!rel.split('/').includes('snapshots')) {
      throw new EngineError('AGENT_BAD_PATH', `Not a snapshot file: ${path}`, {
        hint: 'Only files listed by the snapshot call can be read.',
        context: { path },
      });
    }
    return createReadStream(join(this.config.dataDirs[0] ?? '', rel));
  }

  stagingRoot(): string {
    return this.config.stagingDir ?? join(this.config.dataDirs[0] ?? '', '..', 'stillpoint-staging');
  }

  /** The directory a restore's files for one table are staged in. */
  async stagingDirFor(restoreId: string, keyspace: string, table: string): Promise<string> {
    for (const [v, what] of [
      [restoreId, 'restore id'],
      [keyspace, 'keyspace'],
      [table, 'table'],
    ] as const)
      checkName(v, what);
    const dir = join(this.stagingRoot(), restoreId, keyspace, table);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** `nodetool import <ks> <table> <dir>`: loads staged SSTables into a live table (non-destructive). */
  async importStaged(restoreId: string, keyspace: string, table: string): Promise<void> {
    const dir = await this.stagingDirFor(restoreId, keyspace, table);
    await this.nodetool(['import', '--', keyspace, table, dir]);
  }

  async clearStaging(restoreId: string): Promise<void> {
    checkName(restoreId, 'restore id');
    await rm(join(this.stagingRoot(), restoreId), { recursive: true, force: true });
  }
  // ---- full-cluster restore (the node's part; the engine orders the steps across nodes) ----

  /** True when the node answers over JMX. */
  async isUp(): Promise<boolean> {
    return this.identity().then(
      (id) => id.hostId !== '',
      () => false,
    );
  }

  /** `nodetool drain` (flushes every memtable: the commit log is then empty of data) and stops the node. */
  async stopNode(): Promise<void> {
    const lifecycle = this.lifecycleOrThrow();
    if (await this.isUp()) await this.nodetool(['drain']);
    await lifecycle.stop();
  }

  async startNode(): Promise<void> {
    await this.lifecycleOrThrow().start();
  }

  /** `UN` lines of `nodetool status`: the nodes this node sees up and normal. */
  async upNodes(): Promise<number> {
    return ((await this.nodetool(['status'])).match(/^UN\s/gm) ?? []).length;
  }

  /**
   * Deletes the live SSTables of the given tables (files directly in the table directory; `snapshots/` and
   * `backups/` stay), the whole commit log, the hints and the Paxos state (`system.paxos`). Only while the
   * node is down (after a drain, so the commit log holds nothing unflushed).
   */
  async clearData(tables: readonly TableDir[]): Promise<{ removed: number }> {
    if (await this.isUp()) {
      throw new EngineError('AGENT_NODE_RUNNING', 'Refusing to clear data files: the node is up.', {
        hint: 'Stop the node first (the full-cluster restore does: drain, then --stop-command).',
      });
    }
    let removed = 0;
    for (const t of tables) {
      checkName(t.keyspace, 'keyspace');
      checkName(t.dir, 'table directory');
      for (const dataDir of this.config.dataDirs) {
        const dir = join(dataDir, t.keyspace, t.dir);
        for (const name of await filesIn(dir)) {
          await rm(join(dir, name), { force: true });
          removed++;
        }
      }
    }
    // Paxos state of later LWTs would otherwise be repaired onto the restored rows by the next SERIAL read.
    const paxos: string[] = [];
    for (const dataDir of this.config.dataDirs) {
      for (const d of await dirs(join(dataDir, 'system'))) {
        if (/^paxos-[0-9a-f]{32}$/.test(d)) paxos.push(join(dataDir, 'system', d));
      }
    }
    for (const dir of [this.config.commitlogDir, this.config.hintsDir, ...paxos]) {
      if (dir === undefined) continue;
      for (const name of await filesIn(dir)) {
        await rm(join(dir, name), { force: true });
        removed++;
      }
    }
    return { removed };
  }

  /** Where a placed file is written before its rename into the table directory (same filesystem). */
  async placeTemp(restoreId: string, name: string): Promise<string> {
    checkName(name, 'file name');
    const dir = await this.stagingDirFor(restoreId, '_place', '_files');
    return join(dir, name);
  }

  /** Moves a fully written temp file into the table directory: a crash never leaves half a file there. */
  async placeCommit(restoreId: string, t: TableDir, name: string): Promise<void> {
    checkName(t.keyspace, 'keyspace');
    checkName(t.dir, 'table directory');
    const target = join(this.config.dataDirs[0] ?? '', t.keyspace, t.dir);
    await mkdir(target, { recursive: true, mode: 0o700 });
    await rename(await this.placeTemp(restoreId, name), join(target, name));
  }

  private lifecycleOrThrow(): NodeLifecycle {
    if (this.config.lifecycle === undefined) {
      throw new EngineError('AGENT_LIFECYCLE_UNSET', 'This agent cannot stop or start its node.', {
        hint: 'Start the agent with --stop-command and --start-command (see docs/backup-and-restore.md, Cassandra).',
      });
    }
    return this.config.lifecycle;
  }
}

/** Names we put in paths and nodetool arguments: letters, digits, `_`, `-`, `.` (no separators). */
export function checkName(value: string, what: string): void {
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(value) || value.startsWith('.')) {
    throw new EngineError('AGENT_BAD_PATH', `Bad ${what}: ${JSON.stringify(value)}`, {
      hint: 'Use letters, digits, `_`, `-` and `.` only.',
      context: { [what]: value },
    });
  }
}

function safeRelative(path: string): string {
  const rel = normalize(path).split(sep).join('/');
  if (rel.startsWith('/') || rel.split('/').includes('..')) {
    throw new EngineError('AGENT_BAD_PATH', `Path leaves the data directory: ${path}`, {
      hint: 'Only relative paths inside the node’s data directory are accepted.',
      context: { path },
    });
  }
  return rel;
}

async function dirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
