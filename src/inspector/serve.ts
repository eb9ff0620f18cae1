import type { InspectorOptions, InspectorServer } from './server.js';
import type { InspectorSource } from './source.js';

/**
 * Serves a read-only, live web view of a cache: records table, record
 * statechart with counts, per-record history, supervisor queue. Loopback only
 * unless `allowRemote`; a random token is required on every request, assets included.
 * `source` is usually a CacheManager. Bad options reject with InspectorOptionError
 * and start nothing.
 *
 * The server, its page and the diagram renderer load on the first call: a
 * process that only runs a cache never pays for them.
 */
export async function serveInspector(
  source: InspectorSource,
  options: InspectorOptions = {},
): Promise<InspectorServer> {
  const { startInspector } = await import('./server.js');
  return startInspector(source, options);
}
