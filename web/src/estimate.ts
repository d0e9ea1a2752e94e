// Estimated node sizes and socket positions for large graphs. React Flow renders every node once to
// measure its sockets before it can skip the off-screen ones; giving it estimates (matching styles.css)
// lets a 500-node graph mount only what is on screen. Real measurements replace them on first render.
import type { NodeHandle } from '@xyflow/react';
import { type AnyNode, type LoomNode, inHandle, isLoom, outHandle } from './graph';
import type { Catalog, NodeSpec } from './schema';

/** Graphs larger than this cull off-screen nodes (React Flow's onlyRenderVisibleElements). */
export const CULL_THRESHOLD = 120;

const HEADER = 29;
const ROW = 22;
const TEXTAREA_ROW = 58;
const WIDTH = 250;
const HANDLE = 11;

export interface Estimate {
  width: number;
  height: number;
  handles: NodeHandle[];
}

/** Size and socket positions of a schema node as the stylesheet lays it out. */
export function estimateNode(spec: NodeSpec): Estimate {
  const handles: NodeHandle[] = [];
  const sockets = spec.inputs.filter((i) => !i.widget);
  const rows = Math.max(sockets.length, spec.outputs.length);
  const half = HANDLE / 2;
  for (let r = 0; r < rows; r++) {
    const y = HEADER + ROW * r + ROW / 2 - half;
    if (sockets[r]) handles.push({ id: inHandle(sockets[r].name), type: 'target', position: 'left' as never, x: -half, y, width: HANDLE, height: HANDLE });
    if (spec.outputs[r]) handles.push({ id: outHandle(r), type: 'source', position: 'right' as never, x: WIDTH - half, y, width: HANDLE, height: HANDLE });
  }
  let y = HEADER + ROW * rows + 2;
  for (const input of spec.inputs) {
    if (!input.widget) continue;
    const h = input.widget.kind === 'string' && input.widget.multiline ? TEXTAREA_ROW : ROW;
    handles.push({ id: inHandle(input.name), type: 'target', position: 'left' as never, x: -half, y: y + h / 2 - half, width: HANDLE, height: HANDLE });
    y += h;
  }
  return { width: WIDTH, height: y + 6, handles };
}

/** Attach estimates to unmeasured schema nodes of a large graph; small graphs are returned as they are. */
export function withEstimates(nodes: AnyNode[], catalog: Catalog): AnyNode[] {
  if (nodes.length <= CULL_THRESHOLD) return nodes;
  const cache = new Map<string, Estimate>();
  return nodes.map((n) => {
    if (!isLoom(n) || n.measured) return n;
    const spec = catalog[n.data.classType];
    if (!spec) return n;
    let e = cache.get(spec.name);
    if (!e) cache.set(spec.name, (e = estimateNode(spec)));
    return { ...n, initialWidth: e.width, initialHeight: e.height, handles: e.handles } as LoomNode;
  });
}

/** Drop estimates from nodes that have been measured, so React Flow keeps the real socket positions. */
export function dropEstimates(nodes: AnyNode[]): AnyNode[] {
  let changed = false;
  const next = nodes.map((n) => {
    if (!n.handles || !n.measured) return n;
    changed = true;
    const { handles: _h, initialWidth: _w, initialHeight: _ht, ...rest } = n;
    return rest as AnyNode;
  });
  return changed ? next : nodes;
}
