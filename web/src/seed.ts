// "Control after generate" for seed widgets: what the next queued run uses.
import type { SeedControl } from './graph';

/** JS numbers are exact up to 2^53-1; larger seeds (ComfyUI allows 2^64-1) would be silently rounded. */
export const MAX_SAFE_SEED = Number.MAX_SAFE_INTEGER;

/** The next seed for a control mode, kept within [min, max] (wrapping for increment/decrement). */
export function nextSeed(
  value: number,
  control: SeedControl,
  min = 0,
  max: number = MAX_SAFE_SEED,
  random: () => number = Math.random,
): number {
  const hi = Math.min(max, MAX_SAFE_SEED);
  const lo = Math.max(min, -MAX_SAFE_SEED);
  switch (control) {
    case 'fixed':
      return value;
    case 'increment':
      return value + 1 > hi ? lo : value + 1;
    case 'decrement':
      return value - 1 < lo ? hi : value - 1;
    case 'randomize': {
      // Two draws so the whole 53-bit range is reachable.
      const span = hi - lo;
      const r = Math.floor(random() * 2 ** 26) * 2 ** 27 + Math.floor(random() * 2 ** 27);
      return lo + (span >= MAX_SAFE_SEED ? r : r % (span + 1));
    }
  }
}
