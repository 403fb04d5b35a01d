/**
 * Where pause targets come from: `host:port` lists (IPv4, host names, `[v6]:port`), DNS SRV names (every
 * record one target, priority and weight ignored, as upstream does), and Kubernetes (delegated to the
 * resolver in src/k8s/, injected so this module does not depend on a Kubernetes client).
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ConfigError, PauseError } from '../errors.ts';
import type { ResolvedTargets, Target, TargetResolver, TargetSource } from './contract.ts';

const ADDRESS_HINT = 'Write each target as host:port (e.g. 10.0.0.5:50053, node-1:60053, [::1]:50053).';

/** Builds the label of a target: `host:port`, or `[v6]:port` for IPv6 literals. */
export function targetLabel(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses one `host:port` or `[v6]:port`. Throws ConfigError `ADDRESS_INVALID`. No default port (as upstream). */
export function parseAddress(text: string): Target {
  const input = text.trim();
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(input);
  const plain = /^([^:[\]\s]+):(\d+)$/.exec(input);
  const match = bracketed ?? plain;
  if (!match) {
    const why = /^[^[]*:.*:/.test(input)
      ? 'an IPv6 address must be written in brackets'
      : input.includes(':')
        ? 'the port is not a number'
        : 'the port is missing';
    throw invalidAddress(text, why);
  }
  const host = match[1]!;
  const port = Number(match[2]);
  if (bracketed && isIP(host) !== 6) throw invalidAddress(text, 'only IPv6 literals go in brackets');
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw invalidAddress(text, 'the port must be 1–65535');
  if (!bracketed && !isIP(host) && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    throw invalidAddress(text, 'the host is not an IP address or a host name');
  }
  return { host, port, label: targetLabel(host, port) };
}

function invalidAddress(text: string, why: string): ConfigError {
  return new ConfigError('ADDRESS_INVALID', `Invalid target address "${text}": ${why}.`, {
    hint: ADDRESS_HINT,
    context: { target: text },
  });
}

/**
 * Parses a list of addresses; each item may itself be comma-separated (`-a a:1,b:2 -a c:3`). Duplicates are
 * dropped (pausing one server twice is pointless). Throws ConfigError `ADDRESS_INVALID` (also for an empty list).
 */
export function parseAddresses(list: string | readonly string[]): Target[] {
  const items = (typeof list === 'string' ? [list] : list).flatMap((item) => item.split(','));
  const byLabel = new Map<string, Target>();
  for (const item of items) {
    if (item.trim() === '') continue;
    const target = parseAddress(item);
    byLabel.set(target.label, target);
  }
  if (byLabel.size === 0) {
    throw new ConfigError('ADDRESS_INVALID', 'No target address given.', { hint: ADDRESS_HINT });
  }
  return [...byLabel.values()];
}

export interface SrvOptions {
  /** DNS servers to ask, as `ip` or `ip:port` (e.g. `127.0.0.1:5353`). Default: the system's. */
  readonly servers?: readonly string[];
  /** Per-query timeout in ms (c-ares retries within it). Default 5 000. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Resolves a DNS SRV name into targets, one per record (priority and weight ignored, as upstream). The
 * record's target name loses its trailing dot. Throws PauseError `SRV_LOOKUP_FAILED` (also for no records).
 */
export async function resolveSrv(name: string, options: SrvOptions = {}): Promise<Target[]> {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 5_000, tries: 2 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  const onAbort = (): void => resolver.cancel();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const records = await resolver.resolveSrv(name);
    if (records.length === 0) throw new Error('no SRV records');
    const byLabel = new Map<string, Target>();
    for (const record of records) {
      const host = record.name.replace(/\.$/, '');
      byLabel.set(targetLabel(host, record.port), {
        host,
        port: record.port,
        label: targetLabel(host, record.port),
      });
    }
    return [...byLabel.values()];
  } catch (error) {
    throw new PauseError('SRV_LOOKUP_FAILED', `Could not resolve the SRV name "${name}".`, {
      context: { target: name, servers: options.servers },
      hint: 'Check the name (e.g. _scalardb._tcp.<release>-headless.<ns>.svc.cluster.local) and the DNS server.',
      cause: error,
    });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

export interface TargetResolverOptions {
  /** DNS servers for SRV names (see {@link SrvOptions.servers}). */
  readonly dnsServers?: readonly string[];
  /** The Kubernetes resolver (src/k8s/); without it a `kubernetes` source fails with KUBERNETES_UNAVAILABLE. */
  readonly kubernetes?: TargetResolver;
}

/** A resolver for `addresses` and `srv` sources; the membership fingerprint is the sorted target labels. */
export function createTargetResolver(options: TargetResolverOptions = {}): TargetResolver {
  return {
    async resolve(source: TargetSource, signal?: AbortSignal): Promise<ResolvedTargets> {
      switch (source.kind) {
        case 'addresses':
          return withMembership(parseAddresses(source.addresses));
        case 'srv':
          return withMembership(
            await resolveSrv(source.name, {
              ...(options.dnsServers ? { servers: options.dnsServers } : {}),
              signal,
            }),
          );
        case 'kubernetes':
          if (!options.kubernetes) {
            throw new ConfigError(
              'KUBERNETES_UNAVAILABLE',
              'Kubernetes targets need the Kubernetes resolver.',
              {
                hint: 'Run where a kubeconfig or in-cluster service account is available, or give --addresses.',
                context: { cluster: source.release },
              },
            );
          }
          return options.kubernetes.resolve(source, signal);
      }
    },
  };
}

function withMembership(targets: Target[]): ResolvedTargets {
  const items = targets.map((t) => t.label).sort();
  return { targets, membership: { fingerprint: items.join(','), items } };
}
