import { commands } from './commands/index';
import { CliError, UsageError, errorMessage, type CliCommand, type CliIO } from './io';

function overview(list: readonly CliCommand[]): string {
  const width = Math.max(...list.map((c) => c.name.length), 4);
  return [
    'Whittle — shrink ONNX models for edge devices (command line).',
    '',
    'Usage: npm run whittle -- <command> [options]',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  show this help, or a command's options: help <command>`,
    '',
    'Exit status: 0 on success, 1 when a file or model is bad or a run fails, 2 on bad usage.',
  ].join('\n');
}

function find(list: readonly CliCommand[], name: string): CliCommand {
  const c = list.find((x) => x.name === name);
  if (!c)
    throw new UsageError(
      `unknown command "${name}" (commands: ${[...list.map((x) => x.name), 'help'].join(', ')}; see "npm run whittle -- help")`,
    );
  return c;
}

/**
 * Run the command line with `argv` (the arguments after the script) and return the exit status.
 * Expected failures print one line `whittle: <problem>` on stderr; unexpected ones too, plus the
 * stack when WHITTLE_DEBUG is set.
 */
export async function runCli(
  argv: string[],
  io: CliIO,
  list: readonly CliCommand[] = commands,
): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      if (name === 'help' && rest.length > 0) {
        io.stdout.write(`${find(list, rest[0]).usage}\n`);
        return 0;
      }
      io.stdout.write(`${overview(list)}\n`);
      return 0;
    }
    return await find(list, name).run(rest, io);
  } catch (e) {
    if (e instanceof CliError) {
      io.stderr.write(`whittle: ${errorMessage(e)}\n`);
      return e.exitCode;
    }
    io.stderr.write(`whittle: internal error: ${errorMessage(e)}\n`);
    if (process.env.WHITTLE_DEBUG && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
