// HTTP and websocket client for the ComfyUI-compatible API served by `server.py`.
import type { ApiPrompt } from './formats/api';
import type { NativeWorkflow } from './formats/native';

export interface ImageRef {
  filename: string;
  subfolder?: string;
  type?: string;
}

export interface ServerNodeError {
  type?: string;
  message?: string;
  details?: string;
  extra_info?: { input_name?: string; received_value?: unknown };
}

export type NodeErrors = Record<string, { errors?: ServerNodeError[]; class_type?: string }>;

export type QueueResult =
  | { ok: true; promptId: string; number: number; nodeErrors: NodeErrors }
  | { ok: false; message: string; nodeErrors: NodeErrors };

async function json<T>(res: Response, what: string): Promise<T> {
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return (await res.json()) as T;
}

/** GET /object_info, the ComfyUI node schema. */
export async function fetchObjectInfo(): Promise<Record<string, unknown>> {
  return json(await fetch('/object_info'), 'loading the node list');
}

/** GET /object_info/{type}: one node's schema, e.g. after an upload adds a file to its choices. */
export async function fetchNodeInfo(type: string): Promise<Record<string, unknown>> {
  return json(await fetch(`/object_info/${encodeURIComponent(type)}`), `loading the ${type} schema`);
}

/** POST /prompt; a 400 with node_errors is a normal, displayable outcome. */
export async function queuePrompt(prompt: ApiPrompt, clientId: string, workflow: NativeWorkflow): Promise<QueueResult> {
  const res = await fetch('/prompt', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt, client_id: clientId, extra_data: { extra_pnginfo: { workflow } } }),
  });
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    /* a non-JSON error body: fall through with the status */
  }
  const nodeErrors = (body.node_errors ?? {}) as NodeErrors;
  if (res.ok) return { ok: true, promptId: String(body.prompt_id), number: Number(body.number), nodeErrors };
  const err = body.error as { message?: string; details?: string } | string | undefined;
  const message =
    typeof err === 'string' ? err : [err?.message, err?.details].filter(Boolean).join(': ') || `HTTP ${res.status}`;
  return { ok: false, message, nodeErrors };
}

export type QueueItem = [number, string, ApiPrompt, Record<string, unknown>?, string[]?];

export interface QueueState {
  queue_running: QueueItem[];
  queue_pending: QueueItem[];
}

export async function fetchQueue(): Promise<QueueState> {
  return json(await fetch('/queue'), 'loading the queue');
}

export interface HistoryEntry {
  prompt?: QueueItem;
  outputs?: Record<string, { images?: ImageRef[] }>;
  status?: { status_str?: string; completed?: boolean };
}

export async function fetchHistory(maxItems = 30): Promise<Record<string, HistoryEntry>> {
  return json(await fetch(`/history?max_items=${maxItems}`), 'loading the history');
}

export async function cancelPending(promptId: string): Promise<void> {
  await fetch('/queue', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ delete: [promptId] }) });
}

export async function interrupt(promptId?: string): Promise<void> {
  await fetch('/interrupt', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(promptId ? { prompt_id: promptId } : {}),
  });
}

export async function uploadImage(file: File): Promise<ImageRef> {
  const form = new FormData();
  form.append('image', file, file.name);
  form.append('type', 'input');
  const res = await json<{ name: string; subfolder?: string; type?: string }>(
    await fetch('/upload/image', { method: 'POST', body: form }),
    'uploading the image',
  );
  return { filename: res.name, subfolder: res.subfolder, type: res.type ?? 'input' };
}

/** POST /upload/mask (ComfyUI's mask editor route): ``mask`` is a PNG whose alpha the server copies onto the
 * ``original`` image; the result is written under input/clipspace/ and named in the answer. */
export async function uploadMask(mask: Blob, name: string, original: ImageRef): Promise<ImageRef> {
  const form = new FormData();
  form.append('image', mask, name);
  form.append('type', 'input');
  form.append('subfolder', 'clipspace');
  form.append('original_ref', JSON.stringify({ filename: original.filename, subfolder: original.subfolder ?? '', type: original.type ?? 'input' }));
  const res = await json<{ name: string; subfolder?: string; type?: string }>(
    await fetch('/upload/mask', { method: 'POST', body: form }),
    'saving the mask',
  );
  return { filename: res.name, subfolder: res.subfolder, type: res.type ?? 'input' };
}

