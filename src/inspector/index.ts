export { serveInspector, InspectorOptionError } from './server.js';
export type { InspectorOptions, InspectorServer, InspectorOptionField } from './server.js';
export type { RecordDetail, RecordsPage } from './routes.js';
export type { RecordRow } from './rows.js';
export type { InspectorStatus } from './status.js';
export { DeltaCoalescer, type CoalescedDeltas } from './coalescer.js';
export { RecordMirror, type RowDelta } from './mirror.js';
export { RecordDiagrams, stripExternalImports, type RecordDiagramOptions } from './diagram.js';
