import { describe, expect, it } from 'vitest';
import { coverage, invertMask, maskFromAlpha, maskToAlphaImage } from '../components/maskOps';

const px = (...alphas: number[]) => new Uint8ClampedArray(alphas.flatMap((a) => [10, 20, 30, a]));
const alphas = (d: Uint8ClampedArray) => Array.from(d.filter((_, i) => i % 4 === 3));

describe('mask painter pixel operations', () => {
  it('reads the mask from transparency (mask = 1 - alpha)', () => {
    expect(alphas(maskFromAlpha(px(255, 0, 100)))).toEqual([0, 255, 155]);
  });
  it('writes alpha = 255 - mask, as ComfyUI mask uploads do', () => {
    const out = maskToAlphaImage(px(255, 0, 128));
    expect(alphas(out)).toEqual([0, 255, 127]);
    expect(Array.from(out.slice(0, 3))).toEqual([0, 0, 0]);
  });
  it('inverts and round-trips', () => {
    const m = px(255, 0, 40);
    expect(alphas(invertMask(m))).toEqual([0, 255, 215]);
    expect(alphas(invertMask(invertMask(m)))).toEqual([255, 0, 40]);
  });
  it('measures coverage with the 0.5 threshold', () => {
    expect(coverage(px(255, 128, 127, 0))).toBe(0.5);
    expect(coverage(new Uint8ClampedArray(0))).toBe(0);
  });
});
