/**
 * The `stillpoint` command line: a thin layer over the library. Each command lives in ./commands/<name>.ts
 * and registers itself on the program; see ./commands/index.ts. What the product does not hold (the lab's
 * commands, the bank node service, the bank invariants) comes in as a {@link CliComposition} from the entry
 * point, src/main.ts.
 */
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.ts';
import type { CliComposition } from './composition.ts';
import { reportError } from './output.ts';

/** The program; given `argv`, only the command it names is loaded (see ./commands/index.ts). */
export async function buildProgram(composition: CliComposition, argv?: readonly string[]): Promise<Command> {
  const program = new Command('stillpoint')
    .description(
      'Transactionally-consistent backups and point-in-time restores of every database under a distributed ' +
        'transaction layer (ScalarDB / ScalarDL style), with a checker that proves each restore. ' +
        'Run `stillpoint <command> --help` for each command; docs/ holds the guides.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  await registerCommands(program, composition, argv);
  tidyHelp(program);
  return program;
}

/**
 * Descriptions are written as paragraphs with source line breaks; commander wraps them to the terminal, so a
 * lone line break becomes a space (blank lines, indented lines and an "Examples:" line stay). Every command
 * sets its own one-line summary for the command list.
 */
function tidyHelp(command: Command): void {
  command.description(command.description().replace(/(?<!\n)\n(?![\n ]|Examples?:)/g, ' '));
  command.commands.forEach((sub) => tidyHelp(sub));
}

/** Runs one command line; resolves with the exit code. */
export async function runCli(argv: string[], composition: CliComposition): Promise<number> {
  // A reader that goes away (`stillpoint backup … | head`) silences the output but never cuts the command
  // short: a backup must still unpause and record its outcome, so the error is swallowed rather than exiting.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
  const program = await buildProgram(composition, argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors with 2 (scalar-admin's convention).
      return error.exitCode === 0 ? 0 : 2;
    }
    return reportError(error, argv.includes('--json'));
  }
}
