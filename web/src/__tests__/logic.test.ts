import { describe, expect, it } from 'vitest';
import { copyNodes, parseClipboard, pasteNodes } from '../clipboard';
import { apiToNative } from '../formats/api';
import { fromNative } from '../formats/native';
import { fuzzySearch } from '../fuzzy';
import { UndoStack } from '../history';
import { nextSeed } from '../seed';
import { catalog, txt2imgPrompt } from './helpers';

describe('undo stack', () => {
  it('undoes and redoes in order, and a new change drops the redo branch', () => {
    const h = new UndoStack<number>();
    h.record(0, null, 0);
    h.record(1, null, 10);
    expect(h.undo(2)).toBe(1);
    expect(h.undo(1)).toBe(0);
    expect(h.undo(0)).toBeNull();
    expect(h.redo(0)).toBe(1);
    h.record(1, null, 20);
    expect(h.canRedo).toBe(false);
  });

  it('coalesces edits to the same field within the window', () => {
    const h = new UndoStack<string>(100, 1000);
    h.record('a', 'w:3:text', 0);
    h.record('ab', 'w:3:text', 500);
    h.record('abc', 'w:3:text', 900);
    expect(h.undo('abcd')).toBe('a');
    expect(h.canUndo).toBe(false);
    h.record('x', 'w:3:text', 5000);
    h.record('xy', 'w:3:text', 7000);
    expect(h.undo('xyz')).toBe('xy');
  });

  it('is bounded', () => {
    const h = new UndoStack<number>(3);
    for (let i = 0; i < 10; i++) h.record(i);
    expect([h.undo(10), h.undo(9), h.undo(8), h.undo(7)]).toEqual([9, 8, 7, null]);
  });
});

describe('clipboard', () => {
  const graph = () => fromNative(apiToNative(txt2imgPrompt()), catalog);

  it('pastes copies with fresh ids and internal links only', () => {
    const g = graph();
    const text = JSON.stringify(copyNodes(g, ['6', '7', '3']));
    const payload = parseClipboard(text)!;
    const pasted = pasteNodes(g, payload, { x: 1000, y: 1000 }, false);
    expect(pasted.nodes).toHaveLength(10);
    const fresh = pasted.nodes.slice(7);
    expect(fresh.map((n) => n.id)).toEqual(['10', '11', '12']);
    expect(fresh.every((n) => n.selected)).toBe(true);
    expect(Math.min(...fresh.map((n) => n.position.x))).toBe(1000);
    const newEdges = pasted.edges.slice(g.edges.length);
    expect(newEdges.map((e) => `${e.source}->${e.target}`).sort()).toEqual(['11->10', '12->10']);
  });

  it('keeps links from outside nodes with Ctrl+Shift+V', () => {
    const g = graph();
    const pasted = pasteNodes(g, copyNodes(g, ['3']), null, true);
    const newEdges = pasted.edges.slice(g.edges.length);
    expect(newEdges.map((e) => e.source).sort()).toEqual(['4', '5', '6', '7']);
    expect(newEdges.every((e) => e.target === '10')).toBe(true);
  });

  it('ignores text that is not a fragment', () => {
    expect(parseClipboard('hello')).toBeNull();
    expect(parseClipboard('{"a":1}')).toBeNull();
  });
});

describe('seed control after generate', () => {
  it('applies each mode within limits', () => {
    expect(nextSeed(5, 'fixed')).toBe(5);
    expect(nextSeed(5, 'increment')).toBe(6);
    expect(nextSeed(5, 'decrement')).toBe(4);
    expect(nextSeed(0, 'decrement', 0, 10)).toBe(10);
    expect(nextSeed(10, 'increment', 0, 10)).toBe(0);
    const r = nextSeed(5, 'randomize', 0, 18446744073709551615, () => 0.999999);
    expect(Number.isSafeInteger(r)).toBe(true);
    expect(r).toBeGreaterThan(2 ** 50);
    expect(nextSeed(5, 'randomize', 0, 9, () => 0.5)).toBeLessThanOrEqual(9);
  });
});

describe('node search', () => {
  it('finds nodes by fuzzy name, type name and category', () => {
    const specs = Object.values(catalog);
    expect(fuzzySearch(specs, 'ksamp')[0].name).toBe('KSampler');
    expect(fuzzySearch(specs, 'vae dec')[0].name).toBe('VAEDecode');
    expect(fuzzySearch(specs, 'checkpoint')[0].name).toBe('CheckpointLoaderSimple');
    expect(fuzzySearch(specs, 'Empty Latent')[0].name).toBe('EmptyLatentImage');
    expect(fuzzySearch(specs, 'zzzz')).toEqual([]);
  });
});
