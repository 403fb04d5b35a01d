import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readMaxPauseWaitTime } from '../../src/pause/admin-proto.ts';
import { addAdminService, closeServer, startAdminServer } from '../../src/pause/admin-server.ts';
import { LEASE_METADATA_KEY, type Gate, type GatePauseOptions } from '../../src/pause/contract.ts';
import { readErrorReason } from '../../src/pause/error-details.ts';
import { createGate } from '../../src/pause/gate.ts';
import { PAUSED_MESSAGE, withGate } from '../../src/pause/grpc-gate.ts';
import { RawAdminClient, pauseRequestBytes, startNodes, stopNodes, type TestNode } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EMPTY = Buffer.alloc(0);
const PAUSED_TRUE = Buffer.from([0x08, 0x01]);

/** Decodes CheckPausedResponse by hand: field 1 bool (absent, or sent explicitly as 0, means false). */
function pausedFlag(result: { error?: grpc.ServiceError; response?: Buffer }): boolean {
  if (result.error || !result.response) throw new Error(`CheckPaused failed: ${result.error?.message}`);
  const hex = result.response.toString('hex');
  if (hex === '0801') return true;
  if (hex === '' || hex === '0800') return false;
  throw new Error(`unexpected CheckPausedResponse bytes ${hex}`);
}

async function waitFor(condition: () => boolean, limitMs = 5_000): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (condition()) return true;
    await sleep(20);
  }
  return condition();
}

describe('admin server: wire compatibility with raw upstream messages', () => {
  let nodes: TestNode[];
  let raw: RawAdminClient;
  beforeAll(async () => {
    nodes = await startNodes(1);
    raw = new RawAdminClient(nodes[0]!.server.address);
  });
  afterAll(async () => {
    raw.close();
    await stopNodes(nodes);
  });
  afterEach(() => nodes[0]!.gate.unpause());

  it('answers Pause / CheckPaused / Unpause / Stats on the upstream paths with upstream bytes', async () => {
    expect(pausedFlag(await raw.call('CheckPaused', EMPTY))).toBe(false);
    expect(await raw.call('Pause', pauseRequestBytes(true))).toEqual({ response: EMPTY });
    expect(nodes[0]!.gate.paused).toBe(true);
    expect(await raw.call('CheckPaused', EMPTY)).toEqual({ response: PAUSED_TRUE });
    expect(await raw.call('Unpause', EMPTY)).toEqual({ response: EMPTY });
    expect(nodes[0]!.gate.paused).toBe(false);
    expect(pausedFlag(await raw.call('CheckPaused', EMPTY))).toBe(false);
    const stats = await raw.call('Stats', EMPTY);
    // StatsResponse: field 1 (tag 0x0a), length, a JSON string.
    expect(stats.response?.[0]).toBe(0x0a);
    let offset = 1;
    while (stats.response![offset]! & 0x80) offset++; // skip the length varint
    const json = JSON.parse(stats.response!.subarray(offset + 1).toString()) as { pausesTotal: number };
    expect(json.pausesTotal).toBe(1);
  });

  it('rejects a present negative max_pause_wait_time with INVALID_ARGUMENT and stays open', async () => {
    const { error } = await raw.call('Pause', pauseRequestBytes(true, -5n));
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(nodes[0]!.gate.paused).toBe(false);
  });

  it('times out a drain with FAILED_PRECONDITION, reason TIMED_OUT, and reopens the gate', async () => {
    const ticket = await nodes[0]!.gate.enter();
    const { error } = await raw.call('Pause', pauseRequestBytes(true, 150n));
    ticket.release();
    expect(error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(readErrorReason(error!)).toBe('TIMED_OUT');
    expect(error?.details).toMatch(/^\[TIMED_OUT\]/);
    expect(nodes[0]!.gate.paused).toBe(false);
  });

  it('answers ABORTED with reason GATE_OPEN when an Unpause interrupts the drain', async () => {
    const ticket = await nodes[0]!.gate.enter();
    const pausing = raw.call('Pause', pauseRequestBytes(true));
    await waitFor(() => nodes[0]!.gate.paused);
    expect(await raw.call('Unpause', EMPTY)).toEqual({ response: EMPTY });
    ticket.release();
    const { error } = await pausing;
    expect(error?.code).toBe(grpc.status.ABORTED);
    expect(readErrorReason(error!)).toBe('GATE_OPEN');
    expect(nodes[0]!.gate.paused).toBe(false);
  });

  it('reopens the gate when the caller of a draining Pause gives up (deadline)', async () => {
    const ticket = await nodes[0]!.gate.enter();
    const client = new grpc.Client(nodes[0]!.server.address, grpc.credentials.createInsecure());
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest(
        '/rpc.Admin/Pause',
        (b: Buffer) => b,
        (b: Buffer) => b,
        pauseRequestBytes(true),
        new grpc.Metadata(),
        { deadline: Date.now() + 200 },
        (e) => resolve(e),
      ),
    );
    client.close();
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(await waitFor(() => !nodes[0]!.gate.paused)).toBe(true);
    ticket.release();
  });

  it('expires a lease sent in metadata, and CheckPaused with the lease renews it', async () => {
    const withLease = new grpc.Metadata();
    withLease.set(LEASE_METADATA_KEY, '300');
    expect(await raw.call('Pause', pauseRequestBytes(true), withLease)).toEqual({ response: EMPTY });
    for (let i = 0; i < 6; i++) {
      await sleep(100);
      expect(await raw.call('CheckPaused', EMPTY, withLease)).toEqual({ response: PAUSED_TRUE });
    }
    // 600 ms after a 300 ms lease: only the renewals kept it paused. Now stop renewing (the client "died").
    expect(await waitFor(() => !nodes[0]!.gate.paused)).toBe(true);
    expect(nodes[0]!.gate.stats().leaseExpiriesTotal).toBe(1);
    expect(nodes[0]!.logs.some((l) => l.includes('lease expired'))).toBe(true);
  });

  it('rejects a malformed lease', async () => {
    const bad = new grpc.Metadata();
    bad.set(LEASE_METADATA_KEY, 'soon');
    expect((await raw.call('Pause', pauseRequestBytes(true), bad)).error?.code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    expect(nodes[0]!.gate.paused).toBe(false);
  });
});

describe('admin server: optional max_pause_wait_time presence reaches the gate', () => {
  const seen: GatePauseOptions[] = [];
  let server: grpc.Server;
  let raw: RawAdminClient;
  beforeAll(async () => {
    const real = createGate({ log: () => undefined });
    // A recording wrapper around a real gate: the options the admin service derived from the wire.
    const recording: Gate = {
      enter: () => real.enter(),
      pause: (o) => {
        seen.push(o);
        return real.pause(o);
      },
      unpause: (r) => real.unpause(r),
      renewLease: (l) => real.renewLease(l),
      get paused() {
        return real.paused;
      },
      stats: () => real.stats(),
    };
    server = new grpc.Server();
    addAdminService(server, recording, { log: () => undefined });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    raw = new RawAdminClient(`127.0.0.1:${port}`);
  });
  afterAll(async () => {
    raw.close();
    await closeServer(server);
  });

  it.each([
    ['absent', undefined, 30_000],
    ['present 0', 0n, 30_000],
    ['present 1234', 1234n, 1234],
  ])('%s → the default or the value sent', async (_name, sent, expected) => {
    seen.length = 0;
    expect(await raw.call('Pause', pauseRequestBytes(false, sent))).toEqual({ response: EMPTY });
    await raw.call('Unpause', EMPTY);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ waitOutstanding: false, maxWaitMs: expected });
  });

  it('negative control: presence is read from the oneof marker, not from the value', () => {
    expect(readMaxPauseWaitTime({ wait_outstanding: true, max_pause_wait_time: 0 })).toBeUndefined();
    expect(
      readMaxPauseWaitTime({ max_pause_wait_time: 0, _max_pause_wait_time: 'max_pause_wait_time' }),
    ).toBe(0);
  });
});

