import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { chromiumMissing, launchChromium } from './chromium.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RECORD_STATES,
  openCacheManager,
  serveInspector,
  type CacheManager,
  type InspectorServer,
} from '../../src/index.js';

/** The README's picture is refreshed on request only (`npm run docs:screenshot`), so a test run leaves docs alone. */
const UPDATE_SCREENSHOT = process.env.CACHEKIT_UPDATE_SCREENSHOT === '1';
const missing = chromiumMissing();
const skipReason = missing && `${missing}; the browser test needs a real browser`;
if (skipReason) console.warn(`inspector browser test skipped: ${skipReason}`);

/** A functional deadline for the page to show a change, not a performance assertion. */
const SHOWN_WITHIN = 1000;

describe.skipIf(skipReason !== undefined)('inspector in a real browser', () => {
  let root: string;
  let profile: string;
  let cm: CacheManager;
  let server: InspectorServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'cachekit-inspector-'));
    profile = mkdtempSync(join(tmpdir(), 'cachekit-chromium-'));
    cm = await openCacheManager({ root, snapshotter: 'native' });
    server = await serveInspector(cm);
    browser = await launchChromium(profile);
    page = await browser.newPage();
    await page.setViewport({ width: 1440, height: 1100 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await cm?.close();
    for (const dir of [root, profile]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Predicates are page-side source text: the project's tsconfig has no DOM types.
  const shown = (predicate: string) => page.waitForFunction(predicate, { timeout: SHOWN_WITHIN });
  const q = JSON.stringify;
  const rowState = (id: string, state: string) =>
    shown(
      `document.querySelector(${q(`.vt-row[data-id="${id}"]:not([hidden]) .c-state`)})?.textContent === ${q(state)}`,
    );
  const detailState = (state: string) => shown(`document.getElementById('detail-body')?.dataset.state === ${q(state)}`);

  it('refuses the page and its assets without the token', async () => {
    const bare = new URL(server.url);
    bare.search = '';
    const res = await page.goto(bare.toString());
    expect(res?.status()).toBe(401);
    const asset = await page.goto(new URL('/app.js', bare).toString());
    expect(asset?.status()).toBe(401);
  });

  it('shows a record through new, commit, finalize, release and prune', async () => {
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('requestfailed', (req) => errors.push(`request failed: ${req.url()}`));
    const res = await page.goto(server.url);
    expect(res?.status()).toBe(200);
    await page.waitForFunction(`document.getElementById('conn')?.dataset.state === 'live'`, { timeout: 5000 });
    // The state filter offers the record machine's states, in the machine's order.
    const options = await page.evaluate(`[...document.querySelectorAll('#state-filter option')].map((o) => o.value)`);
    expect((options as string[]).filter((o) => o !== '')).toEqual([...RECORD_STATES]);

    const mut = await cm.new(null, { description: 'followed by the browser test' });
    await rowState(mut.id, 'mutable.held');
    await page.click(`.vt-row[data-id="${mut.id}"]`);
    await detailState('mutable.held');

    const ref = await mut.commit();
    await rowState(ref.id, 'frozen.held');
    await detailState('frozen.held');

    await ref.finalize();
    await rowState(ref.id, 'committed.held');
    await detailState('committed.held');
    await shown(`!!document.querySelector('#detail-svg g.node.current[data-id="committed_held"]')`);

    await ref.release();
    await rowState(ref.id, 'committed.released');
    await shown(`document.querySelector('.chip[data-state="committed.released"] b')?.textContent === '1'`);

    const pruned = await lastValueFrom(cm.prune({ all: true }).pipe(toArray()));
    expect(pruned.map((p) => p.id)).toEqual([ref.id]);
    await shown(`!document.querySelector(${q(`.vt-row[data-id="${ref.id}"]:not([hidden])`)})`);
    await detailState('removed');
    await shown(
      `[...document.querySelectorAll('#events li')].some((li) => li.textContent.includes(${q(ref.id)}) && li.textContent.includes('removed'))`,
    );
    expect(errors).toEqual([]);
  });

  it('writes a screenshot of a busy cache', async () => {
    const base = await (await cm.new(null, { retain: true, description: 'base image layer' })).commit();
    await base.finalize();
    const held: { release(): Promise<void> }[] = [base];
    for (let i = 0; i < 6; i++) {
      const child = await cm.new(base, { retain: true, description: `build step ${i + 1}` });
      if (i % 3 === 0) held.push(child);
      else if (i % 3 === 1) await child.release();
      else {
        const frozen = await child.commit();
        if (i === 2) held.push(frozen);
        else await frozen.release();
      }
    }
    for (let i = 0; i < 4; i++) {
      const ref = await (await cm.new(null, { retain: true, description: `cache mount ${i + 1}` })).commit();
      await ref.finalize();
      await ref.release();
    }
    await page.click(`.vt-row[data-id="${base.id}"]`);
    await detailState('committed.held');
    await page.waitForFunction(`document.querySelectorAll('#history tr').length >= 4`, { timeout: 5000 });
    const screenshot = UPDATE_SCREENSHOT
      ? join(import.meta.dirname, '../../docs/inspector.png')
      : join(profile, 'inspector.png');
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot as `${string}.png`, fullPage: true });
    expect(statSync(screenshot).size).toBeGreaterThan(10_000);
    for (const h of held) await h.release();
  });
});
