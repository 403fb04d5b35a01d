/**
 * Every CLI command, registered in the order `--help` lists them. One module per command (or family),
 * each exporting `register(program, composition)`; the composition (../composition.ts) brings the commands
 * and plug-ins the entry point adds (the lab's), registered after the product's.
 *
 * A command line that names one of these commands loads and registers only that command's module: start-up
 * is paid per module (issue 17: `scalar-admin -c CHECK_PAUSED` ≤ 250 ms). Anything else (`--help`, `help`,
 * an unknown or misspelt command, which gets a "did you mean") registers them all.
 */
import type { Command } from 'commander';
import type { CliComposition } from '../composition.ts';

type Register = (program: Command, composition: CliComposition) => void;
type Loader = () => Promise<{ register: Register }>;

const pause: Loader = () => import('./pause.ts');

/** Top-level command name → the module registering it, in `--help` order (a module may register several). */
const MODULES: ReadonlyArray<readonly [names: readonly string[], load: Loader]> = [
  [['backup'], () => import('./backup.ts')],
  [['backups'], () => import('./backups.ts')],
  [['restore'], () => import('./restore.ts')],
  [['node'], () => import('./node.ts')],
  [['check'], () => import('./check.ts')],
  [['pause', 'unpause', 'check-paused'], pause],
  [['scalar-admin'], () => import('./scalar-admin.ts')],
  [['k8s'], () => import('./k8s.ts')],
  [['serve'], () => import('./serve.ts')],
  [['keys'], () => import('./keys.ts')],
  [['agent'], () => import('./agent.ts')],
];

/** `argv` as given to the process (`node main.js <command> …`); omitted: register every command. */
export async function registerCommands(
  program: Command,
  composition: CliComposition,
  argv?: readonly string[],
): Promise<void> {
  const named = argv?.slice(2).find((arg) => !arg.startsWith('-'));
  const only = MODULES.find(([names]) => named !== undefined && names.includes(named));
  const modules = await Promise.all((only ? [only] : MODULES).map(([, load]) => load()));
  for (const { register } of modules) register(program, composition);
  if (only) return;
  for (const register of composition.commands) register(program);
}
