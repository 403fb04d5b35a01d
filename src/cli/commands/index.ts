/**
 * Every CLI command, registered in the order `--help` lists them. One module per command (or family),
 * each exporting `register(program)`.
 */
import type { Command } from 'commander';
import { register as registerCheck } from './check.ts';
import { register as registerNode } from './node.ts';
import { register as registerWorkload } from './workload.ts';
import { register as backup } from './backup.ts';
import { register as restore } from './restore.ts';
import { register as backups } from './backups.ts';
import { register as demo } from './demo.ts';
import { register as registerPause } from './pause.ts';
import { register as registerScalarAdmin } from './scalar-admin.ts';
import { register as registerK8s } from './k8s.ts';
import { register as trials } from './trials.ts';

type Register = (program: Command) => void;

const modules: Register[] = [demo, backup, backups, restore, registerNode, registerWorkload, registerCheck, registerPause, registerScalarAdmin, registerK8s, trials];

export function registerCommands(program: Command): void {
  for (const register of modules) register(program);
}
