// A schema-driven node: typed colour-coded sockets, widgets (each also accepts a link), images, progress, errors.
import { Handle, NodeResizeControl, type NodeProps, Position, ResizeControlVariant, useStore as useFlowStore } from '@xyflow/react';
import { memo, useState } from 'react';
import { viewUrl } from '../client';
import { type LoomNode, inHandle, outHandle } from '../graph';
import { useRuntime } from '../runtime';
import { typeColor } from '../sockets';
import { checkpoint, setTitle, useGraph } from '../store';
import { MaskEditButton } from './MaskPainter';
import { InputImagePreview, Widget } from './Widgets';

/** Below this zoom, nodes drop widgets and images so large graphs stay fluid. */
export const LOD_ZOOM = 0.45;

/** Below this zoom, nodes are drawn as plain boxes (text is unreadable there and costly to paint). */
export const OVERVIEW_ZOOM = 0.25;

const lowDetailSelector = (s: { transform: [number, number, number] }) => s.transform[2] < LOD_ZOOM;
const overviewSelector = (s: { transform: [number, number, number] }) => s.transform[2] < OVERVIEW_ZOOM;

function Socket({ type, kind, id, title }: { type: string; kind: 'source' | 'target'; id: string; title: string }) {
  return (
    <Handle
      type={kind}
      position={kind === 'source' ? Position.Right : Position.Left}
      id={id}
      className="socket"
      title={title}
      style={{ background: typeColor(type) }}
    />
  );
}

function Title({ id, title }: { id: string; title: string }) {
  const [editing, setEditing] = useState(false);
  if (!editing)
    return (
      <span className="node-title" onDoubleClick={() => setEditing(true)} title="double-click to rename">
        {title}
      </span>
    );
  return (
    <input
      className="nodrag title-edit"
      autoFocus
      defaultValue={title}
      onBlur={(e) => {
        setTitle(id, e.target.value.trim());
        setEditing(false);
      }}
      onKeyDown={(e) => {
        if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
        if (e.key === 'Escape') setEditing(false);
      }}
    />
  );
}

