/**
 * Loads ./proto/bank.proto (package `stillpoint.bank`) and types its messages as proto-loader delivers them
 * (snake_case fields, int64 as Number: balances and amounts stay far below 2^53).
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const BANK_PROTO_PATH = fileURLToPath(new URL('./proto/bank.proto', import.meta.url));
export const BANK_SERVICE_NAME = 'stillpoint.bank.Bank';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface CreateAccountsRequest {
  account_ids: number[];
  initial_balance: number;
}
export interface CreateAccountsResponse {
  tx_id: string;
}
export interface TransferRequestMessage {
  from_account: number;
  to_account: number;
  amount: number;
  transfer_id: string;
}
export interface TransferResponse {
  applied: boolean;
  tx_id: string;
  /** How long the node's gate held the transfer while paused (hold mode), ms. */
  held_ms: number;
}
export interface GetBalancesRequest {
  account_ids: number[];
}
export interface GetBalancesResponse {
  balances: Array<{ account_id: number; balance: number }>;
}
export interface OperationMessage {
  kind: string;
  namespace: string;
  table: string;
  key_json: string;
  values_json: string;
}
export interface ExecuteBatchRequest {
  operations: OperationMessage[];
}
export interface ExecuteBatchResponse {
  results: Array<{ found: boolean; row_json: string }>;
  tx_id: string;
}

export interface BankProto {
  readonly service: grpc.ServiceDefinition;
  readonly Client: grpc.ServiceClientConstructor;
}

let cached: BankProto | undefined;

/** Loads and caches the bank proto (read once per process). */
export function loadBankProto(): BankProto {
  if (cached) return cached;
  const definition = protoLoader.loadSync(BANK_PROTO_PATH, LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    stillpoint: { bank: { Bank: grpc.ServiceClientConstructor } };
  };
  cached = { service: pkg.stillpoint.bank.Bank.service, Client: pkg.stillpoint.bank.Bank };
  return cached;
}

/** gRPC trailing-metadata key carrying the stable error code of a failed call. */
export const ERROR_CODE_METADATA_KEY = 'stillpoint-code';
