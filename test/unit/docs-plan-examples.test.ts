/**
 * Every ```yaml block of docs/backup-and-restore.md is a plan: each must load with the real `loadPlan`
 * (schema, engine options, secrets) and get a workable mode from `chooseMode`, so the doc cannot drift
 * from the code. Secrets the examples reference are provided here (env vars set, files written).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { resolveMember } from '../../src/engines/registry.ts';
import { chooseMode } from '../../src/orchestrator/modes.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';

const DOC = new URL('../../docs/backup-and-restore.md', import.meta.url);

/** The bodies of the ```yaml fences of a Markdown text, with their line numbers. */
function yamlBlocks(markdown: string): { line: number; body: string }[] {
  const blocks: { line: number; body: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```yaml') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    // Blocks may be indented inside a list item: strip the fence's indentation.
    const indent = lines[i]!.length - lines[i]!.trimStart().length;
    blocks.push({
      line: start + 1,
      body: lines
        .slice(start, end)
        .map((l) => l.slice(indent))
        .join('\n'),
    });
    i = end;
  }
  return blocks;
}

interface SecretRefs {
  clusters?: { token?: { env?: string; file?: string }; tls?: { caFile?: string } }[];
}

/** Sets the env vars and writes the files a plan's clusters refer to, so loading it can succeed. */
function provideSecrets(doc: SecretRefs, dir: string): void {
  for (const cluster of doc.clusters ?? []) {
    if (cluster.token?.env !== undefined) process.env[cluster.token.env] = 'example-token';
    if (cluster.token?.file !== undefined) writeFileSync(join(dir, cluster.token.file), 'example-token\n');
    if (cluster.tls?.caFile !== undefined)
      writeFileSync(join(dir, cluster.tls.caFile), '-----BEGIN CERTIFICATE-----\n');
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('docs/backup-and-restore.md plan examples', () => {
  const blocks = yamlBlocks(readFileSync(DOC, 'utf8'));

  it('has plan examples to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
  });

  it.each(blocks)('the YAML at line $line loads as a plan with a workable mode', ({ body }) => {
    const dir = mkdtempSync(join(tmpdir(), 'stillpoint-doc-plan-'));
    dirs.push(dir);
    provideSecrets(parseYaml(body) as SecretRefs, dir);
    const file = join(dir, 'plan.yaml');
    writeFileSync(file, body);
    const plan = loadPlan(file);
    const mode = chooseMode(
      plan,
      plan.members.map((m) => ({ name: m.name, capabilities: resolveMember(m).capabilities })),
    );
    expect(['single', 'pause-window', 'snapshot']).toContain(mode);
  });
});