describe('admin server: bearer token', () => {
  let nodes: TestNode[];
  beforeAll(async () => {
    nodes = await startNodes(1, { token: 's3cret' });
  });
  afterAll(() => stopNodes(nodes));

  it('refuses calls without the token or with a wrong one, logs them, and accepts the right one', async () => {
    const raw = new RawAdminClient(nodes[0]!.server.address);
    try {
      expect((await raw.call('Pause', pauseRequestBytes(true))).error?.code).toBe(
        grpc.status.UNAUTHENTICATED,
      );
      const wrong = new grpc.Metadata();
      wrong.set('authorization', 'Bearer s3cre7');
      expect((await raw.call('Pause', pauseRequestBytes(true), wrong)).error?.code).toBe(
        grpc.status.UNAUTHENTICATED,
      );
      expect((await raw.call('CheckPaused', EMPTY)).error?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(nodes[0]!.gate.paused).toBe(false);
      expect(nodes[0]!.logs.filter((l) => l.includes('without a valid token'))).toHaveLength(3);
      const right = new grpc.Metadata();
      right.set('authorization', 'Bearer s3cret');
      expect(await raw.call('Pause', pauseRequestBytes(true), right)).toEqual({ response: EMPTY });
      expect(nodes[0]!.gate.paused).toBe(true);
    } finally {
      raw.close();
    }
  });
});

describe('admin server: TLS', () => {
  let dir: string;
  let certPem: string;
  let nodes: TestNode[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stillpoint-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=admin.stillpoint.test',
        '-addext',
        'subjectAltName=DNS:admin.stillpoint.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const keyPem = readFileSync(join(dir, 'key.pem'), 'utf8');
    nodes = await startNodes(1, { tls: { certPem, keyPem } });
  });
  afterAll(async () => {
    await stopNodes(nodes);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves over TLS to a client trusting the CA with the overridden authority', async () => {
    const raw = new RawAdminClient(
      nodes[0]!.server.address,
      grpc.credentials.createSsl(Buffer.from(certPem)),
      {
        'grpc.ssl_target_name_override': 'admin.stillpoint.test',
        'grpc.default_authority': 'admin.stillpoint.test',
      },
    );
    try {
      expect(await raw.call('Pause', pauseRequestBytes(true))).toEqual({ response: EMPTY });
      expect(nodes[0]!.gate.paused).toBe(true);
    } finally {
      raw.close();
    }
  });

  it('negative control: a plaintext client and a client without the CA are refused', async () => {
    nodes[0]!.gate.unpause();
    const plain = new RawAdminClient(nodes[0]!.server.address);
    const untrusting = new RawAdminClient(nodes[0]!.server.address, grpc.credentials.createSsl(), {
      'grpc.ssl_target_name_override': 'admin.stillpoint.test',
    });
    try {
      expect((await plain.call('Pause', pauseRequestBytes(true))).error?.code).toBe(grpc.status.UNAVAILABLE);
      expect((await untrusting.call('Pause', pauseRequestBytes(true))).error?.code).toBe(
        grpc.status.UNAVAILABLE,
      );
      expect(nodes[0]!.gate.paused).toBe(false);
    } finally {
      plain.close();
      untrusting.close();
    }
  });
});

