import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlan, parsePlan } from '../../src/plan/load-plan.ts';

const dir = mkdtempSync(join(tmpdir(), 'sp-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const good = () => ({
  version: 1,
  clusters: [{ name: 'nodes', targets: { addresses: ['127.0.0.1:1'] }, token: { env: 'SP_TEST_TOKEN' } }],
  members: [
    { name: 'a', engine: 'sqlite', connection: { kind: 'sqlite', path: './a.db' }, namespaces: ['bank_a'] },
    {
      name: 'c',
      engine: 'sqlite',
      connection: { kind: 'sqlite', path: 'c.db' },
      namespaces: ['coordinator'],
    },
  ],
});

function codeAndKey(value: unknown): { code: string; key: unknown } {
  try {
    parsePlan(value, { file: 'p.yaml', baseDir: dir });
  } catch (e) {
    const err = e as { code: string; context: { key: unknown } };
    return { code: err.code, key: err.context.key };
  }
  throw new Error('plan was accepted');
}

describe('plan', () => {
  it('loads a good plan: defaults, paths relative to the plan, secrets resolved but not in the digest', () => {
    process.env.SP_TEST_TOKEN = 'tok-secret';
    const file = join(dir, 'bank.yaml');
    writeFileSync(file, JSON.stringify(good()));
    const plan = loadPlan(file);
    expect(plan.group).toBe('bank');
    expect(plan.members[0]!.connection).toEqual({ kind: 'sqlite', path: join(dir, 'a.db') });
    expect(plan.catalogPath).toBe(join(dir, '.stillpoint', 'catalog.db'));
    expect(plan.artifactsDir).toBe(join(dir, '.stillpoint', 'artifacts'));
    expect(plan.clusters[0]!.leaseMs).toBe(15_000);
    expect(plan.clusters[0]!.token).toBe('tok-secret');
    expect(plan.window).toEqual({ minMs: 0, marginMs: 50, maxAttempts: 3, captureTimeoutMs: 30_000 });
    expect(plan.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(plan.digest)).not.toContain('tok-secret');
  });

  it('rejects malformed plans naming the key', () => {
    process.env.SP_TEST_TOKEN = 'x';
    const cases: [unknown, string][] = [
      [{ ...good(), extra: 1 }, '(top level)'],
      [{ ...good(), version: 2 }, 'version'],
      [{ ...good(), clusters: [{ name: 'n', targets: { addresses: [] } }] }, 'clusters.0.targets.addresses'],
      [
        { ...good(), clusters: [{ name: 'n', targets: { addresses: ['h:1'] }, leaseMs: 5 }] },
        'clusters.0.leaseMs',
      ],
      [{ ...good(), members: [good().members[0]] }, 'members'],
      [{ ...good(), members: [{ ...good().members[1], engine: 'oracle' }] }, 'members.0.engine'],
      [{ ...good(), members: [{ ...good().members[1], options: { bogus: 1 } }] }, 'members.0.options'],
      [
        {
          ...good(),
          members: [{ ...good().members[1], connection: { kind: 'sqlite', path: 'x', port: 1 } }],
        },
        'members.0.connection',
      ],
      [{ ...good(), window: { minMs: -1 } }, 'window.minMs'],
      [
        { ...good(), members: [...good().members, { ...good().members[1], name: 'd' }] },
        'members.2.namespaces',
      ],
      [{ ...good(), clusters: [], mode: 'snapshot' }, 'mode'],
    ];
    for (const [value, key] of cases) expect(codeAndKey(value)).toEqual({ code: 'PLAN_INVALID', key });
    delete process.env.SP_TEST_TOKEN;
    expect(codeAndKey(good())).toEqual({ code: 'PLAN_INVALID', key: 'clusters.0.token.env' });
  });

  it('explains a target list that matches none of its forms, and reports the branch that was meant', () => {
    const message = (targets: unknown): string => {
      try {
        parsePlan({ ...good(), clusters: [{ name: 'n', targets }] }, { file: 'p.yaml', baseDir: dir });
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('plan was accepted');
    };
    expect(message({ adresses: ['h:1'] })).toContain(
      'clusters.0.targets: unknown key(s) "adresses"; write exactly one of "addresses", "srv", "kubernetes"',
    );
    expect(message({ srv: 5 })).toContain('clusters.0.targets.srv: Invalid input: expected string');
  });

  it('reports unreadable and non-YAML files', () => {
    expect(() => loadPlan(join(dir, 'none.yaml'))).toThrow(
      expect.objectContaining({ code: 'PLAN_INVALID' }) as Error,
    );
    writeFileSync(join(dir, 'bad.yaml'), 'a: [1,\n');
    expect(() => loadPlan(join(dir, 'bad.yaml'))).toThrow(
      expect.objectContaining({ code: 'PLAN_INVALID' }) as Error,
    );
  });
});
