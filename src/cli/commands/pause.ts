/**
 * `stillpoint pause | unpause | check-paused`: the pause protocol from the command line.
 *
 * `pause --hold <duration>` is the seeds' "create a period to restore data" step as one command: pause every
 * target (all-or-nothing), hold, unpause — also on SIGINT/SIGTERM — and print the window and its mid-time.
 * Plain `pause` leaves the cluster paused on purpose (the operator asked for it) and says how to undo it;
 * with `--lease` the servers unpause by themselves once the lease lapses, since nobody renews it. A hold always
 * sends a lease (renewed while it holds), so a CLI killed with SIGKILL leaves nothing paused for long.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { parseDuration } from '../../duration.ts';
import { PauseError } from '../../errors.ts';
import type { PausedGroup, PauseOptions, Target, TargetStatus, UnpauseResult } from '../../pause/contract.ts';
import type * as PauseClientModule from '../../pause/pause-client.ts';
import { action, emit } from '../output.ts';
import {
  type ConnectionFlags,
  type TargetFlags,
  collect,
  connectionOptions,
  formatInstant,
  resolveTargets,
  TOKEN_HELP,
  warnIfPlaintextToken,
} from '../pause-options.ts';

interface CommonFlags extends TargetFlags, Omit<ConnectionFlags, 'caPath' | 'caPem'> {
  readonly ca?: string;
  readonly json?: boolean;
}

interface PauseFlags extends CommonFlags {
  readonly wait: boolean;
  readonly maxPauseWaitTime?: string;
  readonly lease?: string;
  readonly hold?: string;
}

export function register(program: Command): void {
  const pause = program
    .command('pause')
    .summary('pause every target at once (all-or-nothing); --hold for a timed window')
    .description(
      'Pause every target at once, all-or-nothing: if one fails, the others are unpaused and the command ' +
        'fails (exit 1). Without --hold the cluster STAYS PAUSED until `stillpoint unpause`, or until its ' +
        '--lease lapses on stillpoint servers. With --hold it pauses, holds, always unpauses (also on Ctrl-C: ' +
        'exit 130, SIGTERM 143), and prints the window and its mid-time, the restore point for point-in-time ' +
        'restores. Protocol and options: docs/pause.md.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  stillpoint pause -a 10.0.0.5:50053,10.0.0.6:50053 --hold 5s\n' +
        '  stillpoint pause -s _scalardl-admin._tcp.ledger-headless.default.svc.cluster.local --hold 10s --json\n' +
        '  stillpoint pause -a [::1]:50053 --lease 60s     # stays paused; unpauses itself after 60 s',
    )
    .option('--no-wait', 'do not wait for in-flight work to drain (NOT a consistent point)')
    .option(
      '--max-pause-wait-time <duration>',
      'drain limit sent to the servers, e.g. 10s (default: theirs, 30 s)',
    )
    .option(
      '--lease <duration>',
      'stillpoint servers unpause by themselves unless renewed within this time, e.g. 30s (renewed while --hold runs; with --hold default min(hold, 10s) + 5s); at most 24h',
    )
    .option(
      '--hold <duration>',
      'hold the pause this long (e.g. 5s, 500ms, 1h; at most 24h), then unpause and print the window',
    );
  addCommonOptions(pause).action(action((flags: PauseFlags) => runPause(flags)));

  const unpause = program
    .command('unpause')
    .summary('unpause every target')
    .description(
      'Unpause every target (idempotent; transient failures retried). Prints `Unpause started at …`. Exit 1 if ' +
        'any target could not be unpaused, with one line per failed target.',
    )
    .addHelpText('after', '\nExample:\n  stillpoint unpause -a 10.0.0.5:50053,10.0.0.6:50053');
  addCommonOptions(unpause).action(action((flags: CommonFlags) => runUnpause(flags)));

  const check = program
    .command('check-paused')
    .summary('ask every target whether it is paused')
    .description(
      'Ask every target whether it is paused (CheckPaused). Prints one line per target: paused, not paused, ' +
        'or unknown (error code). Exit 1 if any target could not be asked.',
    )
    .addHelpText('after', '\nExample:\n  stillpoint check-paused -a 10.0.0.5:50053,10.0.0.6:50053 --json');
  addCommonOptions(check).action(action((flags: CommonFlags) => runCheckPaused(flags)));
}

function addCommonOptions(command: Command): Command {
  return command
    .option('-a, --addresses <host:port,...>', 'admin endpoints (repeatable; IPv6 as [::1]:port)', collect)
    .option('-s, --srv <name>', 'DNS SRV name; every record is one target')
    .option(
      '--dns-server <ip[:port]>',
      'DNS server for --srv (repeatable; default: the system resolver)',
      collect,
    )
    .option('--tls', 'connect with TLS')
    .option('--ca <path>', 'CA certificate file (PEM) to trust; implies --tls')
    .option('--override-authority <name>', 'TLS server name to expect (when it differs from the address)')
    .option('--token <token>', TOKEN_HELP.token)
    .option('--token-file <file>', TOKEN_HELP.tokenFile)
    .option('--json', 'print one JSON document');
}

/**
 * The lease a `--hold` sends when `--lease` is not given: the client renews it three times per lease while it
 * holds, so it only needs to outlive a few renewals, and it bounds how long a `kill -9`ed CLI leaves the
 * cluster paused: min(hold, 10 s) + 5 s, i.e. 5.5 s for a 500 ms hold, at most 15 s.
 */
