import type { Command } from 'commander';
import { formatOption, rootOption } from '../options.js';
import type { CacheManager } from '../../cache/manager.js';
import { formatSize } from '../units.js';
import { ownerOf } from '../owner.js';

function parentChain(cm: CacheManager, id: string): string[] {
  const chain: string[] = [];
  for (let p = cm.describe(id).parent; p !== undefined; p = cm.describe(p).parent) chain.push(p);
  return chain;
}

async function childrenOf(cm: CacheManager, id: string): Promise<string[]> {
  const { firstValueFrom } = await import('rxjs');
  const first = await firstValueFrom(cm.records$({ filter: (r) => r.parent === id }));
  return first.type === 'snapshot' ? first.records.map((r) => r.id) : [];
}

export function registerInspect(program: Command): void {
  program
    .command('inspect [id]')
    .description('show records per state, or one record drawn on its statechart; safe on a root another process owns')
    .addOption(rootOption())
    .addOption(formatOption('text'))
    .action(async (id: string | undefined, opts: { root: string; format: string }) => {
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const { openCacheManager } = await import('../../cache/manager.js');
      const cm = await openCacheManager({ root: opts.root, readOnly: true });
      try {
        const owner = ownerOf(opts.root);
        const ownerText = owner ? `process ${owner.pid}${owner.alive ? '' : ' (not running)'}` : 'none';
        if (id === undefined) {
          const summary = { root: opts.root, owner: owner ?? null, ...cm.inspect() };
          if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
          const lines = [
            `root:    ${opts.root}`,
            `owner:   ${ownerText}`,
            `records: ${summary.records}`,
            '',
            'state                count',
          ];
          for (const [state, count] of Object.entries(summary.states).sort())
            lines.push(`${state.padEnd(20)} ${count}`);
          return void process.stdout.write(`${lines.join('\n')}\n`);
        }
        const view = cm.describe(id);
        const detail = { ...view, parents: parentChain(cm, id), childIds: await childrenOf(cm, id) };
        if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(detail, null, 2)}\n`);
        // Drawn at build time (the renderer is a dev dependency); only this branch needs it.
        const { recordDiagramText } = await import('../../inspector/diagram.js');
        const { flattenEdges, readMachine } = await import('../../diagram/walk.js');
        const { recordMachine } = await import('../../../machines/record.machine.js');
        const next = flattenEdges(readMachine(recordMachine))
          .filter((e) => e.from === view.state && e.to !== e.from)
          .map((e) => `${e.label.replace(/\n/g, ' ')} -> ${e.to}`);
        const lines = [
          recordDiagramText(view.state),
          `record:      ${id}`,
          `state:       ${view.state}`,
          `next:        ${next.join('; ') || '(none: final)'}`,
          `owner:       ${ownerText} (refs and transition history live in the owner: use cachekit serve there)`,
          `parents:     ${detail.parents.join(' <- ') || '(none)'}`,
          `children:    ${detail.childIds.join(', ') || '(none)'}`,
          `size:        ${view.size === undefined ? 'not computed yet' : formatSize(view.size)}`,
          `description: ${view.metadata.description ?? ''}`,
          `type:        ${view.metadata.recordType}`,
          `created:     ${view.metadata.createdAt.toISOString()}`,
          `last used:   ${view.metadata.lastUsedAt?.toISOString() ?? 'never'} (${view.metadata.usageCount} uses)`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await cm.close();
      }
    });
}
