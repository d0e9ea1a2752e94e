// The editor's graph state and every action that changes it (each undoable change records a snapshot first).
import {
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
  applyEdgeChanges,
  applyNodeChanges,
} from '@xyflow/react';
import { create } from 'zustand';
import { type ClipboardPayload, copyNodes, pasteNodes } from './clipboard';
import { toApiPrompt } from './formats/api';
import { type NativeWorkflow, fromNative, toNative } from './formats/native';
import {
  type AnyNode,
  type EditorGraph,
  type FrameNode,
  type LoomNode,
  type NodeMode,
  type SeedControl,
  connect,
  inName,
  inferPrimitiveTypes,
  inferRerouteTypes,
  isFrame,
  isLoom,
  isPrimitive,
  makeEdge,
  nextId,
  nodesInsideFrame,
  outIndex,
  primitiveInput,
  sourceType,
  targetType,
  wouldCreateCycle,
} from './graph';
import { dropEstimates, withEstimates } from './estimate';
import { UndoStack } from './history';
import { fetchNodeInfo } from './client';
import { type Catalog, defaultValues, parseObjectInfo } from './schema';
import { nextSeed } from './seed';
import { linkProblem, typeColor } from './sockets';

interface Snapshot {
  nodes: AnyNode[];
  edges: Edge[];
}

export interface PaletteRequest {
  screen: { x: number; y: number };
  flow: { x: number; y: number };
  /** Set when the palette was opened by dropping a link on empty canvas. */
  from?: { nodeId: string; handleId: string; handleType: 'source' | 'target'; type: string };
}

interface GraphState {
  catalog: Catalog;
  nodes: AnyNode[];
  edges: Edge[];
  /** node id -> names of linked inputs joined by '|', so nodes re-render only when their links change. */
  linked: Record<string, string>;
  palette: PaletteRequest | null;
  workflowName: string;
  revision: number;
}

const history = new UndoStack<Snapshot>();

export const useGraph = create<GraphState>(() => ({
  catalog: {},
  nodes: [],
  edges: [],
  linked: {},
  palette: null,
  workflowName: 'workflow',
  revision: 0,
}));

const get = () => useGraph.getState();

function linkedIndex(edges: Edge[]): Record<string, string> {
  const m: Record<string, string[]> = {};
  for (const e of edges) (m[e.target] ??= []).push(inName(e.targetHandle));
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k] = v.sort().join('|');
  return out;
}

/** Colour links leaving reroutes and primitives by the type those took from their connections. */
function recolorInheritedLinks(nodes: AnyNode[], edges: Edge[]): Edge[] {
  const inherited = new Map<string, string>();
  for (const n of nodes) if (n.type === 'reroute' || n.type === 'primitive') inherited.set(n.id, (n.data.type as string | undefined) ?? '*');
  if (!inherited.size) return edges;
  let changed = false;
  const next = edges.map((e) => {
    const t = inherited.get(e.source);
    if (t === undefined || t === '*' || (e.data as { type?: string } | undefined)?.type === t) return e;
    changed = true;
    return { ...e, data: { ...e.data, type: t }, style: { ...e.style, stroke: typeColor(t) } };
  });
  return changed ? next : edges;
}

function setGraph(nodes: AnyNode[], givenEdges: Edge[]): void {
  const s = get();
  const typed = givenEdges !== s.edges ? inferPrimitiveTypes(inferRerouteTypes(nodes, givenEdges, s.catalog), givenEdges, s.catalog) : nodes;
  const edges = givenEdges !== s.edges ? recolorInheritedLinks(typed, givenEdges) : givenEdges;
  useGraph.setState({
    nodes: typed,
    edges,
    linked: edges !== s.edges ? linkedIndex(edges) : s.linked,
    revision: s.revision + 1,
  });
}

/** Record the current graph as an undo point. `key` coalesces repeated edits of one field. */
export function checkpoint(key: string | null = null): void {
  const { nodes, edges } = get();
  history.record({ nodes, edges }, key);
}

export function undo(): boolean {
  const { nodes, edges } = get();
  const prev = history.undo({ nodes, edges });
  if (!prev) return false;
  setGraph(prev.nodes, prev.edges);
  return true;
}

