/**
 * `stillpoint workload bank --setup` and `stillpoint check` as an operator runs them: exit 0 on a consistent
 * bank, exit 1 with a per-violation report on a torn one, exit 2 on a bad config.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../../src/lab/trials/cli-process.ts';
import { openGroup } from '../../src/txn/group.ts';
import { loadGroupConfig } from '../../src/config/group-config.ts';
import { transfersRef } from '../../src/lab/bank/bank-schema.ts';

let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-check-cli-'));
  file = join(dir, 'group.yaml');
  await writeFile(
    file,
    'storages:\n  a: { kind: sqlite, path: a.db }\n  b: { kind: sqlite, path: b.db }\nnamespaces: { bank_a: a, bank_b: b, coordinator: a }\n',
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return startCli({ args }).exited;
}

describe('stillpoint check', () => {
  it('passes a freshly set-up bank, fails a torn one with the violation listed, and exits 2 on a bad config', async () => {
    const setup = await cli('workload', 'bank', '--setup', '--config', file, '--accounts', '6', '--json');
    expect(setup.code).toBe(0);
    expect(setup.stdout).toContain('"event":"setup"');

    const ok = await cli('check', '--config', file, '--invariants', 'bank', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      ok: true,
      stats: { accounts: 6, totalBalance: 6000, expectedTotal: 6000 },
    });

    const group = await openGroup(await loadGroupConfig(file));
    try {
      await group.storageFor('bank_b').mutate([
        {
          kind: 'put',
          table: transfersRef('bank_b'),
          key: { transfer_id: 'half' },
          values: { from_account: 0, to_account: 1, amount: 5 },
        },
      ]);
    } finally {
      await group.close();
    }
    const torn = await cli('check', '--config', file, '--invariants', 'bank');
    expect(torn.code).toBe(1);
    expect(torn.stdout).toContain('check FAILED');
    expect(torn.stdout).toMatch(/transfer-torn: transfer half/);

    await writeFile(
      join(dir, 'bad.yaml'),
      'storages: {}\nnamespaces: { bank_a: nowhere, coordinator: nowhere }\n',
    );
    const bad = await cli('check', '--config', join(dir, 'bad.yaml'), '--json');
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr)).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
  });
});
