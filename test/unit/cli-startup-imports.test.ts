/**
 * `stillpoint --help` must start fast (issue 17): the modules the entry point imports statically (what every
 * command line loads before commander even parses it) must not reach the heavy packages — the Kubernetes
 * client, the AWS/Azure SDKs, database drivers, gRPC, log-update. Commands import those inside their action.
 * Read from esbuild's import graph of src/main.ts, static imports only.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const HEAVY = [
  /^@kubernetes\//,
  /^@aws-sdk\//,
  /^@azure\//,
  /^better-sqlite3$/,
  /^pg$/,
  /^mysql2/,
  /^cassandra-driver$/,
  /^@grpc\//,
  /^protobufjs/,
  /^log-update$/,
  /^prom-client$/,
];

async function staticPackages(entry: string): Promise<Map<string, string[]>> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const inputs = result.metafile.inputs;
  const via = new Map<string, string>();
  const seen = new Set<string>();
  const found = new Map<string, string[]>();
  const stack = [entry];
  const chain = (file: string): string[] => {
    const out = [file];
    for (let f = via.get(file); f !== undefined; f = via.get(f)) out.unshift(f);
    return out;
  };
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const imp of inputs[file]?.imports ?? []) {
      if (imp.kind !== 'import-statement') continue;
      if (imp.external) {
        if (!imp.path.startsWith('node:') && !found.has(imp.path)) found.set(imp.path, chain(file));
      } else if (!seen.has(imp.path)) {
        if (!via.has(imp.path)) via.set(imp.path, file);
        stack.push(imp.path);
      }
    }
  }
  return found;
}

describe('CLI start-up imports', () => {
  it('the entry point loads no heavy package before a command runs', async () => {
    const found = await staticPackages('src/main.ts');
    const heavy = [...found].filter(([pkg]) => HEAVY.some((re) => re.test(pkg)));
    expect(heavy.map(([pkg, chain]) => `${pkg} via ${chain.join(' > ')}`)).toEqual([]);
    // commander parses the command line: the one package start-up needs.
    expect([...found.keys()]).toContain('commander');
  }, 60_000);
});

describe('scalar-admin start-up imports', () => {
  it('the pause client reaches gRPC but never protobufjs or proto-loader (the admin messages are hand-encoded)', async () => {
    const found = await staticPackages('src/pause/pause-client.ts');
    expect([...found.keys()]).toContain('@grpc/grpc-js');
    expect([...found.keys()].filter((pkg) => /^protobufjs|^@grpc\/proto-loader/.test(pkg))).toEqual([]);
  }, 60_000);
});
