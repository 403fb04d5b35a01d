/**
 * Options shared by the pause commands (`pause`, `unpause`, `check-paused`, `scalar-admin`): where the
 * targets come from, how to connect, durations, and the upstream timestamp format.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { AdminConnectionOptions, Target } from '../pause/contract.ts';
import { createTargetResolver } from '../pause/targets.ts';

export interface TargetFlags {
  readonly addresses?: readonly string[];
  readonly srv?: string;
  readonly dnsServer?: readonly string[];
}

/** Collects a repeatable option into an array (`-a x -a y`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Resolves exactly one of --addresses / --srv into targets. ConfigError for none or both. */
export async function resolveTargets(flags: TargetFlags, names = { addresses: '--addresses', srv: '--srv' }): Promise<Target[]> {
  const hasAddresses = flags.addresses !== undefined && flags.addresses.length > 0;
  const hasSrv = flags.srv !== undefined;
  if (hasAddresses === hasSrv) {
    throw new ConfigError(
      hasSrv ? 'TARGETS_CONFLICT' : 'TARGETS_MISSING',
      hasSrv
        ? `Give either ${names.addresses} or ${names.srv}, not both.`
        : `Give the targets with ${names.addresses} host:port,... or ${names.srv} <SRV name>.`,
    );
  }
  const resolver = createTargetResolver(flags.dnsServer ? { dnsServers: flags.dnsServer } : {});
  const resolved = hasSrv
    ? await resolver.resolve({ kind: 'srv', name: flags.srv })
    : await resolver.resolve({ kind: 'addresses', addresses: flags.addresses! });
  return [...resolved.targets];
}

export interface ConnectionFlags {
  readonly tls?: boolean;
  readonly caPath?: string;
  readonly caPem?: string;
  readonly overrideAuthority?: string;
  readonly token?: string;
}

/** Builds the client's connection options; the token falls back to STILLPOINT_ADMIN_TOKEN. */
export function connectionOptions(flags: ConnectionFlags): AdminConnectionOptions {
  const usesTls = flags.tls === true || flags.caPath !== undefined || flags.caPem !== undefined;
  const token = flags.token ?? process.env.STILLPOINT_ADMIN_TOKEN;
  let caPem = flags.caPem;
  if (flags.caPath !== undefined) {
    try {
      caPem = readFileSync(flags.caPath, 'utf8');
    } catch (error) {
      throw new ConfigError('CA_UNREADABLE', `Cannot read the CA certificate ${flags.caPath}.`, {
        hint: 'Give the path of a PEM file.',
        cause: error,
      });
    }
  }
  return {
    ...(usesTls
      ? {
          tls: {
            ...(caPem === undefined ? {} : { caPem }),
            ...(flags.overrideAuthority === undefined ? {} : { overrideAuthority: flags.overrideAuthority }),
          },
        }
      : {}),
    ...(token === undefined || token === '' ? {} : { token }),
  };
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `5s`, `2m`, `1h`, `1.5s`, or a bare number of ms. ConfigError `DURATION_INVALID`. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2] ?? 'ms']! : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new ConfigError('DURATION_INVALID', `${flag} must be a positive duration, got "${text}".`, {
      hint: 'Write e.g. 500ms, 5s, 2m, or a number of milliseconds.',
    });
  }
  return Math.round(ms);
}

/** Parses a non-negative integer of ms (upstream's -m). ConfigError `NUMBER_INVALID`. */
export function parseMillis(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new ConfigError('NUMBER_INVALID', `${flag} must be a whole number of milliseconds, got "${text}".`);
  }
  return value;
}

/**
 * Upstream's timestamp: a Java `Instant` (ISO-8601, `Z`, fraction only when non-zero) then ` UTC (<epoch ms>)`,
 * e.g. `2026-11-22T04:08:24.123Z UTC (1795320504123)`.
 */
export function formatInstant(epochMs: number): string {
  const iso = new Date(epochMs).toISOString().replace('.000Z', 'Z');
  return `${iso} UTC (${epochMs})`;
}
