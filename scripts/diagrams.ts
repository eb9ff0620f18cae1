import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIAGRAM_DIR, generateDiagramFiles, staleDiagramFiles } from '../src/diagram/index.js';

/**
 * `npm run diagrams` writes docs/machines/ from the machine definitions;
 * `npm run diagrams -- --check` writes nothing and exits 1 when a committed
 * file is missing or out of date.
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(repoRoot, DIAGRAM_DIR);
const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--check');
if (unknown.length > 0) {
  console.error(`diagrams: unknown argument ${unknown.join(' ')} (only --check is accepted)`);
  process.exit(2);
}

const files = generateDiagramFiles();
if (args.includes('--check')) {
  const stale = await staleDiagramFiles(dir, files);
  if (stale.length > 0) {
    for (const { file, reason } of stale) console.error(`stale: ${join(DIAGRAM_DIR, file)} (${reason})`);
    console.error('run `npm run diagrams` and commit the result');
    process.exit(1);
  }
  console.log(`${DIAGRAM_DIR}: ${files.size} files up to date`);
} else {
  await mkdir(dir, { recursive: true });
  for (const [file, content] of files) {
    await writeFile(join(dir, file), content);
    console.log(`wrote ${join(DIAGRAM_DIR, file)}`);
  }
}
