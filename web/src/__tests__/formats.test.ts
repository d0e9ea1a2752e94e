import { describe, expect, it } from 'vitest';
import { apiToNative, toApiPrompt } from '../formats/api';
import { comfyUiToNative } from '../formats/comfyui';
import { openPng, openWorkflowJson, openWorkflowText } from '../formats/load';
import { fromNative, toNative } from '../formats/native';
import { pngWithText, readPngText } from '../formats/png';
import { type AnyNode, type LoomNode, makeEdge } from '../graph';
import { catalog, txt2imgPrompt } from './helpers';

const strip = (p: ReturnType<typeof toApiPrompt>) =>
  Object.fromEntries(Object.entries(p).map(([id, n]) => [id, { class_type: n.class_type, inputs: n.inputs }]));

describe('API prompt <-> editor graph', () => {
  it('round-trips the txt2img prompt losslessly', () => {
    const graph = fromNative(apiToNative(txt2imgPrompt()), catalog);
    expect(graph.nodes).toHaveLength(7);
    expect(graph.edges).toHaveLength(9);
    expect(strip(toApiPrompt(graph, catalog))).toEqual(txt2imgPrompt());
  });

  it('lays out nodes by dependency depth', () => {
    const graph = fromNative(apiToNative(txt2imgPrompt()), catalog);
    const x = (id: string) => graph.nodes.find((n) => n.id === id)!.position.x;
    expect(x('4')).toBeLessThan(x('6'));
    expect(x('6')).toBeLessThan(x('3'));
    expect(x('3')).toBeLessThan(x('8'));
  });

  it('leaves muted nodes out and passes bypassed nodes through by type', () => {
    const p = txt2imgPrompt();
    p['10'] = { class_type: 'LatentUpscaleBy', inputs: { samples: ['3', 0], upscale_method: 'bilinear', scale_by: 1.5 } };
    p['8'].inputs.samples = ['10', 0];
    const graph = fromNative(apiToNative(p), catalog);
    const set = (id: string, mode: 'muted' | 'bypassed') =>
      (graph.nodes = graph.nodes.map((n) => (n.id === id ? ({ ...n, data: { ...n.data, mode } } as AnyNode) : n)));
    set('10', 'bypassed');
    let api = toApiPrompt(graph, catalog);
    expect(api['10']).toBeUndefined();
    expect(api['8'].inputs.samples).toEqual(['3', 0]);
    set('9', 'muted');
    api = toApiPrompt(graph, catalog);
    expect(api['9']).toBeUndefined();
  });

  it('drops an input fed by a muted node, so the server reports it missing', () => {
    const graph = fromNative(apiToNative(txt2imgPrompt()), catalog);
    graph.nodes = graph.nodes.map((n) => (n.id === '5' ? ({ ...n, data: { ...n.data, mode: 'muted' } } as AnyNode) : n));
    expect(toApiPrompt(graph, catalog)['3'].inputs.latent_image).toBeUndefined();
  });

  it('resolves reroutes and keeps them through the native file', () => {
    const graph = fromNative(apiToNative(txt2imgPrompt()), catalog);
    graph.nodes.push({ id: '20', type: 'reroute', position: { x: 1, y: 2 }, data: {} });
    graph.edges = graph.edges.filter((e) => !(e.target === '8' && e.targetHandle === 'i:vae'));
    graph.edges.push(makeEdge('4', 2, '20', 'in'), makeEdge('20', 0, '8', 'vae'));
    expect(toApiPrompt(graph, catalog)['8'].inputs.vae).toEqual(['4', 2]);
    const native = toNative(graph, catalog);
    expect(native.nodes['8'].inputs.vae).toEqual(['4', 2]);
    expect(native.nodes['8'].ui?.via).toEqual({ vae: '20' });
    expect(native.ui?.reroutes?.['20']).toEqual({ pos: [1, 2], input: ['4', 2] });
    const back = fromNative(JSON.parse(JSON.stringify(native)), catalog);
    expect(back.edges.some((e) => e.source === '20' && e.target === '8')).toBe(true);
    expect(back.nodes.find((n) => n.id === '20')?.data).toMatchObject({ type: 'VAE' });
    expect(strip(toApiPrompt(back, catalog))).toEqual(txt2imgPrompt());
  });

  it('wraps list constants so they are not read as links', () => {
    const graph = fromNative(apiToNative(txt2imgPrompt()), catalog);
    (graph.nodes.find((n) => n.id === '6') as LoomNode).data.values.text = ['a', 1];
    expect(toApiPrompt(graph, catalog)['6'].inputs.text).toEqual({ __value__: ['a', 1] });
  });
});

