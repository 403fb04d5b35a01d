/**
 * Every CLI command, registered in the order `--help` lists them. One module per command (or family),
 * each exporting `register(program, composition)`; the composition (../composition.ts) brings the commands
 * and plug-ins the entry point adds (the lab's), registered after the product's.
 */
import type { Command } from 'commander';
import type { CliComposition } from '../composition.ts';
import { register as registerCheck } from './check.ts';
import { register as registerNode } from './node.ts';
import { register as backup } from './backup.ts';
import { register as restore } from './restore.ts';
import { register as backups } from './backups.ts';
import { register as registerPause } from './pause.ts';
import { register as registerScalarAdmin } from './scalar-admin.ts';
import { register as registerK8s } from './k8s.ts';
import { register as registerServe } from './serve.ts';
import { register as registerKeys } from './keys.ts';
import { register as registerAgent } from './agent.ts';

type Register = (program: Command, composition: CliComposition) => void;

const modules: Register[] = [
  backup,
  backups,
  restore,
  registerNode,
  registerCheck,
  registerPause,
  registerScalarAdmin,
  registerK8s,
  registerServe,
  registerKeys,
  registerAgent,
];

export function registerCommands(program: Command, composition: CliComposition): void {
  for (const register of modules) register(program, composition);
  for (const register of composition.commands) register(program);
}