export function defaultHoldLeaseMs(holdMs: number): number {
  return Math.min(holdMs, 10_000) + 5_000;
}

async function runPause(flags: PauseFlags): Promise<number> {
  // Every flag is checked before anything is sent: bad input never leaves a target paused.
  const holdMs = flags.hold === undefined ? undefined : parseDuration(flags.hold, '--hold');
  const leaseMs = flags.lease === undefined ? undefined : parseDuration(flags.lease, '--lease');
  const options: PauseOptions = {
    waitOutstanding: flags.wait,
    ...(flags.maxPauseWaitTime === undefined
      ? {}
      : { maxPauseWaitMs: parseDuration(flags.maxPauseWaitTime, '--max-pause-wait-time') }),
    // A hold always carries a lease, so a CLI killed mid-hold (kill -9, a lost pod) never leaves a cluster paused.
    ...(leaseMs !== undefined
      ? { leaseMs }
      : holdMs !== undefined
        ? { leaseMs: defaultHoldLeaseMs(holdMs) }
        : {}),
  };
  const targets = await resolveTargets(flags);
  const client = await createPauseClient(connection(flags, targets));
  try {
    if (holdMs === undefined)
      return await pauseAndLeave(client.pauseAll.bind(client), targets, options, flags);
    return await pauseAndHold(client.pauseAll.bind(client), targets, options, holdMs, flags);
  } finally {
    client.close();
  }
}

type PauseAll = (targets: readonly Target[], options?: PauseOptions) => Promise<PausedGroup>;

async function pauseAndLeave(
  pauseAll: PauseAll,
  targets: Target[],
  options: PauseOptions,
  flags: PauseFlags,
): Promise<number> {
  const group = await pauseAll(targets, options);
  const json = flags.json === true;
  emit(
    json,
    {
      paused: true,
      pausedAtMs: group.pausedAtMs,
      pausedAt: isoOf(group.pausedAtMs),
      leaseMs: options.leaseMs ?? null,
      targets: group.statuses,
    },
    () => `Pause completed at ${formatInstant(group.pausedAtMs)}`,
  );
  const unpauseCommand = `stillpoint unpause ${targetFlagsText(targets, flags)}`;
  process.stderr.write(
    options.leaseMs === undefined
      ? `warning: the cluster stays paused until you run: ${unpauseCommand}\n`
      : `warning: nobody renews the lease: the servers unpause by themselves within ${options.leaseMs} ms ` +
          `(or now: ${unpauseCommand})\n`,
  );
  return 0;
}