describe('withGate: a gated data service and the admin service on one server', () => {
  let server: grpc.Server;
  let gate: Gate;
  let address: string;
  const inFlight: Array<() => void> = [];
  beforeAll(async () => {
    gate = createGate({ log: () => undefined });
    server = new grpc.Server();
    const echo: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
      // 'hold' requests stay in flight until the test lets them finish.
      if (call.request.toString() === 'hold') inFlight.push(() => callback(null, call.request));
      else callback(null, call.request);
    };
    const definition: grpc.ServiceDefinition = {
      Echo: {
        path: '/test.Data/Echo',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    };
    server.addService(definition, { Echo: withGate(gate, echo) });
    addAdminService(server, gate, { log: () => undefined });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => closeServer(server));

  function echo(
    client: grpc.Client,
    text: string,
  ): Promise<{ error?: grpc.ServiceError; response?: string }> {
    return new Promise((resolve) =>
      client.makeUnaryRequest(
        '/test.Data/Echo',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(text),
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (error, response) => resolve(error ? { error } : { response: response?.toString() ?? '' }),
      ),
    );
  }

  it('drains an in-flight call, then answers UNAVAILABLE "the server is paused"; admin calls are not gated', async () => {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    const raw = new RawAdminClient(address);
    try {
      expect(await echo(client, 'hi')).toEqual({ response: 'hi' });
      const held = echo(client, 'hold');
      expect(await waitFor(() => inFlight.length === 1)).toBe(true);
      expect(gate.stats().outstanding).toBe(1);
      const pausing = raw.call('Pause', pauseRequestBytes(true));
      await waitFor(() => gate.paused);
      const refused = await echo(client, 'late');
      expect(refused.error?.code).toBe(grpc.status.UNAVAILABLE);
      expect(refused.error?.details).toBe(PAUSED_MESSAGE);
      expect(await raw.call('CheckPaused', EMPTY)).toEqual({ response: PAUSED_TRUE });
      inFlight.shift()!();
      expect(await held).toEqual({ response: 'hold' });
      expect(await pausing).toEqual({ response: EMPTY });
      expect(gate.stats().outstanding).toBe(0);
      await raw.call('Unpause', EMPTY);
      expect(await echo(client, 'again')).toEqual({ response: 'again' });
    } finally {
      client.close();
      raw.close();
    }
  });
});

describe('startAdminServer', () => {
  it('listens on IPv6 loopback when asked', async (context) => {
    const gate = createGate({ log: () => undefined });
    let server;
    try {
      server = await startAdminServer({ gate, host: '::1', log: () => undefined });
    } catch {
      context.skip(); // no IPv6 loopback on this machine
      return;
    }
    const raw = new RawAdminClient(server.address);
    try {
      expect(server.address).toMatch(/^\[::1\]:\d+$/);
      expect(await raw.call('Pause', pauseRequestBytes(true))).toEqual({ response: EMPTY });
      expect(gate.paused).toBe(true);
    } finally {
      raw.close();
      await server.close();
    }
  });
});
