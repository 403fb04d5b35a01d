import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolvePassword } from '../../src/password.ts';

const dir = mkdtempSync(join(tmpdir(), 'sp-password-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolvePassword', () => {
  it('takes the inline password, the variable, or the file without its trailing newline', () => {
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    process.env.SP_TEST_PW = 'from-env';
    expect(resolvePassword({ password: 'inline' }, 'member a')).toBe('inline');
    expect(resolvePassword({ passwordEnv: 'SP_TEST_PW' }, 'member a')).toBe('from-env');
    expect(resolvePassword({ passwordFile: join(dir, 'pw') }, 'member a')).toBe('from-file');
    expect(resolvePassword({}, 'member a')).toBeUndefined();
    delete process.env.SP_TEST_PW;
  });

  it('fails with PASSWORD_UNAVAILABLE naming the owner, never the value', () => {
    const codeOf = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return { code: (e as { code: string }).code, message: (e as Error).message };
      }
      return 'no error';
    };
    expect(codeOf(() => resolvePassword({ passwordEnv: 'SP_TEST_UNSET_PW' }, 'storage pg'))).toEqual({
      code: 'PASSWORD_UNAVAILABLE',
      message: '[PASSWORD_UNAVAILABLE] storage pg: environment variable SP_TEST_UNSET_PW is not set.',
    });
    expect(codeOf(() => resolvePassword({ passwordFile: join(dir, 'missing') }, 'member b'))).toMatchObject({
      code: 'PASSWORD_UNAVAILABLE',
    });
  });
});
