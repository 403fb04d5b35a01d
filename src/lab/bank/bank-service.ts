/**
 * The node's data service (`stillpoint.bank.Bank`): each RPC is ONE whole transaction and ONE gate unit, so a
 * pause that drained the gate has no transaction of this node in flight.
 *
 * Errors map to gRPC codes clients can act on, with the stable code in trailing metadata `stillpoint-code`:
 * GATE_PAUSED and STORAGE_CONNECTION_LOST (a database restarting under the node) → UNAVAILABLE (retry later),
 * TX_CONFLICT → ABORTED (retry), ConfigError → INVALID_ARGUMENT,
 * BANK_NO_SUCH_ACCOUNT → NOT_FOUND, BANK_ACCOUNT_EXISTS → ALREADY_EXISTS, anything else → INTERNAL.
 */
import * as grpc from '@grpc/grpc-js';
import { ConfigError, PauseError, asStillpointError } from '../../errors.ts';
import type { Gate } from '../../pause/contract.ts';
import type { Key, Row, TransactionManager, Value } from '../../txn/contract.ts';
import type { Authorizer, NodeService, NodeServiceContext } from '../../node/node-service.ts';
import { createAccounts, getBalances, transfer } from './bank-schema.ts';
import {
  ERROR_CODE_METADATA_KEY,
  type CreateAccountsRequest,
  type CreateAccountsResponse,
  type ExecuteBatchRequest,
  type ExecuteBatchResponse,
  type GetBalancesRequest,
  type GetBalancesResponse,
  type OperationMessage,
  type TransferRequestMessage,
  type TransferResponse,
} from './bank-proto.ts';
import { BANK_SERVICE_NAME, loadBankProto } from './bank-proto.ts';

/** The bank data API as a node service: `startNode(config, { services: [bankNodeService] })`. */
export const bankNodeService: NodeService = {
  name: BANK_SERVICE_NAME,
  definition: () => loadBankProto().service,
  handlers: (context) => bankHandlers(context),
};

export type BankServiceOptions = NodeServiceContext;

/** The handlers of `stillpoint.bank.Bank`, for `server.addService(loadBankProto().service, …)`. */
export function bankHandlers(options: BankServiceOptions): grpc.UntypedServiceImplementation {
  const { tm, gate } = options;
  const unary = <Req, Res>(
    g: Gate | undefined,
    fn: (request: Req, heldMs: number) => Promise<Res>,
    method: string,
  ): grpc.handleUnaryCall<Req, Res> => guarded(options.authorised, method, gatedUnary(g, fn));
  return {
    CreateAccounts: unary(
      gate,
      async (req: CreateAccountsRequest): Promise<CreateAccountsResponse> => {
        if (req.account_ids.length === 0 || req.initial_balance < 0) {
          throw new ConfigError(
            'BANK_BAD_REQUEST',
            'CreateAccounts needs at least one account id and a non-negative balance.',
            { hint: 'Send account_ids and initial_balance >= 0.' },
          );
        }
        return {
          tx_id: await tm.run(
            async (tx) => (await createAccounts(tx, req.account_ids, req.initial_balance), tx.id),
          ),
        };
      },
      'CreateAccounts',
    ),
    Transfer: unary(
      gate,
      async (req: TransferRequestMessage, heldMs: number): Promise<TransferResponse> => {
        if (req.transfer_id === '' || req.amount <= 0) {
          throw new ConfigError('BANK_BAD_REQUEST', 'Transfer needs a transfer_id and a positive amount.', {
            hint: 'Send transfer_id and amount > 0.',
          });
        }
        const request = {
          transferId: req.transfer_id,
          from: req.from_account,
          to: req.to_account,
          amount: req.amount,
        };
        return tm.run(async (tx) => ({
          applied: (await transfer(tx, request)) === 'applied',
          tx_id: tx.id,
          held_ms: heldMs,
        }));
      },
      'Transfer',
    ),
    GetBalances: unary(
      gate,
      async (req: GetBalancesRequest): Promise<GetBalancesResponse> => {
        const balances = await tm.run((tx) => getBalances(tx, req.account_ids));
        return {
          balances: [...balances].map(([account_id, balance]) => ({ account_id, balance: Number(balance) })),
        };
      },
      'GetBalances',
    ),
    ExecuteBatch: unary(gate, (req: ExecuteBatchRequest) => executeBatch(tm, req.operations), 'ExecuteBatch'),
  };
}

