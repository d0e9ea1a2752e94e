// Escape closes the topmost popover (menus, the node search, the shortcut list, confirmations): each open
// popover registers how to close itself, and the most recently opened one is on top.
import { useEffect, useRef } from 'react';

interface Entry {
  id: number;
  close: () => void;
}

const stack: Entry[] = [];
let nextId = 1;

/** Register an open popover; returns the function that unregisters it (call it when it closes). */
export function pushPopover(close: () => void): () => void {
  const entry = { id: nextId++, close };
  stack.push(entry);
  return () => {
    const at = stack.findIndex((e) => e.id === entry.id);
    if (at >= 0) stack.splice(at, 1);
  };
}

/** Close the most recently opened popover; false when none is open (Escape then does nothing). */
export function closeTopPopover(): boolean {
  const top = stack.pop();
  if (!top) return false;
  top.close();
  return true;
}

export function openPopovers(): number {
  return stack.length;
}

/** Keep a popover registered while `open` (components mounted only while open pass `true`). */
export function usePopover(open: boolean, close: () => void): void {
  const closeRef = useRef(close);
  closeRef.current = close;
  useEffect(() => (open ? pushPopover(() => closeRef.current()) : undefined), [open]);
}