export function redo(): boolean {
  const { nodes, edges } = get();
  const next = history.redo({ nodes, edges });
  if (!next) return false;
  setGraph(next.nodes, next.edges);
  return true;
}

export function setCatalog(catalog: Catalog): void {
  useGraph.setState({ catalog });
}

/** Reload one node type's schema (its file choices change when files are uploaded). */
export async function refreshNodeType(type: string): Promise<void> {
  try {
    const fresh = parseObjectInfo(await fetchNodeInfo(type));
    if (fresh[type]) useGraph.setState((s) => ({ catalog: { ...s.catalog, [type]: fresh[type] } }));
  } catch {
    /* the old choices stay; the server still validates */
  }
}

export function onNodesChange(changes: NodeChange<AnyNode>[]): void {
  const s = get();
  const next = applyNodeChanges(changes, s.nodes);
  setGraph(changes.some((c) => c.type === 'dimensions') ? dropEstimates(next) : next, s.edges);
}

export function onEdgesChange(changes: EdgeChange[]): void {
  const s = get();
  const edges = applyEdgeChanges(changes, s.edges);
  setGraph(s.nodes, edges);
}

/** Why a proposed connection is refused (type, self-link, cycle), or null. */
export function connectionProblem(c: Connection | Edge): string | null {
  const s = get();
  const src = s.nodes.find((n) => n.id === c.source);
  const tgt = s.nodes.find((n) => n.id === c.target);
  if (!src || !tgt) return 'unknown node';
  if (isPrimitive(src)) {
    // A primitive drives widget values only, never a model or image socket.
    const input = isLoom(tgt) ? s.catalog[tgt.data.classType]?.inputs.find((i) => i.name === inName(c.targetHandle)) : undefined;
    if (!input?.widget) return 'a primitive can only drive a widget input';
  }
  return linkProblem(
    {
      source: c.source,
      target: c.target,
      sourceType: sourceType(src, c.sourceHandle, s.catalog),
      targetType: targetType(tgt, c.targetHandle, s.catalog),
    },
    wouldCreateCycle(
      s.edges.filter((e) => !(e.target === c.target && e.targetHandle === c.targetHandle)),
      c.source,
      c.target,
    ),
  );
}

export function addConnection(c: Connection, record = true): void {
  if (connectionProblem(c)) return;
  const s = get();
  if (record) checkpoint();
  let nodes = s.nodes;
  let src = nodes.find((n) => n.id === c.source);
  const tgt = nodes.find((n) => n.id === c.target);
  if (src && isPrimitive(src) && src.data.values.value === undefined && tgt && isLoom(tgt)) {
    // A new primitive starts from the value (and seed control) of the first widget it drives.
    const name = inName(c.targetHandle);
    const controls = { value: tgt.data.controls?.[name] ?? ('fixed' as SeedControl) };
    const adopted = { ...src, data: { ...src.data, values: { value: tgt.data.values[name] }, controls } };
    nodes = nodes.map((n) => (n.id === adopted.id ? adopted : n));
    src = adopted;
  }
  const fromType = sourceType(src, c.sourceHandle, s.catalog);
  const type = fromType === '*' ? targetType(tgt, c.targetHandle, s.catalog) : fromType;
  const edge = makeEdge(c.source, outIndex(c.sourceHandle), c.target, inName(c.targetHandle), type);
  setGraph(nodes, connect(s.edges, edge));
}

/** Move an existing link's end to a new socket (dragging a link end), or drop it when `c` is null. */
export function reconnectEdge(old: Edge, c: Connection | null): void {
  const s = get();
  if (c && connectionProblem(c)) return;
  checkpoint();
  const rest = s.edges.filter((e) => e.id !== old.id);
  if (!c) return setGraph(s.nodes, rest);
  const src = s.nodes.find((n) => n.id === c.source);
  const edge = makeEdge(c.source, outIndex(c.sourceHandle), c.target, inName(c.targetHandle), sourceType(src, c.sourceHandle, s.catalog));
  setGraph(s.nodes, connect(rest, edge));
}

function mapNode(id: string, fn: (n: AnyNode) => AnyNode): void {
  const s = get();
  setGraph(
    s.nodes.map((n) => (n.id === id ? fn(n) : n)),
    s.edges,
  );
}

