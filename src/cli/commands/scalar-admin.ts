/**
 * `stillpoint scalar-admin`: a drop-in for the upstream scalar-admin client — the same flags, output lines
 * and exit codes (0 ok, 1 failure, 2 usage), so scripts and runbooks keep working. Differences, all fixes:
 * a failed PAUSE is rolled back (the targets that paused are unpaused) before exiting 1; every call has a
 * deadline; IPv6 targets work as `[::1]:port`.
 */
import { type Command, Option } from 'commander';
import { ConfigError, PauseError } from '../../errors.ts';
import type { TargetStatus } from '../../pause/contract.ts';
import type * as PauseClientModule from '../../pause/pause-client.ts';
import { action } from '../output.ts';
import { checkDurationMs } from '../../duration.ts';
import {
  collect,
  connectionOptions,
  formatInstant,
  parseMillis,
  resolveTargets,
  warnIfPlaintextToken,
} from '../pause-options.ts';

interface ScalarAdminFlags {
  readonly command: string;
  readonly srvServiceUrl?: string;
  readonly addresses?: string;
  readonly wait: boolean;
  readonly maxPauseWaitTime?: string;
  readonly tls?: boolean;
  readonly caRootCertPath?: string;
  readonly caRootCertPem?: string;
  readonly overrideAuthority?: string;
  readonly dnsServer?: string[];
}

const COMMANDS = ['PAUSE', 'UNPAUSE', 'CHECK_PAUSED'] as const;
type AdminCommand = (typeof COMMANDS)[number];

export function register(program: Command): void {
  program
    .command('scalar-admin')
    .summary('drop-in replacement for the upstream scalar-admin client')
    .description(
      'Drop-in replacement for the upstream scalar-admin client: the same flags, output lines (`Pause completed ' +
        'at <instant> UTC (<epoch ms>)`, `Unpause started at …`, CHECK_PAUSED as a JSON object of "true"/"false") ' +
        'and exit codes (0 ok, 1 failure, 2 usage). Differences, all fixes: a failed PAUSE unpauses the targets ' +
        'that did pause before exiting 1, every call has a deadline, and IPv6 targets work as [::1]:port.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  stillpoint scalar-admin -c PAUSE -a 10.0.0.5:50053,10.0.0.6:50053\n' +
        '  stillpoint scalar-admin -c check_paused -s _scalardb._tcp.scalardb-headless.default.svc.cluster.local\n' +
        '  stillpoint scalar-admin -c UNPAUSE -a 10.0.0.5:50053,10.0.0.6:50053 --tls --ca-root-cert-path ca.pem',
    )
    .requiredOption('-c, --command <COMMAND>', 'PAUSE, UNPAUSE or CHECK_PAUSED (case-insensitive)')
    .option('-s, --srv-service-url <SRV_SERVICE_URL>', 'DNS SRV name of the targets (deprecated upstream)')
    .option('-a, --addresses <ADDRESSES>', 'comma-separated host:port list of the targets')
    .option('-n, --no-wait', 'PAUSE without waiting for outstanding requests to finish')
    .option(
      '-m, --max-pause-wait-time <MAX_PAUSE_WAIT_TIME>',
      'max time in ms to wait for outstanding requests',
    )
    .option('--tls', 'use TLS')
    .option('--ca-root-cert-path <CA_ROOT_CERT_PATH>', 'path of the root CA certificate (PEM) for TLS')
    .option('--ca-root-cert-pem <CA_ROOT_CERT_PEM>', 'root CA certificate (PEM text) for TLS')
    .option('--override-authority <OVERRIDE_AUTHORITY>', 'server name to verify in TLS')
    .addOption(new Option('--dns-server <ip[:port]>', 'DNS server for -s').argParser(collect).hideHelp())
    .action(action((flags: ScalarAdminFlags) => run(flags)));
}

async function run(flags: ScalarAdminFlags): Promise<number> {
  const command = parseCommand(flags.command);
  const maxPauseWaitMs =
    flags.maxPauseWaitTime === undefined
      ? undefined
      : checkDurationMs(
          parseMillis(flags.maxPauseWaitTime, '--max-pause-wait-time'),
          '--max-pause-wait-time',
          { minMs: 0 },
        );
  const targets = await resolveTargets(
    {
      ...(flags.addresses === undefined ? {} : { addresses: [flags.addresses] }),
      ...(flags.srvServiceUrl === undefined ? {} : { srv: flags.srvServiceUrl }),
      ...(flags.dnsServer === undefined ? {} : { dnsServer: flags.dnsServer }),
    },
    { addresses: '-a/--addresses', srv: '-s/--srv-service-url' },
  );
  // Upstream enables TLS only with --tls; the CA and authority flags refine it.
  const connection = connectionOptions(
    flags.tls === true
      ? {
          tls: true,
          ...(flags.caRootCertPath === undefined ? {} : { caPath: flags.caRootCertPath }),
          ...(flags.caRootCertPem === undefined ? {} : { caPem: flags.caRootCertPem }),
          ...(flags.overrideAuthority === undefined ? {} : { overrideAuthority: flags.overrideAuthority }),
        }
      : {},
  );
  warnIfPlaintextToken(connection, targets);
  const client = await createPauseClient(connection);
  try {
    switch (command) {
      case 'PAUSE': {
        const group = await client.pauseAll(targets, {
          waitOutstanding: flags.wait,
          ...(maxPauseWaitMs === undefined ? {} : { maxPauseWaitMs }),
        });
        process.stdout.write(`Pause completed at ${formatInstant(group.pausedAtMs)}\n`);
        return 0;
      }
      case 'UNPAUSE': {
        process.stdout.write(`Unpause started at ${formatInstant(Date.now())}\n`);
        const result = await client.unpauseAll(targets);
        if (!result.ok) throw failure('UNPAUSE_FAILED', 'Unpause failed', result.targets);
        return 0;
      }
      case 'CHECK_PAUSED': {
        const statuses = await client.checkPausedAll(targets);
        if (!statuses.every((s) => s.ok))
          throw failure('CHECK_PAUSED_FAILED', 'CheckPaused failed', statuses);
        const byTarget = Object.fromEntries(statuses.map((s) => [s.target, String(s.paused === true)]));
        // Upstream pretty-prints with javax.json: 4-space indent.
        process.stdout.write(`${JSON.stringify(byTarget, null, 4)}\n`);
        return 0;
      }
    }
  } finally {
    client.close();
  }
}

function parseCommand(text: string): AdminCommand {
  const upper = text.toUpperCase();
  const found = COMMANDS.find((c) => c === upper);
  if (!found) {
    throw new ConfigError(
      'COMMAND_INVALID',
      `Unknown command "${text}"; expected one of ${COMMANDS.join(', ')}.`,
    );
  }
  return found;
}

function failure(
  code: 'UNPAUSE_FAILED' | 'CHECK_PAUSED_FAILED',
  what: string,
  statuses: readonly TargetStatus[],
): PauseError {
  const failed = statuses.filter((s) => !s.ok).map((s) => `${s.target} (${s.error?.code ?? 'FAILED'})`);
  return new PauseError(code, `${what} at ${failed.join(', ')}.`, { context: { targets: statuses } });
}

/** The gRPC client, imported on first use: `--help` must not load @grpc/grpc-js (issue 17). */
async function createPauseClient(
  ...args: Parameters<typeof PauseClientModule.createPauseClient>
): Promise<ReturnType<typeof PauseClientModule.createPauseClient>> {
  return (await import('../../pause/pause-client.ts')).createPauseClient(...args);
}
