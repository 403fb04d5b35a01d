/**
 * The mutation stored procedure, registered as `mutate.js` in every container (ScalarDB's id and argument
 * layout, `core/src/main/resources/cosmosdb_stored_procedure/mutate.js`): `num`, then `num` type codes
 * (PUT=0, PUT_IF_NOT_EXISTS=1, PUT_IF=2, DELETE_IF=3), `num` records, `num` queries. Each query selects the
 * record with its condition; no match fails the call for every type but PUT/PUT_IF_NOT_EXISTS, a match
 * fails PUT_IF_NOT_EXISTS. The whole call is one server-side transaction in the partition: any failure
 * undoes every write of the call. Which path runs where: docs/decisions/0009-cosmos-mutations.md.
 */
import type { Condition } from '../../contract.ts';
import type { CosmosRecord } from './documents.ts';

export const STORED_PROCEDURE_ID = 'mutate.js';
/** What our body throws when a condition does not hold (the client maps it to TX_CONDITION_FAILED). */
export const CONDITION_FAILED_MARKER = 'STILLPOINT_NO_MUTATION';

export const MutationType = { PUT: 0, PUT_IF_NOT_EXISTS: 1, PUT_IF: 2, DELETE_IF: 3 } as const;

/** The body (server-side JavaScript, ES5: the Cosmos DB script runtime). */
export const STORED_PROCEDURE_BODY = String.raw`function mutate(num) {
  var collection = getContext().getCollection();
  var link = collection.getSelfLink();
  var args = Array.prototype.slice.call(arguments, 1);
  var types = args.slice(0, num), records = args.slice(num, 2 * num), queries = args.slice(2 * num, 3 * num);
  function fail(msg) { throw new Error('${CONDITION_FAILED_MARKER}: ' + msg); }
  function merge(base, next) {
    var out = {}, k;
    for (k in base) out[k] = base[k];
    for (k in next) { if (next[k] === null) delete out[k]; else out[k] = next[k]; }
    return out;
  }
  function step(i) {
    if (i >= num) { getContext().getResponse().setBody(true); return; }
    var accepted = collection.queryDocuments(link, queries[i], {}, function (err, docs) {
      if (err) throw err;
      var type = types[i], record = records[i], done = function (e) { if (e) throw e; step(i + 1); };
      if (docs.length === 0) {
        if (type === 0 || type === 1) {
          record.values = merge({}, record.values);
          if (!collection.createDocument(link, record, done)) throw new Error('not accepted');
        } else fail('no record matches');
        return;
      }
      if (type === 1) fail('record exists');
      if (type === 3) {
        if (!collection.deleteDocument(docs[0]._self, {}, done)) throw new Error('not accepted');
        return;
      }
      var doc = docs[0];
      doc.values = merge(doc.values || {}, record.values);
      if (!collection.replaceDocument(doc._self, doc, { etag: doc._etag }, done)) throw new Error('not accepted');
    });
    if (!accepted) throw new Error('not accepted');
  }
  step(0);
}`;

/** The type code of a put or delete with this condition. */
export function mutationType(kind: 'put' | 'delete', condition: Condition | undefined): number {
  if (kind === 'delete') return MutationType.DELETE_IF;
  if (condition === undefined) return MutationType.PUT;
  if (condition.kind === 'ifNotExists') return MutationType.PUT_IF_NOT_EXISTS;
  return MutationType.PUT_IF;
}

/** ScalarDB's inline query for one record and its condition (`cosmos/ConditionalQueryBuilder.java`). */
export function conditionQuery(record: Pick<CosmosRecord, 'id'>, condition: Condition | undefined): string {
  const clauses = [`r.id = ${JSON.stringify(record.id)}`];
  const v = (column: string) => `r["values"][${JSON.stringify(column)}]`;
  switch (condition?.kind) {
    case 'ifTxId':
      clauses.push(`${v('tx_id')} = ${JSON.stringify(condition.txId)}`);
      break;
    case 'ifTxIdIsNull':
      clauses.push(`NOT IS_DEFINED(${v('tx_id')})`);
      break;
    case 'ifTxIdAndState':
      clauses.push(
        `${v('tx_id')} = ${JSON.stringify(condition.txId)}`,
        `${v('tx_state')} = ${condition.state}`,
      );
      break;
    default:
      break;
  }
  return `SELECT * FROM r WHERE ${clauses.join(' AND ')}`;
}
