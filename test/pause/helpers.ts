/** Shared fixtures for the pause tests: real admin servers on loopback port 0, and a raw gRPC client. */
import * as grpc from '@grpc/grpc-js';
import {
  startAdminServer,
  type AdminServerOptions,
  type RunningAdminServer,
} from '../../src/pause/admin-server.ts';
import type { Gate, Target } from '../../src/pause/contract.ts';
import { createGate, type PauseLog } from '../../src/pause/gate.ts';
import { parseAddress } from '../../src/pause/targets.ts';

export interface TestNode {
  readonly gate: Gate;
  readonly server: RunningAdminServer;
  readonly target: Target;
  readonly logs: string[];
}

/** Starts `count` admin servers, each over its own gate; close them with {@link stopNodes}. */
export async function startNodes(
  count: number,
  options: Partial<Omit<AdminServerOptions, 'gate'>> = {},
): Promise<TestNode[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const logs: string[] = [];
      const log: PauseLog = (message, fields) => logs.push(`${message} ${JSON.stringify(fields ?? {})}`);
      const gate = createGate({ log });
      const server = await startAdminServer({ gate, log, ...options });
      return { gate, server, target: parseAddress(server.address), logs };
    }),
  );
}

export async function stopNodes(nodes: readonly TestNode[]): Promise<void> {
  for (const node of nodes) node.gate.unpause('test cleanup');
  await Promise.all(nodes.map((n) => n.server.close()));
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * A client that knows nothing of our proto file: it sends hand-encoded protobuf bytes to the upstream method
 * paths, as the upstream client's generated code would.
 */
export class RawAdminClient {
  private readonly client: grpc.Client;

  constructor(
    address: string,
    credentials = grpc.credentials.createInsecure(),
    options: grpc.ChannelOptions = {},
  ) {
    this.client = new grpc.Client(address, credentials, options);
  }

  call(
    method: 'Pause' | 'Unpause' | 'CheckPaused' | 'Stats',
    body: Buffer,
    metadata = new grpc.Metadata(),
  ): Promise<{ error?: grpc.ServiceError; response?: Buffer }> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        `/rpc.Admin/${method}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        metadata,
        { deadline: Date.now() + 10_000 },
        (error, response) => resolve(error ? { error } : { response: response ?? Buffer.alloc(0) }),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** Protobuf varint, for hand-encoding int64 fields (negative numbers take 10 bytes). */
export function varint(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

/** PauseRequest bytes: field 1 bool wait_outstanding, field 2 optional int64 max_pause_wait_time. */
export function pauseRequestBytes(waitOutstanding: boolean, maxPauseWaitTime?: bigint): Buffer {
  const bytes: number[] = [];
  if (waitOutstanding) bytes.push(0x08, 0x01);
  if (maxPauseWaitTime !== undefined) bytes.push(0x10, ...varint(maxPauseWaitTime));
  return Buffer.from(bytes);
}
