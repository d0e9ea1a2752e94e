import { describe, expect, it } from 'vitest';
import { apiToNative } from '../formats/api';
import { fromNative } from '../formats/native';
import { CULL_THRESHOLD, dropEstimates, estimateNode, withEstimates } from '../estimate';
import type { AnyNode } from '../graph';
import { catalog, txt2imgPrompt } from './helpers';

describe('socket position estimates for large graphs', () => {
  it('places every socket of a node, inputs left and outputs right, top to bottom', () => {
    const e = estimateNode(catalog.KSampler);
    const ids = e.handles.map((h) => h.id);
    expect(ids).toEqual(expect.arrayContaining(['i:model', 'i:latent_image', 'i:seed', 'i:denoise', 'o:0']));
    expect(e.handles).toHaveLength(catalog.KSampler.inputs.length + catalog.KSampler.outputs.length);
    const ys = e.handles.filter((h) => h.type === 'target').map((h) => h.y);
    expect([...ys].sort((a, b) => a - b)).toEqual(ys);
    expect(e.handles.find((h) => h.id === 'o:0')!.x).toBeGreaterThan(e.width - 10);
    expect(e.height).toBeGreaterThan(ys[ys.length - 1]);
  });

  it('applies only to large graphs and is dropped once a node is measured', () => {
    const small = fromNative(apiToNative(txt2imgPrompt()), catalog).nodes;
    expect(withEstimates(small, catalog)).toBe(small);
    const big: AnyNode[] = Array.from({ length: CULL_THRESHOLD + 1 }, (_, i) => ({
      id: String(i + 1), type: 'loom', position: { x: 0, y: 0 }, data: { classType: 'VAEDecode', values: {} },
    }));
    const estimated = withEstimates(big, catalog);
    expect(estimated[0].handles).toHaveLength(3);
    const measured = estimated.map((n, i) => (i === 0 ? { ...n, measured: { width: 240, height: 80 } } : n));
    const dropped = dropEstimates(measured);
    expect(dropped[0].handles).toBeUndefined();
    expect(dropped[1].handles).toHaveLength(3);
  });
});