export function setWidgetValue(id: string, name: string, value: unknown): void {
  checkpoint(`w:${id}:${name}`);
  mapNode(id, (n) =>
    isLoom(n) || isPrimitive(n) ? ({ ...n, data: { ...n.data, values: { ...n.data.values, [name]: value } } } as AnyNode) : n,
  );
}

export function setSeedControl(id: string, name: string, control: SeedControl): void {
  checkpoint();
  mapNode(id, (n) =>
    isLoom(n) || isPrimitive(n) ? ({ ...n, data: { ...n.data, controls: { ...n.data.controls, [name]: control } } } as AnyNode) : n,
  );
}

/** Add a primitive; when made from a widget input's dragged link, it drives that input. */
export function addPrimitive(position: { x: number; y: number }, from?: PaletteRequest['from']): string {
  const s = get();
  checkpoint();
  const id = nextId(s.nodes);
  setGraph([...s.nodes, { id, type: 'primitive', position, data: { values: {}, controls: {} } }], s.edges);
  if (from?.handleType === 'target') {
    addConnection({ source: id, sourceHandle: 'o:0', target: from.nodeId, targetHandle: from.handleId }, false);
  }
  return id;
}

export function setTitle(id: string, title: string): void {
  checkpoint();
  mapNode(id, (n) => (isLoom(n) || isFrame(n) ? ({ ...n, data: { ...n.data, title: title || undefined } } as AnyNode) : n));
}

/** Create a node of a type at a flow position; optionally link it to the handle a link was dragged from. */
export function addNode(
  classType: string,
  position: { x: number; y: number },
  from?: PaletteRequest['from'],
  values: Record<string, unknown> = {},
): string | null {
  const s = get();
  const spec = s.catalog[classType];
  if (!spec) return null;
  checkpoint();
  const id = nextId(s.nodes);
  const controls: Record<string, SeedControl> = {};
  for (const i of spec.inputs) if (i.widget?.seedControl) controls[i.name] = 'randomize';
  const node: LoomNode = {
    id,
    type: 'loom',
    position,
    selected: false,
    data: { classType, values: { ...defaultValues(spec), ...values }, controls },
  };
  let edges = s.edges;
  if (from) {
    if (from.handleType === 'source') {
      const fits = (i: (typeof spec.inputs)[number]) =>
        linkProblem({ source: from.nodeId, target: id, sourceType: from.type, targetType: i.type }, false) === null;
      const fromPrimitive = s.nodes.find((n) => n.id === from.nodeId)?.type === 'primitive';
      // Prefer a socket over a widget; a primitive only ever drives widgets.
      const input = fromPrimitive
        ? spec.inputs.find((i) => i.widget && fits(i))
        : (spec.inputs.find((i) => !i.widget && fits(i)) ?? spec.inputs.find(fits));
      if (input) edges = connect(edges, makeEdge(from.nodeId, outIndex(from.handleId), id, input.name, from.type));
    } else {
      const out = spec.outputs.findIndex((o) => linkProblem({ source: id, target: from.nodeId, sourceType: o.type, targetType: from.type }, false) === null);
      if (out >= 0) edges = connect(edges, makeEdge(id, out, from.nodeId, inName(from.handleId), spec.outputs[out].type));
    }
  }
  setGraph([...s.nodes, node], edges);
  return id;
}

export function addReroute(position: { x: number; y: number }): string {
  const s = get();
  checkpoint();
  const id = nextId(s.nodes);
  setGraph([...s.nodes, { id, type: 'reroute', position, data: { type: '*' } }], s.edges);
  return id;
}

