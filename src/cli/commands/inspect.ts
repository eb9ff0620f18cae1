import type { Command } from 'commander';
import { formatOption, rootOption } from '../options.js';
import { requireCacheRoot } from '../root.js';
import { formatSize } from '../../units/index.js';
import { ownerOf } from '../owner.js';
import { quoted, terminalText as t } from '../escape.js';
import { CacheError, isCacheError } from '../../cache/errors.js';
import type { CacheReader } from '../live.js';

/** The record the command line names; not found says so with the id quoted and cut, as typed. */
async function describeArg(reader: CacheReader, id: string) {
  try {
    return await reader.describe(id);
  } catch (err) {
    if (isCacheError(err) && err.code === 'NOT_FOUND')
      throw new CacheError('NOT_FOUND', `inspect ${quoted(id)}: no such record`, { cause: err });
    throw err;
  }
}

async function parentChain(reader: CacheReader, id: string): Promise<string[]> {
  const chain: string[] = [];
  for (let p = (await reader.describe(id)).parent; p !== undefined; p = (await reader.describe(p)).parent)
    chain.push(p);
  return chain;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect [id]')
    .description('show records per state, or one record drawn on its statechart; safe on a root another process owns')
    .addOption(rootOption())
    .addOption(formatOption('text'))
    .action(async (id: string | undefined, opts: { root: string; format: string }) => {
      await requireCacheRoot(opts.root, { canCreate: false });
      // The owner's control socket first (refs, held states, history), else the stored metadata, read-only.
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const { openReader, sourceLine } = await import('../live.js');
      const reader = await openReader(opts.root);
      try {
        const owner = ownerOf(opts.root);
        const ownerText = owner.text;
        if (id === undefined) {
          const status = await reader.status();
          const summary = { root: opts.root, owner: owner.summary, source: reader.source, ...status };
          if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
          const lines = [
            `root:    ${t(opts.root)}`,
            `owner:   ${ownerText}`,
            sourceLine(reader.source, reader.fallbackReason).replace(/^source: /, 'source:  '),
            `records: ${summary.records}`,
            '',
            'state                count',
          ];
          for (const [state, count] of Object.entries(summary.states).sort())
            lines.push(`${t(state).padEnd(20)} ${count}`);
          return void process.stdout.write(`${lines.join('\n')}\n`);
        }
        const view = await describeArg(reader, id);
        const parents = await parentChain(reader, id);
        const childIds = await reader.childIds(id);
        const history = await reader.history(id);
        // The source of the last answer: the owner may have gone away while it was asked.
        const source = reader.source;
        const detail = { ...view, parents, childIds, ...(history === undefined ? {} : { history }), source };
        if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(detail, null, 2)}\n`);
        // The renderer is large; only this branch needs it.
        const { recordStateText } = await import('../../inspector/record-text.js');
        const { ascii, next } = recordStateText(view.state);
        const live = source === 'owner';
        const lines = [
          ascii,
          `record:      ${t(id)}`,
          `state:       ${view.state}${live ? '' : ' (as stored: held states and refs are known to the owner only)'}`,
          `next:        ${next.join('; ') || '(none: final)'}`,
          `owner:       ${ownerText}`,
          sourceLine(source, reader.fallbackReason).replace(/^source: /, 'source:      '),
          ...(live ? [`refs:        ${view.refs}`] : []),
          `parents:     ${parents.map((p) => t(p)).join(' <- ') || '(none)'}`,
          `children:    ${childIds.map((c) => t(c)).join(', ') || '(none)'}`,
          `size:        ${view.size === undefined ? 'not computed yet' : formatSize(view.size, { docker: true })}`,
          `description: ${t(view.metadata.description ?? '')}`,
          `type:        ${t(view.metadata.recordType)}`,
          `created:     ${view.metadata.createdAt.toISOString()}`,
          `last used:   ${view.metadata.lastUsedAt?.toISOString() ?? 'never'} (${view.metadata.usageCount} uses)`,
          ...(history === undefined
            ? []
            : [
                `history:     ${history.length ? '' : '(no transitions since the owner opened the root)'}`.trimEnd(),
                ...history.map((h) => `  ${new Date(h.at).toISOString()} ${h.from} --${t(h.event)}--> ${h.to}`),
              ]),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await reader.close();
      }
    });
}
