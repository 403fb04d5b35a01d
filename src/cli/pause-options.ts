/**
 * Options shared by the pause commands (`pause`, `unpause`, `check-paused`, `scalar-admin`): where the
 * targets come from, how to connect, durations, and the upstream timestamp format.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { AdminConnectionOptions, Target } from '../pause/contract.ts';
import { plaintextTokenWarning } from '../pause/listener-security.ts';
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
export async function resolveTargets(
  flags: TargetFlags,
  names = { addresses: '--addresses', srv: '--srv' },
): Promise<Target[]> {
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
  /** Visible to every user in `ps`: prefer `tokenFile` or STILLPOINT_TOKEN. */
  readonly token?: string;
  readonly tokenFile?: string;
}

/** Help text of the token flags: one place, so every command says that argv is visible. */
export const TOKEN_HELP = {
  token: 'bearer token (VISIBLE to other users in `ps`: prefer --token-file or $STILLPOINT_TOKEN)',
  tokenFile: 'file holding the bearer token (first line; default: $STILLPOINT_TOKEN)',
} as const;

/**
 * The bearer token, from the first of: `--token`, `--token-file`, STILLPOINT_TOKEN, STILLPOINT_ADMIN_TOKEN
 * (the older name). ConfigError `TOKEN_CONFLICT` for both flags, `TOKEN_UNREADABLE` for a bad file.
 */
export function resolveToken(flags: {
  readonly token?: string;
  readonly tokenFile?: string;
}): string | undefined {
  if (flags.token !== undefined && flags.tokenFile !== undefined) {
    throw new ConfigError('TOKEN_CONFLICT', 'Give --token or --token-file, not both.', {
      hint: 'Keep --token-file: a token on the command line is visible in `ps`.',
    });
  }
  if (flags.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.tokenFile, 'utf8');
    } catch (error) {
      throw new ConfigError('TOKEN_UNREADABLE', `Cannot read the token file ${flags.tokenFile}.`, {
        hint: 'Give the path of a file holding the token (mode 0600).',
        cause: error,
      });
    }
    const token = text.split(/\r?\n/)[0]?.trim() ?? '';
    if (token === '')
      throw new ConfigError('TOKEN_UNREADABLE', `The token file ${flags.tokenFile} is empty.`, {
        hint: 'Write the token on its first line.',
      });
    return token;
  }
  const token = flags.token ?? process.env.STILLPOINT_TOKEN ?? process.env.STILLPOINT_ADMIN_TOKEN;
  return token === undefined || token === '' ? undefined : token;
}

/** Builds the client's connection options (token: see {@link resolveToken}). */
export function connectionOptions(flags: ConnectionFlags): AdminConnectionOptions {
  const usesTls = flags.tls === true || flags.caPath !== undefined || flags.caPem !== undefined;
  const token = resolveToken(flags);
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
    ...(token === undefined ? {} : { token }),
  };
}

/** Prints a warning on stderr before a token would travel in plaintext to a non-loopback target. */
export function warnIfPlaintextToken(options: AdminConnectionOptions, targets: readonly Target[]): void {
  const warning = plaintextTokenWarning(
    targets.map((t) => t.host),
    options.token !== undefined,
    options.tls !== undefined,
  );
  if (warning !== undefined) process.stderr.write(`${warning}\n`);
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
