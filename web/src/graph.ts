// The editor's graph model: React Flow nodes and edges with Latent Loom data, plus pure helpers.
import type { Edge, Node } from '@xyflow/react';
import type { Catalog, InputSpec } from './schema';
import { typeColor } from './sockets';

export type SeedControl = 'fixed' | 'increment' | 'decrement' | 'randomize';
export type NodeMode = 'muted' | 'bypassed';

export interface LoomData extends Record<string, unknown> {
  classType: string;
  values: Record<string, unknown>;
  controls?: Record<string, SeedControl>;
  title?: string;
  mode?: NodeMode;
  color?: string;
}

export interface RerouteData extends Record<string, unknown> {
  /** Type inherited from the incoming link; `*` while unconnected. */
  type?: string;
}

export interface FrameData extends Record<string, unknown> {
  title: string;
  color: string;
}

/** A frontend-only node holding one widget value that drives widget inputs of other nodes (ComfyUI's PrimitiveNode). */
export interface PrimitiveData extends Record<string, unknown> {
  values: { value?: unknown };
  controls?: Record<string, SeedControl>;
  /** The widget type it drives, taken from the input it feeds; unset while unconnected. */
  type?: string;
  title?: string;
}

export type LoomNode = Node<LoomData, 'loom'>;
export type PrimitiveNode = Node<PrimitiveData, 'primitive'>;
export type RerouteNode = Node<RerouteData, 'reroute'>;
export type FrameNode = Node<FrameData, 'frame'>;
export type AnyNode = LoomNode | RerouteNode | FrameNode | PrimitiveNode;

export interface EditorGraph {
  nodes: AnyNode[];
  edges: Edge[];
  viewport?: { x: number; y: number; zoom: number };
}

export const outHandle = (index: number): string => `o:${index}`;
export const inHandle = (name: string): string => `i:${name}`;
export const outIndex = (handle: string | null | undefined): number =>
  handle?.startsWith('o:') ? Number(handle.slice(2)) : 0;
export const inName = (handle: string | null | undefined): string =>
  handle?.startsWith('i:') ? handle.slice(2) : (handle ?? '');

export const isLoom = (n: AnyNode): n is LoomNode => n.type === 'loom';
export const isReroute = (n: AnyNode): n is RerouteNode => n.type === 'reroute';
export const isFrame = (n: AnyNode): n is FrameNode => n.type === 'frame';
export const isPrimitive = (n: AnyNode): n is PrimitiveNode => n.type === 'primitive';

export function edgeId(source: string, sourceHandle: string, target: string, targetHandle: string): string {
  return `e${source}.${sourceHandle}-${target}.${targetHandle}`;
}

/** Build an edge between an output index and a named input. */
export function makeEdge(source: string, output: number, target: string, input: string, type?: string): Edge {
  const sh = outHandle(output);
  const th = inHandle(input);
  return {
    id: edgeId(source, sh, target, th),
    source,
    sourceHandle: sh,
    target,
    targetHandle: th,
    data: { type },
    style: { stroke: typeColor(type) },
  };
}

/** Smallest unused positive integer id, as a string (ComfyUI ids are numbers-as-strings). */
export function nextId(nodes: { id: string }[], taken: Set<string> = new Set()): string {
  let max = 0;
  for (const n of nodes) {
    const v = Number(n.id);
    if (Number.isInteger(v) && v > max) max = v;
  }
  for (const id of taken) {
    const v = Number(id);
    if (Number.isInteger(v) && v > max) max = v;
  }
  return String(max + 1);
}

/** The type of an output handle, following reroutes to their inherited type. */
export function sourceType(
  node: AnyNode | undefined,
  handle: string | null | undefined,
  catalog: Catalog,
): string | undefined {
  if (!node) return undefined;
  if (isReroute(node)) return node.data.type ?? '*';
  if (isPrimitive(node)) return node.data.type ?? '*';
  if (isLoom(node)) return catalog[node.data.classType]?.outputs[outIndex(handle)]?.type;
  return undefined;
}

