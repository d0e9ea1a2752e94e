// Pure pixel operations of the mask painter (RGBA byte arrays), kept apart so they are unit-tested.

/** Mask pixels from an image's RGBA: masked (alpha 255) where the image is transparent (mask = 1 − alpha). */
export function maskFromAlpha(rgba: Uint8ClampedArray): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    out[i] = out[i + 1] = out[i + 2] = 255;
    out[i + 3] = 255 - rgba[i + 3];
  }
  return out;
}

/** The PNG pixels /upload/mask expects: alpha = 255 − mask (painted = transparent), black RGB. */
export function maskToAlphaImage(mask: Uint8ClampedArray): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(mask.length);
  for (let i = 0; i < mask.length; i += 4) out[i + 3] = 255 - mask[i + 3];
  return out;
}

/** Swap masked and unmasked pixels. */
export function invertMask(mask: Uint8ClampedArray): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(mask.length);
  for (let i = 0; i < mask.length; i += 4) {
    out[i] = out[i + 1] = out[i + 2] = 255;
    out[i + 3] = 255 - mask[i + 3];
  }
  return out;
}

/** Fraction of the picture that is masked (alpha ≥ 128 counts, as LoadImage's mask rounds in inpainting). */
export function coverage(mask: Uint8ClampedArray): number {
  const pixels = mask.length / 4;
  if (!pixels) return 0;
  let n = 0;
  for (let i = 3; i < mask.length; i += 4) if (mask[i] >= 128) n++;
  return n / pixels;
}
