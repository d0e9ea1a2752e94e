// Node search: double-click the canvas, or drop a link on empty canvas (then only compatible nodes are listed).
import { useEffect, useMemo, useRef, useState } from 'react';
import { fuzzySearch } from '../fuzzy';
import { usePopover } from '../popovers';
import type { NodeSpec } from '../schema';
import { typesCompatible } from '../sockets';
import { addNode, addPrimitive, openPalette, useGraph } from '../store';

/** The editor's own value node, listed with the server's nodes. */
const PRIMITIVE: NodeSpec = {
  name: 'PrimitiveNode',
  displayName: 'Primitive',
  category: 'utils',
  description: 'One value driving widget inputs of other nodes',
  inputs: [],
  outputs: [],
  outputNode: false,
  deprecated: false,
};

const WIDGET_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);

function compatible(spec: NodeSpec, from: NonNullable<ReturnType<typeof useGraph.getState>['palette']>['from']): boolean {
  if (!from) return true;
  if (from.handleType === 'source') return spec.inputs.some((i) => typesCompatible(from.type, i.type));
  return spec.outputs.some((o) => typesCompatible(o.type, from.type));
}

export function SearchPalette() {
  const palette = useGraph((s) => s.palette);
  usePopover(palette !== null, () => openPalette(null)); // Escape (the keymap) closes it when it is on top
  const catalog = useGraph((s) => s.catalog);
  const [query, setQuery] = useState('');
  const [active, setActive] = useState(0);
  const listRef = useRef<HTMLUListElement>(null);
  const candidates = useMemo(() => {
    const list = Object.values(catalog).filter((s) => !s.deprecated && compatible(s, palette?.from));
    const from = palette?.from;
    if (!catalog[PRIMITIVE.name] && (!from || (from.handleType === 'target' && WIDGET_TYPES.has(from.type)))) list.push(PRIMITIVE);
    return list;
  }, [catalog, palette]);
  const results = useMemo(() => fuzzySearch(candidates, query, 40), [candidates, query]);

  useEffect(() => {
    setQuery('');
    setActive(0);
  }, [palette]);
  useEffect(() => {
    listRef.current?.children[active]?.scrollIntoView({ block: 'nearest' });
  }, [active]);

  if (!palette) return null;
  const choose = (spec: NodeSpec | undefined) => {
    if (!spec) return;
    if (spec === PRIMITIVE) addPrimitive(palette.flow, palette.from);
    else addNode(spec.name, palette.flow, palette.from);
    openPalette(null);
  };
  const left = Math.min(palette.screen.x, window.innerWidth - 380);
  const top = Math.min(palette.screen.y, window.innerHeight - 420);
  return (
    <div className="palette-backdrop" onMouseDown={() => openPalette(null)}>
      <div className="palette" style={{ left, top }} onMouseDown={(e) => e.stopPropagation()} data-testid="palette">
        <input
          autoFocus
          placeholder={palette.from ? `Nodes accepting ${palette.from.type}…` : 'Search nodes…'}
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setActive(0);
          }}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown') setActive((a) => Math.min(a + 1, results.length - 1));
            else if (e.key === 'ArrowUp') setActive((a) => Math.max(a - 1, 0));
            else if (e.key === 'Enter') choose(results[active]);
            else return;
            e.preventDefault();
          }}
        />
        <ul ref={listRef}>
          {results.map((spec, i) => (
            <li
              key={spec.name}
              className={i === active ? 'active' : ''}
              data-node-type={spec.name}
              onMouseEnter={() => setActive(i)}
              onClick={() => choose(spec)}
            >
              <span className="name">{spec.displayName}</span>
              <span className="category">{spec.category}</span>
            </li>
          ))}
          {results.length === 0 && <li className="empty">No matching node</li>}
        </ul>
      </div>
    </div>
  );
}