describe('native workflow file', () => {
  it('keeps positions, titles, modes, seed controls, groups and the view', () => {
    const graph = fromNative(apiToNative(txt2imgPrompt()), catalog);
    graph.nodes = graph.nodes.map((n) =>
      n.id === '3' ? ({ ...n, position: { x: 10, y: 20 }, data: { ...n.data, title: 'Sampler', mode: 'bypassed', controls: { seed: 'fixed' } } } as AnyNode) : n,
    );
    graph.nodes.push({ id: 'g1', type: 'frame', position: { x: 0, y: 0 }, width: 400, height: 300, data: { title: 'Prompts', color: '#335' } });
    graph.viewport = { x: 5, y: 6, zoom: 0.8 };
    const file = JSON.parse(JSON.stringify(toNative(graph, catalog)));
    expect(file.format).toBe('latent-loom/workflow');
    expect(file.nodes['3']).toMatchObject({ class_type: 'KSampler', ui: { pos: [10, 20], title: 'Sampler', mode: 'bypassed', controls: { seed: 'fixed' } } });
    expect(file.nodes['3'].inputs.seed).toBe(42);
    expect(file.ui.groups).toEqual([{ id: 'g1', title: 'Prompts', color: '#335', bounding: [0, 0, 400, 300] }]);
    const back = fromNative(file, catalog);
    const ks = back.nodes.find((n) => n.id === '3') as LoomNode;
    expect(ks.data).toMatchObject({ title: 'Sampler', mode: 'bypassed', controls: { seed: 'fixed' } });
    expect(back.nodes.find((n) => n.id === 'g1')).toMatchObject({ type: 'frame', width: 400, height: 300 });
    expect(back.viewport).toEqual({ x: 5, y: 6, zoom: 0.8 });
  });

  it('keeps a resized width, ignoring widths narrower than a node can be', () => {
    const wf = apiToNative(txt2imgPrompt());
    wf.nodes['3'].ui = { pos: [0, 0], size: [420, 300] };
    wf.nodes['8'].ui = { pos: [0, 0], size: [140, 46] };
    const graph = fromNative(wf, catalog);
    expect(graph.nodes.find((n) => n.id === '3')?.width).toBe(420);
    expect(graph.nodes.find((n) => n.id === '8')?.width).toBeUndefined();
    expect(toNative(graph, catalog).nodes['3'].ui?.size?.[0]).toBe(420);
  });

  it('fills missing widget values with defaults and refuses malformed files clearly', () => {
    const g = fromNative({ format: 'latent-loom/workflow', version: 1, nodes: { '1': { class_type: 'EmptyLatentImage', inputs: { width: 64 } } } }, catalog);
    expect((g.nodes[0] as LoomNode).data.values).toEqual({ width: 64, height: 512, batch_size: 1 });
    expect(() => openWorkflowJson({ format: 'latent-loom/workflow', version: 1, nodes: [] }, catalog)).toThrow(/keyed by node id/);
    expect(() => openWorkflowJson({ format: 'latent-loom/workflow', version: 1, nodes: { '1': {} } }, catalog)).toThrow(/node 1: "class_type"/);
    expect(() => openWorkflowJson({ format: 'latent-loom/workflow', version: 7, nodes: {} }, catalog)).toThrow(/version 7/);
    expect(() => openWorkflowText('{nope', catalog)).toThrow(/not valid JSON/);
    expect(() => openWorkflowJson({ hello: 1 }, catalog)).toThrow(/not a workflow/);
  });
});