async function executeBatch(
  tm: TransactionManager,
  operations: readonly OperationMessage[],
): Promise<ExecuteBatchResponse> {
  const parsed = operations.map((op, i) => parseOperation(op, i));
  return tm.run(async (tx) => {
    const results: ExecuteBatchResponse['results'] = [];
    for (const op of parsed) {
      if (op.kind === 'get') {
        const row = await tx.get(op.table, op.key);
        results.push({ found: row !== undefined, row_json: row === undefined ? '' : rowToJson(row) });
      } else if (op.kind === 'put') {
        tx.put(op.table, op.key, op.values);
        results.push({ found: false, row_json: '' });
      } else {
        tx.delete(op.table, op.key);
        results.push({ found: false, row_json: '' });
      }
    }
    return { results, tx_id: tx.id };
  });
}

interface ParsedOperation {
  readonly kind: 'get' | 'put' | 'delete';
  readonly table: { readonly namespace: string; readonly table: string };
  readonly key: Key;
  readonly values: Row;
}

function parseOperation(op: OperationMessage, index: number): ParsedOperation {
  const bad = (what: string): ConfigError =>
    new ConfigError('BANK_BAD_REQUEST', `operation ${index}: ${what}.`, {
      context: { key: String(index) },
      hint: 'Each operation needs kind put|get|delete, namespace, table, key_json (and values_json for put).',
    });
  if (op.kind !== 'get' && op.kind !== 'put' && op.kind !== 'delete') throw bad(`unknown kind "${op.kind}"`);
  if (op.namespace === '' || op.table === '') throw bad('namespace and table are required');
  const key = parseObject(op.key_json, () => bad('key_json is not a JSON object'));
  const values =
    op.kind === 'put' ? parseObject(op.values_json, () => bad('values_json is not a JSON object')) : {};
  return { kind: op.kind, table: { namespace: op.namespace, table: op.table }, key, values };
}

function parseObject(text: string, error: () => Error): Record<string, Value> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw error();
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw error();
  return value as Record<string, Value>;
}

/** A row as JSON: bigints as decimal strings, BLOBs as base64. */
export function rowToJson(row: Row): string {
  return JSON.stringify(row, (_k, v: unknown) =>
    typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
  );
}

/** The token check first (before the gate: a refused caller never holds a gate unit), then the handler. */
function guarded<Req, Res>(
  authorised: Authorizer | undefined,
  method: string,
  handler: grpc.handleUnaryCall<Req, Res>,
): grpc.handleUnaryCall<Req, Res> {
  if (authorised === undefined) return handler;
  return (call, callback) => {
    if (authorised(call, callback, method)) handler(call, callback);
  };
}

/** Wraps a promise-returning handler: one gate unit around it, errors mapped to gRPC statuses. */
function gatedUnary<Req, Res>(
  gate: Gate | undefined,
  fn: (request: Req, heldMs: number) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    gated(gate, (heldMs) => fn(call.request, heldMs)).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(error)),
    );
  };
}

/**
 * One gate unit for the WHOLE transaction. Not ../pause/grpc-gate.ts `withGate`: that releases the ticket when
 * the caller cancels (e.g. its deadline passes), while our transaction may still be committing — a pause could
 * then report drained with a commit in flight. Here the ticket is released only once the transaction settled.
 */
async function gated<T>(gate: Gate | undefined, fn: (heldMs: number) => Promise<T>): Promise<T> {
  if (gate === undefined) return fn(0);
  const ticket = await gate.enter();
  try {
    return await fn(ticket.heldMs);
  } finally {
    ticket.release();
  }
}

const STATUS_BY_CODE: Readonly<Record<string, grpc.status>> = {
  GATE_PAUSED: grpc.status.UNAVAILABLE,
  GATE_QUEUE_FULL: grpc.status.UNAVAILABLE,
  GATE_HOLD_TIMED_OUT: grpc.status.UNAVAILABLE,
  STORAGE_CONNECTION_LOST: grpc.status.UNAVAILABLE,
  TX_CONFLICT: grpc.status.ABORTED,
  TX_UNKNOWN_STATE_RETRY: grpc.status.ABORTED,
  BANK_NO_SUCH_ACCOUNT: grpc.status.NOT_FOUND,
  BANK_ACCOUNT_EXISTS: grpc.status.ALREADY_EXISTS,
};

function toServiceError(error: unknown): Partial<grpc.ServiceError> {
  const e = asStillpointError(error);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, e.code);
  let code = STATUS_BY_CODE[e.code];
  if (code === undefined)
    code =
      e instanceof ConfigError
        ? grpc.status.INVALID_ARGUMENT
        : e instanceof PauseError
          ? grpc.status.UNAVAILABLE
          : grpc.status.INTERNAL;
  return { code, details: e.message, metadata };
}
