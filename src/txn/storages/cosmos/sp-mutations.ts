/**
 * The stored-procedure mutation path (real Cosmos DB; docs/decisions/0009-cosmos-mutations.md): consecutive
 * mutations of one partition go to one call of `mutate.js`, which evaluates each condition and writes in one
 * server-side transaction (all or nothing in the partition). An unconditional full-key delete is a plain
 * delete, as in ScalarDB.
 */
import type { ErrorResponse } from '@azure/cosmos';
import type { Mutation, TableRef } from '../../contract.ts';
import { fullTableName } from '../../schema.ts';
import type { CosmosContainers, TableInfo } from './containers.ts';
import { documentIds, emptyRecord, toJson, type CosmosRecord, type JsonValue } from './documents.ts';
import { conditionFailed } from './etag-mutations.ts';
import {
  CONDITION_FAILED_MARKER,
  conditionQuery,
  mutationType,
  STORED_PROCEDURE_ID,
} from './stored-procedure.ts';

export async function applyWithStoredProcedure(
  storage: CosmosContainers,
  mutations: readonly Mutation[],
  infoOf: (ref: TableRef) => TableInfo,
): Promise<void> {
  let batch: Mutation[] = [];
  let batchKey = '';
  const flush = async () => {
    if (batch.length > 0) await callProcedure(storage, batch, infoOf);
    batch = [];
  };
  for (const m of mutations) {
    const info = infoOf(m.table);
    const key = `${fullTableName(m.table)}\u0000${documentIds(info, m.key).partition}`;
    if (m.kind === 'delete' && m.condition === undefined) {
      await flush();
      const { id, partition } = documentIds(info, m.key);
      await storage
        .container(m.table)
        .item(id, partition)
        .delete()
        .catch((error: ErrorResponse) => {
          if (error.code !== 404) throw error;
        });
      continue;
    }
    if (key !== batchKey) await flush();
    batchKey = key;
    batch.push(m);
  }
  await flush();
}

async function callProcedure(
  storage: CosmosContainers,
  batch: readonly Mutation[],
  infoOf: (ref: TableRef) => TableInfo,
): Promise<void> {
  const first = batch[0] as Mutation;
  const info = infoOf(first.table);
  const records: CosmosRecord[] = batch.map((m) => {
    const record = emptyRecord(info, m.key);
    if (m.kind === 'put') {
      const keys = new Set([...info.schema.partitionKey, ...info.schema.clusteringKey]);
      const values: Record<string, JsonValue | null> = {};
      for (const [column, value] of Object.entries(m.values)) {
        if (keys.has(column)) continue;
        values[column] = value === null ? null : toJson(value, info.physical[column], column);
      }
      record.values = values as Record<string, JsonValue>;
    }
    return record;
  });
  const args = [
    batch.length,
    ...batch.map((m) => mutationType(m.kind, m.condition)),
    ...records,
    ...batch.map((m, i) => conditionQuery(records[i] as CosmosRecord, m.condition)),
  ];
  try {
    await storage
      .container(first.table)
      .scripts.storedProcedure(STORED_PROCEDURE_ID)
      .execute(documentIds(info, first.key).partition, args);
  } catch (error) {
    const e = error as ErrorResponse;
    if (e.code === 412 || String(e.message).includes(CONDITION_FAILED_MARKER)) {
      throw conditionFailed(storage, first.table);
    }
    throw error;
  }
}
