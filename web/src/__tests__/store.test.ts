import { beforeEach, describe, expect, it } from 'vitest';
import { apiToNative } from '../formats/api';
import type { LoomNode } from '../graph';
import * as store from '../store';
import { useGraph } from '../store';
import { catalog, txt2imgPrompt } from './helpers';

const node = (id: string) => useGraph.getState().nodes.find((n) => n.id === id) as LoomNode;
const edgesInto = (id: string) => useGraph.getState().edges.filter((e) => e.target === id);

beforeEach(() => {
  store.setCatalog(catalog);
  store.loadNative(apiToNative(txt2imgPrompt()));
});

describe('editor actions', () => {
  it('refuses incompatible links and replaces the link of an input', () => {
    const c = { source: '4', sourceHandle: 'o:1', target: '3', targetHandle: 'i:latent_image' };
    expect(store.connectionProblem(c)).toMatch(/CLIP cannot feed LATENT/);
    store.addConnection(c);
    expect(edgesInto('3').find((e) => e.targetHandle === 'i:latent_image')?.source).toBe('5');
    store.addConnection({ source: '7', sourceHandle: 'o:0', target: '3', targetHandle: 'i:positive' });
    expect(edgesInto('3').filter((e) => e.targetHandle === 'i:positive').map((e) => e.source)).toEqual(['7']);
    expect(store.connectionProblem({ source: '8', sourceHandle: 'o:0', target: '8', targetHandle: 'i:samples' })).toMatch(/itself/);
  });

  it('refuses a link that would close a cycle', () => {
    // KSampler output -> a new upscale -> back into... the sampler's own latent: a cycle.
    const up = store.addNode('LatentUpscaleBy', { x: 0, y: 0 })!;
    store.addConnection({ source: '3', sourceHandle: 'o:0', target: up, targetHandle: 'i:samples' });
    expect(store.connectionProblem({ source: up, sourceHandle: 'o:0', target: '3', targetHandle: 'i:latent_image' })).toMatch(/cycle/);
  });

  it('connects a node added from a link dropped on the canvas to the first compatible socket', () => {
    const id = store.addNode('PreviewImage', { x: 0, y: 0 }, { nodeId: '8', handleId: 'o:0', handleType: 'source', type: 'IMAGE' })!;
    expect(edgesInto(id).map((e) => [e.source, e.targetHandle])).toEqual([['8', 'i:images']]);
    const dec = store.addNode('VAEDecode', { x: 0, y: 0 }, { nodeId: id, handleId: 'i:images', handleType: 'target', type: 'IMAGE' })!;
    expect(edgesInto(id).map((e) => e.source)).toEqual([dec]);
  });

  it('lets a link drive a widget input, and the widget value returns when it is removed', () => {
    const r = store.addReroute({ x: 0, y: 0 });
    store.addConnection({ source: r, sourceHandle: 'o:0', target: '3', targetHandle: 'i:seed' });
    expect(useGraph.getState().linked['3']).toContain('seed');
    const seedEdge = edgesInto('3').find((e) => e.targetHandle === 'i:seed')!;
    store.reconnectEdge(seedEdge, null);
    expect(useGraph.getState().linked['3']).not.toContain('seed');
    expect(node('3').data.values.seed).toBe(42);
  });

  it('gives a reroute and its outgoing links the type of what feeds it', () => {
    const r = store.addReroute({ x: 0, y: 0 });
    store.addConnection({ source: r, sourceHandle: 'o:0', target: '8', targetHandle: 'i:vae' });
    store.addConnection({ source: '4', sourceHandle: 'o:2', target: r, targetHandle: 'i:in' });
    expect(useGraph.getState().nodes.find((n) => n.id === r)?.data.type).toBe('VAE');
    const out = useGraph.getState().edges.find((e) => e.source === r)!;
    expect(out.data).toMatchObject({ type: 'VAE' });
    expect(store.exportApi()['8'].inputs.vae).toEqual(['4', 2]);
    // Now typed VAE, the reroute no longer fits a LATENT input.
    expect(store.connectionProblem({ source: r, sourceHandle: 'o:0', target: '3', targetHandle: 'i:latent_image' })).toMatch(/VAE cannot feed LATENT/);
  });

  it('undoes and redoes every change, one step per field edit burst', () => {
    store.setWidgetValue('3', 'steps', 3);
    store.setWidgetValue('3', 'steps', 30);
    expect(node('3').data.values.steps).toBe(30);
    store.undo();
    expect(node('3').data.values.steps).toBe(20);
    store.redo();
    expect(node('3').data.values.steps).toBe(30);
    useGraph.setState({ nodes: useGraph.getState().nodes.map((n) => ({ ...n, selected: n.id === '8' })) });
    store.deleteSelected();
    expect(node('8')).toBeUndefined();
    expect(useGraph.getState().edges).toHaveLength(6);
    store.undo();
    expect(node('8')).toBeDefined();
    expect(useGraph.getState().edges).toHaveLength(9);
  });

  it('mutes and bypasses the selection as a toggle', () => {
    useGraph.setState({ nodes: useGraph.getState().nodes.map((n) => ({ ...n, selected: n.id === '6' || n.id === '7' })) });
    store.toggleMode('muted');
    expect([node('6').data.mode, node('7').data.mode]).toEqual(['muted', 'muted']);
    store.toggleMode('muted');
    expect([node('6').data.mode, node('7').data.mode]).toEqual([undefined, undefined]);
    store.toggleMode('bypassed');
    expect(store.exportApi()['6']).toBeUndefined();
  });

  it('applies control-after-generate to seeds before a run, leaving fixed and linked seeds alone', () => {
    store.setSeedControl('3', 'seed', 'increment');
    store.applySeedControls();
    expect(node('3').data.values.seed).toBe(43);
    store.setSeedControl('3', 'seed', 'fixed');
    store.applySeedControls();
    expect(node('3').data.values.seed).toBe(43);
    store.setSeedControl('3', 'seed', 'randomize');
    store.applySeedControls();
    expect(node('3').data.values.seed).not.toBe(43);
  });

  it('fits a group to its nodes and deletes it with or without them', () => {
    useGraph.setState({ nodes: useGraph.getState().nodes.map((n) => ({ ...n, selected: n.id === '6' })) });
    store.groupSelection();
    const frame = useGraph.getState().nodes.find((n) => n.type === 'frame')!;
    store.resizeFrame(frame.id, 2000, 2000, frame.position.x, frame.position.y);
    store.fitFrameToNodes(frame.id);
    const fitted = useGraph.getState().nodes.find((n) => n.id === frame.id)!;
    expect(fitted.width).toBeLessThan(2000);
    store.deleteFrame(frame.id, false);
    expect(useGraph.getState().nodes.find((n) => n.id === '6')).toBeDefined();
    store.undo();
    store.deleteFrame(frame.id, true);
    expect(useGraph.getState().nodes.find((n) => n.id === '6')).toBeUndefined();
    expect(useGraph.getState().nodes.find((n) => n.id === frame.id)).toBeUndefined();
  });

  it('groups the selection in a frame that is saved with the workflow', () => {
    useGraph.setState({ nodes: useGraph.getState().nodes.map((n) => ({ ...n, selected: n.id === '6' })) });
    store.groupSelection();
    const groups = store.exportNative().ui?.groups ?? [];
    expect(groups).toHaveLength(1);
    const pos = node('6').position;
    expect(groups[0].bounding[0]).toBeLessThan(pos.x);
    expect(groups[0].bounding[1]).toBeLessThan(pos.y);
  });
});

