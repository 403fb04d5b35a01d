/**
 * The ETag mutation path (docs/decisions/0009-cosmos-mutations.md): per record, read the document with its
 * `_etag`, evaluate the condition on that version, and write only if the document is still that version
 * (`If-Match` on replace/delete; create fails with 409 if someone created it first). A lost race re-reads
 * and re-evaluates, so the condition and the write always see the same version: a compare-and-swap.
 * Atomicity is per record; conditional mutations run in order and stop at the first failed condition.
 */
import type { ErrorResponse } from '@azure/cosmos';
import { TransactionError } from '../../../errors.ts';
import type { Condition, Mutation, TableRef } from '../../contract.ts';
import { fullTableName } from '../../schema.ts';
import type { CosmosContainers, TableInfo } from './containers.ts';
import { documentIds, emptyRecord, mergeValues, type CosmosRecord } from './documents.ts';

/** Unconditional writes applied at once (distinct records; order among them does not matter). */
const UNCONDITIONAL_PARALLELISM = 16;
/** Lost races in a row before giving up with TX_CONFLICT (each one means another writer made progress). */
const MAX_RACES = 50;

export async function applyWithEtag(
  storage: CosmosContainers,
  mutations: readonly Mutation[],
  infoOf: (ref: TableRef) => TableInfo,
): Promise<void> {
  if (mutations.every((m) => m.condition === undefined)) {
    for (let i = 0; i < mutations.length; i += UNCONDITIONAL_PARALLELISM) {
      await Promise.all(
        mutations.slice(i, i + UNCONDITIONAL_PARALLELISM).map((m) => applyOne(storage, m, infoOf(m.table))),
      );
    }
    return;
  }
  for (const m of mutations) await applyOne(storage, m, infoOf(m.table));
}

async function applyOne(storage: CosmosContainers, m: Mutation, info: TableInfo): Promise<void> {
  const container = storage.container(m.table);
  const { id, partition } = documentIds(info, m.key);
  for (let race = 0; race < MAX_RACES; race += 1) {
    const current = await storage.readRecord(m.table, info, m.key);
    if (!holds(m.condition, current)) throw conditionFailed(storage, m.table);
    try {
      if (m.kind === 'delete') {
        if (current === undefined) return; // unconditional delete of nothing
        await container.item(id, partition).delete({ accessCondition: ifMatch(current) });
        return;
      }
      if (current === undefined) {
        await container.items.create(mergeValues(info, emptyRecord(info, m.key), m.values));
        return;
      }
      await container.item(id, partition).replace(mergeValues(info, stripSystem(current), m.values), {
        accessCondition: ifMatch(current),
      });
      return;
    } catch (error) {
      const status = (error as ErrorResponse).code;
      // 412: changed since we read it; 409: created since we read it; 404: deleted since. Re-read.
      if (status === 412 || status === 409 || status === 404) continue;
      throw error;
    }
  }
  throw new TransactionError(
    'TX_CONFLICT',
    `Record ${id} of ${fullTableName(m.table)} kept changing under ${MAX_RACES} conditional writes.`,
    { hint: 'Retry the transaction.', context: { storage: storage.name, table: fullTableName(m.table) } },
  );
}

function ifMatch(doc: CosmosRecord): { type: string; condition: string } {
  return { type: 'IfMatch', condition: doc._etag ?? '' };
}

/** The ScalarDB fields of a stored document (system fields `_rid`, `_ts` … are the server's). */
function stripSystem(doc: CosmosRecord): CosmosRecord {
  return {
    id: doc.id,
    concatenatedPartitionKey: doc.concatenatedPartitionKey,
    partitionKey: doc.partitionKey ?? {},
    clusteringKey: doc.clusteringKey ?? {},
    values: doc.values ?? {},
  };
}

/** The condition on the version read (undefined = no record). */
export function holds(condition: Condition | undefined, doc: CosmosRecord | undefined): boolean {
  if (condition === undefined) return true;
  if (condition.kind === 'ifNotExists') return doc === undefined;
  if (doc === undefined) return false;
  const txId = doc.values?.tx_id;
  switch (condition.kind) {
    case 'ifExists':
      return true;
    case 'ifTxId':
      return txId === condition.txId;
    case 'ifTxIdIsNull':
      return txId === undefined || txId === null;
    case 'ifTxIdAndState':
      return txId === condition.txId && doc.values?.tx_state === condition.state;
  }
}

function conditionFailed(storage: CosmosContainers, table: TableRef): TransactionError {
  return new TransactionError(
    'TX_CONDITION_FAILED',
    `A mutation's condition did not hold on storage ${storage.name}; it was not applied.`,
    {
      hint: 'Another transaction wrote the record first; retry the transaction.',
      context: { storage: storage.name, table: fullTableName(table) },
    },
  );
}

export { conditionFailed };
