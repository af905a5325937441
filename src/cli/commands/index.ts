import type { CliCommand } from '../io';
import { benchCommand } from './bench';
import { inspectCommand } from './inspect';
import { optimizeCommand } from './optimize';

/** Every command of the `whittle` command line, in the order `help` lists them; add new ones here. */
export const commands: readonly CliCommand[] = [inspectCommand, optimizeCommand, benchCommand];
