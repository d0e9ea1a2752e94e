// The editor shell: canvas, toolbar, palette, queue panel, keyboard, clipboard, file drop, autosave.
import {
  Background,
  type Connection,
  Controls,
  type Edge,
  type FinalConnectionState,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { type MouseEvent as ReactMouseEvent, useCallback, useEffect, useRef, useState } from 'react';
import { useGraphClipboard, useKeymap } from './hooks';
import { CULL_THRESHOLD } from './estimate';
import { type KeyActions } from './keymap';
import { Toolbar } from './components/Toolbar';
import {
  convertOnServer,
  MissingNodeTypesError,
  fetchObjectInfo,
  openSocket,
  queuePrompt,
  uploadImage,
} from './client';
import { defaultPrompt } from './defaults';
import { type Calibration, confirmSlowJob, cpuAwareFirstGraph, fetchCalibration } from './speed';
import { FrameNodeView, PrimitiveNodeView, RerouteNodeView } from './components/SmallNodes';
import { LoomNodeView } from './components/LoomNodeView';
import { QueuePanel } from './components/QueuePanel';
import { SearchPalette } from './components/SearchPalette';
import { ContextMenu, type MenuTarget } from './components/ContextMenu';
import { ErrorBoundary } from './components/ErrorBoundary';
import { apiToNative } from './formats/api';
import { type Opened, openPng, openWorkflowJson, openWorkflowText } from './formats/load';
import type { NativeWorkflow } from './formats/native';
import { type AnyNode, type FrameNode, isFrame, nodesInsideFrame, sourceType, targetType } from './graph';
import { clearRuntime, eventLog, handlePreview, handleServerMessage, problemsFromNodeErrors, toast, useRuntime } from './runtime';
import { parseObjectInfo } from './schema';
import * as store from './store';
import { useGraph } from './store';


const nodeTypes = { loom: LoomNodeView, reroute: RerouteNodeView, frame: FrameNodeView, primitive: PrimitiveNodeView };
const AUTOSAVE_KEY = 'latent-loom.autosave';

function clientId(): string {
  let id = sessionStorage.getItem('latent-loom.client-id');
  if (!id) {
    id = crypto.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
    sessionStorage.setItem('latent-loom.client-id', id);
  }
  return id;
}

function download(name: string, data: unknown): void {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function Editor() {
  const nodes = useGraph((s) => s.nodes);
  const edges = useGraph((s) => s.edges);
  const catalogReady = useGraph((s) => Object.keys(s.catalog).length > 0);
  const workflowName = useGraph((s) => s.workflowName);
  const toasts = useRuntime((s) => s.toasts);
  const rf = useReactFlow<AnyNode, Edge>();
  const [loadError, setLoadError] = useState<string | null>(null);
  const [showQueue, setShowQueue] = useState(false);
  const mouseFlow = useRef<{ x: number; y: number } | null>(null);
  const frameDrag = useRef<{ frameStart: { x: number; y: number }; frameId: string; start: Map<string, { x: number; y: number }> }[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);
  const reconnected = useRef(false);
  const [menu, setMenu] = useState<MenuTarget | null>(null);
  const closeMenu = useCallback(() => setMenu(null), []);
  const cid = useRef(clientId());

  const fit = useCallback(() => {
    requestAnimationFrame(() => setTimeout(() => void rf.fitView({ padding: 0.12, maxZoom: 1.2 }), 60));
  }, [rf]);

  const applyOpened = useCallback(
    async (given: Opened, name: string) => {
      let opened = given;
      // What the editor cannot convert itself (subgraphs, node types it does not know) the server may.
      if (opened.kind === 'comfyui-ui' && opened.warnings.length && opened.source) {
        try {
          opened = { workflow: await convertOnServer(opened.source), kind: 'comfyui-ui', warnings: [] };
        } catch (e) {
          // Keep the editor's own conversion: its nodes of those types show as not installed on this server.
          if (e instanceof MissingNodeTypesError) toast('error', `Missing node types: ${e.types.join(', ')}`);
        }
      }
      // Our files carry their view: set it first so only what it shows is drawn in full detail.
      const view = opened.kind === 'native' ? opened.workflow.ui?.view : undefined;
      if (view) await rf.setViewport(view);
      store.loadNative(opened.workflow, name.replace(/\.(json|png)$/i, ''));
      clearRuntime();
      for (const w of opened.warnings) toast('warn', w);
      if (!view) fit();
      toast('info', `Opened ${name}${opened.kind !== 'native' ? ` (${opened.kind === 'api' ? 'API prompt' : 'ComfyUI workflow'})` : ''}`);
    },
    [fit, rf],
  );

  const openJson = useCallback(
    (json: unknown, name: string) => {
      try {
        void applyOpened(openWorkflowJson(json, useGraph.getState().catalog), name);
      } catch (e) {
        toast('error', `${name}: ${(e as Error).message}`);
      }
    },
    [applyOpened],
  );

  const openFile = useCallback(
    async (file: File, droppedAt?: { x: number; y: number }) => {
      try {
        const buf = await file.arrayBuffer();
        const head = new Uint8Array(buf.slice(0, 4));
        const isPng = head[0] === 0x89 && head[1] === 0x50;
        const catalog = useGraph.getState().catalog;
        let opened: Opened | null = null;
        if (isPng) {
          try {
            opened = openPng(buf, catalog);
          } catch (e) {
            if (!droppedAt) throw e;
          }
        } else if (!file.type.startsWith('image/')) {
          opened = openWorkflowText(new TextDecoder().decode(buf), catalog);
        }
        if (opened) return await applyOpened(opened, file.name);
        // An image without a workflow, dropped on the canvas: upload it into a Load Image node there.
        if (!droppedAt || !catalog.LoadImage) throw new Error('this image carries no workflow');
        const ref = await uploadImage(file);
        const name = ref.subfolder ? `${ref.subfolder}/${ref.filename}` : ref.filename;
        await store.refreshNodeType('LoadImage');
        store.addNode('LoadImage', droppedAt, undefined, { image: name });
        toast('info', `Uploaded ${name}`);
      } catch (e) {
        toast('error', `${file.name}: ${(e as Error).message}`);
      }
    },
    [applyOpened],
  );

  const queue = useCallback(async () => {
    const { catalog } = useGraph.getState();
    const count = Math.max(1, Math.min(100, useRuntime.getState().batchCount || 1));
    // The time this would take here, asked of the server; a slow job is queued only if the user says so.
    if (!(await confirmSlowJob(store.exportApi(), count))) return toast('info', 'Not queued.');
    for (let i = 0; i < count; i++) {
      store.applySeedControls();
      const prompt = store.exportApi();
      if (!Object.values(prompt).some((n) => catalog[n.class_type]?.outputNode)) {
        toast('warn', 'Nothing to run: add an output node such as Save Image or Preview Image.');
        return;
      }
      try {
        const res = await queuePrompt(prompt, cid.current, store.exportNative(rf.getViewport()));
        useRuntime.setState({ problems: problemsFromNodeErrors(res.nodeErrors) });
        if (!res.ok) return toast('error', `Not queued: ${res.message}`);
        if (i === count - 1) toast('info', count > 1 ? `Queued ${count} runs` : `Queued #${res.number}`);
      } catch (e) {
        return toast('error', `Could not reach the server: ${(e as Error).message}`);
      }
    }
  }, [rf]);

  // Test and debugging hooks that need the canvas.
  useEffect(() => {
    const hooks = window.__loom as Record<string, unknown>;
    hooks.open = (json: unknown, name = 'workflow') => openJson(json, name);
    hooks.setViewport = (v: { x: number; y: number; zoom: number }) => rf.setViewport(v);
    hooks.fitView = () => rf.fitView({ padding: 0.08 });
  }, [openJson, rf]);

  // Start-up: catalog, then the autosaved workflow (or the default graph), then the websocket.
  const started = useRef(false);
  const flowReady = useRef<{ promise: Promise<void>; resolve: () => void } | null>(null);
  if (!flowReady.current) {
    let resolve = () => {};
    const promise = new Promise<void>((r) => (resolve = r));
    flowReady.current = { promise, resolve };
  }
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    let stop: (() => void) | undefined;
    let calibration: Promise<Calibration | null> = Promise.resolve(null);
    (async () => {
      try {
        performance.mark('loom:start');
        store.setCatalog(parseObjectInfo(await fetchObjectInfo()));
        performance.mark('loom:catalog');
        calibration = fetchCalibration(); // the server measures this machine once, before the first Queue
      } catch (e) {
        setLoadError((e as Error).message);
        return;
      }
      await flowReady.current?.promise; // the viewport can only be set once the canvas exists
      const saved = localStorage.getItem(AUTOSAVE_KEY);
      let restored = false;
      if (saved) {
        try {
          const { workflow, name } = JSON.parse(saved) as { workflow: NativeWorkflow; name?: string };
          // Set the saved view first, so only what it shows is drawn in full detail.
          const view = workflow?.ui?.view;
          if (view) await rf.setViewport(view);
          store.loadNative(workflow, name);
          performance.mark('loom:graph');
          if (!view) fit();
          restored = true;
        } catch {
          localStorage.removeItem(AUTOSAVE_KEY);
        }
      }
      if (!restored) {
        const p = defaultPrompt(useGraph.getState().catalog);
        if (p) {
          store.loadNative(apiToNative(p));
          fit();
          // Measuring nodes changes the graph's revision, not what it runs: compare the prompt itself.
          const loaded = JSON.stringify(store.exportApi());
          void cpuAwareFirstGraph(p, calibration, () => JSON.stringify(store.exportApi()) === loaded, (cut) => {
            store.loadNative(apiToNative(cut));
            fit();
          }).then((said) => said && toast('info', said));
        }
      }
      stop = openSocket(cid.current, {
        onMessage: handleServerMessage,
        onPreview: handlePreview,
        onConnection: (c) => useRuntime.setState({ connected: c }),
      });
    })();
    window.addEventListener('beforeunload', () => stop?.());
  }, [fit, rf]);

  // Autosave (debounced) of the open workflow, including the view.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const unsub = useGraph.subscribe((s, prev) => {
      if (s.revision === prev.revision || !Object.keys(s.catalog).length) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        try {
          localStorage.setItem(
            AUTOSAVE_KEY,
            JSON.stringify({ workflow: store.exportNative(rf.getViewport()), name: useGraph.getState().workflowName }),
          );
        } catch {
          /* storage full or disabled: autosave is best effort */
        }
      }, 400);
    });
    return () => {
      unsub();
      clearTimeout(timer);
    };
  }, [rf]);

  const saveFile = useCallback(
    () => download(`${useGraph.getState().workflowName}.json`, store.exportNative(rf.getViewport())),
    [rf],
  );
  const keyActions = useRef<KeyActions>({} as KeyActions);
  keyActions.current = {
    queue: () => void queue(),
    save: saveFile,
    open: () => fileInput.current?.click(),
    fitView: () => void rf.fitView({ padding: 0.12, duration: 200 }),
    pointer: () => mouseFlow.current ?? undefined,
  };
  useKeymap(keyActions);
  useGraphClipboard(
    () => mouseFlow.current ?? undefined,
    (json) => openJson(json, 'pasted workflow'),
  );

  const onConnectEnd = useCallback(
    (event: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      if (state.isValid || !state.fromNode || !state.fromHandle) return;
      const { catalog, nodes: all } = useGraph.getState();
      const from = all.find((n) => n.id === state.fromNode?.id);
      const handleType = state.fromHandle.type;
      const handleId = state.fromHandle.id ?? '';
      if (state.toHandle && state.toNode) {
        const c =
          handleType === 'source'
            ? { source: from!.id, sourceHandle: handleId, target: state.toNode.id, targetHandle: state.toHandle.id ?? '' }
            : { source: state.toNode.id, sourceHandle: state.toHandle.id ?? '', target: from!.id, targetHandle: handleId };
        const why = store.connectionProblem(c as Connection);
        if (why) toast('warn', `Link refused: ${why}`);
        return;
      }
      const point = 'changedTouches' in event ? event.changedTouches[0] : event;
      const target = document.elementFromPoint(point.clientX, point.clientY);
      // A link dropped anywhere on an input's row (a widget included) connects to that input.
      const row = target?.closest('[data-input]');
      const rowNode = row?.closest('.react-flow__node');
      if (row && rowNode && handleType === 'source') {
        const c = {
          source: from!.id,
          sourceHandle: handleId,
          target: rowNode.getAttribute('data-id') ?? '',
          targetHandle: `i:${row.getAttribute('data-input')}`,
        };
        const why = store.connectionProblem(c);
        if (why) toast('warn', `Link refused: ${why}`);
        else store.addConnection(c);
        return;
      }
      if (!target?.classList.contains('react-flow__pane')) return;
      const type = (handleType === 'source' ? sourceType(from, handleId, catalog) : targetType(from, handleId, catalog)) ?? '*';
      store.openPalette({
        screen: { x: point.clientX, y: point.clientY },
        flow: rf.screenToFlowPosition({ x: point.clientX, y: point.clientY }),
        from: { nodeId: from!.id, handleId, handleType, type },
      });
    },
    [rf],
  );

  const onDoubleClick = useCallback(
    (e: ReactMouseEvent) => {
      const target = e.target as Element;
      if (!target.classList.contains('react-flow__pane') && !target.classList.contains('frame')) return;
      store.openPalette({ screen: { x: e.clientX, y: e.clientY }, flow: rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }) });
    },
    [rf],
  );

  const onNodeDragStart = useCallback((_: unknown, __: AnyNode, dragged: AnyNode[]) => {
    store.checkpoint();
    const all = useGraph.getState().nodes;
    const draggedIds = new Set(dragged.map((n) => n.id));
    frameDrag.current = dragged.filter(isFrame).map((frame) => ({
      frameId: frame.id,
      frameStart: { ...frame.position },
      start: new Map(
        nodesInsideFrame(frame as FrameNode, all)
          .filter((id) => !draggedIds.has(id))
          .map((id) => [id, { ...all.find((n) => n.id === id)!.position }]),
      ),
    }));
  }, []);

  const onNodeDrag = useCallback((_: unknown, __: AnyNode, dragged: AnyNode[]) => {
    if (!frameDrag.current.length) return;
    const moves = new Map<string, { x: number; y: number }>();
    for (const f of frameDrag.current) {
      const frame = dragged.find((n) => n.id === f.frameId);
      if (!frame) continue;
      const dx = frame.position.x - f.frameStart.x;
      const dy = frame.position.y - f.frameStart.y;
      for (const [id, p] of f.start) moves.set(id, { x: p.x + dx, y: p.y + dy });
    }
    if (moves.size) store.moveNodes(moves);
  }, []);


  if (loadError) {
    return (
      <div className="fatal">
        <h2>Latent Loom could not load the node list</h2>
        <p>{loadError}</p>
        <p>Is `python server.py` running? Reload the page once it is.</p>
      </div>
    );
  }


  return (
    <div className="app">
      <Toolbar
        actions={{
          newWorkflow: () => store.clearGraph(),
          open: () => fileInput.current?.click(),
          save: saveFile,
          exportApi: () => download(`${workflowName}.api.json`, store.exportApi()),
          openTemplate: (name, json) => openJson(json, name),
          group: () => store.groupSelection(rf.screenToFlowPosition({ x: 300, y: 200 })),
          reroute: () => store.addReroute(rf.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 })),
          fitView: () => void rf.fitView({ padding: 0.12, duration: 200 }),
          queue: () => void queue(),
          toggleHistory: () => setShowQueue((v) => !v),
        }}
        historyOpen={showQueue}
      />
      <input
        ref={fileInput}
        type="file"
        accept=".json,.png,application/json,image/png"
        hidden
        data-testid="open-file"
        onChange={(e) => {
          const f = e.target.files?.[0];
          if (f) void openFile(f);
          e.target.value = '';
        }}
      />
      <main
        className="canvas"
        onDoubleClick={onDoubleClick}
        onMouseMove={(e) => (mouseFlow.current = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }))}
        onDragOver={(e) => e.preventDefault()}
        onDrop={(e) => {
          e.preventDefault();
          const f = e.dataTransfer.files?.[0];
          if (f) void openFile(f, rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
        }}
      >
        {catalogReady ? (
          <ReactFlow<AnyNode, Edge>
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onInit={() => flowReady.current?.resolve()}
            onNodesChange={store.onNodesChange}
            onEdgesChange={store.onEdgesChange}
            onConnect={store.addConnection}
            onConnectEnd={onConnectEnd}
            isValidConnection={(c) => store.connectionProblem(c) === null}
            onReconnectStart={() => (reconnected.current = false)}
            onReconnect={(old, c) => {
              reconnected.current = true;
              store.reconnectEdge(old, c);
            }}
            onReconnectEnd={(_, old) => {
              // A link end dropped on empty canvas disconnects it, as in ComfyUI.
              if (!reconnected.current) store.reconnectEdge(old, null);
            }}
            onNodeContextMenu={(e, n) => {
              e.preventDefault();
              setMenu({ kind: 'node', id: n.id, screen: { x: e.clientX, y: e.clientY } });
            }}
            onEdgeContextMenu={(e, edge) => {
              e.preventDefault();
              const at = { x: e.clientX, y: e.clientY };
              setMenu({ kind: 'edge', id: edge.id, screen: at, flow: rf.screenToFlowPosition(at) });
            }}
            onPaneContextMenu={(e) => {
              e.preventDefault();
              const at = { x: e.clientX, y: e.clientY };
              setMenu({ kind: 'pane', screen: at, flow: rf.screenToFlowPosition(at) });
            }}
            onNodeDragStart={onNodeDragStart}
            onNodeDrag={onNodeDrag}
            deleteKeyCode={null}
            zoomOnDoubleClick={false}
            elevateNodesOnSelect={false}
            onlyRenderVisibleElements={nodes.length > CULL_THRESHOLD}
            minZoom={0.05}
            maxZoom={3}
            colorMode="dark"
            proOptions={{ hideAttribution: false }}
          >
            <Background gap={24} />
            <MiniMap pannable zoomable nodeColor={(n) => (n.type === 'frame' ? 'transparent' : '#5a6270')} />
            <Controls />
          </ReactFlow>
        ) : (
          <div className="loading">Loading nodes…</div>
        )}
        <SearchPalette />
        {menu && <ContextMenu target={menu} onClose={closeMenu} />}
      </main>
      {showQueue && <QueuePanel onLoad={(wf, label) => openJson(wf, label)} />}
      <div className="toasts">
        {toasts.map((t) => (
          <div key={t.id} className={`toast ${t.kind}`} data-testid={`toast-${t.kind}`}>
            {t.text}
          </div>
        ))}
      </div>
    </div>
  );
}

export function App() {
  return (
    <ErrorBoundary autosaveKey={AUTOSAVE_KEY}>
      <ReactFlowProvider>
        <Editor />
      </ReactFlowProvider>
    </ErrorBoundary>
  );
}

// A handle for tests and debugging: read the graph, load a workflow.
declare global {
  interface Window {
    __loom?: unknown;
  }
}
window.__loom = {
  graph: () => useGraph.getState(),
  runtime: () => useRuntime.getState(),
  events: eventLog,
  native: () => store.exportNative(),
  api: () => store.exportApi(),
  load: (json: unknown) => store.loadNative(openWorkflowJson(json, useGraph.getState().catalog).workflow),
};