function LoomNodeViewInner({ id, data, selected }: NodeProps<LoomNode>) {
  const spec = useGraph((s) => s.catalog[data.classType]);
  const linked = useGraph((s) => s.linked[id] ?? '');
  const lowDetail = useFlowStore(lowDetailSelector);
  const overview = useFlowStore(overviewSelector);
  // The width the user resized the node to (NodeProps.width is the measured width, set for every node).
  const resizedWidth = useFlowStore((s) => s.nodeLookup.get(id)?.width);
  const running = useRuntime((s) => s.running === id);
  const progress = useRuntime((s) => (s.progress?.node === id ? s.progress : null));
  const preview = useRuntime((s) => s.previews[id]);
  const outputs = useRuntime((s) => s.outputs[id]);
  const problem = useRuntime((s) => s.problems[id]);
  const cached = useRuntime((s) => !!s.cached[id]);
  const linkedSet = new Set(linked.split('|'));
  const title = data.title ?? spec?.displayName ?? data.classType;
  const classes = ['loom-node'];
  if (selected) classes.push('selected');
  if (running) classes.push('running');
  if (cached) classes.push('cached');
  if (problem) classes.push('has-error');
  if (data.mode) classes.push(data.mode);
  if (!spec) classes.push('unknown-type');
  if (lowDetail) classes.push('low-detail');
  if (overview) classes.push('overview');

  if (!spec) {
    return (
      <div className={classes.join(' ')} data-testid="node" data-type={data.classType}>
        <header>
          <span className="node-title">{title}</span>
        </header>
        <div className="node-problem">Unknown node type “{data.classType}”: it is not installed on this server.</div>
        {linked.split('|').filter(Boolean).map((name) => (
          <div className="row socket-row" key={name}>
            <Socket type="*" kind="target" id={inHandle(name)} title={name} />
            <span className="label">{name}</span>
          </div>
        ))}
      </div>
    );
  }

  const sockets = spec.inputs.filter((i) => !i.widget);
  const widgets = spec.inputs.filter((i) => i.widget);
  const rows = Math.max(sockets.length, spec.outputs.length);
  const pct = progress && progress.max > 0 ? Math.round((100 * progress.value) / progress.max) : running ? 100 : 0;
  const images = outputs?.length ? outputs.map((o) => viewUrl(o)) : preview ? [preview] : [];

  if (resizedWidth) classes.push('sized');
  return (
    <div className={classes.join(' ')} data-testid="node" data-type={data.classType} title={spec.description || undefined}>
      {selected && !lowDetail && (
        <NodeResizeControl
          variant={ResizeControlVariant.Line}
          position="right"
          resizeDirection="horizontal"
          minWidth={230}
          className="width-grip"
          onResizeStart={() => checkpoint()}
        />
      )}
      {(running || progress) && (
        <div className="node-progress" data-testid="node-progress">
          <div style={{ width: `${pct}%` }} />
        </div>
      )}
      <header style={data.color ? { background: data.color } : undefined}>
        <Title id={id} title={title} />
        {data.mode && <span className="mode-badge">{data.mode}</span>}
      </header>
      <div className="node-io">
        {Array.from({ length: rows }, (_, r) => {
          const input = sockets[r];
          const output = spec.outputs[r];
          const err = input ? problem?.inputs[input.name] : undefined;
          return (
            <div className="row" key={r}>
              <div className={`in ${err ? 'has-error' : ''}`} data-input={input?.name} title={err}>
                {input && (
                  <>
                    <Socket type={input.type} kind="target" id={inHandle(input.name)} title={`${input.name}: ${input.type}`} />
                    <span className="label">
                      {input.name}
                      {!input.required && <i> (optional)</i>}
                    </span>
                    {err && <div className="input-error" data-testid="input-error">{err}</div>}
                  </>
                )}
              </div>
              <div className="out">
                {output && (
                  <>
                    <span className="label">{output.name}</span>
                    <Socket type={output.type} kind="source" id={outHandle(r)} title={output.type} />
                  </>
                )}
              </div>
            </div>
          );
        })}
      </div>
      <div className="node-widgets">
        {widgets.map((input) => {
          const isLinked = linkedSet.has(input.name);
          const err = problem?.inputs[input.name];
          return (
            <div className={`row widget-row ${err ? 'has-error' : ''} ${isLinked ? 'linked' : ''}`} key={input.name} data-input={input.name}>
              <Socket type={input.type} kind="target" id={inHandle(input.name)} title={`${input.name}: ${input.type} (drop a link to drive it)`} />
              <span className="label">{input.name}</span>
              {!lowDetail && !isLinked && (
                <Widget nodeId={id} input={input} value={data.values[input.name]} control={data.controls?.[input.name]} />
              )}
              {isLinked && <span className="linked-note">linked</span>}
              {err && !lowDetail && <div className="input-error" data-testid="input-error">{err}</div>}
            </div>
          );
        })}
      </div>
      {!lowDetail && data.classType === 'LoadImage' && (
        <InputImagePreview key={String(data.values.image)} value={data.values.image} />
      )}
      {!lowDetail && data.classType === 'LoadImage' && typeof data.values.image === 'string' && data.values.image && (
        <MaskEditButton nodeId={id} classType={data.classType} value={data.values.image} />
      )}
      {!lowDetail && images.length > 0 && (
        <div className="node-images">
          {images.map((src) => (
            <a key={src} href={src} target="_blank" rel="noreferrer" className="nodrag">
              <img
                className={`node-image ${outputs?.length ? 'output' : 'step-preview'}`}
                data-testid={outputs?.length ? 'output-image' : 'preview-image'}
                src={src}
                alt=""
              />
            </a>
          ))}
        </div>
      )}
      {problem?.messages.length ? (
        <div className="node-problem" data-testid="node-error">
          {problem.messages.map((m, i) => (
            <div key={i}>{m}</div>
          ))}
        </div>
      ) : null}
    </div>
  );
}

export const LoomNodeView = memo(LoomNodeViewInner);
