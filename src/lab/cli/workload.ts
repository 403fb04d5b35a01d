/**
 * `stillpoint workload bank`: sets up the bank (optionally) and runs concurrent transfers through nodes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { bankInvariants } from '../bank/bank-invariants.ts';
import { ConfigError } from '../../errors.ts';
import type { BankReport } from '../bank/bank-workload.ts';
import { action, emit, emitEvent } from '../../cli/output.ts';
import { parseDuration } from '../../duration.ts';
import { resolveToken, TOKEN_HELP } from '../../cli/pause-options.ts';
import { renderCheck } from '../../cli/commands/check.ts';

interface BankFlags {
  targets?: string;
  accounts: string;
  concurrency: string;
  duration?: string;
  transfers?: string;
  setup?: boolean;
  initialBalance: string;
  config?: string;
  check?: boolean;
  acknowledgedOut?: string;
  tls?: boolean;
  caRootCertPath?: string;
  overrideAuthority?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

/** The longest --duration: a week (the workload checks the clock, it sets no timer of that length). */
const MAX_WORKLOAD_MS = 7 * 24 * 3_600_000;

export function register(program: Command): void {
  const workload = program
    .command('workload')
    .summary('drive load through nodes (the bank workload)')
    .description(
      'Workloads that exercise nodes and leave invariants a checker can verify. One workload: bank.',
    );
  workload
    .command('bank')
    .summary('concurrent transfers between bank_a and bank_b through nodes')
    .description(
      'Concurrent transfers between accounts in bank_a and bank_b (two storages), through one or more nodes, ' +
        'for --duration or --transfers. Every transfer also writes its id into both namespaces, so atomicity ' +
        'is checkable row by row. Paused (UNAVAILABLE) or unreachable nodes are retried with a capped backoff, ' +
        'on another node when there is one. The report gives throughput, latency percentiles, retries and the ' +
        'time spent waiting on a pause. --setup creates and seeds the bank first (directly in the databases, ' +
        'needs --config); --check runs the checker afterwards, including every acknowledged transfer id.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  stillpoint workload bank --setup --config group.yaml                 # create and seed only\n' +
        '  stillpoint workload bank --targets 127.0.0.1:50051 --duration 30s\n' +
        '  stillpoint workload bank --targets 127.0.0.1:50051,127.0.0.1:50052 --transfers 5000 --config group.yaml --check',
    )
    .option('--targets <list>', 'node data addresses host:port,host:port (the port a node prints when ready)')
    .option('--accounts <n>', 'number of accounts', '100')
    .option('--concurrency <n>', 'concurrent clients', '4')
    .option('--duration <time>', 'how long to run, e.g. 10s, 500ms, 2m, 1h (at most 1w)')
    .option('--transfers <n>', 'stop after this many transfers')
    .option('--setup', 'create the tables and seed the accounts first (needs --config)')
    .option('--initial-balance <n>', 'balance of each new account (with --setup)', '1000')
    .option('--config <file>', 'group config YAML (for --setup and --check)')
    .option('--check', 'run the consistency checker after the run (needs --config)')
    .option('--acknowledged-out <file>', 'write every acknowledged transfer id to this file, one per line')
    .option('--tls', 'connect to the nodes over TLS')
    .option('--ca-root-cert-path <file>', 'CA certificate (PEM) to trust for --tls (default: system roots)')
    .option('--override-authority <name>', 'TLS server name to expect instead of the address host')
    .option('--token <token>', TOKEN_HELP.token)
    .option('--token-file <file>', TOKEN_HELP.tokenFile)
    .option('--json', 'print the report as JSON (progress as NDJSON events)')
    .action(action((flags: BankFlags) => runBank(flags)));
}

