/**
 * Security defaults and bounds on real gRPC servers: an exposed listener needs token and TLS (or an explicit
 * insecure, loudly warned), the node's token guards its data API, a lease beyond a Node timer is refused,
 * and the client warns before a token would travel in plaintext.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../../src/node/node-config.ts';
import { bankNodeService } from '../../src/lab/bank/bank-service.ts';
import { startNode } from '../../src/node/node.ts';
import { startAdminServer } from '../../src/pause/admin-server.ts';
import { LEASE_METADATA_KEY } from '../../src/pause/contract.ts';
import { createGate } from '../../src/pause/gate.ts';
import { isLoopbackHost, plaintextTokenWarning } from '../../src/pause/listener-security.ts';
import { createBankClient, type BankCallError } from '../../src/lab/bank/bank-client.ts';
import { codeOf } from '../support/error-code.ts';
import { RawAdminClient } from './helpers.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('listener security defaults', () => {
  it('refuses a non-loopback admin listener without token and TLS (LISTENER_INSECURE)', async () => {
    const gate = createGate({ log: () => undefined });
    expect(await codeOf(startAdminServer({ gate, host: '0.0.0.0', log: () => undefined }))).toBe(
      'LISTENER_INSECURE',
    );
    expect(await codeOf(startAdminServer({ gate, host: '0.0.0.0', token: 't', log: () => undefined }))).toBe(
      'LISTENER_INSECURE',
    );
  });

  it('runs insecure when told, and says so loudly', async () => {
    const logs: string[] = [];
    const server = await startAdminServer({
      gate: createGate({ log: () => undefined }),
      host: '0.0.0.0',
      insecure: true,
      log: (m) => logs.push(m),
    });
    cleanups.push(() => server.close());
    expect(logs.join('\n')).toMatch(/INSECURE listener on 0\.0\.0\.0/);
  });

  it('a node config on a non-loopback host is refused without insecure: true', async () => {
    const config = await parseNodeConfig({
      group: { storages: { a: { kind: 'sqlite', path: ':memory:' } }, namespaces: { coordinator: 'a' } },
      listen: { host: '0.0.0.0', port: 0 },
    });
    expect(await codeOf(startNode(config, { log: () => undefined, services: [bankNodeService] }))).toBe(
      'LISTENER_INSECURE',
    );
  });

  it('tells loopback from exposed addresses', () => {
    expect(
      ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'].every(isLoopbackHost),
    ).toBe(true);
    expect(['0.0.0.0', '10.0.0.5', '::', 'db.example.com'].some(isLoopbackHost)).toBe(false);
    expect(plaintextTokenWarning(['10.0.0.5'], true, false)).toMatch(/PLAINTEXT to 10\.0\.0\.5/);
    expect(plaintextTokenWarning(['127.0.0.1'], true, false)).toBeUndefined();
    expect(plaintextTokenWarning(['10.0.0.5'], true, true)).toBeUndefined();
  });
});

describe('the node token guards the data API', () => {
  it('a data call without the token is UNAUTHENTICATED; with it, it is served', async () => {
    // Fails on the old code: the data API ignored the token.
    const config = await parseNodeConfig({
      group: {
        storages: { a: { kind: 'sqlite', path: ':memory:' } },
        namespaces: { bank_a: 'a', bank_b: 'a', coordinator: 'a' },
      },
      listen: { port: 0 },
      admin: { token: 'data-token' },
    });
    const node = await startNode(config, { log: () => undefined, services: [bankNodeService] });
    cleanups.push(() => node.close());
    const anonymous = createBankClient(node.address);
    const trusted = createBankClient(node.address, { token: 'data-token' });
    cleanups.push(
      () => anonymous.close(),
      () => trusted.close(),
    );
    const refused = (await anonymous.getBalances([0]).catch((e: unknown) => e)) as BankCallError;
    expect(refused.status).toBe(grpc.status.UNAUTHENTICATED);
    const served = (await trusted.getBalances([0]).catch((e: unknown) => e)) as BankCallError | object;
    expect((served as BankCallError).status).not.toBe(grpc.status.UNAUTHENTICATED);
  });
});

describe('bounds on the wire', () => {
  it('a lease beyond 24 h is refused (9e9 ms used to overflow the timer and unpause after 1 ms)', async () => {
    const gate = createGate({ log: () => undefined });
    const server = await startAdminServer({ gate, log: () => undefined });
    cleanups.push(() => server.close());
    const raw = new RawAdminClient(server.address);
    cleanups.push(() => raw.close());
    const metadata = new grpc.Metadata();
    metadata.set(LEASE_METADATA_KEY, '9000000000');
    const { error } = await raw.call('Pause', Buffer.from([0x08, 0x01]), metadata);
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/DURATION_OUT_OF_RANGE/);
    expect(gate.paused).toBe(false);
    expect(
      await codeOf(
        Promise.resolve().then(() => gate.pause({ waitOutstanding: true, maxWaitMs: 1_000, leaseMs: 9e9 })),
      ),
    ).toBe('DURATION_OUT_OF_RANGE');
    expect(gate.paused).toBe(false);
  });
});