describe('primitive nodes', () => {
  it('drive widget inputs of several nodes and survive a save', () => {
    const p = store.addPrimitive({ x: 0, y: 0 }, { nodeId: '5', handleId: 'i:width', handleType: 'target', type: 'INT' });
    expect(useGraph.getState().nodes.find((n) => n.id === p)?.data).toMatchObject({ type: 'INT', values: { value: 512 } });
    store.addConnection({ source: p, sourceHandle: 'o:0', target: '5', targetHandle: 'i:height' });
    store.setWidgetValue(p, 'value', 256);
    expect(store.exportApi()['5'].inputs).toMatchObject({ width: 256, height: 256 });
    expect(store.connectionProblem({ source: p, sourceHandle: 'o:0', target: '3', targetHandle: 'i:model' })).toMatch(/widget input/);
    expect(store.connectionProblem({ source: p, sourceHandle: 'o:0', target: '6', targetHandle: 'i:text' })).toMatch(/INT cannot feed STRING/);

    const file = JSON.parse(JSON.stringify(store.exportNative()));
    expect(file.nodes['5'].inputs).toMatchObject({ width: 256, height: 256 });
    expect(file.nodes['5'].ui.via).toEqual({ width: p, height: p });
    expect(file.ui.primitives[p]).toMatchObject({ value: 256 });
    store.loadNative(file);
    expect(useGraph.getState().edges.filter((e) => e.source === p)).toHaveLength(2);
    expect(store.exportApi()['5'].inputs).toMatchObject({ width: 256, height: 256 });
  });

  it('applies seed control to a primitive driving seeds', () => {
    const p = store.addPrimitive({ x: 0, y: 0 }, { nodeId: '3', handleId: 'i:seed', handleType: 'target', type: 'INT' });
    store.setSeedControl(p, 'value', 'increment');
    store.applySeedControls();
    expect(store.exportApi()['3'].inputs.seed).toBe(43);
    store.undo(); // one step removes the control change, the next the primitive and its link together
    expect(useGraph.getState().edges.some((e) => e.source === p)).toBe(true);
    store.undo();
    expect(useGraph.getState().nodes.find((n) => n.id === p)).toBeUndefined();
  });
});
