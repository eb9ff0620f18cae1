export {
  machineToMermaid,
  mermaidId,
  DiagramOptionError,
  DiagramIdCollisionError,
  HIGHLIGHT_CLASS,
  HIGHLIGHT_MARK,
  HIGHLIGHT_STYLE,
  validateDiagramOptions,
} from './mermaid.js';
export type { MermaidOptions, MermaidDirection, MermaidLayout, DiagramOptionField, DrawingOptions } from './mermaid.js';
export { renderDiagram, renderSvg, renderAscii, applyStateClasses } from './render.js';
export type { RenderedDiagram, RenderDiagramOptions } from './render.js';
export {
  readMachine,
  flattenEdges,
  initialLeaf,
  leafStatePaths,
  allStatePaths,
  declaredEventTypes,
  eventLabel,
  guardLabel,
  statePath,
} from './walk.js';
export type { MachineModel, DiagramEdge, AnywhereHandler } from './walk.js';
export { generateDiagramFiles, staleDiagramFiles, MACHINE_DIAGRAMS, DIAGRAM_DIR } from './generate.js';
export type { MachineDiagramSpec, DiagramFiles, StaleDiagramFile } from './generate.js';
export { drawMachine } from './machine-diagram.js';
export type { MachineDiagram, MachineDiagramOptions } from './machine-diagram.js';
export {
  machineToStateList,
  listedTransitions,
  transitionTrigger,
  STATE_LIST_WIDTH,
  CURRENT_MARKER,
  NO_STATE_CHANGE,
} from './state-list.js';
export type { StateListOptions, ListedTransition } from './state-list.js';
