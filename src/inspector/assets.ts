import { readFileSync } from 'node:fs';
import { RECORD_STATES } from '../../machines/record.machine.js';

/** A file the page loads, read once when the server starts. */
export interface Asset {
  body: string;
  contentType: string;
}

const FILES: Record<string, string> = {
  '/app.js': 'text/javascript; charset=utf-8',
  '/table.js': 'text/javascript; charset=utf-8',
  '/style.css': 'text/css; charset=utf-8',
};

/**
 * The page's HTML with the token written into its asset and API links (hex, so no escaping needed)
 * and the record machine's states, in its order, for the filter and the counts: the page keeps no
 * list of its own that could fall behind the machine.
 */
export function pageHtml(token: string): string {
  const states = JSON.stringify(RECORD_STATES).replaceAll('"', '&quot;');
  return readFileSync(new URL('./assets/index.html', import.meta.url), 'utf8')
    .replaceAll('{{TOKEN}}', token)
    .replace('{{STATES}}', states);
}

/**
 * Plain files from src/inspector/assets: no build step, no CDN; the package
 * serves exactly what is on disk, so the page works offline.
 */
export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [path, contentType] of Object.entries(FILES)) {
    assets.set(path, { body: readFileSync(new URL(`./assets${path}`, import.meta.url), 'utf8'), contentType });
  }
  return assets;
}
