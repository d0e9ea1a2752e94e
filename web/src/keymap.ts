// One table of keyboard shortcuts: the handler and the shortcuts list both read it.
import { closeTopPopover } from './popovers';
import * as store from './store';

export interface KeyActions {
  queue: () => void;
  save: () => void;
  open: () => void;
  fitView: () => void;
  /** Where the pointer is on the canvas, in flow coordinates (paste and group go there). */
  pointer: () => { x: number; y: number } | undefined;
}

export interface Binding {
  /** `Mod` is Ctrl (Cmd on macOS); alternatives are separated by ` / `. */
  keys: string;
  label: string;
  /** Also active while typing in a field (the field keeps its own undo and clipboard otherwise). */
  whileTyping?: boolean;
  run: (a: KeyActions) => void;
}

export const KEYMAP: Binding[] = [
  { keys: 'Mod+Enter', label: 'queue', whileTyping: true, run: (a) => a.queue() },
  { keys: 'Mod+S', label: 'save', whileTyping: true, run: (a) => a.save() },
  { keys: 'Mod+O', label: 'open', whileTyping: true, run: (a) => a.open() },
  { keys: 'Mod+Z', label: 'undo', run: () => store.undo() },
  { keys: 'Mod+Shift+Z / Mod+Y', label: 'redo', run: () => store.redo() },
  { keys: 'Mod+D', label: 'duplicate', run: () => store.duplicateSelection() },
  { keys: 'Mod+A', label: 'select all', run: () => store.selectAll() },
  { keys: 'Mod+M', label: 'mute / unmute', run: () => store.toggleMode('muted') },
  { keys: 'Mod+B', label: 'bypass / enable', run: () => store.toggleMode('bypassed') },
  { keys: 'Mod+G', label: 'group selection', run: (a) => store.groupSelection(a.pointer()) },
  { keys: 'Delete / Backspace', label: 'delete selection', run: () => store.deleteSelected() },
  { keys: 'F / .', label: 'fit view', run: (a) => a.fitView() },
  { keys: 'Escape', label: 'close the topmost menu', whileTyping: true, run: () => void closeTopPopover() },
];

/** Shortcuts handled elsewhere (clipboard events, the canvas), listed for the help menu. */
export const OTHER_SHORTCUTS: [string, string][] = [
  ['Double-click', 'search nodes'],
  ['Drag a link to the canvas', 'add a compatible node'],
  ['Drag a link end away', 'disconnect'],
  ['Mod+C / Mod+X / Mod+V', 'copy / cut / paste'],
  ['Mod+Shift+V', 'paste keeping input links'],
  ['Shift+drag', 'box select'],
  ['Space+drag', 'pan'],
  ['Right-click', 'node, link and canvas menus'],
  ['Drop .json or .png', 'open a workflow'],
];

/** Whether a key event matches one alternative such as `Mod+Shift+Z`. */
export function matchesKeys(e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'shiftKey' | 'altKey'>, keys: string): boolean {
  return keys.split(' / ').some((combo) => {
    const parts = combo.split('+');
    const key = parts[parts.length - 1].toLowerCase();
    const mods = new Set(parts.slice(0, -1));
    return (
      e.key.toLowerCase() === key &&
      (e.ctrlKey || e.metaKey) === mods.has('Mod') &&
      e.shiftKey === mods.has('Shift') &&
      e.altKey === mods.has('Alt')
    );
  });
}

export function isEditable(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
}

/** The binding a key event triggers, honouring "not while typing". */
export function bindingFor(e: KeyboardEvent, typing: boolean): Binding | undefined {
  return KEYMAP.find((b) => (b.whileTyping || !typing) && matchesKeys(e, b.keys));
}
