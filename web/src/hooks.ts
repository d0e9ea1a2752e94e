// Window-level input: the keymap and the system clipboard (copy/cut/paste events work across tabs).
import { type RefObject, useEffect, useRef } from 'react';
import { parseClipboard } from './clipboard';
import { type KeyActions, bindingFor, isEditable } from './keymap';
import * as store from './store';

export function useKeymap(actions: RefObject<KeyActions>): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const binding = bindingFor(e, isEditable(e.target));
      if (!binding) return;
      e.preventDefault();
      binding.run(actions.current);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [actions]);
}

/** Copy, cut and paste of nodes; pasted workflow JSON opens through `openJson`. */
export function useGraphClipboard(pointer: () => { x: number; y: number } | undefined, openJson: (json: unknown) => void): void {
  const withLinks = useRef(false);
  const openRef = useRef(openJson);
  openRef.current = openJson;
  const pointerRef = useRef(pointer);
  pointerRef.current = pointer;
  useEffect(() => {
    // Ctrl+Shift+V fires the same paste event; remember the Shift from its keydown.
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'v') withLinks.current = e.shiftKey;
    };
    const onCopy = (e: ClipboardEvent, cut: boolean) => {
      if (isEditable(e.target) || window.getSelection()?.toString()) return;
      const payload = store.copySelection();
      if (!payload) return;
      e.clipboardData?.setData('text/plain', JSON.stringify(payload));
      e.preventDefault();
      if (cut) store.deleteSelected();
    };
    const onPaste = (e: ClipboardEvent) => {
      if (isEditable(e.target)) return;
      const text = e.clipboardData?.getData('text/plain') ?? '';
      const payload = parseClipboard(text);
      if (payload) {
        e.preventDefault();
        store.paste(payload, pointerRef.current() ?? null, withLinks.current);
      } else if (text.trim().startsWith('{')) {
        try {
          const json: unknown = JSON.parse(text);
          e.preventDefault();
          openRef.current(json);
        } catch {
          /* not JSON: nothing to paste */
        }
      }
      withLinks.current = false;
    };
    const copy = (e: ClipboardEvent) => onCopy(e, false);
    const cut = (e: ClipboardEvent) => onCopy(e, true);
    window.addEventListener('keydown', onKey, true);
    document.addEventListener('copy', copy);
    document.addEventListener('cut', cut);
    document.addEventListener('paste', onPaste);
    return () => {
      window.removeEventListener('keydown', onKey, true);
      document.removeEventListener('copy', copy);
      document.removeEventListener('cut', cut);
      document.removeEventListener('paste', onPaste);
    };
  }, []);
}
