/**
 * What a node serves besides the admin service: data services plugged in by whoever composes the node
 * (the CLI's entry point passes the lab's bank service; a product deployment passes its own). The node owns
 * the transaction manager, the gate and the token check; a service gets them and returns its handlers.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Gate } from '../pause/contract.ts';
import type { TransactionManager } from '../txn/contract.ts';

/** The node's token check (../pause/admin-server.ts makeAuthorizer): false means it already answered the call. */
export type Authorizer = (
  call: grpc.ServerUnaryCall<unknown, unknown>,
  callback: (error: Partial<grpc.StatusObject>) => void,
  method: string,
) => boolean;

export interface NodeServiceContext {
  readonly tm: TransactionManager;
  /** Absent: no gate (benchmarks only; the node then cannot be paused). Each RPC should be one gate unit. */
  readonly gate?: Gate;
  /** Absent: no token required. */
  readonly authorised?: Authorizer;
}

export interface NodeService {
  /** The gRPC service's full name, e.g. `stillpoint.bank.Bank`. */
  readonly name: string;
  definition(): grpc.ServiceDefinition;
  handlers(context: NodeServiceContext): grpc.UntypedServiceImplementation;
}
