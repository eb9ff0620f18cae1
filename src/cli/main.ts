import { Command } from 'commander';
import { registerDemo } from './commands/demo.js';
import { registerDu } from './commands/du.js';
import { registerPrune } from './commands/prune.js';
import { registerInspect } from './commands/inspect.js';
import { registerWatch } from './commands/watch.js';
import { registerServe } from './commands/serve.js';
import { terminalText } from './escape.js';

const program = new Command()
  .name('cachekit')
  .description("A cache of layered filesystem snapshots: BuildKit's cache manager as observable actors.")
  .showHelpAfterError();

registerDu(program);
registerDemo(program);
registerPrune(program);
registerInspect(program);
registerWatch(program);
registerServe(program);
(await import('./commands/recover.js')).registerRecover(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Messages can carry ids and descriptions from the command line or the cache: escaped, never raw.
  process.stderr.write(`cachekit: ${terminalText(err instanceof Error ? err.message : String(err))}\n`);
  process.exitCode = 1;
}