async function pauseAndHold(
  pauseAll: PauseAll,
  targets: Target[],
  options: PauseOptions,
  holdMs: number,
  flags: PauseFlags,
): Promise<number> {
  const json = flags.json === true;
  // Installed before the pause is sent: a signal during the drain aborts it, and the client rolls back.
  const stop = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled = signal;
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const group = await pauseAll(targets, { ...options, signal: stop.signal });
    if (!json) process.stdout.write(`Pause completed at ${formatInstant(group.pausedAtMs)}\n`);
    await sleep(holdMs, stop.signal);
    const result = await group.unpause();
    report(json, result, signalled);
    if (!result.ok) return 1;
    return signalled === undefined ? 0 : signalled === 'SIGINT' ? 130 : 143;
  } catch (error) {
    if (signalled !== undefined && error instanceof PauseError && error.code === 'PAUSE_FAILED') {
      process.stderr.write(
        `stillpoint: interrupted by ${signalled} during the pause; every target was unpaused.\n`,
      );
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function report(json: boolean, result: UnpauseResult, signalled: NodeJS.Signals | undefined): void {
  const w = result.window;
  const durationMs = w.unpauseStartedAtMs - w.pausedAtMs;
  const value = {
    ok: result.ok,
    interruptedBy: signalled ?? null,
    window: {
      ...w,
      durationMs,
      pausedAt: isoOf(w.pausedAtMs),
      unpauseStartedAt: isoOf(w.unpauseStartedAtMs),
      midAt: isoOf(w.midMs),
    },
    targets: result.targets,
  };
  emit(json, value, () =>
    [
      `Unpause started at ${formatInstant(w.unpauseStartedAtMs)}`,
      `Paused window: ${isoOf(w.pausedAtMs)} → ${isoOf(w.unpauseStartedAtMs)} (${durationMs} ms)` +
        (signalled ? `, cut short by ${signalled}` : ''),
      `Mid-time (restore point): ${isoOf(w.midMs)} (${w.midMs})`,
      ...failedLines(result.targets),
    ].join('\n'),
  );
}

async function runUnpause(flags: CommonFlags): Promise<number> {
  const targets = await resolveTargets(flags);
  const client = await createPauseClient(connection(flags, targets));
  try {
    const startedAtMs = Date.now();
    if (flags.json !== true) process.stdout.write(`Unpause started at ${formatInstant(startedAtMs)}\n`);
    const result = await client.unpauseAll(targets);
    if (flags.json === true)
      emit(true, { ok: result.ok, unpauseStartedAtMs: startedAtMs, targets: result.targets }, () => '');
    else for (const line of failedLines(result.targets)) process.stderr.write(`${line}\n`);
    return result.ok ? 0 : 1;
  } finally {
    client.close();
  }
}

async function runCheckPaused(flags: CommonFlags): Promise<number> {
  const targets = await resolveTargets(flags);
  const client = await createPauseClient(connection(flags, targets));
  try {
    const statuses = await client.checkPausedAll(targets);
    const ok = statuses.every((s) => s.ok);
    emit(
      flags.json === true,
      { ok, allPaused: ok && statuses.every((s) => s.paused === true), targets: statuses },
      () =>
        statuses
          .map(
            (s) =>
              `${s.target}\t${s.ok ? (s.paused ? 'paused' : 'not paused') : `unknown (${s.error?.code})`}`,
          )
          .join('\n'),
    );
    return ok ? 0 : 1;
  } finally {
    client.close();
  }
}

function connection(flags: CommonFlags, targets: readonly Target[]): ReturnType<typeof connectionOptions> {
  const options = connectionOptions({ ...flags, ...(flags.ca === undefined ? {} : { caPath: flags.ca }) });
  warnIfPlaintextToken(options, targets);
  return options;
}

function failedLines(statuses: readonly TargetStatus[]): string[] {
  return statuses
    .filter((s) => !s.ok)
    .map((s) => `FAILED ${s.target}: [${s.error?.code}] ${s.error?.message}`);
}

function targetFlagsText(targets: readonly Target[], flags: CommonFlags): string {
  const where =
    flags.srv !== undefined ? `--srv ${flags.srv}` : `-a ${targets.map((t) => t.label).join(',')}`;
  return `${where}${flags.tls || flags.ca ? ' --tls' : ''}`;
}

function isoOf(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** Waits `ms`, or less when `signal` aborts (a signal ends the hold early; it is not an error). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

/** The gRPC client, imported on first use: `--help` must not load @grpc/grpc-js (issue 17). */
async function createPauseClient(
  ...args: Parameters<typeof PauseClientModule.createPauseClient>
): Promise<ReturnType<typeof PauseClientModule.createPauseClient>> {
  return (await import('../../pause/pause-client.ts')).createPauseClient(...args);
}
