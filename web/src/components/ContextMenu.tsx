// Right-click menus for nodes, links and the canvas.
import { usePopover } from '../popovers';
import * as store from '../store';

export type MenuTarget =
  | { kind: 'node'; id: string; screen: { x: number; y: number } }
  | { kind: 'edge'; id: string; screen: { x: number; y: number }; flow: { x: number; y: number } }
  | { kind: 'pane'; screen: { x: number; y: number }; flow: { x: number; y: number } };

const COLORS: [string, string | undefined][] = [
  ['default', undefined],
  ['red', '#7a2e2e'],
  ['green', '#2e5a34'],
  ['blue', '#2e4470'],
  ['purple', '#563070'],
  ['yellow', '#6b5a1e'],
];

interface Props {
  target: MenuTarget;
  onClose: () => void;
}

export function ContextMenu({ target, onClose }: Props) {
  usePopover(true, onClose);
  const act = (fn: () => void) => () => {
    fn();
    onClose();
  };
  let items: [string, () => void][] = [];
  const node = target.kind === 'node' ? store.useGraph.getState().nodes.find((n) => n.id === target.id) : undefined;
  if (target.kind === 'node' && node?.type === 'frame') {
    items = [
      ['Fit to its nodes', () => store.fitFrameToNodes(target.id)],
      ['Delete group (keep nodes)', () => store.deleteFrame(target.id, false)],
      ['Delete group and its nodes', () => store.deleteFrame(target.id, true)],
      ...COLORS.filter(([, c]) => c).map(([name, color]): [string, () => void] => [`Colour: ${name}`, () => store.setNodeColor(target.id, color)]),
    ];
  } else if (target.kind === 'node') {
    const only = () => {
      if (!store.useGraph.getState().nodes.find((n) => n.id === target.id)?.selected) store.selectOnly([target.id]);
    };
    items = [
      ['Mute / unmute (Ctrl+M)', () => (only(), store.toggleMode('muted'))],
      ['Bypass / enable (Ctrl+B)', () => (only(), store.toggleMode('bypassed'))],
      ['Duplicate (Ctrl+D)', () => (only(), store.duplicateSelection())],
      ['Group selection (Ctrl+G)', () => (only(), store.groupSelection())],
      ['Delete (Del)', () => (only(), store.deleteSelected())],
      ...COLORS.map(([name, color]): [string, () => void] => [`Colour: ${name}`, () => store.setNodeColor(target.id, color)]),
    ];
  } else if (target.kind === 'edge') {
    items = [
      ['Add reroute here', () => store.insertReroute(target.id, target.flow)],
      [
        'Delete link',
        () => {
          const edge = store.useGraph.getState().edges.find((e) => e.id === target.id);
          if (edge) store.reconnectEdge(edge, null);
        },
      ],
    ];
  } else {
    items = [
      ['Add node…', () => store.openPalette({ screen: target.screen, flow: target.flow })],
      ['Add reroute', () => void store.addReroute(target.flow)],
      ['Add group', () => (store.selectOnly([]), store.groupSelection(target.flow))],
      ['Select all (Ctrl+A)', () => store.selectAll()],
    ];
  }
  return (
    <div className="palette-backdrop" onMouseDown={onClose} onContextMenu={(e) => (e.preventDefault(), onClose())}>
      <ul
        className="context-menu"
        data-testid="context-menu"
        style={{ left: Math.min(target.screen.x, window.innerWidth - 240), top: Math.min(target.screen.y, window.innerHeight - items.length * 28 - 10) }}
        onMouseDown={(e) => e.stopPropagation()}
      >
        {items.map(([label, fn]) => (
          <li key={label} onClick={act(fn)}>
            {label}
          </li>
        ))}
      </ul>
    </div>
  );
}
