/**
 * `stillpoint node --config <file>`: runs a node until SIGINT/SIGTERM. Prints ONE ready line when listening:
 * with `--json` `{"event":"ready","name":…,"host":…,"adminPort":…,"dataPort":…,"address":…,"pid":…}`, else
 * `stillpoint node <name> ready on <address> (adminPort=<p> dataPort=<p> pid=<pid>)`.
 */
import type { Command } from 'commander';
import type { CliComposition } from '../composition.ts';
import { action, emit } from '../output.ts';

export function register(program: Command, composition: CliComposition): void {
  program
    .command('node')
    .summary('run a pausable node: transactions behind the gate, data API and admin service')
    .description(
      "Run a node: the transaction manager behind the pause gate, serving the data services the CLI was built with (the lab's bank API) and the admin " +
        'service (rpc.Admin, scalar-admin compatible) on one gRPC port, until SIGINT or SIGTERM. Prints one ' +
        'ready line with the address once listening. Several nodes may share one set of databases. The config ' +
        'format (group, listen, admin token/TLS, gate reject|hold, expiryMs) is documented in ' +
        'src/node/node-config.ts. A non-loopback listen.host needs an admin token (admin.tokenFile or ' +
        'admin.tokenEnv; it guards the data API too) and TLS, or --insecure.',
    )
    .addHelpText(
      'after',
      '\nExample node.yaml:\n' +
        '  name: node-1\n' +
        '  group:\n' +
        '    storages: { a: { kind: sqlite, path: ./data/bank_a.db }, b: { kind: sqlite, path: ./data/bank_b.db } }\n' +
        '    namespaces: { bank_a: a, bank_b: b, coordinator: a }\n' +
        '  listen: { host: 127.0.0.1, port: 50051 }\n' +
        '\nExample:\n' +
        '  stillpoint node --config node.yaml &\n' +
        '  stillpoint check-paused -a 127.0.0.1:50051',
    )
    .requiredOption('--config <file>', 'node config YAML (group, listen, admin, gate, expiryMs)')
    .option('--json', 'print the ready line and the shutdown line as JSON')
    .option(
      '--insecure',
      'allow a non-loopback listen.host without admin token and TLS (warned about; config: insecure: true)',
    )
    .action(
      action(async (options: { config: string; json?: boolean; insecure?: boolean }) => {
        const json = options.json === true;
        // Loaded here so `--help` does not load gRPC and the storages (issue 17).
        const [{ loadNodeConfig }, { startNode }, services] = await Promise.all([
          import('../../node/node-config.ts'),
          import('../../node/node.ts'),
          composition.loadNodeServices(),
        ]);
        const loaded = await loadNodeConfig(options.config);
        const config = options.insecure === true ? { ...loaded, insecure: true } : loaded;
        const node = await startNode(config, { services });
        const ready = {
          event: 'ready',
          name: node.name,
          host: node.host,
          adminPort: node.adminPort,
          dataPort: node.dataPort,
          address: node.address,
          pid: process.pid,
          gate: node.gate !== undefined,
        };
        emit(
          json,
          ready,
          () =>
            `stillpoint node ${node.name} ready on ${node.address} (adminPort=${node.adminPort} dataPort=${node.dataPort} pid=${process.pid})`,
        );
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGINT', () => resolve('SIGINT'));
          process.once('SIGTERM', () => resolve('SIGTERM'));
        });
        await node.close();
        emit(
          json,
          { event: 'stopped', name: node.name, signal },
          () => `stillpoint node ${node.name} stopped (${signal})`,
        );
      }),
    );
}