/** The type of an input handle. */
export function targetType(
  node: AnyNode | undefined,
  handle: string | null | undefined,
  catalog: Catalog,
): string | undefined {
  if (!node) return undefined;
  if (isReroute(node)) return '*';
  if (isLoom(node)) {
    const name = inName(handle);
    return catalog[node.data.classType]?.inputs.find((i) => i.name === name)?.type;
  }
  return undefined;
}

/** Whether adding source -> target closes a cycle (target already reaches source). */
export function wouldCreateCycle(edges: Edge[], source: string, target: string): boolean {
  if (source === target) return true;
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const list = out.get(e.source) ?? [];
    list.push(e.target);
    out.set(e.source, list);
  }
  const stack = [target];
  const seen = new Set<string>();
  while (stack.length) {
    const id = stack.pop() as string;
    if (id === source) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(out.get(id) ?? []));
  }
  return false;
}

/** Add a link, replacing whatever fed that input before (one link per input). */
export function connect(edges: Edge[], edge: Edge): Edge[] {
  return [...edges.filter((e) => !(e.target === edge.target && e.targetHandle === edge.targetHandle)), edge];
}

/** Ids of nodes whose bounds lie inside a frame; used to move a group's nodes with it. */
export function nodesInsideFrame(frame: FrameNode, nodes: AnyNode[]): string[] {
  const fw = frame.width ?? frame.measured?.width ?? 0;
  const fh = frame.height ?? frame.measured?.height ?? 0;
  const x0 = frame.position.x;
  const y0 = frame.position.y;
  return nodes
    .filter((n) => n.id !== frame.id)
    .filter((n) => {
      const w = n.measured?.width ?? n.width ?? 0;
      const h = n.measured?.height ?? n.height ?? 0;
      return n.position.x >= x0 && n.position.y >= y0 && n.position.x + w <= x0 + fw && n.position.y + h <= y0 + fh;
    })
    .map((n) => n.id);
}

/** Propagate reroute types from their incoming links (a reroute takes the type of what feeds it). */
export function inferRerouteTypes(nodes: AnyNode[], edges: Edge[], catalog: Catalog): AnyNode[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const resolved = new Map<string, string>();
  const typeOf = (id: string, depth: number): string => {
    if (resolved.has(id)) return resolved.get(id) as string;
    const incoming = edges.find((e) => e.target === id);
    if (!incoming || depth > 64) return '*';
    const src = byId.get(incoming.source);
    const t = src && isReroute(src) ? typeOf(src.id, depth + 1) : (sourceType(src, incoming.sourceHandle, catalog) ?? '*');
    resolved.set(id, t);
    return t;
  };
  let changed = false;
  const next = nodes.map((n) => {
    if (!isReroute(n)) return n;
    const t = typeOf(n.id, 0);
    if (n.data.type === t) return n;
    changed = true;
    return { ...n, data: { ...n.data, type: t } };
  });
  return changed ? next : nodes;
}

/** The input spec a primitive drives: that of the first input it feeds. */
export function primitiveInput(id: string, nodes: AnyNode[], edges: Edge[], catalog: Catalog): InputSpec | undefined {
  const edge = edges.find((e) => e.source === id);
  const target = edge && nodes.find((n) => n.id === edge.target);
  if (!target || !isLoom(target)) return undefined;
  const name = inName(edge.targetHandle);
  return catalog[target.data.classType]?.inputs.find((i) => i.name === name);
}

/** Give each primitive the type of the input it feeds (unset when it feeds nothing). */
export function inferPrimitiveTypes(nodes: AnyNode[], edges: Edge[], catalog: Catalog): AnyNode[] {
  let changed = false;
  const next = nodes.map((n) => {
    if (!isPrimitive(n)) return n;
    const t = primitiveInput(n.id, nodes, edges, catalog)?.type;
    if (n.data.type === t) return n;
    changed = true;
    return { ...n, data: { ...n.data, type: t } };
  });
  return changed ? next : nodes;
}
