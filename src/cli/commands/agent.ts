/**
 * `stillpoint agent`: the sidecar next to one Cassandra node (src/agent/server.ts) that the `cassandra`
 * engine calls to flush, snapshot, list and stream snapshot files, clear snapshots and import restored
 * SSTables. Runs until SIGINT/SIGTERM; prints one ready line (`--json`: `{"event":"ready","url":…}`).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { NodeOps, type NodeLifecycle } from '../../agent/node-ops.ts';
import { startAgentServer } from '../../agent/server.ts';
import { ConfigError } from '../../errors.ts';
import { action, emit } from '../output.ts';

const execFileAsync = promisify(execFile);

interface AgentFlags {
  host: string;
  port: string;
  dataDir: string[];
  nodetool: string;
  jmxHost: string;
  jmxPort: string;
  stagingDir?: string;
  commitlogDir?: string;
  hintsDir?: string;
  stopCommand?: string;
  startCommand?: string;
  tokenEnv?: string;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('agent')
    .summary('run the node agent next to a Cassandra node (flush, snapshot, stream files, import)')
    .description(
      'Run the node agent next to one Cassandra node until SIGINT or SIGTERM. The cassandra engine calls it to ' +
        'flush, take a snapshot with a tag (inside the pause), list and stream the snapshot files (differential ' +
        'upload), clear snapshots and stage + `nodetool import` restored SSTables. It talks to Cassandra through ' +
        'nodetool (local JMX) and reads the data directories. A non-loopback --host needs a token ' +
        '(--token-env/--token-file) and TLS (--tls-cert/--tls-key), or --insecure.',
    )
    .addHelpText(
      'after',
      '\nExample (one per node, e.g. a sidecar of the Cassandra StatefulSet):\n' +
        '  STILLPOINT_AGENT_TOKEN=… stillpoint agent --host 0.0.0.0 --port 7400 --token-env STILLPOINT_AGENT_TOKEN \\\n' +
        '    --tls-cert /tls/tls.crt --tls-key /tls/tls.key --data-dir /var/lib/cassandra/data',
    )
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port', '7400')
    .option('--data-dir <dir...>', "the node's data_file_directories", ['/var/lib/cassandra/data'])
    .option('--nodetool <command>', 'nodetool executable', 'nodetool')
    .option('--jmx-host <host>', "the node's JMX host", '127.0.0.1')
    .option('--jmx-port <port>', "the node's JMX port", '7199')
    .option('--staging-dir <dir>', 'where restored SSTables are staged before nodetool import')
    .option('--commitlog-dir <dir>', "the node's commitlog_directory (cleared by a full-cluster restore)")
    .option('--hints-dir <dir>', "the node's hints_directory (cleared by a full-cluster restore)")
    .option(
      '--stop-command <shell>',
      'how to stop the node after `nodetool drain` (full-cluster restore), e.g. "systemctl stop cassandra"',
    )
    .option('--start-command <shell>', 'how to start the node again (full-cluster restore)')
    .option('--token-env <name>', 'environment variable holding the agent token')
    .option('--token-file <file>', 'file holding the agent token')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--insecure', 'allow a non-loopback --host without token and TLS (warned about)')
    .option('--json', 'print the ready and stopped lines as JSON')
    .action(
      action(async (flags: AgentFlags) => {
        const json = flags.json === true;
        const token = readToken(flags);
        if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
          throw new ConfigError('PLAN_INVALID', 'Give both --tls-cert and --tls-key, or neither.', {
            hint: 'Both PEM files are needed to serve TLS.',
            context: { key: 'tls' },
          });
        }
        if ((flags.stopCommand === undefined) !== (flags.startCommand === undefined)) {
          throw new ConfigError('PLAN_INVALID', 'Give both --stop-command and --start-command, or neither.', {
            hint: 'A full-cluster restore stops the node and starts it again: it needs both.',
            context: { key: 'stop-command' },
          });
        }
        const ops = new NodeOps({
          nodetool: [flags.nodetool, '-h', flags.jmxHost, '-p', flags.jmxPort],
          dataDirs: flags.dataDir,
          // Flush and snapshot through one long-lived JMX connection (nodetool stays the fallback).
          jmx: { host: flags.jmxHost, port: Number(flags.jmxPort) },
          ...(flags.stagingDir === undefined ? {} : { stagingDir: flags.stagingDir }),
          ...(flags.commitlogDir === undefined ? {} : { commitlogDir: flags.commitlogDir }),
          ...(flags.hintsDir === undefined ? {} : { hintsDir: flags.hintsDir }),
          ...(flags.stopCommand === undefined || flags.startCommand === undefined
            ? {}
            : { lifecycle: shellLifecycle(flags.stopCommand, flags.startCommand) }),
        });
        const server = await startAgentServer(ops, {
          host: flags.host,
          port: Number(flags.port),
          ...(token === undefined ? {} : { token }),
          ...(flags.tlsCert === undefined || flags.tlsKey === undefined
            ? {}
            : { tls: { cert: readFileSync(flags.tlsCert), key: readFileSync(flags.tlsKey) } }),
          insecure: flags.insecure === true,
          log: (message) => process.stderr.write(`${message}\n`),
        });
        emit(
          json,
          { event: 'ready', url: server.url, pid: process.pid },
          () => `stillpoint agent ready on ${server.url}`,
        );
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGINT', () => resolve('SIGINT'));
          process.once('SIGTERM', () => resolve('SIGTERM'));
        });
        await server.close();
        emit(json, { event: 'stopped', signal }, () => `stillpoint agent stopped (${signal})`);
      }),
    );
}

function readToken(flags: AgentFlags): string | undefined {
  if (flags.tokenEnv !== undefined) {
    const token = process.env[flags.tokenEnv];
    if (token === undefined || token === '') {
      throw new ConfigError(
        'PLAN_INVALID',
        `Environment variable ${flags.tokenEnv} (agent token) is empty.`,
        {
          hint: 'Export the token or use --token-file.',
          context: { key: 'token-env' },
        },
      );
    }
    return token;
  }
  return flags.tokenFile === undefined ? undefined : readFileSync(flags.tokenFile, 'utf8').trim();
}

/** Stop / start through the operator's shell commands (systemd, a supervisor, a hold file in a pod). */
function shellLifecycle(stop: string, start: string): NodeLifecycle {
  const run = async (command: string): Promise<void> => {
    await execFileAsync('/bin/sh', ['-c', command], { timeout: 600_000 });
  };
  return { stop: () => run(stop), start: () => run(start) };
}
