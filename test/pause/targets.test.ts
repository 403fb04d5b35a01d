import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, PauseError, StillpointError } from '../../src/errors.ts';
import type { ResolvedTargets, TargetResolver } from '../../src/pause/contract.ts';
import { createTargetResolver, parseAddress, parseAddresses, resolveSrv } from '../../src/pause/targets.ts';
import { startDnsServer, type DnsServer } from '../../src/lab/trials/srv-dns.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof StillpointError ? `${error.constructor.name}:${error.code}` : String(error);
  }
}

describe('parseAddress / parseAddresses', () => {
  it.each([
    ['10.0.0.5:50053', '10.0.0.5', 50053, '10.0.0.5:50053'],
    ['node-1.svc.cluster.local:60053', 'node-1.svc.cluster.local', 60053, 'node-1.svc.cluster.local:60053'],
    ['[::1]:50053', '::1', 50053, '[::1]:50053'],
    ['[fd00::a:1]:1', 'fd00::a:1', 1, '[fd00::a:1]:1'],
    [' localhost:65535 ', 'localhost', 65535, 'localhost:65535'],
  ])('%s', (text, host, port, label) => {
    expect(parseAddress(text)).toEqual({ host, port, label });
  });

  it.each([
    '10.0.0.5',
    '10.0.0.5:',
    'host:port',
    '::1:50053',
    '[10.0.0.1]:5',
    'h:0',
    'h:65536',
    'a b:1',
    '[::1]',
    '',
  ])('rejects %j with ConfigError ADDRESS_INVALID and a hint', (text) => {
    expect(codeOf(() => parseAddress(text))).toBe('ConfigError:ADDRESS_INVALID');
    try {
      parseAddress(text);
    } catch (error) {
      expect((error as ConfigError).hint).toMatch(/host:port/);
    }
  });

  it('accepts comma-separated lists and repeated items, dropping duplicates', () => {
    expect(parseAddresses(['a:1,b:2', 'c:3', 'a:1']).map((t) => t.label)).toEqual(['a:1', 'b:2', 'c:3']);
    expect(parseAddresses('[::1]:5,10.0.0.1:6').map((t) => t.label)).toEqual(['[::1]:5', '10.0.0.1:6']);
  });

  it('rejects a list with one malformed item, and an empty list', () => {
    expect(codeOf(() => parseAddresses('a:1,b'))).toBe('ConfigError:ADDRESS_INVALID');
    expect(codeOf(() => parseAddresses([]))).toBe('ConfigError:ADDRESS_INVALID');
    expect(codeOf(() => parseAddresses(' , '))).toBe('ConfigError:ADDRESS_INVALID');
  });
});

describe('SRV through a real DNS server on loopback', () => {
  let dns: DnsServer;
  const name = '_scalardb._tcp.demo-headless.default.svc.cluster.local';
  beforeAll(async () => {
    dns = await startDnsServer({
      [name]: [
        { target: 'pod-0.demo-headless.default.svc.cluster.local', port: 60051, priority: 0, weight: 50 },
        { target: 'pod-1.demo-headless.default.svc.cluster.local', port: 60051, priority: 10, weight: 1 },
      ],
    });
  });
  afterAll(() => dns.close());

  it('turns every record into one target (priority and weight ignored)', async () => {
    const targets = await resolveSrv(name, { servers: [dns.address] });
    expect(targets.map((t) => t.label).sort()).toEqual([
      'pod-0.demo-headless.default.svc.cluster.local:60051',
      'pod-1.demo-headless.default.svc.cluster.local:60051',
    ]);
  });

  it('fails SRV_LOOKUP_FAILED for an unknown name', async () => {
    await expect(resolveSrv('_nothing._tcp.example.test', { servers: [dns.address] })).rejects.toMatchObject({
      code: 'SRV_LOOKUP_FAILED',
    });
  });

  it('gives a membership fingerprint that changes when pods churn', async () => {
    const resolver = createTargetResolver({ dnsServers: [dns.address] });
    const before = await resolver.resolve({ kind: 'srv', name });
    const same = await resolver.resolve({ kind: 'srv', name });
    expect(same.membership.fingerprint).toBe(before.membership.fingerprint);
    dns.records.set(name, [
      ...dns.records.get(name)!,
      { target: 'pod-2.demo-headless.default.svc.cluster.local', port: 60051 },
    ]);
    try {
      const after = await resolver.resolve({ kind: 'srv', name });
      expect(after.targets).toHaveLength(3);
      expect(after.membership.fingerprint).not.toBe(before.membership.fingerprint);
    } finally {
      dns.records.set(name, dns.records.get(name)!.slice(0, 2));
    }
  });
});

describe('createTargetResolver', () => {
  it('resolves addresses with a sorted fingerprint', async () => {
    const resolved = await createTargetResolver().resolve({ kind: 'addresses', addresses: ['b:2', 'a:1'] });
    expect(resolved.targets.map((t) => t.label)).toEqual(['b:2', 'a:1']);
    expect(resolved.membership).toEqual({ fingerprint: 'a:1,b:2', items: ['a:1', 'b:2'] });
  });

  it('delegates kubernetes sources, or fails KUBERNETES_UNAVAILABLE without a delegate', async () => {
    const source = { kind: 'kubernetes', release: 'demo', namespace: 'default' } as const;
    await expect(createTargetResolver().resolve(source)).rejects.toMatchObject({
      code: 'KUBERNETES_UNAVAILABLE',
    });
    const answer: ResolvedTargets = { targets: [], membership: { fingerprint: 'k', items: [] } };
    const kubernetes: TargetResolver = {
      resolve: (s) => Promise.resolve(s.kind === 'kubernetes' ? answer : answer),
    };
    expect(await createTargetResolver({ kubernetes }).resolve(source)).toBe(answer);
  });

  it('error classes: malformed addresses are ConfigErrors, lookups PauseErrors', async () => {
    await expect(
      createTargetResolver().resolve({ kind: 'addresses', addresses: ['x'] }),
    ).rejects.toBeInstanceOf(ConfigError);
    await expect(
      createTargetResolver({ dnsServers: ['127.0.0.1:9'] }).resolve({
        kind: 'srv',
        name: '_a._tcp.example.test',
      }),
    ).rejects.toBeInstanceOf(PauseError);
  });
});
