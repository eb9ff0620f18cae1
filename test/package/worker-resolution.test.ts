import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SizeError } from '../../src/size/errors.js';
import { startWorker, workerScript } from '../../src/size/worker-script.js';

const tmp = mkdtempSync(join(tmpdir(), 'cachekit-worker-resolution-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the size worker beside a bundle', () => {
  it('takes the extension of the module that starts it', () => {
    expect(workerScript('file:///app/bundle/app.mjs', 'walk-worker').url.href).toBe(
      'file:///app/bundle/walk-worker.mjs',
    );
    expect(workerScript('file:///app/bundle/app.js', 'walk-worker').url.href).toBe('file:///app/bundle/walk-worker.js');
  });

  it('refuses to start when the file is missing, naming it and how to ship it', () => {
    const bundle = pathToFileURL(join(tmp, 'app.mjs')).href;
    writeFileSync(join(tmp, 'app.mjs'), '');
    let thrown: unknown;
    try {
      startWorker(bundle, 'walk-worker').terminate();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SizeError);
    expect(thrown).toMatchObject({ code: 'WORKER_FAILED' });
    expect((thrown as Error).message).toContain(join(tmp, 'walk-worker.mjs'));
    expect((thrown as Error).message).toContain("'cachekit/size-worker'");
  });
});
