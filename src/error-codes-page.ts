/** Renders docs/error-codes.md from the code table (see scripts/error-codes-doc.ts). */
import { ERROR_CODES, type ErrorKind } from './error-codes.ts';

const CLASS_OF: Record<ErrorKind, string> = {
  config: 'ConfigError',
  pause: 'PauseError',
  transaction: 'TransactionError',
  engine: 'EngineError',
  catalog: 'CatalogError',
  internal: 'InternalError',
};

export function renderErrorCodesPage(
  table: Readonly<
    Record<string, { kinds: readonly ErrorKind[]; exit: number; summary: string }>
  > = ERROR_CODES,
): string {
  const rows = Object.entries(table)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([code, spec]) =>
        `| \`${code}\` | ${spec.exit} | ${spec.kinds.map((k) => CLASS_OF[k]).join(', ')} | ${spec.summary} |`,
    );
  return [
    '# Error codes',
    '',
    'Generated from `src/error-codes.ts` by `npm run docs:codes`; a test fails when this page is stale.',
    'Every error prints `stillpoint: [CODE] message` and a `hint:` line; with `--json`, one object',
    '`{"error":{"name","code","message","hint","context"}}` on stderr. Match on the code, never on the prose.',
    '',
    '| exit | meaning |',
    '|---|---|',
    '| 0 | success |',
    '| 1 | the operation failed |',
    '| 2 | bad input, or a refusal a flag can lift; nothing was changed |',
    '| 3 | restored, but not proven: the check could not run |',
    '| 4 | an unpause was not confirmed: targets may still be paused |',
    '',
    '| code | exit | class | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
