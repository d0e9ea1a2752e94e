// Copy/paste of graph fragments as JSON text, so copies travel through the system clipboard.
import type { Edge } from '@xyflow/react';
import { type AnyNode, type EditorGraph, inName, makeEdge, nextId, outIndex } from './graph';

export const CLIPBOARD_MARKER = 'latent-loom/clipboard';

export interface ClipboardPayload {
  format: typeof CLIPBOARD_MARKER;
  nodes: AnyNode[];
  /** Links between copied nodes. */
  edges: Edge[];
  /** Links from outside nodes into copied ones; restored by "paste with links" (Ctrl+Shift+V). */
  incoming: Edge[];
}

/** Serialise the selected nodes and their links. */
export function copyNodes(graph: EditorGraph, ids: string[]): ClipboardPayload {
  const set = new Set(ids);
  const nodes = graph.nodes
    .filter((n) => set.has(n.id))
    .map((n) => {
      const { selected: _s, dragging: _d, measured: _m, ...rest } = n as AnyNode & { dragging?: boolean };
      return rest as AnyNode;
    });
  return {
    format: CLIPBOARD_MARKER,
    nodes,
    edges: graph.edges.filter((e) => set.has(e.source) && set.has(e.target)),
    incoming: graph.edges.filter((e) => !set.has(e.source) && set.has(e.target)),
  };
}

/** Parse clipboard text, returning null for anything that is not a Latent Loom fragment. */
export function parseClipboard(text: string): ClipboardPayload | null {
  try {
    const j = JSON.parse(text) as ClipboardPayload;
    return j && j.format === CLIPBOARD_MARKER && Array.isArray(j.nodes) && Array.isArray(j.edges) ? j : null;
  } catch {
    return null;
  }
}

/**
 * Add a copied fragment with fresh ids, its top-left corner at `at` (or offset from the
 * original). The pasted nodes become the selection. `withLinks` keeps links from outside nodes.
 */
export function pasteNodes(
  graph: EditorGraph,
  payload: ClipboardPayload,
  at: { x: number; y: number } | null,
  withLinks: boolean,
): EditorGraph {
  if (!payload.nodes.length) return graph;
  const minX = Math.min(...payload.nodes.map((n) => n.position.x));
  const minY = Math.min(...payload.nodes.map((n) => n.position.y));
  const dx = at ? at.x - minX : 30;
  const dy = at ? at.y - minY : 30;
  const idMap = new Map<string, string>();
  const taken = new Set<string>();
  for (const n of payload.nodes) {
    const id = n.type === 'frame' ? `g${Date.now().toString(36)}${idMap.size}` : nextId(graph.nodes, taken);
    taken.add(id);
    idMap.set(n.id, id);
  }
  const existing = new Set(graph.nodes.map((n) => n.id));
  const fresh = payload.nodes.map(
    (n) =>
      ({
        ...structuredClone(n),
        id: idMap.get(n.id) as string,
        position: { x: n.position.x + dx, y: n.position.y + dy },
        selected: true,
      }) as AnyNode,
  );
  const remap = (e: Edge, keepSource: boolean) =>
    makeEdge(
      keepSource ? e.source : (idMap.get(e.source) as string),
      outIndex(e.sourceHandle),
      idMap.get(e.target) as string,
      inName(e.targetHandle),
      (e.data as { type?: string } | undefined)?.type,
    );
  const edges = [...graph.edges, ...payload.edges.map((e) => remap(e, false))];
  if (withLinks) for (const e of payload.incoming ?? []) if (existing.has(e.source)) edges.push(remap(e, true));
  return {
    ...graph,
    nodes: [...graph.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...fresh],
    edges,
  };
}
