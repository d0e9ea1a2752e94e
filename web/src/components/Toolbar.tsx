// The top bar: workflow files and templates, editing helpers, run status and the queue button.
import { useState } from 'react';
import { fetchTemplate, fetchTemplates, interrupt } from '../client';
import { KEYMAP, OTHER_SHORTCUTS } from '../keymap';
import { usePopover } from '../popovers';
import { toast, useRuntime } from '../runtime';
import { redo, undo, useGraph } from '../store';

export interface ToolbarActions {
  newWorkflow: () => void;
  open: () => void;
  save: () => void;
  exportApi: () => void;
  openTemplate: (name: string, json: unknown) => void;
  group: () => void;
  reroute: () => void;
  fitView: () => void;
  queue: () => void;
  toggleHistory: () => void;
}

function RunStatus() {
  const running = useRuntime((s) => s.running);
  const progress = useRuntime((s) => s.progress);
  const title = useGraph((s) => {
    const n = running ? s.nodes.find((x) => x.id === running) : undefined;
    const classType = (n?.data as { classType?: string } | undefined)?.classType;
    return (n?.data.title as string | undefined) ?? (classType ? (s.catalog[classType]?.displayName ?? classType) : null);
  });
  if (!running) return null;
  const pct = progress && progress.max ? Math.round((100 * progress.value) / progress.max) : 0;
  return (
    <span className="run-status" data-testid="run-status">
      {title} {progress ? `${progress.value}/${progress.max}` : ''}
      <span className="bar">
        <span style={{ width: `${pct}%` }} />
      </span>
    </span>
  );
}

export function Toolbar({ actions, historyOpen }: { actions: ToolbarActions; historyOpen: boolean }) {
  const [templates, setTemplates] = useState<string[] | null>(null);
  const [showKeys, setShowKeys] = useState(false);
  usePopover(templates !== null, () => setTemplates(null));
  usePopover(showKeys, () => setShowKeys(false));
  const connected = useRuntime((s) => s.connected);
  const queueRemaining = useRuntime((s) => s.queueRemaining);
  const batchCount = useRuntime((s) => s.batchCount);
  const toggleTemplates = async () => {
    if (templates) return setTemplates(null);
    try {
      setTemplates(await fetchTemplates());
    } catch (e) {
      toast('error', `Templates are not available: ${(e as Error).message}`);
    }
  };
  const openTemplate = async (name: string) => {
    setTemplates(null);
    try {
      actions.openTemplate(name, await fetchTemplate(name));
    } catch (e) {
      toast('error', (e as Error).message);
    }
  };
  return (
    <header className="toolbar">
      <span className="brand">Latent Loom</span>
      <button onClick={actions.newWorkflow} title="New empty workflow">New</button>
      <button onClick={actions.open} title="Open a workflow (.json) or an image with one (.png) — Ctrl+O">Open</button>
      <button onClick={actions.save} title="Save — Ctrl+S">Save</button>
      <button onClick={actions.exportApi} title="Export in ComfyUI API format">Export API</button>
      <span className="menu">
        <button onClick={() => void toggleTemplates()}>Templates ▾</button>
        {templates && (
          <ul className="menu-list" data-testid="templates">
            {templates.length === 0 && <li className="muted">No templates</li>}
            {templates.map((t) => (
              <li key={t} onClick={() => void openTemplate(t)}>
                {t}
              </li>
            ))}
          </ul>
        )}
      </span>
      <span className="sep" />
      <button onClick={actions.group} title="Group the selected nodes — Ctrl+G">Group</button>
      <button onClick={actions.reroute} title="Add a reroute point (or right-click a link)">Reroute</button>
      <button onClick={() => undo()} title="Undo — Ctrl+Z" data-testid="undo">
        Undo
      </button>
      <button onClick={() => redo()} title="Redo — Ctrl+Shift+Z / Ctrl+Y" data-testid="redo">
        Redo
      </button>
      <button onClick={actions.fitView} title="Fit view — F">Fit</button>
      <span className="menu">
        <button onClick={() => setShowKeys((v) => !v)} title="Keyboard shortcuts">Keys</button>
        {showKeys && (
          <ul className="menu-list keys" onClick={() => setShowKeys(false)}>
            {[...KEYMAP.map((b): [string, string] => [b.keys, b.label]), ...OTHER_SHORTCUTS].map(([k, what]) => (
              <li key={k}>
                <kbd>{k}</kbd> {what}
              </li>
            ))}
          </ul>
        )}
      </span>
      <span className="spacer" />
      <span className={`conn ${connected ? 'on' : 'off'}`} title={connected ? 'connected' : 'disconnected'} />
      <RunStatus />
      <span className="queue-count" title="jobs in the queue">{queueRemaining}</span>
      <button className="primary" onClick={actions.queue} data-testid="queue-button" title="Queue — Ctrl+Enter">
        Queue
      </button>
      <input
        className="batch-count"
        type="number"
        min={1}
        max={100}
        value={batchCount}
        title="runs per Queue press"
        aria-label="batch count"
        onChange={(e) => useRuntime.setState({ batchCount: Math.max(1, Math.min(100, Number(e.target.value) || 1)) })}
      />
      <button onClick={() => void interrupt()} title="Interrupt the running job">■</button>
      <button onClick={actions.toggleHistory} className={historyOpen ? 'active' : ''} data-testid="queue-toggle">
        History
      </button>
    </header>
  );
}
