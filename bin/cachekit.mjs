#!/usr/bin/env node
// The compiled CLI, on plain node. A source checkout gets dist/ from `npm run build`, which `npm ci` runs.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('cachekit: dist/ is missing: run `npm run build` (or `npm ci`) in the cachekit checkout\n');
  process.exit(1);
}
await import(main.href);
