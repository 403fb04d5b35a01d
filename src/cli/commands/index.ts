/**
 * Every CLI command, registered in the order `--help` lists them. One module per command (or family),
 * each exporting `register(program)`.
 */
import type { Command } from 'commander';
import { register as registerCheck } from './check.ts';
import { register as registerNode } from './node.ts';
import { register as registerWorkload } from './workload.ts';
import { register as backup } from './backup.ts';

type Register = (program: Command) => void;

const modules: Register[] = [backup, registerNode, registerWorkload, registerCheck];

export function registerCommands(program: Command): void {
  for (const register of modules) register(program);
}
