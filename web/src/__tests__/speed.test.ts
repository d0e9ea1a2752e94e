import { describe, expect, it } from 'vitest';
import type { ApiPrompt } from '../formats/api';
import { type JobEstimate, fitFirstRun, formatDuration, slowJobQuestion } from '../speed';

const cpu = { device: 'cpu', gpu: false, overhead_s: 0.05, per_unit_s: 1e-12, method: 'test' };
// SD 1.5's UNet size: at 512×512 with CFG one step is 0.05 + 1e-12 × 860e6 × 4096 × 2 ≈ 7.1 s.
const PARAMS = 860_000_000;

function prompt(side = 512, steps = 20): ApiPrompt {
  return {
    '5': { class_type: 'EmptyLatentImage', inputs: { width: side, height: side, batch_size: 1 } },
    '3': { class_type: 'KSampler', inputs: { steps, latent_image: ['5', 0] } },
  };
}

function estimate(side = 512, steps = 20, gpu = false): JobEstimate {
  const step = cpu.overhead_s + cpu.per_unit_s * PARAMS * (side / 8) ** 2 * 2;
  return {
    seconds: steps * step,
    samplers: [{ node: '3', class_type: 'KSampler', steps, evaluations_per_step: 2, width: side, height: side,
      batch: 1, model: 'sd15.safetensors', params: PARAMS, seconds: steps * step }],
    assumptions: [],
    calibration: { ...cpu, gpu, device: gpu ? 'cuda:0' : 'cpu' },
  };
}

describe('job time estimates', () => {
  it('formats durations for people', () => {
    expect(formatDuration(7.4)).toBe('7 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
    expect(formatDuration(180)).toBe('3 min');
    expect(formatDuration(3720)).toBe('1 h 2 min');
  });

  it('asks before a slow job, naming the time, the device and what makes it slow', () => {
    const slow = estimate();
    const question = slowJobQuestion(slow, 1, 60);
    expect(question).toContain('about 2 min 22 s on this CPU (no GPU found)');
    expect(question).toContain('KSampler 20 steps at 512×512');
    expect(slowJobQuestion(estimate(128, 4), 1, 60)).toBeNull();
    // A batch of runs counts as a whole.
    expect(slowJobQuestion(estimate(256, 8), 1, 60)).toBeNull();
    expect(slowJobQuestion(estimate(256, 8), 10, 60)).toContain('for 10 runs');
  });
});

describe('the CPU-aware first graph', () => {
  it('cuts size and steps to the budget, keeping at least 8 steps, never above the template', () => {
    const fit = fitFirstRun(prompt(), estimate(), 15)!;
    expect(fit.after.seconds).toBeLessThanOrEqual(15);
    expect(fit.after.steps).toBeGreaterThanOrEqual(8);
    expect(fit.after.width).toBeLessThan(512);
    expect(fit.prompt['5'].inputs).toMatchObject({ width: fit.after.width, height: fit.after.height });
    expect(fit.prompt['3'].inputs.steps).toBe(fit.after.steps);
    expect(fit.before).toMatchObject({ width: 512, steps: 20 });
  });

  it('leaves a graph that already fits, and any graph on a GPU, as it is', () => {
    expect(fitFirstRun(prompt(128, 4), estimate(128, 4), 15)).toBeNull();
    expect(fitFirstRun(prompt(), estimate(512, 20, true), 15)).toBeNull();
  });

  it('takes the cheapest choice when nothing fits', () => {
    const fit = fitFirstRun(prompt(), estimate(), 0.01)!;
    expect(fit.after).toMatchObject({ width: 128, steps: 4 });
  });
});
