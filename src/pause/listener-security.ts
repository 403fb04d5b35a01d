/**
 * Security defaults of a listener that serves the admin service (and a node's data API): on loopback
 * anything goes; on any other interface a token AND TLS are required, unless the operator says `insecure`
 * — and then every start says loudly what is exposed. And the client side: a token about to travel in
 * plaintext to a non-loopback address is warned about before it is sent.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../errors.ts';
import type { PauseLog } from './gate.ts';

/** `127.0.0.0/8`, `::1`, `localhost`: addresses that never leave this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (bare.startsWith('::ffff:')) return bare.slice(7).startsWith('127.');
  return false;
}

export interface ListenerSecurity {
  readonly host: string;
  readonly token: boolean;
  readonly tls: boolean;
  /** The operator accepts a listener without token or TLS (`--insecure`, config `insecure: true`). */
  readonly insecure: boolean;
}

/**
 * Throws ConfigError `LISTENER_INSECURE` for a non-loopback listener without a token and TLS unless
 * `insecure`; logs a warning when it runs insecure anyway.
 */
export function checkListenerSecurity(listener: ListenerSecurity, log: PauseLog): void {
  if (isLoopbackHost(listener.host)) return;
  const missing = [...(listener.token ? [] : ['an admin token']), ...(listener.tls ? [] : ['TLS'])];
  if (missing.length === 0) return;
  if (!listener.insecure) {
    throw new ConfigError(
      'LISTENER_INSECURE',
      `Refusing to listen on ${listener.host} without ${missing.join(' and ')}: anyone who reaches it could pause the cluster and read or move data.`,
      {
        hint: 'Set admin.token (or admin.tokenEnv / admin.tokenFile) and admin.tls, listen on 127.0.0.1, or accept the risk with --insecure (config: insecure: true).',
        context: { key: 'listen.host' },
      },
    );
  }
  log(
    `WARNING: INSECURE listener on ${listener.host}: no ${missing.join(' and no ')}; anyone who reaches it can pause the cluster and use the data API`,
    {
      host: listener.host,
      token: listener.token,
      tls: listener.tls,
    },
  );
}

/** The warning a client prints before sending a token in plaintext to a non-loopback target; undefined when safe. */
export function plaintextTokenWarning(
  hosts: readonly string[],
  token: boolean,
  tls: boolean,
): string | undefined {
  if (!token || tls) return undefined;
  const exposed = hosts.filter((h) => !isLoopbackHost(h));
  if (exposed.length === 0) return undefined;
  return `warning: sending the admin token in PLAINTEXT to ${exposed.join(', ')}; anyone on the path can read it. Use --tls (and --ca).`;
}
