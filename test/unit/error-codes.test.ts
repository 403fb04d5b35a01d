import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderErrorCodesPage } from '../../src/error-codes-page.ts';
import { ERROR_CODES } from '../../src/error-codes.ts';
import { ConfigError, EngineError, StillpointError, exitCodeFor } from '../../src/errors.ts';

describe('error codes', () => {
  it('docs/error-codes.md is generated from the table (run `npm run docs:codes` when this fails)', () => {
    expect(readFileSync(new URL('../../docs/error-codes.md', import.meta.url), 'utf8')).toBe(
      renderErrorCodesPage(),
    );
  });

  it('one exit code per code, whichever class carries it', () => {
    const asConfig = new ConfigError('RESTORE_TARGET_NOT_EMPTY', 'x');
    const asEngine = new EngineError('RESTORE_TARGET_NOT_EMPTY', 'x');
    expect(exitCodeFor(asConfig)).toBe(exitCodeFor(asEngine));
    expect(exitCodeFor(new EngineError('TOOL_FAILED', 'x'))).toBe(1);
    expect(exitCodeFor(new Error('plain'))).toBe(1);
  });

  it('the staleness check catches a changed table (negative control)', () => {
    const changed = { ...ERROR_CODES, TX_CONFLICT: { ...ERROR_CODES.TX_CONFLICT, exit: 2 as const } };
    expect(renderErrorCodesPage(changed)).not.toBe(renderErrorCodesPage());
  });

  it('every code is upper snake case; unknown errors map to INTERNAL', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^[A-Z][A-Z0-9_]*$/);
    expect(new StillpointError('INTERNAL', 'x').code).toBe('INTERNAL');
  });
});