/** ComfyUI's default graph as its UI saves it (version 0.4), plus a reroute, a primitive and a note. */
export function comfyUiDefault(): Record<string, unknown> {
  return {
    last_node_id: 12, last_link_id: 12, version: 0.4,
    nodes: [
      { id: 3, type: 'KSampler', pos: [863, 186], mode: 0,
        inputs: [{ name: 'model', type: 'MODEL', link: 1 }, { name: 'positive', type: 'CONDITIONING', link: 4 },
          { name: 'negative', type: 'CONDITIONING', link: 6 }, { name: 'latent_image', type: 'LATENT', link: 2 },
          { name: 'steps', type: 'INT', widget: { name: 'steps' }, link: 11 }],
        outputs: [{ name: 'LATENT', type: 'LATENT', links: [7] }],
        widgets_values: [156680208700286, 'randomize', 20, 8, 'euler', 'normal', 1] },
      { id: 4, type: 'CheckpointLoaderSimple', pos: [26, 474], mode: 0,
        outputs: [{ name: 'MODEL', links: [1] }, { name: 'CLIP', links: [3, 5] }, { name: 'VAE', links: [8] }],
        widgets_values: ['tiny-sd15.safetensors'] },
      { id: 5, type: 'EmptyLatentImage', pos: [473, 609], mode: 0, widgets_values: [512, 512, 1] },
      { id: 6, type: 'CLIPTextEncode', pos: [415, 186], mode: 0, inputs: [{ name: 'clip', type: 'CLIP', link: 3 }], widgets_values: ['beautiful scenery'] },
      { id: 7, type: 'CLIPTextEncode', pos: [413, 389], mode: 0, title: 'Negative', inputs: [{ name: 'clip', type: 'CLIP', link: 5 }], widgets_values: ['text, watermark'] },
      { id: 8, type: 'VAEDecode', pos: [1209, 188], mode: 0,
        inputs: [{ name: 'samples', type: 'LATENT', link: 7 }, { name: 'vae', type: 'VAE', link: 10 }] },
      { id: 9, type: 'SaveImage', pos: [1451, 189], mode: 4, inputs: [{ name: 'images', type: 'IMAGE', link: 9 }], widgets_values: ['ComfyUI'] },
      { id: 10, type: 'Reroute', pos: [900, 500], inputs: [{ name: '', type: '*', link: 8 }], outputs: [{ name: '', type: 'VAE', links: [10] }] },
      { id: 11, type: 'PrimitiveNode', pos: [600, 50], outputs: [{ name: 'INT', type: 'INT', links: [11] }], widgets_values: [7, 'fixed'] },
      { id: 12, type: 'Note', pos: [0, 0], widgets_values: ['hello'] },
    ],
    links: [
      [1, 4, 0, 3, 0, 'MODEL'], [2, 5, 0, 3, 3, 'LATENT'], [3, 4, 1, 6, 0, 'CLIP'], [4, 6, 0, 3, 1, 'CONDITIONING'],
      [5, 4, 1, 7, 0, 'CLIP'], [6, 7, 0, 3, 2, 'CONDITIONING'], [7, 3, 0, 8, 0, 'LATENT'], [8, 4, 2, 10, 0, 'VAE'],
      [9, 8, 0, 9, 0, 'IMAGE'], [10, 10, 0, 8, 1, 'VAE'], [11, 11, 0, 3, 4, 'INT'],
    ],
    groups: [{ title: 'Prompts', bounding: [400, 100, 400, 500], color: '#3f789e' }],
    extra: { ds: { scale: 0.5, offset: [100, 20] } },
  };
}

