/**
 * The architecture rules enforced by lint (eslint.config.js), each shown catching a wrong case (negative
 * control) and passing a right one: product code never imports the lab, and never reads failpoints from the
 * environment.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
// Only the architecture rules, without type information: the probe files do not exist on disk.
const eslint = new ESLint({
  cwd: root,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports' || ruleId === 'no-restricted-syntax',
});

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('architecture lint rules', () => {
  it('refuses a product → lab import', async () => {
    const code = "import { startDemo } from '../lab/demo/demo.ts';\nexport const x = startDemo;\n";
    expect(await ruleIds(code, 'src/orchestrator/wrong-way.ts')).toContain('no-restricted-imports');
    expect(
      await ruleIds(code.replace('../lab/', '../../lab/'), 'src/engines/postgres/wrong-way.ts'),
    ).toContain('no-restricted-imports');
  }, 60_000);

  it('allows the lab, the CLI entry point and tests to import the lab', async () => {
    const code = "import { startDemo } from '../lab/demo/demo.ts';\nexport const x = startDemo;\n";
    expect(await ruleIds(code, 'src/main.ts')).not.toContain('no-restricted-imports');
    expect(await ruleIds(code.replace('../lab/', './'), 'src/lab/trials/ok.ts')).not.toContain(
      'no-restricted-imports',
    );
  }, 60_000);

  it('refuses failpoints read from the environment in product code', async () => {
    const code = "export const f = process.env.STILLPOINT_FAILPOINTS ?? '';\n";
    expect(await ruleIds(code, 'src/orchestrator/wrong-way.ts')).toContain('no-restricted-syntax');
    expect(await ruleIds(code, 'src/lab/trials/ok.ts')).not.toContain('no-restricted-syntax');
  }, 60_000);
});
