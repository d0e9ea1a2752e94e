// Reroute points and group frames.
import { Handle, type NodeProps, NodeResizer, Position } from '@xyflow/react';
import { memo, useState } from 'react';
import { type FrameNode, type PrimitiveNode, type RerouteNode, primitiveInput } from '../graph';
import { typeColor } from '../sockets';
import { checkpoint, resizeFrame, setTitle, useGraph } from '../store';
import { Widget } from './Widgets';

export const RerouteNodeView = memo(function RerouteNodeView({ data }: NodeProps<RerouteNode>) {
  const color = typeColor(data.type);
  return (
    <div className="reroute" data-testid="reroute" title={`reroute (${data.type ?? '*'})`} style={{ borderColor: color }}>
      <Handle type="target" position={Position.Left} id="i:in" className="socket" style={{ background: color }} />
      <Handle type="source" position={Position.Right} id="o:0" className="socket" style={{ background: color }} />
    </div>
  );
});

export const FrameNodeView = memo(function FrameNodeView({ id, data, selected }: NodeProps<FrameNode>) {
  const [editing, setEditing] = useState(false);
  return (
    <div className="frame" data-testid="group" style={{ background: `${data.color}33`, borderColor: data.color }}>
      <NodeResizer
        isVisible={!!selected}
        minWidth={120}
        minHeight={80}
        onResizeStart={() => checkpoint()}
        onResize={(_, p) => resizeFrame(id, p.width, p.height, p.x, p.y)}
      />
      <div className="frame-title" style={{ background: `${data.color}aa` }} onDoubleClick={() => setEditing(true)}>
        {editing ? (
          <input
            className="nodrag title-edit"
            autoFocus
            defaultValue={data.title}
            onBlur={(e) => {
              setTitle(id, e.target.value.trim() || 'Group');
              setEditing(false);
            }}
            onKeyDown={(e) => e.key === 'Enter' && (e.target as HTMLInputElement).blur()}
          />
        ) : (
          data.title
        )}
      </div>
    </div>
  );
});

/** A value node that drives widget inputs; it shows the widget of the first input it feeds. */
export const PrimitiveNodeView = memo(function PrimitiveNodeView({ id, data, selected }: NodeProps<PrimitiveNode>) {
  const input = useGraph((s) => primitiveInput(id, s.nodes, s.edges, s.catalog));
  const color = typeColor(data.type);
  return (
    <div className={`loom-node primitive ${selected ? 'selected' : ''}`} data-testid="primitive">
      <header>
        <span className="node-title">{data.title ?? 'Primitive'}</span>
      </header>
      <div className="row">
        <span className="label muted">{input ? `${input.name} (${input.type})` : 'connect to a widget input'}</span>
        <Handle type="source" position={Position.Right} id="o:0" className="socket" style={{ background: color }} />
      </div>
      {input?.widget && (
        <div className="row widget-row" data-input="value">
          <span className="label">value</span>
          <Widget nodeId={id} input={{ ...input, name: 'value' }} value={data.values.value} control={data.controls?.value ?? 'fixed'} />
        </div>
      )}
    </div>
  );
});
