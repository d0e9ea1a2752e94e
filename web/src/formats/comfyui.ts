// ComfyUI's UI ("workflow") files, versions 0.4 and 1, converted to the native format.
// Widget values there are positional: they are matched to inputs using the schema's input order.
import type { NodeMode, SeedControl } from '../graph';
import type { Catalog } from '../schema';
import {
  type Link,
  type NativeGroup,
  type NativeNode,
  type NativePrimitive,
  type NativeReroute,
  type NativeWorkflow,
  NATIVE_FORMAT,
} from './native';

interface UiSlot {
  name: string;
  type?: string;
  link?: number | null;
  widget?: { name: string };
}

interface UiNode {
  id: number | string;
  type: string;
  pos?: [number, number] | Record<string, number>;
  mode?: number;
  title?: string;
  color?: string;
  inputs?: UiSlot[];
  outputs?: { name: string; type?: string; links?: number[] | null }[];
  widgets_values?: unknown[] | Record<string, unknown>;
}

interface UiLink {
  id: number;
  originId: string;
  originSlot: number;
  targetId: string;
  targetSlot: number;
}

export interface ComfyUiWorkflow {
  nodes: UiNode[];
  links?: (unknown[] | Record<string, unknown>)[];
  groups?: { title?: string; bounding?: number[]; color?: string }[];
  extra?: { ds?: { scale?: number; offset?: number[] | Record<string, number> } };
  version?: number;
  definitions?: { subgraphs?: { id: string; name?: string }[] };
}

const CONTROL_VALUES = new Set(['fixed', 'increment', 'decrement', 'randomize']);
const NOTE_TYPES = new Set(['Note', 'MarkdownNote']);

/** Whether JSON looks like a ComfyUI UI workflow (a `nodes` array plus `links`). */
export function isComfyUiWorkflow(json: unknown): json is ComfyUiWorkflow {
  const j = json as ComfyUiWorkflow;
  return !!j && typeof j === 'object' && Array.isArray(j.nodes) && (Array.isArray(j.links) || 'version' in j);
}

function normaliseLink(raw: unknown[] | Record<string, unknown>): UiLink | null {
  if (Array.isArray(raw)) {
    if (raw.length < 5) return null;
    return {
      id: Number(raw[0]),
      originId: String(raw[1]),
      originSlot: Number(raw[2]),
      targetId: String(raw[3]),
      targetSlot: Number(raw[4]),
    };
  }
  if (raw && typeof raw === 'object') {
    return {
      id: Number(raw.id),
      originId: String(raw.origin_id),
      originSlot: Number(raw.origin_slot),
      targetId: String(raw.target_id),
      targetSlot: Number(raw.target_slot),
    };
  }
  return null;
}

function position(pos: UiNode['pos']): [number, number] {
  if (Array.isArray(pos)) return [Number(pos[0]) || 0, Number(pos[1]) || 0];
  if (pos && typeof pos === 'object') return [Number(pos[0]) || 0, Number(pos[1]) || 0];
  return [0, 0];
}

function modeOf(mode: number | undefined): NodeMode | undefined {
  if (mode === 2) return 'muted';
  if (mode === 4) return 'bypassed';
  return undefined;
}

export interface ConversionResult {
  workflow: NativeWorkflow;
  warnings: string[];
}

