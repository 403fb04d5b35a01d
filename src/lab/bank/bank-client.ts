/**
 * A gRPC client for one node's bank data API. Every call has a deadline; failures come back as
 * {@link BankCallError} carrying the gRPC status and the node's stable code (trailing metadata).
 */
import * as grpc from '@grpc/grpc-js';
import {
  ERROR_CODE_METADATA_KEY,
  loadBankProto,
  type ExecuteBatchResponse,
  type GetBalancesResponse,
  type OperationMessage,
  type TransferResponse,
} from './bank-proto.ts';
import { isErrorCode } from '../../error-codes.ts';
import { StillpointError } from '../../errors.ts';

/** Default deadline per data call: a transfer is a few round trips; 10 s leaves room for a loaded machine. */
export const DEFAULT_CALL_DEADLINE_MS = 10_000;

/** A data call failed: `status` is the gRPC status, `remoteCode` the node's stable code (or `GRPC_<status>`). */
export class BankCallError extends StillpointError {
  readonly status: grpc.status;
  readonly remoteCode: string;
  constructor(status: grpc.status, remoteCode: string, message: string, target: string, cause: unknown) {
    // A code of ours (the node's) is kept as it is; transport codes (`GRPC_…`) become TX_REMOTE.
    super(isErrorCode(remoteCode) ? remoteCode : 'TX_REMOTE', message, {
      context: { target, remoteCode },
      cause,
    });
    this.status = status;
    this.remoteCode = remoteCode;
  }
}

export interface BankClientOptions {
  /** Deadline per call in ms. Default 10 000. */
  readonly deadlineMs?: number;
  /** TLS (the node serves data and admin on one port, so TLS covers both). Absent: plaintext. */
  readonly tls?: { readonly caPem?: string; readonly overrideAuthority?: string };
  /** Bearer token, when the node requires one (its admin token guards the data API too). */
  readonly token?: string;
}

export interface BankClient {
  readonly target: string;
  transfer(request: {
    transferId: string;
    from: number;
    to: number;
    amount: number;
  }): Promise<TransferResponse>;
  createAccounts(ids: readonly number[], initialBalance: number): Promise<{ tx_id: string }>;
  getBalances(ids: readonly number[]): Promise<GetBalancesResponse>;
  /** Runs the operations as one transaction (`key_json` / `values_json` are JSON objects). */
  executeBatch(operations: readonly OperationMessage[]): Promise<ExecuteBatchResponse>;
  close(): void;
}

type Callback<T> = (error: grpc.ServiceError | null, response?: T) => void;
type RawMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: Callback<unknown>,
) => void;

/** Connects (lazily) to `target` (`host:port`). */
export function createBankClient(target: string, options: BankClientOptions = {}): BankClient {
  const { Client } = loadBankProto();
  const tls = options.tls;
  const credentials = tls
    ? grpc.credentials.createSsl(tls.caPem === undefined ? null : Buffer.from(tls.caPem))
    : grpc.credentials.createInsecure();
  const channelOptions = tls?.overrideAuthority
    ? {
        'grpc.ssl_target_name_override': tls.overrideAuthority,
        'grpc.default_authority': tls.overrideAuthority,
      }
    : {};
  const client = new Client(target, credentials, channelOptions) as unknown as Record<string, RawMethod> &
    grpc.Client;
  const deadlineMs = options.deadlineMs ?? DEFAULT_CALL_DEADLINE_MS;
  const call = <T>(method: string, request: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const fn = client[method];
      if (fn === undefined) throw new Error(`no method ${method}`);
      const metadata = new grpc.Metadata();
      if (options.token !== undefined) metadata.set('authorization', `Bearer ${options.token}`);
      fn.call(client, request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
        if (error) reject(toCallError(error, target));
        else resolve(response as T);
      });
    });
  return {
    target,
    transfer: (r) =>
      call('Transfer', {
        from_account: r.from,
        to_account: r.to,
        amount: r.amount,
        transfer_id: r.transferId,
      }),
    createAccounts: (ids, initialBalance) =>
      call('CreateAccounts', { account_ids: ids, initial_balance: initialBalance }),
    getBalances: (ids) => call('GetBalances', { account_ids: ids }),
    executeBatch: (operations) => call('ExecuteBatch', { operations }),
    close: () => client.close(),
  };
}

function toCallError(error: grpc.ServiceError, target: string): BankCallError {
  const stable = error.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  const code = typeof stable === 'string' ? stable : `GRPC_${grpc.status[error.code] ?? error.code}`;
  return new BankCallError(error.code, code, `${target}: ${error.details || error.message}`, target, error);
}
