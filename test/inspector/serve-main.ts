// A cachekit CLI with only the serve command, for the serve test: main.ts registers it once the lead wires it in.
import { Command } from 'commander';
import { registerServe } from '../../src/cli/commands/serve.js';

const program = new Command().name('cachekit');
registerServe(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`cachekit: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
