// Reroute points and group frames.
import { Handle, type NodeProps, NodeResizer, Position } from '@xyflow/react';
import { memo, useState } from 'react';
import type { FrameNode, RerouteNode } from '../graph';
import { typeColor } from '../sockets';
import { checkpoint, resizeFrame, setTitle } from '../store';

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
