import type { Command } from 'commander';
import { formatOption, rootOption } from '../options.js';
import { requireCacheRoot } from '../root.js';
import type { CacheManager } from '../../cache/manager.js';
import { formatSize } from '../../units/index.js';
import { ownerOf } from '../owner.js';
import { quoted, terminalText as t } from '../escape.js';
import { CacheError, isCacheError } from '../../cache/errors.js';

/** The record the command line names; not found says so with the id quoted and cut, as typed. */
function describeArg(cm: CacheManager, id: string) {
  try {
    return cm.describe(id);
  } catch (err) {
    if (isCacheError(err) && err.code === 'NOT_FOUND')
      throw new CacheError('NOT_FOUND', `inspect ${quoted(id)}: no such record`, { cause: err });
    throw err;
  }
}

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
      await requireCacheRoot(opts.root, { canCreate: false });
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const { openCacheManager } = await import('../../cache/manager.js');
      const cm = await openCacheManager({ root: opts.root, readOnly: true });
      try {
        const owner = ownerOf(opts.root);
        const ownerText = owner.text;
        if (id === undefined) {
          const summary = { root: opts.root, owner: owner.summary, ...cm.status() };
          if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
          const lines = [
            `root:    ${t(opts.root)}`,
            `owner:   ${ownerText}`,
            `records: ${summary.records}`,
            '',
            'state                count',
          ];
          for (const [state, count] of Object.entries(summary.states).sort())
            lines.push(`${t(state).padEnd(20)} ${count}`);
          return void process.stdout.write(`${lines.join('\n')}\n`);
        }
        const view = describeArg(cm, id);
        const detail = { ...view, parents: parentChain(cm, id), childIds: await childrenOf(cm, id) };
        if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(detail, null, 2)}\n`);
        // The renderer is large; only this branch needs it.
        const { recordStateText } = await import('../../inspector/record-text.js');
        const { ascii, next } = recordStateText(view.state);
        const lines = [
          ascii,
          `record:      ${t(id)}`,
          `state:       ${view.state}`,
          `next:        ${next.join('; ') || '(none: final)'}`,
          `owner:       ${ownerText} (refs and transition history live in the owner: use cachekit serve there)`,
          `parents:     ${detail.parents.map((p) => t(p)).join(' <- ') || '(none)'}`,
          `children:    ${detail.childIds.map((c) => t(c)).join(', ') || '(none)'}`,
          `size:        ${view.size === undefined ? 'not computed yet' : formatSize(view.size, { docker: true })}`,
          `description: ${t(view.metadata.description ?? '')}`,
          `type:        ${t(view.metadata.recordType)}`,
          `created:     ${view.metadata.createdAt.toISOString()}`,
          `last used:   ${view.metadata.lastUsedAt?.toISOString() ?? 'never'} (${view.metadata.usageCount} uses)`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await cm.close();
      }
    });
}
