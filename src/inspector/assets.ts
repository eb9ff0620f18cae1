import { readFileSync } from 'node:fs';

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

/** The page's HTML with the token written into its asset and API links (hex, so no escaping needed). */
export function pageHtml(token: string): string {
  return readFileSync(new URL('./assets/index.html', import.meta.url), 'utf8').replaceAll('{{TOKEN}}', token);
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