/** Put a titled frame around the selected nodes (or an empty one at `at`). */
export function groupSelection(at?: { x: number; y: number }): void {
  const s = get();
  const sel = s.nodes.filter((n) => n.selected && !isFrame(n));
  checkpoint();
  let box = { x: at?.x ?? 0, y: at?.y ?? 0, w: 400, h: 300 };
  if (sel.length) {
    const x0 = Math.min(...sel.map((n) => n.position.x)) - 20;
    const y0 = Math.min(...sel.map((n) => n.position.y)) - 50;
    const x1 = Math.max(...sel.map((n) => n.position.x + (n.measured?.width ?? 240))) + 20;
    const y1 = Math.max(...sel.map((n) => n.position.y + (n.measured?.height ?? 120))) + 20;
    box = { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }
  const frame: FrameNode = {
    id: `g${Date.now().toString(36)}`,
    type: 'frame',
    position: { x: box.x, y: box.y },
    width: box.w,
    height: box.h,
    zIndex: -1,
    data: { title: 'Group', color: '#3f789e' },
  };
  setGraph([frame, ...s.nodes], s.edges);
}

/** Toggle mute or bypass on the selected nodes (all get the mode unless all already have it). */
export function toggleMode(mode: NodeMode): void {
  const s = get();
  const sel = s.nodes.filter((n): n is LoomNode => !!n.selected && isLoom(n));
  if (!sel.length) return;
  checkpoint();
  const allHave = sel.every((n) => n.data.mode === mode);
  const ids = new Set(sel.map((n) => n.id));
  setGraph(
    s.nodes.map((n) =>
      ids.has(n.id) && isLoom(n) ? ({ ...n, data: { ...n.data, mode: allHave ? undefined : mode } } as AnyNode) : n,
    ),
    s.edges,
  );
}

export function deleteSelected(): void {
  const s = get();
  const ids = new Set(s.nodes.filter((n) => n.selected).map((n) => n.id));
  const selectedEdges = new Set(s.edges.filter((e) => e.selected).map((e) => e.id));
  if (!ids.size && !selectedEdges.size) return;
  checkpoint();
  setGraph(
    s.nodes.filter((n) => !ids.has(n.id)),
    s.edges.filter((e) => !ids.has(e.source) && !ids.has(e.target) && !selectedEdges.has(e.id)),
  );
}

export function selectAll(): void {
  const s = get();
  setGraph(
    s.nodes.map((n) => (n.selected ? n : { ...n, selected: true })),
    s.edges,
  );
}

export function copySelection(): ClipboardPayload | null {
  const s = get();
  const ids = s.nodes.filter((n) => n.selected).map((n) => n.id);
  return ids.length ? copyNodes({ nodes: s.nodes, edges: s.edges }, ids) : null;
}

export function paste(payload: ClipboardPayload, at: { x: number; y: number } | null, withLinks: boolean): void {
  const s = get();
  checkpoint();
  const g = pasteNodes({ nodes: s.nodes, edges: s.edges }, payload, at, withLinks);
  setGraph(g.nodes, g.edges);
}

export function duplicateSelection(): void {
  const payload = copySelection();
  if (payload) paste(payload, null, false);
}

export function currentGraph(viewport?: EditorGraph['viewport']): EditorGraph {
  const s = get();
  return { nodes: s.nodes, edges: s.edges, viewport };
}

export function exportNative(viewport?: EditorGraph['viewport']): NativeWorkflow {
  return toNative(currentGraph(viewport), get().catalog);
}

export function exportApi() {
  return toApiPrompt(currentGraph(), get().catalog);
}

/** Replace the graph with a workflow (undoable). Returns the viewport the file asked for. */
export function loadNative(wf: NativeWorkflow, name?: string): EditorGraph['viewport'] {
  const g = fromNative(wf, get().catalog);
  checkpoint();
  setGraph(withEstimates(g.nodes, get().catalog), g.edges);
  if (name) useGraph.setState({ workflowName: name });
  return g.viewport;
}

export function clearGraph(): void {
  checkpoint();
  setGraph([], []);
  useGraph.setState({ workflowName: 'workflow' });
}

/** Apply "control after generate" to every seed widget (not linked, node active) before a run. */
export function applySeedControls(): void {
  const s = get();
  let changed = false;
  const nodes = s.nodes.map((n) => {
    if (!isLoom(n) || n.data.mode) return n;
    const spec = s.catalog[n.data.classType];
    const linked = new Set((s.linked[n.id] ?? '').split('|'));
    let values = n.data.values;
    for (const input of spec?.inputs ?? []) {
      const control = n.data.controls?.[input.name] ?? 'randomize';
      if (!input.widget?.seedControl || control === 'fixed' || linked.has(input.name)) continue;
      const cur = Number(values[input.name] ?? 0);
      values = { ...values, [input.name]: nextSeed(cur, control, input.widget.min ?? 0, input.widget.max) };
    }
    if (values === n.data.values) return n;
    changed = true;
    return { ...n, data: { ...n.data, values } } as AnyNode;
  });
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    if (!isPrimitive(n)) continue;
    const input = primitiveInput(n.id, nodes, s.edges, s.catalog);
    const control = n.data.controls?.value ?? 'fixed';
    if (!input?.widget?.seedControl || control === 'fixed') continue;
    const value = nextSeed(Number(n.data.values.value ?? 0), control, input.widget.min ?? 0, input.widget.max);
    nodes[i] = { ...n, data: { ...n.data, values: { value } } };
    changed = true;
  }
  if (changed) setGraph(nodes, s.edges);
}