async function runBank(flags: BankFlags): Promise<number> {
  const json = flags.json === true;
  const accounts = positiveInt(flags.accounts, '--accounts', 2);
  const durationMs =
    flags.duration === undefined
      ? undefined
      : parseDuration(flags.duration, '--duration', { maxMs: MAX_WORKLOAD_MS });
  const token = resolveToken(flags);
  if ((flags.setup === true || flags.check === true) && flags.config === undefined) {
    throw new ConfigError('CONFIG_MISSING', '--setup and --check need --config <group.yaml>.', {
      hint: 'Give the group config the nodes use.',
    });
  }
  // Imported here so `--help` does not load the storages, gRPC and the workload (issue 17).
  const [{ checkGroup }, { loadGroupConfig }, { openGroup }, { setupBank }, { runBankWorkload }] =
    await Promise.all([
      import('../../checker/check.ts'),
      import('../../config/group-config.ts'),
      import('../../txn/group.ts'),
      import('../bank/bank-setup.ts'),
      import('../bank/bank-workload.ts'),
    ]);
  const group = flags.config === undefined ? undefined : await loadGroupConfig(flags.config);
  if (flags.setup === true && group !== undefined) {
    const opened = await openGroup(group);
    try {
      const seeded = await setupBank(opened, {
        accounts,
        initialBalance: positiveInt(flags.initialBalance, '--initial-balance', 0),
      });
      if (json) emitEvent({ event: 'setup', ...seeded });
      else process.stderr.write(`bank set up: ${seeded.accounts} accounts, total ${seeded.total}\n`);
    } finally {
      await opened.close();
    }
  }
  const targets = (flags.targets ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (targets.length === 0) {
    if (flags.setup === true) return 0;
    throw new ConfigError('CONFIG_MISSING', 'no --targets given.', {
      hint: 'Give the node addresses, e.g. --targets 127.0.0.1:7001,127.0.0.1:7002.',
    });
  }
  if (flags.duration === undefined && flags.transfers === undefined) {
    throw new ConfigError('CONFIG_MISSING', 'give --duration or --transfers.', {
      hint: 'e.g. --duration 10s',
    });
  }
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const tls = await tlsOptions(flags);
  let report: BankReport;
  try {
    report = await runBankWorkload({
      targets,
      ...(tls === undefined ? {} : { tls }),
      accounts,
      concurrency: positiveInt(flags.concurrency, '--concurrency', 1),
      ...(durationMs === undefined ? {} : { durationMs }),
      ...(token === undefined ? {} : { token }),
      ...(flags.transfers === undefined ? {} : { transfers: positiveInt(flags.transfers, '--transfers', 1) }),
      signal: controller.signal,
      onProgress: (p) =>
        json
          ? emitEvent({ event: 'progress', ...p })
          : process.stderr.write(
              `  ${(p.elapsedMs / 1000).toFixed(0)} s: ${p.committed} committed, ${p.failed} failed, ${p.retries} retries\n`,
            ),
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (flags.acknowledgedOut !== undefined)
    await writeFile(flags.acknowledgedOut, report.acknowledged.join('\n') + '\n');
  const { acknowledged, ...summary } = report;
  emit(json, { event: 'report', ...summary, acknowledgedCount: acknowledged.length }, () =>
    renderBank(report),
  );
  if (flags.check === true && group !== undefined) {
    const check = await checkGroup(group, { invariants: [bankInvariants], acknowledged });
    emit(json, { event: 'check', ...check }, () => renderCheck(check));
    if (!check.ok) return 1;
  }
  return report.failed > 0 ? 1 : 0;
}

function renderBank(r: BankReport): string {
  return (
    `bank workload: ${r.committed} committed (${r.duplicates} duplicate), ${r.failed} failed, ${r.retries} retries ` +
    `(${r.retriesByReason.unavailable} unavailable, ${r.retriesByReason.conflict} conflict, ${r.retriesByReason.unknown} unknown) in ${(r.elapsedMs / 1000).toFixed(1)} s\n` +
    `throughput ${r.throughput.toFixed(1)} tx/s; latency p50 ${r.latencyMs.p50} ms, p95 ${r.latencyMs.p95} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms; ` +
    `waited on pause ${r.pausedWaitMs} ms (longest ${r.pausedWaitMaxMs} ms)` +
    (Object.keys(r.errors).length > 0 ? `\nerrors: ${JSON.stringify(r.errors)}` : '')
  );
}

async function tlsOptions(
  flags: BankFlags,
): Promise<{ caPem?: string; overrideAuthority?: string } | undefined> {
  if (flags.tls !== true) return undefined;
  let caPem: string | undefined;
  if (flags.caRootCertPath !== undefined) {
    try {
      caPem = await readFile(flags.caRootCertPath, 'utf8');
    } catch (cause) {
      throw new ConfigError('CONFIG_UNREADABLE', `cannot read ${flags.caRootCertPath}.`, {
        hint: 'Check --ca-root-cert-path.',
        cause,
      });
    }
  }
  return {
    ...(caPem === undefined ? {} : { caPem }),
    ...(flags.overrideAuthority === undefined ? {} : { overrideAuthority: flags.overrideAuthority }),
  };
}

/** Counts are bounded too (a typo of 1e12 accounts should fail at once, not after an hour of seeding). */
const MAX_COUNT = 100_000_000;

function positiveInt(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > MAX_COUNT)
    throw new ConfigError(
      'CONFIG_BAD_NUMBER',
      `${flag} must be an integer from ${min} to ${MAX_COUNT}, got "${text}".`,
      { hint: `Fix ${flag}.` },
    );
  return n;
}
