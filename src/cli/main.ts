#!/usr/bin/env node
/**
 * The `stillpoint` command line: a thin layer over the library. Each command lives in ./commands/<name>.ts
 * and registers itself on the program; see ./commands/index.ts.
 */
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.ts';
import { reportError } from './output.ts';

export function buildProgram(): Command {
  const program = new Command('stillpoint')
    .description(
      'Transactionally-consistent backups and point-in-time restores of every database under a distributed ' +
        'transaction layer (ScalarDB / ScalarDL style), with a checker that proves each restore. ' +
        'Run `stillpoint <command> --help` for each command; docs/ holds the guides.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCommands(program);
  tidyHelp(program);
  return program;
}

/**
 * Descriptions are written as paragraphs with source line breaks; commander wraps them to the terminal, so a
 * lone line break becomes a space (blank lines, indented lines and an "Examples:" line stay). The command list
 * shows the first sentence, shortened to one or two lines (unless a command set its own summary).
 */
function tidyHelp(command: Command): void {
  const text = command.description().replace(/(?<!\n)\n(?![\n ]|Examples?:)/g, ' ');
  command.description(text);
  if (!command.summary()) command.summary(firstSentence(text));
  command.commands.forEach((sub) => tidyHelp(sub));
}

function firstSentence(text: string): string {
  let depth = 0;
  let end = text.length;
  let colon = -1;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    const endsWord = i + 1 === text.length || /\s/.test(text[i + 1] ?? '');
    if (c === '(') depth += 1;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (c === ':' && depth === 0 && endsWord && colon < 0) colon = i;
    else if (c === '.' && depth === 0 && endsWord) {
      end = i + 1;
      break;
    }
  }
  const sentence = text.slice(0, end).replace(/\s+/g, ' ');
  if (sentence.length <= 110) return sentence;
  if (colon > 0 && colon < end) return `${text.slice(0, colon).replace(/\s+/g, ' ')}.`;
  return `${sentence.slice(0, sentence.lastIndexOf(' ', 100))} …`;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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

process.exitCode = await main(process.argv);
