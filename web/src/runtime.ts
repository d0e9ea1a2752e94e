// Execution state shown on nodes (running highlight, progress, previews, outputs, errors).
// Kept apart from the graph so it never enters undo history or the saved file.
import { create } from 'zustand';
import type { ImageRef, NodeErrors } from './client';

export interface NodeProblem {
  messages: string[];
  inputs: Record<string, string>;
}

export interface Toast {
  id: number;
  kind: 'info' | 'error' | 'warn';
  text: string;
}

interface RuntimeState {
  connected: boolean;
  queueRemaining: number;
  promptId: string | null;
  running: string | null;
  progress: { node: string; value: number; max: number } | null;
  previews: Record<string, string>;
  outputs: Record<string, ImageRef[]>;
  problems: Record<string, NodeProblem>;
  cached: Record<string, true>;
  toasts: Toast[];
  /** How many runs one press of Queue adds (seed controls apply before each). */
  batchCount: number;
}

export const useRuntime = create<RuntimeState>(() => ({
  connected: false,
  queueRemaining: 0,
  promptId: null,
  running: null,
  progress: null,
  previews: {},
  outputs: {},
  problems: {},
  cached: {},
  toasts: [],
  batchCount: 1,
}));

let toastId = 0;

/** Show a message in the corner; errors stay longer. */
export function toast(kind: Toast['kind'], text: string): void {
  const id = ++toastId;
  useRuntime.setState((s) => ({ toasts: [...s.toasts.slice(-4), { id, kind, text }] }));
  setTimeout(
    () => useRuntime.setState((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
    kind === 'error' ? 9000 : 4000,
  );
}

/** Turn the server's node_errors into per-node, per-input messages. */
export function problemsFromNodeErrors(nodeErrors: NodeErrors): Record<string, NodeProblem> {
  const out: Record<string, NodeProblem> = {};
  for (const [id, entry] of Object.entries(nodeErrors ?? {})) {
    const p: NodeProblem = { messages: [], inputs: {} };
    for (const err of entry?.errors ?? []) {
      const text = [err.message, err.details].filter(Boolean).join(': ') || err.type || 'invalid';
      const input = err.extra_info?.input_name;
      if (input) p.inputs[input] = p.inputs[input] ? `${p.inputs[input]}; ${text}` : text;
      else p.messages.push(text);
    }
    if (!p.messages.length && Object.keys(p.inputs).length === 0) p.messages.push('invalid node');
    out[id] = p;
  }
  return out;
}

function setPreview(node: string, url: string): void {
  useRuntime.setState((s) => {
    const old = s.previews[node];
    if (old) URL.revokeObjectURL(old);
    return { previews: { ...s.previews, [node]: url } };
  });
}

/** The last websocket message types seen (for diagnostics and the browser tests). */
export const eventLog: string[] = [];

/** Apply one websocket message (ComfyUI message types) to the runtime state. */
export function handleServerMessage(type: string, data: Record<string, unknown>): void {
  eventLog.push(type);
  if (eventLog.length > 500) eventLog.shift();
  const node = (data.display_node ?? data.node ?? data.node_id) as string | null | undefined;
  switch (type) {
    case 'status': {
      const status = data.status as { exec_info?: { queue_remaining?: number } } | undefined;
      useRuntime.setState({ queueRemaining: status?.exec_info?.queue_remaining ?? 0 });
      break;
    }
    case 'execution_start':
      useRuntime.setState({ promptId: String(data.prompt_id), running: null, progress: null, problems: {}, cached: {} });
      break;
    case 'execution_cached': {
      const cached: Record<string, true> = {};
      for (const id of (data.nodes as string[]) ?? []) cached[String(id)] = true;
      useRuntime.setState({ cached });
      break;
    }
    case 'executing':
      if (node == null) useRuntime.setState({ running: null, progress: null });
      else useRuntime.setState({ running: String(node), progress: null });
      break;
    case 'progress':
      useRuntime.setState({ progress: { node: String(node ?? useRuntime.getState().running), value: Number(data.value), max: Number(data.max) } });
      break;
    case 'executed': {
      const images = ((data.output as { images?: ImageRef[] } | undefined)?.images ?? []).filter((i) => i && i.filename);
      if (node != null && images.length) useRuntime.setState((s) => ({ outputs: { ...s.outputs, [String(node)]: images } }));
      break;
    }
    case 'execution_success':
      useRuntime.setState({ running: null, progress: null });
      toast('info', 'Finished');
      break;
    case 'execution_error': {
      const id = String(data.node_id ?? '');
      const message = `${String(data.exception_type ?? 'Error')}: ${String(data.exception_message ?? '')}`;
      useRuntime.setState((s) => ({
        running: null,
        progress: null,
        problems: id ? { ...s.problems, [id]: { messages: [message], inputs: {} } } : s.problems,
      }));
      toast('error', `Node ${id} (${String(data.node_type ?? '')}) failed: ${String(data.exception_message ?? '')}`);
      break;
    }
    case 'execution_interrupted':
      useRuntime.setState({ running: null, progress: null });
      toast('warn', 'Interrupted');
      break;
  }
}

/** A step preview from a binary frame; attributed to the node that is running. */
export function handlePreview(blob: Blob, nodeId: string | null): void {
  const s = useRuntime.getState();
  const node = nodeId ?? s.progress?.node ?? s.running;
  eventLog.push('preview');
  if (node) setPreview(node, URL.createObjectURL(blob));
}

export function clearRuntime(): void {
  const s = useRuntime.getState();
  for (const url of Object.values(s.previews)) URL.revokeObjectURL(url);
  useRuntime.setState({ running: null, progress: null, previews: {}, outputs: {}, problems: {}, cached: {} });
}