export function openPalette(req: PaletteRequest | null): void {
  useGraph.setState({ palette: req });
}

/** Move the nodes inside frames along with them while a frame is dragged. */
export function moveNodes(positions: Map<string, { x: number; y: number }>): void {
  const s = get();
  setGraph(
    s.nodes.map((n) => {
      const p = positions.get(n.id);
      return p ? { ...n, position: p } : n;
    }),
    s.edges,
  );
}

export function resizeFrame(id: string, width: number, height: number, x: number, y: number): void {
  mapNode(id, (n) => ({ ...n, width, height, position: { x, y } }));
}

/** Split a link with a reroute point at `position`. */
export function insertReroute(edgeId: string, position: { x: number; y: number }): void {
  const s = get();
  const edge = s.edges.find((e) => e.id === edgeId);
  if (!edge) return;
  checkpoint();
  const id = nextId(s.nodes);
  const type = (edge.data as { type?: string } | undefined)?.type;
  const rest = s.edges.filter((e) => e.id !== edgeId);
  setGraph(
    [...s.nodes, { id, type: 'reroute', position, data: { type: type ?? '*' } }],
    [...rest, makeEdge(edge.source, outIndex(edge.sourceHandle), id, 'in', type), makeEdge(id, 0, edge.target, inName(edge.targetHandle), type)],
  );
}

export function setNodeColor(id: string, color: string | undefined): void {
  checkpoint();
  mapNode(id, (n) => (isLoom(n) ? { ...n, data: { ...n.data, color } } : isFrame(n) && color ? { ...n, data: { ...n.data, color } } : n));
}

/** Select exactly these nodes (context-menu actions act on the node under the pointer). */
export function selectOnly(ids: string[]): void {
  const s = get();
  const set = new Set(ids);
  setGraph(
    s.nodes.map((n) => (!!n.selected === set.has(n.id) ? n : { ...n, selected: set.has(n.id) })),
    s.edges,
  );
}

/** Shrink or grow a frame to the nodes inside it, with a margin. */
export function fitFrameToNodes(id: string): void {
  const s = get();
  const frame = s.nodes.find((n) => n.id === id);
  if (!frame || !isFrame(frame)) return;
  const inside = new Set(nodesInsideFrame(frame, s.nodes));
  const members = s.nodes.filter((n) => inside.has(n.id));
  if (!members.length) return;
  checkpoint();
  const x0 = Math.min(...members.map((n) => n.position.x)) - 20;
  const y0 = Math.min(...members.map((n) => n.position.y)) - 50;
  const x1 = Math.max(...members.map((n) => n.position.x + (n.measured?.width ?? n.width ?? 240))) + 20;
  const y1 = Math.max(...members.map((n) => n.position.y + (n.measured?.height ?? n.height ?? 120))) + 20;
  mapNode(id, (n) => ({ ...n, position: { x: x0, y: y0 }, width: x1 - x0, height: y1 - y0 }));
}

/** Delete a frame, and with `withNodes` the nodes inside it too. */
export function deleteFrame(id: string, withNodes: boolean): void {
  const s = get();
  const frame = s.nodes.find((n) => n.id === id);
  if (!frame || !isFrame(frame)) return;
  const gone = new Set([id, ...(withNodes ? nodesInsideFrame(frame, s.nodes) : [])]);
  checkpoint();
  setGraph(
    s.nodes.filter((n) => !gone.has(n.id)),
    s.edges.filter((e) => !gone.has(e.source) && !gone.has(e.target)),
  );
}
