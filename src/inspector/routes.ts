import type { ServerResponse } from 'node:http';
import type { Observable } from 'rxjs';
import { isCacheError } from '../cache/errors.js';
import type { Asset } from './assets.js';
import type { RecordDiagrams } from './diagram.js';
import type { RecordMirror } from './mirror.js';
import type { RecordRow } from './rows.js';
import { openEventStream, streamOptions } from './sse.js';
import type { InspectorLimits } from './limits.js';
import type { InspectorStatus } from './status.js';
import { statusOf, type InspectorSource } from './source.js';
import type { TransitionReport } from '../cache/records/record-index.js';
import type { RecordView } from '../cache/observe.js';

/** What GET /api/record?id= answers: the record, its machine with the current state drawn, and its last transitions. */
export interface RecordDetail {
  record: RecordView;
  svg: string;
  history: TransitionReport[];
}

/** What GET /api/records?offset=&limit= answers: one page of rows in table order. */
export interface RecordsPage {
  total: number;
  offset: number;
  rows: RecordRow[];
}

export interface RouteContext {
  source: InspectorSource;
  html: string;
  assets: ReadonlyMap<string, Asset>;
  diagrams: RecordDiagrams;
  mirror: RecordMirror;
  status$: Observable<InspectorStatus>;
  limits: InspectorLimits;
  /** Event streams open now. */
  openStreams(): number;
  /** Counts an event-stream client dropped for not reading. */
  dropped(): void;
  /** Registers an open event stream so closing the server can end it. */
  track(end: () => void): void;
  untrack(end: () => void): void;
}

const MAX_PAGE = 10_000;

function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const sendJson = (res: ServerResponse, status: number, body: unknown) =>
  sendText(res, status, JSON.stringify(body), 'application/json; charset=utf-8');

/** A non-negative integer query parameter, its default when absent, or undefined when malformed. */
function intParam(url: URL, name: string, fallback: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  return /^\d{1,9}$/.test(raw) ? Number(raw) : undefined;
}

/** Serves one authenticated GET. Every handler only reads the source. */
export function route(ctx: RouteContext, url: URL, res: ServerResponse): void {
  const { source } = ctx;
  switch (url.pathname) {
    case '/':
    case '/index.html':
      return sendText(res, 200, ctx.html, 'text/html; charset=utf-8');
    case '/api/stream': {
      if (ctx.openStreams() >= ctx.limits.maxStreams)
        return sendText(res, 503, `${ctx.limits.maxStreams} event streams are open already; close a page`);
      const end = openEventStream(source, ctx.mirror, ctx.status$, res, streamOptions(ctx.limits), ctx.dropped);
      ctx.track(end);
      res.on('close', () => ctx.untrack(end));
      return;
    }
    case '/api/status':
      return sendJson(res, 200, { ...statusOf(source), at: Date.now() });
    case '/api/diagram':
      return sendText(res, 200, ctx.diagrams.draw(), 'image/svg+xml; charset=utf-8');
    case '/api/records': {
      const offset = intParam(url, 'offset', 0);
      const limit = intParam(url, 'limit', 100);
      if (offset === undefined || limit === undefined || limit > MAX_PAGE)
        return sendText(res, 400, `records page: offset and limit must be integers, limit at most ${MAX_PAGE}`);
      const rows = ctx.mirror.page(offset, limit);
      const total = ctx.mirror.size;
      return sendJson(res, 200, { total, offset, rows } satisfies RecordsPage);
    }
    case '/api/record': {
      const id = url.searchParams.get('id');
      if (!id) return sendText(res, 400, 'record: query parameter id is required');
      let record: RecordView;
      try {
        record = source.describe(id);
      } catch (err) {
        if (isCacheError(err) && err.code === 'NOT_FOUND') return sendText(res, 404, `record ${id}: not found`);
        throw err;
      }
      const detail: RecordDetail = {
        record,
        svg: ctx.diagrams.draw({ highlight: record.state }),
        history: source.history(id),
      };
      return sendJson(res, 200, detail);
    }
    default: {
      const asset = ctx.assets.get(url.pathname);
      if (asset) return sendText(res, 200, asset.body, asset.contentType);
      return sendText(res, 404, `${url.pathname}: not found`);
    }
  }
}
