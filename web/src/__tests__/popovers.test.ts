import { describe, expect, it } from 'vitest';
import { closeTopPopover, openPopovers, pushPopover } from '../popovers';
import { bindingFor } from '../keymap';

describe('Escape closes the topmost popover', () => {
  it('closes the most recently opened one first, and nothing when none is open', () => {
    const closed: string[] = [];
    const removeKeys = pushPopover(() => closed.push('keys'));
    pushPopover(() => closed.push('templates'));
    pushPopover(() => closed.push('search'));
    expect(openPopovers()).toBe(3);
    expect(closeTopPopover()).toBe(true);
    expect(closed).toEqual(['search']);
    removeKeys(); // the Keys list was closed by its own button: it leaves the stack
    expect(closeTopPopover()).toBe(true);
    expect(closed).toEqual(['search', 'templates']);
    expect(closeTopPopover()).toBe(false);
    expect(openPopovers()).toBe(0);
  });

  it('is the Escape binding, also while typing in the search box', () => {
    const escape = { key: 'Escape', ctrlKey: false, metaKey: false, shiftKey: false, altKey: false } as KeyboardEvent;
    expect(bindingFor(escape, true)?.label).toBe('close the topmost menu');
  });
});
