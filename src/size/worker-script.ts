import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SizeError } from './errors.js';

/** How a sibling worker module will be started. */
export interface WorkerScript {
  url: URL;
  /** 'direct': plain `new Worker(url)`; 'tsx': a bootstrap registers tsx's loader inside the worker first. */
  mode: 'direct' | 'tsx';
}

/**
 * Resolves a sibling worker module of the caller: the .ts sibling when the caller is
 * TypeScript (vitest, tsx), the sibling with the caller's own extension when compiled.
 * Inside an app bundle the caller is the bundle itself, so the worker is expected next
 * to the bundle: the app bundles `cachekit/size-worker` as a second entry point named
 * after `stem`.
 */
export function workerScript(callerUrl: string, stem: string): WorkerScript {
  const ext = /\.([cm]?[jt]s)$/.exec(new URL(callerUrl).pathname)?.[1] ?? 'js';
  const ts = ext.endsWith('ts');
  // A bundle written as app.mjs looks for walk-worker.mjs: the bundler gives both entries one extension.
  return { url: new URL(`./${stem}.${ts ? 'ts' : ext}`, callerUrl), mode: ts ? 'tsx' : 'direct' };
}

/**
 * Starts a sibling worker module. Node 20 cannot run .ts, and a loader given to
 * a worker through `execArgv: ['--import', 'tsx']` is not applied to the worker's
 * own entry module there, so for .ts the worker starts from a tiny bootstrap that
 * registers tsx's ESM hooks in the worker thread and then imports the module.
 */
export function startWorker(callerUrl: string, stem: string, options: { workerData?: unknown } = {}): Worker {
  const script = workerScript(callerUrl, stem);
  if (script.url.protocol === 'file:' && !existsSync(script.url)) {
    // Without this a missing file surfaces as an anonymous worker 'error' event far from the cause.
    throw new SizeError(
      'WORKER_FAILED',
      `size worker ${fileURLToPath(script.url)} does not exist: when cachekit is bundled into an app, ` +
        `bundle 'cachekit/size-worker' as a second entry point named '${stem}' next to the app's bundle`,
    );
  }
  // Flags that only make sense for the main entry (e.g. `node --input-type=module -e`) break worker start-up.
  const execArgv = process.execArgv.filter((flag) => !flag.startsWith('--input-type'));
  if (script.mode === 'direct') return new Worker(script.url, { ...options, execArgv });
  // Resolved by hand: under some runners `require.resolve('tsx/esm/api')` picks the CJS build.
  const tsxRoot = pathToFileURL(createRequire(callerUrl).resolve('tsx/package.json'));
  const api = new URL('dist/esm/api/index.mjs', tsxRoot).href;
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(script.url.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