describe('ComfyUI UI workflow', () => {
  it('maps positional widget values by input order and resolves reroutes and primitives', () => {
    const { workflow, warnings } = comfyUiToNative(comfyUiDefault() as never, catalog);
    expect(warnings.join()).toMatch(/Note is not supported/);
    const ks = workflow.nodes['3'];
    expect(ks.inputs).toMatchObject({ seed: 156680208700286, steps: 7, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1 });
    expect(ks.ui?.controls).toEqual({ seed: 'randomize' });
    expect(workflow.nodes['8'].inputs.vae).toEqual(['4', 2]);
    expect(workflow.nodes['8'].ui?.via).toEqual({ vae: '10' });
    expect(workflow.nodes['9'].ui?.mode).toBe('bypassed');
    expect(workflow.nodes['7'].ui?.title).toBe('Negative');
    expect(workflow.ui?.groups?.[0]).toMatchObject({ title: 'Prompts', bounding: [400, 100, 400, 500] });
    expect(workflow.ui?.view).toEqual({ x: 50, y: 10, zoom: 0.5 });
    expect(workflow.nodes['11']).toBeUndefined();
    expect(workflow.nodes['12']).toBeUndefined();
    const graph = fromNative(workflow, catalog);
    expect(graph.nodes.filter((n) => n.type === 'reroute')).toHaveLength(1);
    const api = toApiPrompt(graph, catalog);
    expect(api['3'].inputs.model).toEqual(['4', 0]);
    expect(api['8'].inputs.vae).toEqual(['4', 2]);
    expect(api['9']).toBeUndefined(); // SaveImage was bypassed: it has no output to pass through
  });

  it('reads version 1 link objects', () => {
    const wf = comfyUiDefault();
    wf.version = 1;
    wf.links = (wf.links as unknown[][]).map(([id, o, os, t, ts, type]) => ({ id, origin_id: o, origin_slot: os, target_id: t, target_slot: ts, type }));
    const opened = openWorkflowJson(wf, catalog);
    expect(opened.kind).toBe('comfyui-ui');
    expect(opened.workflow.nodes['3'].inputs.latent_image).toEqual(['5', 0]);
  });

  it('warns about unknown node types instead of failing', () => {
    const wf = comfyUiDefault();
    (wf.nodes as { type: string }[])[2].type = 'FancyCustomNode';
    const { warnings, workflow } = comfyUiToNative(wf as never, catalog);
    expect(warnings.join()).toMatch(/unknown node type "FancyCustomNode"/);
    expect(workflow.nodes['5'].class_type).toBe('FancyCustomNode');
  });
});

describe('PNG metadata', () => {
  it('reads tEXt chunks and prefers the workflow over the prompt', () => {
    const png = pngWithText({ prompt: JSON.stringify(txt2imgPrompt()), workflow: JSON.stringify(comfyUiDefault()) });
    expect(Object.keys(readPngText(png.buffer as ArrayBuffer))).toEqual(['prompt', 'workflow']);
    expect(openPng(png.buffer as ArrayBuffer, catalog).kind).toBe('comfyui-ui');
  });

  it('falls back to the prompt chunk and explains a PNG without one', () => {
    const withPrompt = pngWithText({ prompt: JSON.stringify(txt2imgPrompt()) });
    expect(openPng(withPrompt.buffer as ArrayBuffer, catalog).kind).toBe('api');
    const bare = pngWithText({ Software: 'x' });
    expect(() => openPng(bare.buffer as ArrayBuffer, catalog)).toThrow(/no "workflow" or "prompt"/);
    expect(() => openPng(new Uint8Array([1, 2, 3]).buffer, catalog)).toThrow(/not a PNG/);
  });
});

describe('ComfyUI PrimitiveNode', () => {
  it('becomes a primitive driving the same inputs', () => {
    const { workflow } = comfyUiToNative(comfyUiDefault() as never, catalog);
    expect(workflow.ui?.primitives?.['11']).toMatchObject({ value: 7, control: 'fixed' });
    expect(workflow.nodes['3'].ui?.via).toEqual({ steps: '11' });
    const graph = fromNative(workflow, catalog);
    expect(graph.nodes.find((n) => n.id === '11')).toMatchObject({ type: 'primitive', data: { type: 'INT' } });
    expect(toApiPrompt(graph, catalog)['3'].inputs.steps).toBe(7);
  });
});

describe('integers beyond 2^53', () => {
  it('are reported when a file is opened, never silently changed', () => {
    const p = txt2imgPrompt();
    const text = JSON.stringify(p).replace('"seed":42', '"seed":18446744073709551615');
    const opened = openWorkflowText(text, catalog);
    expect(opened.warnings.join()).toMatch(/18446744073709551615 is too large.*became 18446744073709551616/);
    expect(openWorkflowText(JSON.stringify(txt2imgPrompt()), catalog).warnings).toEqual([]);
    // 2^53 + 2 happens to be exact; a 16-digit safe seed is fine.
    expect(openWorkflowText(JSON.stringify(p).replace('"seed":42', '"seed":9007199254740994'), catalog).warnings).toEqual([]);
    expect(openWorkflowText(JSON.stringify(p).replace('"seed":42', '"seed":1566802087002861'), catalog).warnings).toEqual([]);
  });
});
