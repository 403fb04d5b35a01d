/**
 * One Consensus Commit transaction: the read phase (reads go to storage with lazy recovery and are
 * cached, so the transaction sees one snapshot of every record it touched, plus its own writes) and
 * buffered writes. The commit protocol itself is in commit.ts.
 */
import { InternalError, TransactionError } from '../errors.ts';
import type { Key, Row, TableRef, Transaction, Value } from './contract.ts';
import {
  commitTransaction,
  type ManagerContext,
  type ReadEntry,
  type ScanEntry,
  type WriteEntry,
} from './commit.ts';
import { isPending, recordId } from './records.ts';
import { keyOf, resolveRecord } from './recovery.ts';
import { userValues } from './schema.ts';

/** How many times a read re-reads a record after recovering it before giving up. */
const READ_ATTEMPTS = 3;

export class ConsensusTransaction implements Transaction {
  readonly reads = new Map<string, ReadEntry>();
  readonly writes = new Map<string, WriteEntry>();
  readonly scans: ScanEntry[] = [];
  private phase: 'active' | 'committing' | 'done' = 'active';

  constructor(
    readonly ctx: ManagerContext,
    readonly id: string,
    readonly isolation: 'snapshot' | 'serializable',
  ) {}

  async get(table: TableRef, key: Key): Promise<Row | undefined> {
    this.assertActive();
    const id = recordId(table, key);
    const write = this.writes.get(id);
    if (write !== undefined && write.values === undefined) return undefined;
    const read = this.reads.get(id) ?? (await this.readRecord(table, key));
    if (write !== undefined)
      return { ...(read.row === undefined ? {} : userValues(read.row)), ...key, ...write.values };
    return read.row === undefined ? undefined : userValues(read.row);
  }

  async scan(table: TableRef, partitionKey: Key): Promise<Row[]> {
    this.assertActive();
    const schema = await this.ctx.schemaOf(table);
    const rows = await this.scanResolved(table, partitionKey);
    const seen = new Map<string, Value>();
    const out: Row[] = [];
    const returned = new Set<string>();
    for (const stored of rows) {
      const key = keyOf(schema, stored);
      const id = recordId(table, key);
      seen.set(id, stored.tx_id ?? null);
      // Snapshot: a record read before keeps the version read first.
      const read = this.reads.get(id) ?? { table, key, row: stored };
      this.reads.set(id, read);
      returned.add(id);
      const visible = await this.get(table, key);
      if (visible !== undefined) out.push(visible);
    }
    // Read-your-writes: records this transaction inserted into the partition.
    for (const [id, write] of this.writes) {
      if (returned.has(id) || write.values === undefined || !sameTable(write.table, table)) continue;
      if (schema.partitionKey.every((c) => sameValue(write.key[c], partitionKey[c])))
        out.push({ ...write.values, ...write.key });
    }
    this.scans.push({ table, partitionKey, seen });
    return out;
  }

  put(table: TableRef, key: Key, values: Row): void {
    this.assertActive();
    const id = recordId(table, key);
    const previous = this.writes.get(id)?.values;
    this.writes.set(id, { table, key, values: { ...(previous ?? {}), ...values } });
  }

  delete(table: TableRef, key: Key): void {
    this.assertActive();
    this.writes.set(recordId(table, key), { table, key, values: undefined });
  }

  async commit(): Promise<void> {
    this.assertActive();
    this.phase = 'committing';
    try {
      await commitTransaction(this);
    } finally {
      this.phase = 'done';
    }
  }

  /** Nothing is written before commit, so aborting an active transaction only discards its buffers. */
  abort(): Promise<void> {
    if (this.phase === 'active') this.phase = 'done';
    return Promise.resolve();
  }

  /** Reads one record (resolving it if another transaction left it pending) into the read set. */
  async readRecord(table: TableRef, key: Key): Promise<ReadEntry> {
    const storage = this.ctx.group.storageFor(table.namespace);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt += 1) {
      const row = await storage.get(table, key);
      if (row === undefined || !isPending(row)) {
        const entry = { table, key, row };
        this.reads.set(recordId(table, key), entry);
        return entry;
      }
      const result = await resolveRecord(this.ctx.group, table, key, row, {
        expiryMs: this.ctx.expiryMs,
        now: this.ctx.now,
      });
      if (result === 'unresolved') throw this.undecided(table, row);
    }
    throw this.undecided(table, undefined);
  }

  /** A partition scan in which no record is left pending (each one resolved, then the scan repeated). */
  private async scanResolved(table: TableRef, partitionKey: Key): Promise<Row[]> {
    const storage = this.ctx.group.storageFor(table.namespace);
    const schema = await this.ctx.schemaOf(table);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt += 1) {
      const rows = await storage.scan(table, partitionKey);
      const pending = rows.filter((r) => isPending(r));
      if (pending.length === 0) return rows;
      for (const row of pending) {
        const result = await resolveRecord(this.ctx.group, table, keyOf(schema, row), row, {
          expiryMs: this.ctx.expiryMs,
          now: this.ctx.now,
        });
        if (result === 'unresolved') throw this.undecided(table, row);
      }
    }
    throw this.undecided(table, undefined);
  }

  /**
   * A record another transaction prepared and has not decided yet (and whose expiry has not passed): we
   * cannot know its value, so this transaction fails with a retryable error instead of guessing.
   */
  private undecided(table: TableRef, row: Row | undefined): TransactionError {
    return new TransactionError(
      'TX_UNKNOWN_STATE_RETRY',
      `A record of ${table.namespace}.${table.table} is being written by another transaction.`,
      {
        hint: 'Retry the transaction; the other one commits or expires soon.',
        context: { txId: this.id, ...(row === undefined ? {} : { writer: row.tx_id }) },
      },
    );
  }

  private assertActive(): void {
    if (this.phase !== 'active') {
      throw new InternalError(
        'TX_CLOSED',
        `Transaction ${this.id} is already ${this.phase === 'done' ? 'finished' : 'committing'}.`,
        {
          hint: 'Begin a new transaction.',
          context: { txId: this.id },
        },
      );
    }
  }
}

function sameTable(a: TableRef, b: TableRef): boolean {
  return a.namespace === b.namespace && a.table === b.table;
}

function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  return (
    recordId({ namespace: '', table: '' }, { v: a ?? null }) ===
    recordId({ namespace: '', table: '' }, { v: b ?? null })
  );
}
