// Latent Loom's own workflow file: ComfyUI's API format plus layout under `ui`.
import type { Edge } from '@xyflow/react';
import {
  type AnyNode,
  type EditorGraph,
  type FrameNode,
  type LoomNode,
  type NodeMode,
  type PrimitiveNode,
  type RerouteNode,
  type SeedControl,
  inName,
  inferPrimitiveTypes,
  inferRerouteTypes,
  isFrame,
  isLoom,
  isPrimitive,
  isReroute,
  makeEdge,
  outIndex,
  sourceType,
} from '../graph';
import { type Catalog, defaultValues } from '../schema';

export type Link = [string, number];

export interface NativeNodeUi {
  pos?: [number, number];
  title?: string;
  mode?: NodeMode;
  color?: string;
  /** Width (and height) the node was resized to; the height is informative, nodes size to content. */
  size?: [number, number];
  /** Seed widgets' control-after-generate choice, by input name. */
  controls?: Record<string, SeedControl>;
  /** Inputs fed through a reroute or by a primitive: input name -> that reroute or primitive id. */
  via?: Record<string, string>;
}

export interface NativeNode {
  class_type: string;
  inputs: Record<string, unknown>;
  ui?: NativeNodeUi;
}

export interface NativeGroup {
  id?: string;
  title: string;
  color?: string;
  bounding: [number, number, number, number];
}

export interface NativeReroute {
  pos: [number, number];
  /** What feeds the reroute: a node output or another reroute (`[rerouteId, 0]`). */
  input?: Link | null;
}

export interface NativePrimitive {
  pos: [number, number];
  value: unknown;
  control?: SeedControl;
  title?: string;
}

export interface NativeWorkflow {
  format: 'latent-loom/workflow';
  version: 1;
  nodes: Record<string, NativeNode>;
  ui?: {
    groups?: NativeGroup[];
    reroutes?: Record<string, NativeReroute>;
    /** Frontend-only value nodes; the inputs they drive hold their value and name them in `via`. */
    primitives?: Record<string, NativePrimitive>;
    view?: { x: number; y: number; zoom: number };
  };
}

export const NATIVE_FORMAT = 'latent-loom/workflow';

/** A link in API format is a 2-element list: a string node id and an output index. */
export function isLink(v: unknown): v is Link {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'number';
}

export function emptyWorkflow(): NativeWorkflow {
  return { format: NATIVE_FORMAT, version: 1, nodes: {}, ui: { groups: [], reroutes: {} } };
}

/** Follow an edge's source through reroutes to the node output that really feeds it. */
export function resolveThroughReroutes(
  edge: Edge,
  byId: Map<string, AnyNode>,
  incoming: Map<string, Edge>,
): Link | null {
  let current: Edge | undefined = edge;
  for (let hops = 0; current && hops < 256; hops++) {
    const src = byId.get(current.source);
    if (!src) return null;
    if (!isReroute(src)) return [current.source, outIndex(current.sourceHandle)];
    current = incoming.get(`${src.id}`);
  }
  return null;
}

/** Map "target node id" (reroutes) or "target id|input" (nodes) to the edge feeding it. */
export function incomingIndex(edges: Edge[]): Map<string, Edge> {
  const m = new Map<string, Edge>();
  for (const e of edges) {
    m.set(`${e.target}|${inName(e.targetHandle)}`, e);
    if (!m.has(e.target)) m.set(e.target, e);
  }
  return m;
}

const round = (v: number) => Math.round(v * 10) / 10;

