import { describe, expect, it } from 'vitest';
import { KEYMAP, bindingFor, matchesKeys } from '../keymap';

const key = (k: string, mods: { ctrl?: boolean; shift?: boolean; meta?: boolean } = {}) =>
  ({ key: k, ctrlKey: !!mods.ctrl, metaKey: !!mods.meta, shiftKey: !!mods.shift, altKey: false }) as KeyboardEvent;

describe('keymap', () => {
  it('matches modifiers exactly, Cmd counting as Ctrl', () => {
    expect(matchesKeys(key('z', { ctrl: true }), 'Mod+Z')).toBe(true);
    expect(matchesKeys(key('Z', { ctrl: true, shift: true }), 'Mod+Z')).toBe(false);
    expect(matchesKeys(key('Z', { meta: true, shift: true }), 'Mod+Shift+Z / Mod+Y')).toBe(true);
    expect(matchesKeys(key('y', { ctrl: true }), 'Mod+Shift+Z / Mod+Y')).toBe(true);
    expect(matchesKeys(key('Delete'), 'Delete / Backspace')).toBe(true);
    expect(matchesKeys(key('Delete', { ctrl: true }), 'Delete / Backspace')).toBe(false);
  });

  it('keeps graph shortcuts away from text fields, except queueing', () => {
    expect(bindingFor(key('z', { ctrl: true }), true)).toBeUndefined();
    expect(bindingFor(key('z', { ctrl: true }), false)?.label).toBe('undo');
    expect(bindingFor(key('Enter', { ctrl: true }), true)?.label).toBe('queue');
    expect(bindingFor(key('Backspace'), true)).toBeUndefined();
  });

  it('leaves the clipboard keys to the clipboard events', () => {
    for (const k of ['c', 'v', 'x']) expect(bindingFor(key(k, { ctrl: true }), false)).toBeUndefined();
    expect(new Set(KEYMAP.map((b) => b.keys)).size).toBe(KEYMAP.length);
  });
});
