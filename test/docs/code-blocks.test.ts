import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { transformSync } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Every TypeScript block of README.md, docs/api.md and docs/testing.md opened with ```ts run is a program an
 * embedder may paste: it runs here on plain node against the built package (`import 'cachekit'`
 * resolves through node_modules/cachekit to this checkout's package.json exports, so dist/),
 * each in a fresh working directory, and must finish by itself with exit code 0.
 */

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const DOCS = ['README.md', 'docs/api.md', 'docs/testing.md'];
/** The info string that marks a block runnable; other ```ts blocks are fragments. */
const MARKER = 'ts run';

interface Snippet {
  doc: string;
  line: number;
  code: string;
}

function runnableBlocks(doc: string): Snippet[] {
  const text = readFileSync(join(repo, doc), 'utf8');
  const snippets: Snippet[] = [];
  const fence = /^```([^\n]*)\n([\s\S]*?)^```\s*$/gm;
  for (let match = fence.exec(text); match !== null; match = fence.exec(text)) {
    if (match[1]!.trim() !== MARKER) continue;
    snippets.push({ doc, line: text.slice(0, match.index).split('\n').length, code: match[2]! });
  }
  return snippets;
}

const tmp = mkdtempSync(join(tmpdir(), 'cachekit-docs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const app = join(tmp, 'app');
mkdirSync(join(app, 'node_modules'), { recursive: true });
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'docs-app', private: true, type: 'module' }));
symlinkSync(repo, join(app, 'node_modules/cachekit'));
// cachekit/testing needs fast-check beside it, as an orchestrator's project installs it.
symlinkSync(join(repo, 'node_modules/fast-check'), join(app, 'node_modules/fast-check'));

const snippets = DOCS.flatMap(runnableBlocks);

describe('runnable code blocks of the docs', () => {
  it("include the README's embedding example", () => {
    const readme = snippets.filter((s) => s.doc === 'README.md');
    expect(readme.some((s) => s.code.includes('openCacheManager'))).toBe(true);
  });

  it("include docs/testing.md's worked examples: model, crash, concurrent batches, coverage", () => {
    const kit = snippets.filter((s) => s.doc === 'docs/testing.md').map((s) => s.code);
    for (const name of ['cacheModel', 'CrashCommand', 'crash:', 'batch:', 'linearize', 'transitionCoverage'])
      expect(
        kit.some((code) => code.includes(name)),
        name,
      ).toBe(true);
  });

  for (const [index, snippet] of snippets.entries()) {
    it(`${snippet.doc}:${snippet.line} runs to completion and exits 0`, async () => {
      const { code: js } = transformSync(snippet.code, { loader: 'ts', format: 'esm', target: 'node20' });
      const file = join(app, `snippet-${index}.mjs`);
      writeFileSync(file, js);
      const cwd = mkdtempSync(join(tmp, `run-${index}-`));
      // The timeout fails a snippet that leaves the process hanging (an open stream, a timer, a worker).
      const result = await run(process.execPath, [file], { cwd, encoding: 'utf8', timeout: 60_000 }).catch(
        (error: { code?: unknown; signal?: unknown; stdout?: string; stderr?: string }) => {
          throw new Error(
            `${snippet.doc}:${snippet.line} failed (exit ${String(error.code)}, signal ${String(error.signal)})\n` +
              `${error.stdout ?? ''}\n${error.stderr ?? ''}`,
          );
        },
      );
      expect(result.stderr).toBe('');
    });
  }
});