export function viewUrl(img: ImageRef): string {
  const q = new URLSearchParams({ filename: img.filename, subfolder: img.subfolder ?? '', type: img.type ?? 'output' });
  return `/view?${q.toString()}`;
}

/** The shipped templates: accepts a list of names or of objects with a name. */
export async function fetchTemplates(): Promise<string[]> {
  const body = await json<unknown>(await fetch('/api/workflows'), 'loading the templates');
  const list = Array.isArray(body) ? body : ((body as { workflows?: unknown[] })?.workflows ?? []);
  return list
    .map((x) => (typeof x === 'string' ? x : ((x as { name?: string; file?: string })?.name ?? (x as { file?: string })?.file)))
    .filter((x): x is string => typeof x === 'string');
}

export async function fetchTemplate(name: string): Promise<unknown> {
  return json(await fetch(`/api/workflows/${encodeURIComponent(name)}`), `loading template ${name}`);
}

export interface SocketHandlers {
  onMessage: (type: string, data: Record<string, unknown>) => void;
  onPreview: (blob: Blob, nodeId: string | null) => void;
  onConnection: (connected: boolean) => void;
}

/** The /ws connection, reconnecting with backoff; the client id stays the same across reconnects. */
export function openSocket(clientId: string, handlers: SocketHandlers): () => void {
  let ws: WebSocket | null = null;
  let stopped = false;
  let delay = 500;
  const connect = () => {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${proto}://${location.host}/ws?clientId=${encodeURIComponent(clientId)}`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      delay = 500;
      // Binary step previews are opt-in (ComfyUI clients never expect them): this editor asks for them.
      ws?.send(JSON.stringify({ type: 'feature_flags', data: { latent_loom_previews: true } }));
      handlers.onConnection(true);
    };
    ws.onclose = () => {
      handlers.onConnection(false);
      if (!stopped) setTimeout(connect, (delay = Math.min(delay * 2, 5000)));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        try {
          const msg = JSON.parse(ev.data) as { type: string; data: Record<string, unknown> };
          handlers.onMessage(msg.type, msg.data ?? {});
        } catch {
          /* ignore malformed frames */
        }
        return;
      }
      const buf = ev.data as ArrayBuffer;
      if (buf.byteLength < 8) return;
      const view = new DataView(buf);
      const event = view.getUint32(0);
      if (event === 1) {
        const format = view.getUint32(4);
        handlers.onPreview(new Blob([buf.slice(8)], { type: format === 2 ? 'image/png' : 'image/jpeg' }), null);
      } else if (event === 4) {
        const len = view.getUint32(4);
        try {
          const meta = JSON.parse(new TextDecoder().decode(buf.slice(8, 8 + len))) as { node_id?: string; image_type?: string };
          handlers.onPreview(new Blob([buf.slice(8 + len)], { type: meta.image_type ?? 'image/jpeg' }), meta.node_id ?? null);
        } catch {
          /* ignore */
        }
      }
    };
  };
  connect();
  return () => {
    stopped = true;
    ws?.close();
  };
}

/** The server refused to convert a workflow because it uses node types the server does not have. */
export class MissingNodeTypesError extends Error {
  constructor(readonly types: string[]) {
    super(`this workflow uses node types this server does not have: ${types.join(', ')}`);
  }
}

/** POST /api/workflow/convert: the server's conversion (it flattens subgraphs); returns our format.
 * A workflow using node types the server lacks is refused (never converted with their values dropped). */
export async function convertOnServer(workflow: unknown): Promise<NativeWorkflow> {
  const res = await fetch('/api/workflow/convert', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(workflow),
  });
  const body = (await res.json().catch(() => ({}))) as {
    workflow?: NativeWorkflow;
    error?: { message?: string };
    missing_node_types?: string[];
  };
  if (Array.isArray(body.missing_node_types) && body.missing_node_types.length) {
    throw new MissingNodeTypesError(body.missing_node_types);
  }
  if (!res.ok || !body.workflow) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
  return body.workflow;
}
