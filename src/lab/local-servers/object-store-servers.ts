/**
 * Lab: real S3-compatible and Azure Blob servers on loopback for tests and demos (never imported by the
 * product). s3rver runs in-process (it is a Koa app); Azurite runs as a child process (its blob service
 * binary), each on a port the OS picks (port 0) with a temp directory that `stop()` removes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The fixed credentials s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningObjectServer {
  /** Base endpoint (`http://127.0.0.1:<port>`, plus `/devstoreaccount1` for Azurite). */
  readonly endpoint: string;
  stop(): Promise<void>;
}

export interface RunningAzurite extends RunningObjectServer {
  readonly connectionString: string;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export async function startS3rver(): Promise<RunningObjectServer> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-s3rver-'));
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stop: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `startTimeoutMs`: how long Azurite may take to listen (default 20 s; a loaded machine needs more). */
export async function startAzurite(startTimeoutMs = 20_000): Promise<RunningAzurite> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-azurite-'));
  const require = createRequire(import.meta.url);
  const main = join(require.resolve('azurite/package.json'), '..', 'dist', 'src', 'blob', 'main.js');
  const child = spawn(
    process.execPath,
    [
      main,
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--location',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const port = await waitForListening(child, startTimeoutMs);
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    endpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the port Azurite prints once it listens (it was started on port 0). */
function waitForListening(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start within ${timeoutMs} ms: ${output}`));
    }, timeoutMs);
    const onData = (data: Buffer): void => {
      output += data.toString();
      const port = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1];
      if (port !== undefined) {
        clearTimeout(timer);
        resolve(Number(port));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited (${String(code)}) before listening: ${output}`));
    });
  });
}
