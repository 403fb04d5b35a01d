/**
 * `stillpoint serve`: the read-only dashboard, JSON API and Prometheus /metrics over the catalog
 * (src/serve/server.ts). Loopback by default; any other address needs a bearer token.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { action, emit } from '../output.ts';
import { openCatalogFrom, type CatalogFlags } from './catalog-option.ts';

interface ServeFlags extends CatalogFlags {
  host: string;
  port: string;
  tokenFile?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .summary('read-only dashboard, JSON API and Prometheus /metrics over the catalog')
    .description(
      'Serve a read-only dashboard over the catalog: the backup timeline, each backup (members, restore ' +
        'handles, artifacts, events, verify and restore-drill results), the consistent PITR window of each group ' +
        '(with its gaps), RPO (time since the newest complete and verified backup) and pause health; the same as ' +
        'JSON under /api/, and Prometheus metrics on /metrics. Binds 127.0.0.1 by default; any other address ' +
        'needs a bearer token (--token-file or STILLPOINT_SERVE_TOKEN), which the page takes as #token=… in its URL. ' +
        'Nothing can be changed through it. docs/operating.md describes the page, the metrics and the alerts.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  stillpoint serve --plan plan.yaml\n' +
        '  stillpoint serve --catalog /var/lib/stillpoint/catalog.db --host 0.0.0.0 --port 8080 --token-file /run/secrets/serve-token',
    )
    .option('--catalog <file>', 'catalog file (default: $STILLPOINT_CATALOG, else ./.stillpoint/catalog.db)')
    .option('--plan <file>', 'use the catalog named in this plan')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0: any free port)', '8080')
    .option('--token-file <file>', 'bearer token file (default: $STILLPOINT_SERVE_TOKEN)')
    .option('--json', 'print the ready line as JSON')
    .action(action(async (flags: ServeFlags) => serve(flags)));
}

async function serve(flags: ServeFlags): Promise<number> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError('FLAG_INVALID', `--port must be a port number, not "${flags.port}".`, {
      hint: 'For example --port 8080.',
    });
  }
  const token = readToken(flags);
  const { startServe } = await import('../../serve/server.ts');
  const catalog = await openCatalogFrom(flags);
  try {
    const server = await startServe({ catalog, host: flags.host, port, ...(token ? { token } : {}) });
    emit(
      flags.json === true,
      { event: 'ready', url: server.url, port: server.port, pid: process.pid },
      () =>
        `stillpoint serve: dashboard on ${server.url} (API ${server.url}api/overview, metrics ${server.url}metrics)`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await server.close();
    return 0;
  } finally {
    catalog.close();
  }
}

function readToken(flags: ServeFlags): string | undefined {
  if (flags.tokenFile === undefined) return process.env.STILLPOINT_SERVE_TOKEN || undefined;
  try {
    return readFileSync(flags.tokenFile, 'utf8').trim();
  } catch (cause) {
    throw new ConfigError('CONFIG_SECRET_MISSING', `Cannot read the token file ${flags.tokenFile}.`, {
      context: { file: flags.tokenFile },
      hint: 'Check the path and its permissions, or set STILLPOINT_SERVE_TOKEN.',
      cause,
    });
  }
}