/** Serialise the editor graph to the native workflow file. */
export function toNative(graph: EditorGraph, catalog: Catalog): NativeWorkflow {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const incoming = incomingIndex(graph.edges);
  const wf = emptyWorkflow();
  const groups: NativeGroup[] = [];
  const reroutes: Record<string, NativeReroute> = {};
  const primitives: Record<string, NativePrimitive> = {};
  for (const node of graph.nodes) {
    const pos: [number, number] = [round(node.position.x), round(node.position.y)];
    if (isFrame(node)) {
      const w = node.width ?? node.measured?.width ?? 300;
      const h = node.height ?? node.measured?.height ?? 200;
      groups.push({ id: node.id, title: node.data.title, color: node.data.color, bounding: [...pos, round(w), round(h)] });
    } else if (isPrimitive(node)) {
      const p: NativePrimitive = { pos, value: node.data.values.value };
      if (node.data.controls?.value) p.control = node.data.controls.value;
      if (node.data.title) p.title = node.data.title;
      primitives[node.id] = p;
    } else if (isReroute(node)) {
      const e = incoming.get(node.id);
      reroutes[node.id] = { pos, input: e ? [e.source, outIndex(e.sourceHandle)] : null };
    } else if (isLoom(node)) {
      const spec = catalog[node.data.classType];
      const inputs: Record<string, unknown> = {};
      const via: Record<string, string> = {};
      const names = spec ? spec.inputs.map((i) => i.name) : Object.keys(node.data.values);
      const linkedNames = graph.edges.filter((e) => e.target === node.id).map((e) => inName(e.targetHandle));
      for (const name of new Set([...names, ...linkedNames])) {
        const edge = incoming.get(`${node.id}|${name}`);
        const feeder = edge && byId.get(edge.source);
        if (feeder && isPrimitive(feeder)) {
          inputs[name] = feeder.data.values.value;
          via[name] = feeder.id;
        } else if (edge) {
          const link = resolveThroughReroutes(edge, byId, incoming);
          if (link) inputs[name] = link;
          if (byId.get(edge.source)?.type === 'reroute') via[name] = edge.source;
        } else if (name in node.data.values) {
          inputs[name] = node.data.values[name];
        }
      }
      const ui: NativeNodeUi = { pos };
      if (node.data.title) ui.title = node.data.title;
      if (node.data.mode) ui.mode = node.data.mode;
      if (node.data.color) ui.color = node.data.color;
      if (node.width) ui.size = [round(node.width), round(node.measured?.height ?? node.height ?? 0)];
      if (node.data.controls && Object.keys(node.data.controls).length) ui.controls = { ...node.data.controls };
      if (Object.keys(via).length) ui.via = via;
      wf.nodes[node.id] = { class_type: node.data.classType, inputs, ui };
    }
  }
  wf.ui = { groups, reroutes };
  if (Object.keys(primitives).length) wf.ui.primitives = primitives;
  if (graph.viewport) wf.ui.view = { ...graph.viewport };
  return wf;
}

