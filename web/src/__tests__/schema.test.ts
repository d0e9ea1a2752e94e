import { describe, expect, it } from 'vitest';
import { defaultValues, parseInput, widgetProblem } from '../schema';
import { catalog } from './helpers';

describe('catalog from /object_info', () => {
  it('keeps input_order and splits sockets from widgets', () => {
    const ks = catalog.KSampler;
    expect(ks.inputs.map((i) => i.name)).toEqual([
      'model', 'seed', 'steps', 'cfg', 'sampler_name', 'scheduler', 'positive', 'negative', 'latent_image', 'denoise',
    ]);
    expect(ks.inputs.find((i) => i.name === 'model')?.widget).toBeUndefined();
    expect(ks.inputs.find((i) => i.name === 'seed')?.widget?.seedControl).toBe(true);
    expect(ks.inputs.find((i) => i.name === 'sampler_name')?.widget?.options).toContain('euler');
    expect(ks.inputs.find((i) => i.name === 'cfg')?.widget).toMatchObject({ kind: 'float', step: 0.1, min: 0, max: 100 });
    expect(ks.outputs).toEqual([{ name: 'LATENT', type: 'LATENT', isList: false }]);
  });

  it('reads every widget kind', () => {
    expect(parseInput('t', ['STRING', { multiline: true }], true).widget).toMatchObject({ kind: 'string', multiline: true, default: '' });
    expect(parseInput('b', ['BOOLEAN', { default: true }], false).widget).toMatchObject({ kind: 'boolean', default: true });
    expect(parseInput('c', ['COMBO', { options: ['a', 'b'] }], true).widget).toMatchObject({ kind: 'combo', default: 'a' });
    expect(parseInput('s', ['FLOAT', { display: 'slider', min: 0, max: 1 }], true).widget?.slider).toBe(true);
    expect(parseInput('f', ['INT', { forceInput: true }], true).widget).toBeUndefined();
    expect(catalog.LoadImage.inputs[0].widget?.imageUpload).toBe(true);
    expect(catalog.SaveImage.outputNode).toBe(true);
  });

  it('gives defaults by name', () => {
    expect(defaultValues(catalog.EmptyLatentImage)).toEqual({ width: 512, height: 512, batch_size: 1 });
  });

  it('flags values the server would refuse', () => {
    const steps = catalog.KSampler.inputs.find((i) => i.name === 'steps')!.widget!;
    expect(widgetProblem(steps, 0)).toMatch(/minimum 1/);
    expect(widgetProblem(steps, 2.5)).toMatch(/whole/);
    expect(widgetProblem(steps, 20)).toBeNull();
    const sampler = catalog.KSampler.inputs.find((i) => i.name === 'sampler_name')!.widget!;
    expect(widgetProblem(sampler, 'nope')).toMatch(/not available/);
  });
});
