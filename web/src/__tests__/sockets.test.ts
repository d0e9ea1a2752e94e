import { describe, expect, it } from 'vitest';
import { connect, makeEdge, sourceType, targetType, wouldCreateCycle } from '../graph';
import { linkProblem, typeColor, typesCompatible } from '../sockets';
import { catalog } from './helpers';

describe('socket types', () => {
  it('matches equal types, wildcards and unions only', () => {
    expect(typesCompatible('MODEL', 'MODEL')).toBe(true);
    expect(typesCompatible('CLIP', 'LATENT')).toBe(false);
    expect(typesCompatible('*', 'IMAGE')).toBe(true);
    expect(typesCompatible('INT', 'FLOAT,INT')).toBe(true);
    expect(typesCompatible('STRING', 'FLOAT,INT')).toBe(false);
    expect(typesCompatible(undefined, 'IMAGE')).toBe(false);
  });

  it('explains a refused link', () => {
    expect(linkProblem({ source: '1', target: '1', sourceType: 'X', targetType: 'X' }, false)).toMatch(/itself/);
    expect(linkProblem({ source: '1', target: '2', sourceType: 'CLIP', targetType: 'LATENT' }, false)).toMatch(/CLIP cannot feed LATENT/);
    expect(linkProblem({ source: '1', target: '2', sourceType: 'LATENT', targetType: 'LATENT' }, true)).toMatch(/cycle/);
    expect(linkProblem({ source: '1', target: '2', sourceType: 'LATENT', targetType: 'LATENT' }, false)).toBeNull();
  });

  it('gives every type a colour, known ones fixed', () => {
    expect(typeColor('MODEL')).not.toEqual(typeColor('CLIP'));
    expect(typeColor('SOMETHING_NEW')).toEqual(typeColor('SOMETHING_NEW'));
    expect(typeColor('LATENT')).toEqual('#f06292'); // from socketTypes.json, the Python vocabulary's palette
  });

  it('reads handle types from the catalog, widget inputs included', () => {
    const ck = { id: '4', type: 'loom' as const, position: { x: 0, y: 0 }, data: { classType: 'CheckpointLoaderSimple', values: {} } };
    const ks = { id: '3', type: 'loom' as const, position: { x: 0, y: 0 }, data: { classType: 'KSampler', values: {} } };
    expect(sourceType(ck, 'o:1', catalog)).toBe('CLIP');
    expect(targetType(ks, 'i:model', catalog)).toBe('MODEL');
    expect(targetType(ks, 'i:seed', catalog)).toBe('INT');
    expect(targetType(ks, 'i:sampler_name', catalog)).toBe('COMBO');
  });

  it('keeps one link per input, replacing the old one', () => {
    let edges = [makeEdge('4', 0, '3', 'model')];
    edges = connect(edges, makeEdge('10', 0, '3', 'model'));
    expect(edges).toHaveLength(1);
    expect(edges[0].source).toBe('10');
    edges = connect(edges, makeEdge('5', 0, '3', 'latent_image'));
    expect(edges).toHaveLength(2);
  });

  it('detects cycles', () => {
    const edges = [makeEdge('1', 0, '2', 'a'), makeEdge('2', 0, '3', 'a')];
    expect(wouldCreateCycle(edges, '3', '1')).toBe(true);
    expect(wouldCreateCycle(edges, '1', '3')).toBe(false);
  });
});