/** Column layout by dependency depth, for workflows that carry no positions (API prompts). */
export function autoLayout(nodes: Record<string, NativeNode>): Record<string, [number, number]> {
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (id: string): number => {
    if (depth.has(id)) return depth.get(id) as number;
    if (visiting.has(id) || !nodes[id]) return 0;
    visiting.add(id);
    let d = 0;
    for (const v of Object.values(nodes[id].inputs)) if (isLink(v)) d = Math.max(d, depthOf(v[0]) + 1);
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const columns = new Map<number, string[]>();
  const ids = Object.keys(nodes).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  for (const id of ids) {
    const d = depthOf(id);
    columns.set(d, [...(columns.get(d) ?? []), id]);
  }
  const pos: Record<string, [number, number]> = {};
  for (const [d, col] of columns) col.forEach((id, row) => (pos[id] = [40 + d * 420, 40 + row * 320]));
  return pos;
}

export function checkWorkflow(wf: NativeWorkflow): void {
  if (!wf || typeof wf !== 'object' || typeof wf.nodes !== 'object' || wf.nodes === null || Array.isArray(wf.nodes))
    throw new Error('not a Latent Loom workflow: "nodes" must be an object keyed by node id');
  for (const [id, n] of Object.entries(wf.nodes)) {
    if (!n || typeof n.class_type !== 'string') throw new Error(`node ${id}: "class_type" must be a string`);
    if (n.inputs !== undefined && (typeof n.inputs !== 'object' || Array.isArray(n.inputs)))
      throw new Error(`node ${id} (${n.class_type}): "inputs" must be an object`);
  }
}

/** Build the editor graph from a native workflow. Missing widget values get the schema defaults. */
export function fromNative(wf: NativeWorkflow, catalog: Catalog): EditorGraph {
  checkWorkflow(wf);
  const layout = autoLayout(wf.nodes);
  const nodes: AnyNode[] = [];
  const edges: Edge[] = [];
  const reroutes = wf.ui?.reroutes ?? {};
  for (const [id, r] of Object.entries(reroutes)) {
    nodes.push({ id, type: 'reroute', position: { x: r.pos[0], y: r.pos[1] }, data: {} } as RerouteNode);
  }
  const primitives = wf.ui?.primitives ?? {};
  for (const [id, p] of Object.entries(primitives)) {
    const data: PrimitiveNode['data'] = { values: { value: p.value }, controls: p.control ? { value: p.control } : {} };
    if (p.title) data.title = p.title;
    nodes.push({ id, type: 'primitive', position: { x: p.pos[0], y: p.pos[1] }, data } as PrimitiveNode);
  }
  for (const [id, n] of Object.entries(wf.nodes)) {
    const spec = catalog[n.class_type];
    const values: Record<string, unknown> = spec ? defaultValues(spec) : {};
    const via = n.ui?.via ?? {};
    for (const [name, v] of Object.entries(n.inputs ?? {})) {
      if (isLink(v)) {
        const rr = via[name];
        if (rr && reroutes[rr]) edges.push(makeEdge(rr, 0, id, name));
        else edges.push(makeEdge(v[0], v[1], id, name));
      } else {
        values[name] = v;
        if (via[name] && primitives[via[name]]) edges.push(makeEdge(via[name], 0, id, name));
      }
    }
    const pos = n.ui?.pos ?? layout[id];
    const controls: Record<string, 'fixed' | 'increment' | 'decrement' | 'randomize'> = { ...(n.ui?.controls ?? {}) };
    for (const input of spec?.inputs ?? []) if (input.widget?.seedControl && !controls[input.name]) controls[input.name] = 'randomize';
    const data: LoomNode['data'] = { classType: n.class_type, values, controls };
    if (n.ui?.title && n.ui.title !== spec?.displayName) data.title = n.ui.title;
    if (n.ui?.mode) data.mode = n.ui.mode;
    if (n.ui?.color) data.color = n.ui.color;
    const loom = { id, type: 'loom', position: { x: pos[0], y: pos[1] }, data } as LoomNode;
    // Narrower than a node's minimum (ComfyUI sizes are often smaller) would clip it: keep the natural width.
    const w = n.ui?.size?.[0];
    if (typeof w === 'number' && w >= 230) loom.width = w;
    nodes.push(loom);
  }
  for (const [id, r] of Object.entries(reroutes)) if (r.input && isLink(r.input)) edges.push(makeEdge(r.input[0], r.input[1], id, 'in'));
  const frames: FrameNode[] = (wf.ui?.groups ?? []).map((g, i) => ({
    id: g.id && !nodes.some((n) => n.id === g.id) ? g.id : `g${i + 1}`,
    type: 'frame',
    position: { x: g.bounding[0], y: g.bounding[1] },
    width: g.bounding[2],
    height: g.bounding[3],
    zIndex: -1,
    data: { title: g.title, color: g.color ?? '#3f789e' },
  }));
  const ids = new Set(nodes.map((n) => n.id));
  const valid = edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  const all = inferPrimitiveTypes(inferRerouteTypes([...frames, ...nodes], valid, catalog), valid, catalog);
  const typed = valid.map((e) => {
    const t = sourceType(all.find((n) => n.id === e.source), e.sourceHandle, catalog);
    return makeEdge(e.source, outIndex(e.sourceHandle), e.target, inName(e.targetHandle), t);
  });
  return { nodes: all, edges: typed, viewport: wf.ui?.view };
}
