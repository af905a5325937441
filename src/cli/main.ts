/** Entry point of the `whittle` command line: `npm run whittle -- <command> [options]`. */
import { runCli } from './cli';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  // npm run changes into the package folder; INIT_CWD is where the user ran it.
  cwd: process.env.INIT_CWD ?? process.cwd(),
});
