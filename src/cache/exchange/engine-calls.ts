import type { ImportedRecord } from '../../../machines/supervisor.machine.js';
import type { CacheEvent } from '../events.js';
import type { Engine } from '../open.js';
import type { ImportOutcome } from '../supervisor/exchange-ops.js';
import type { ImportHost } from './import.js';
import type { ExchangeHost } from './host.js';

/**
 * Waits for a lazy record's chain to be pulled. The pull is shared: `signal` ends this caller's wait,
 * and cancels the pull itself only when no other caller still waits for it.
 */
export async function waitForPull(engine: Engine, id: string, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const leave = engine.pulls.enter(id, signal);
  try {
    const pulled = engine.supervisor.request<void>({ type: 'PULL', id });
    if (!signal) return await pulled;
    pulled.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      pulled.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  } finally {
    leave();
  }
}

/** What an import needs: the registry options, and the supervisor's IMPORT decision with its events. */
export function importHost(engine: Engine, host: ExchangeHost, emit: (event: () => CacheEvent) => void): ImportHost {
  return {
    clientOptions: (options, registry) => host.clientOptions(options, registry),
    importRecords: async (records: ImportedRecord[]) => {
      const outcome = await engine.supervisor.request<ImportOutcome>({ type: 'IMPORT', records });
      for (const id of outcome.created) {
        const parent = engine.index.meta(id)?.parent;
        emit(() => ({ type: 'record.created', id, ...(parent ? { parent } : {}), at: Date.now() }));
      }
      return outcome;
    },
  };
}
