import { Command } from 'commander';
import { registerDemo } from './commands/demo.js';
import { registerDu } from './commands/du.js';
import { registerPrune } from './commands/prune.js';
import { registerInspect } from './commands/inspect.js';
import { registerWatch } from './commands/watch.js';
import { registerServe } from './commands/serve.js';
import { registerExchange } from './commands/exchange.js';
import { terminalText } from './escape.js';
import { packageVersion } from './version.js';

// Commands register their options here; each imports the engine (lmdb, xstate, rxjs, zod) only inside its
// action, so `--help` and `--version` start in a fraction of the time a full import takes.

const program = new Command()
  .name('cachekit')
  .description("A cache of layered filesystem snapshots: BuildKit's cache manager as observable actors.")
  .version(packageVersion(), '-V, --version', 'print the cachekit version')
  .showHelpAfterError();

registerDu(program);
registerDemo(program);
registerPrune(program);
registerInspect(program);
registerWatch(program);
registerServe(program);
registerExchange(program);
(await import('./commands/recover.js')).registerRecover(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Messages can carry ids and descriptions from the command line or the cache: escaped, never raw.
  process.stderr.write(`cachekit: ${terminalText(err instanceof Error ? err.message : String(err))}\n`);
  process.exitCode = 1;
}
