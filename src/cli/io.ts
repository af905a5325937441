import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes and what it resolves paths against; tests pass string collectors. */
export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Directory that relative paths are resolved against. */
  cwd: string;
}

/** An expected failure (bad input, bad usage): printed as one line `whittle: <message>`, no stack. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    /** Process exit status: 1 for bad input files or failed runs, 2 for bad usage. */
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Bad command-line usage (unknown option, missing argument): exit status 2. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, 2);
  }
}

/** A command of the `whittle` command line; the dispatcher lists these in `commands/index.ts`. */
export interface CliCommand {
  name: string;
  /** One line for the command list in `help`. */
  summary: string;
  /** Full usage text: synopsis and options. */
  usage: string;
  /** Run with the arguments after the command name; resolves to the process exit status. */
  run(args: string[], io: CliIO): Promise<number>;
}

/** Collapse a message to one line (onnxruntime and protobuf errors can span several). */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

export function errorMessage(e: unknown): string {
  return oneLine(e instanceof Error ? e.message : String(e));
}

/**
 * node:util parseArgs in strict mode, with its errors turned into a {@link UsageError} that names
 * the command. `--help` is always accepted.
 */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: string[],
  options: O,
) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${command}: ${errorMessage(e)} (see "npm run whittle -- help ${command}")`);
  }
}

/** A positive (or, with `min: 0`, non-negative) integer option value. */
export function integerOption(
  command: string,
  flag: string,
  value: string | undefined,
  min = 1,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(
      `${command}: --${flag} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got "${value}"`,
    );
  return n;
}
