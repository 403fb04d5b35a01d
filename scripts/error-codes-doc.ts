/**
 * Writes docs/error-codes.md from src/error-codes.ts (`npm run docs:codes`). test/unit/error-codes.test.ts
 * fails when the page differs from what this renders, so the table cannot drift from the code.
 */
import { writeFileSync } from 'node:fs';
import { renderErrorCodesPage } from '../src/error-codes-page.ts';

writeFileSync(new URL('../docs/error-codes.md', import.meta.url), renderErrorCodesPage());
