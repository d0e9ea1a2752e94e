// ComfyUI API ("prompt") format: what the server executes.
import type { Edge } from '@xyflow/react';
import { type AnyNode, type EditorGraph, inName, isLoom, isPrimitive, isReroute, outIndex } from '../graph';
import type { Catalog } from '../schema';
import { type Link, type NativeWorkflow, NATIVE_FORMAT, incomingIndex, isLink } from './native';

export interface ApiNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string };
}

export type ApiPrompt = Record<string, ApiNode>;

/**
 * Convert the editor graph to an API prompt: muted nodes are left out, bypassed nodes pass a
 * same-type input through to their output, reroutes are resolved to the node that feeds them.
 */
export function toApiPrompt(graph: EditorGraph, catalog: Catalog): ApiPrompt {
  const byId = new Map<string, AnyNode>(graph.nodes.map((n) => [n.id, n]));
  const incoming = incomingIndex(graph.edges);
  const edgesInto = new Map<string, Edge[]>();
  for (const e of graph.edges) edgesInto.set(e.target, [...(edgesInto.get(e.target) ?? []), e]);

  const resolve = (edge: Edge, hops: number): Link | null => {
    if (hops > 256) return null;
    const src = byId.get(edge.source);
    if (!src) return null;
    if (isReroute(src)) {
      const up = incoming.get(src.id);
      return up ? resolve(up, hops + 1) : null;
    }
    if (!isLoom(src)) return null;
    const slot = outIndex(edge.sourceHandle);
    if (src.data.mode === 'muted') return null;
    if (src.data.mode === 'bypassed') {
      const spec = catalog[src.data.classType];
      const wanted = spec?.outputs[slot]?.type;
      const candidates = (edgesInto.get(src.id) ?? [])
        .map((e) => ({ e, input: spec?.inputs.findIndex((i) => i.name === inName(e.targetHandle)) ?? -1 }))
        .filter(({ input }) => input >= 0 && spec?.inputs[input].type === wanted)
        .sort((a, b) => a.input - b.input);
      // Output k passes input k when that one has the type (ControlNetApplyAdvanced: positive -> positive,
      // negative -> negative), else the first linked input of the type, as ComfyUI and graph/modes.py do.
      const chosen = candidates.find((c) => c.input === slot) ?? candidates[0];
      return chosen ? resolve(chosen.e, hops + 1) : null;
    }
    return [src.id, slot];
  };

  const prompt: ApiPrompt = {};
  for (const node of graph.nodes) {
    if (!isLoom(node) || node.data.mode) continue;
    const spec = catalog[node.data.classType];
    const inputs: Record<string, unknown> = {};
    const linked = new Map((edgesInto.get(node.id) ?? []).map((e) => [inName(e.targetHandle), e]));
    const names = spec ? spec.inputs.map((i) => i.name) : [...Object.keys(node.data.values), ...linked.keys()];
    for (const name of names) {
      const edge = linked.get(name);
      const feeder = edge && byId.get(edge.source);
      if (feeder && isPrimitive(feeder)) {
        const v = feeder.data.values.value;
        if (v !== undefined) inputs[name] = Array.isArray(v) ? { __value__: v } : v;
      } else if (edge) {
        const link = resolve(edge, 0);
        if (link) inputs[name] = link;
      } else if (name in node.data.values) {
        const v = node.data.values[name];
        // A list constant would be read as a link; ComfyUI wraps it the same way.
        inputs[name] = Array.isArray(v) ? { __value__: v } : v;
      }
    }
    const entry: ApiNode = { class_type: node.data.classType, inputs };
    entry._meta = { title: node.data.title ?? spec?.displayName ?? node.data.classType };
    prompt[node.id] = entry;
  }
  return prompt;
}

/** Whether a JSON value looks like an API prompt (every entry has a class_type). */
export function isApiPrompt(json: unknown): json is ApiPrompt {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return false;
  const entries = Object.values(json as Record<string, unknown>);
  return (
    entries.length > 0 &&
    entries.every((v) => !!v && typeof v === 'object' && typeof (v as ApiNode).class_type === 'string')
  );
}

/** Wrap an API prompt as a native workflow (layout is computed when it is opened). */
export function apiToNative(prompt: ApiPrompt): NativeWorkflow {
  const nodes: NativeWorkflow['nodes'] = {};
  for (const [id, n] of Object.entries(prompt)) {
    const inputs: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(n.inputs ?? {})) {
      const wrapped = v as { __value__?: unknown } | null;
      inputs[name] =
        wrapped && typeof wrapped === 'object' && !Array.isArray(wrapped) && '__value__' in wrapped ? wrapped.__value__ : v;
    }
    nodes[id] = { class_type: n.class_type, inputs };
    const title = n._meta?.title;
    if (title && title !== n.class_type) nodes[id].ui = { title };
  }
  return { format: NATIVE_FORMAT, version: 1, nodes, ui: { groups: [], reroutes: {} } };
}

export { isLink };
