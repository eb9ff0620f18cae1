/**
 * Time to first render of the inspector page with a large cache, against plain
 * static pages of the same rows measured in the same run, in the same browser.
 * Run: npm run bench:inspector [-- --records 100000 --rounds 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser } from 'puppeteer-core';
import { chromiumMissing, launchChromium } from '../inspector/chromium.js';
import { openCacheManager, serveInspector, type CacheManager } from '../../src/index.js';
import type { RecordRow } from '../../src/inspector/rows.js';
import { median } from './report.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '256' },
  },
});
const RECORDS = Number(values.records);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const FIRST_PAGE = 50;

const missing = chromiumMissing();
if (missing) {
  console.log(`inspector-render: skipped, ${missing}`);
  process.exit(0);
}

/** Records as retained, frozen, released: each takes the full new → commit → release path. */
async function fill(cm: CacheManager, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const ref = await (await cm.new(null, { retain: true })).commit();
      await ref.release();
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker));
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const tableHtml = (rows: RecordRow[]) =>
  `<!doctype html><html><body><table id="t"><thead><tr><th>id</th><th>state</th><th>refs</th><th>size</th><th>last used</th><th>description</th></tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(String(c ?? '–'))}</td>`).join('')}</tr>`)
    .join('')}</tbody></table></body></html>`;

async function staticServer(pages: Record<string, string>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const body = pages[req.url ?? ''];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/**
 * Milliseconds from navigation start to the first animation frame in which `ready` holds, measured in
 * the page itself: polling from outside lags while the renderer is busy streaming, which would blur
 * the figure of the page that streams most.
 */
async function timeToRender(browser: Browser, url: string, ready: string): Promise<number> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 1000 });
  await page.evaluateOnNewDocument(
    `(() => { const check = () => { let ok = false; try { ok = !!(${ready}); } catch {} if (ok) window.__readyAt = performance.now(); else requestAnimationFrame(check); }; requestAnimationFrame(check); })()`,
  );
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 0 });
  await page.waitForFunction('window.__readyAt !== undefined', { polling: 50, timeout: 0 });
  const ms = (await page.evaluate('window.__readyAt')) as number;
  await page.close();
  return ms;
}

const scratch = mkdtempSync(join(tmpdir(), 'cachekit-bench-inspector-'));
const profile = mkdtempSync(join(tmpdir(), 'cachekit-bench-chromium-'));
const cm = await openCacheManager({ root: scratch, snapshotter: 'native' });
let browser: Browser | undefined;
try {
  const t = performance.now();
  await fill(cm, RECORDS);
  console.log(
    `built ${RECORDS} records (new → commit → release, concurrency ${CONCURRENCY}) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const rows: RecordRow[] = [];
  cm.records$()
    .subscribe((d) => {
      if (d.type === 'snapshot')
        for (const v of d.records)
          rows.push([
            v.id,
            v.state,
            v.refs,
            v.size ?? null,
            v.metadata.lastUsedAt?.getTime() ?? null,
            v.metadata.description ?? '',
          ]);
    })
    .unsubscribe();
  const statics = await staticServer({ '/first': tableHtml(rows.slice(0, FIRST_PAGE)), '/all': tableHtml(rows) });
  const inspector = await serveInspector(cm);
  browser = await launchChromium(profile);

  const firstRows = `document.querySelectorAll('.vt-row:not([hidden])').length >= 10`;
  const allLoaded = `document.getElementById('shown')?.textContent === '${RECORDS.toLocaleString('en-US')} records'`;
  const staticRows = `document.querySelectorAll('#t tbody tr').length >= 10`;
  const staticAll = `document.querySelectorAll('#t tbody tr').length === ${Math.min(RECORDS, rows.length)}`;
  const results: Record<string, number[]> = { first: [], all: [], jsonFirst: [], staticFirst: [], staticAll: [] };
  // One unmeasured load of each, so the diagram cache and the browser's code caches are warm for every round.
  await timeToRender(browser, inspector.url, allLoaded);
  await timeToRender(browser, `${statics.url}/first`, staticRows);
  for (let round = 0; round < ROUNDS; round++) {
    results.first!.push(await timeToRender(browser, inspector.url, firstRows));
    results.all!.push(await timeToRender(browser, inspector.url, allLoaded));
    const t = performance.now();
    await (await fetch(new URL(`/api/records?limit=${FIRST_PAGE}&token=${inspector.token}`, inspector.url))).json();
    results.jsonFirst!.push(performance.now() - t);
    results.staticFirst!.push(await timeToRender(browser, `${statics.url}/first`, staticRows));
    // The naive page takes tens of seconds at 100k rows: measured once.
    if (round === 0) results.staticAll!.push(await timeToRender(browser, `${statics.url}/all`, staticAll));
  }
  const m = (k: string) => median(results[k]!);
  const line = (label: string, ours: number, base: number, baseLabel: string) =>
    console.log(
      `${label.padEnd(40)} ${ours.toFixed(0).padStart(6)} ms   ${baseLabel.padEnd(38)} ${base.toFixed(0).padStart(6)} ms   ratio ${(ours / base).toFixed(2)}x`,
    );
  console.log(
    `records ${RECORDS}, rounds ${ROUNDS}, medians; page times from navigation start to the first frame showing the rows; ratio = inspector time / baseline time`,
  );
  line('inspector: first rows visible', m('first'), m('staticFirst'), `static HTML table, first ${FIRST_PAGE} rows`);
  line('inspector: first rows visible', m('first'), m('jsonFirst'), `fetch /api/records first ${FIRST_PAGE} (JSON)`);
  line('inspector: first rows visible', m('first'), m('staticAll'), `static HTML table, all ${RECORDS} rows`);
  line(`inspector: all ${RECORDS} rows loaded`, m('all'), m('staticAll'), `static HTML table, all ${RECORDS} rows`);
  await inspector.close();
  statics.server.close();
} finally {
  await browser?.close();
  await cm.close();
  rmSync(scratch, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