/** Convert a ComfyUI UI workflow to the native format using the catalog's input order. */
export function comfyUiToNative(wf: ComfyUiWorkflow, catalog: Catalog): ConversionResult {
  const warnings: string[] = [];
  const nodesById = new Map<string, UiNode>(wf.nodes.map((n) => [String(n.id), n]));
  const links = new Map<number, UiLink>();
  for (const raw of wf.links ?? []) {
    const l = normaliseLink(raw);
    if (l) links.set(l.id, l);
  }
  const subgraphIds = new Set((wf.definitions?.subgraphs ?? []).map((s) => s.id));
  const inputLink = (node: UiNode, name: string): UiLink | undefined => {
    const slot = node.inputs?.find((s) => s.name === name);
    return slot?.link != null ? links.get(slot.link) : undefined;
  };

  const out: Record<string, NativeNode> = {};
  const reroutes: Record<string, NativeReroute> = {};
  const primitives: Record<string, NativePrimitive> = {};

  for (const node of wf.nodes) {
    const id = String(node.id);
    if (node.type === 'Reroute') {
      const l = node.inputs?.[0]?.link != null ? links.get(node.inputs[0].link as number) : undefined;
      reroutes[id] = { pos: position(node.pos), input: l ? linkFrom(l) : null };
    } else if (node.type === 'PrimitiveNode') {
      const wv = Array.isArray(node.widgets_values) ? node.widgets_values : [];
      const p: NativePrimitive = { pos: position(node.pos), value: wv[0] };
      if (typeof wv[1] === 'string' && CONTROL_VALUES.has(wv[1])) p.control = wv[1] as SeedControl;
      if (node.title) p.title = node.title;
      primitives[id] = p;
    }
  }

  function linkFrom(l: UiLink): Link {
    return [l.originId, l.originSlot];
  }

  for (const node of wf.nodes) {
    const id = String(node.id);
    if (node.type === 'Reroute' || node.type === 'PrimitiveNode') continue;
    if (NOTE_TYPES.has(node.type)) {
      warnings.push(`node ${id}: ${node.type} is not supported and was left out`);
      continue;
    }
    if (subgraphIds.has(node.type)) {
      warnings.push(`node ${id}: subgraphs are not supported yet; the subgraph instance was left out`);
      continue;
    }
    const spec = catalog[node.type];
    const inputs: Record<string, unknown> = {};
    const controls: Record<string, SeedControl> = {};
    const via: Record<string, string> = {};
    if (!spec) {
      warnings.push(`node ${id}: unknown node type "${node.type}"; its widget values could not be read`);
    } else if (Array.isArray(node.widgets_values)) {
      const wv = node.widgets_values;
      let p = 0;
      for (const input of spec.inputs) {
        if (!input.widget) continue;
        if (p >= wv.length) break;
        inputs[input.name] = wv[p++];
        if (input.widget.seedControl && typeof wv[p] === 'string' && CONTROL_VALUES.has(wv[p] as string))
          controls[input.name] = wv[p++] as SeedControl;
        if (input.widget.imageUpload && (wv[p] === 'image' || wv[p] === 'upload')) p++;
      }
    } else if (node.widgets_values && typeof node.widgets_values === 'object') {
      for (const input of spec.inputs)
        if (input.widget && input.name in node.widgets_values) inputs[input.name] = node.widgets_values[input.name];
    }
    for (const slot of node.inputs ?? []) {
      if (slot.link == null) continue;
      const l = links.get(slot.link);
      if (!l) continue;
      const origin = nodesById.get(l.originId);
      if (!origin) continue;
      if (origin.type === 'PrimitiveNode') {
        const v = Array.isArray(origin.widgets_values) ? origin.widgets_values[0] : undefined;
        if (v !== undefined) inputs[slot.name] = v;
        via[slot.name] = l.originId;
        continue;
      }
      if (origin.type === 'Reroute') {
        // Follow the reroute chain to the real source; remember the nearest reroute for the layout.
        let cur: UiLink | undefined = l;
        let hops = 0;
        while (cur && nodesById.get(cur.originId)?.type === 'Reroute' && hops++ < 256) {
          cur = inputLink(nodesById.get(cur.originId) as UiNode, nodesById.get(cur.originId)?.inputs?.[0]?.name ?? '');
        }
        via[slot.name] = l.originId;
        if (cur && nodesById.get(cur.originId)?.type !== 'Reroute') inputs[slot.name] = linkFrom(cur);
        continue;
      }
      if (NOTE_TYPES.has(origin.type)) continue;
      inputs[slot.name] = linkFrom(l);
    }
    const native: NativeNode = { class_type: node.type, inputs, ui: { pos: position(node.pos) } };
    const ui = native.ui as NonNullable<NativeNode['ui']>;
    if (node.title && node.title !== spec?.displayName && node.title !== node.type) ui.title = node.title;
    const mode = modeOf(node.mode);
    if (mode) ui.mode = mode;
    if (Object.keys(controls).length) ui.controls = controls;
    if (Object.keys(via).length) ui.via = via;
    out[id] = native;
  }

  const groups: NativeGroup[] = (wf.groups ?? [])
    .filter((g) => Array.isArray(g.bounding) && g.bounding.length === 4)
    .map((g, i) => ({
      id: `g${i + 1}`,
      title: g.title ?? 'Group',
      color: g.color,
      bounding: (g.bounding as number[]).map(Number) as [number, number, number, number],
    }));
  const workflow: NativeWorkflow = { format: NATIVE_FORMAT, version: 1, nodes: out, ui: { groups, reroutes, primitives } };
  const ds = wf.extra?.ds;
  if (ds && typeof ds.scale === 'number' && ds.offset) {
    const off = ds.offset as Record<number, number>;
    workflow.ui!.view = { x: (Number(off[0]) || 0) * ds.scale, y: (Number(off[1]) || 0) * ds.scale, zoom: ds.scale };
  }
  return { workflow, warnings };
}
