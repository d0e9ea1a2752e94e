// How long a job will take on this machine, asked of the server before queueing (POST /api/estimate), and
// the CPU-aware first graph: without a GPU, the starting graph's size and steps are cut to finish in seconds.
// The server measures the machine once (GET /api/estimate/calibration); the editor asks for it at start-up.
import type { ApiPrompt } from './formats/api';

export interface Calibration {
  device: string;
  gpu: boolean;
  overhead_s: number;
  per_unit_s: number;
  method: string;
}

export interface SamplerEstimate {
  node: string;
  class_type: string;
  steps: number;
  evaluations_per_step: number;
  width: number;
  height: number;
  batch: number;
  model: string | null;
  params: number;
  seconds: number;
}

export interface JobEstimate {
  seconds: number;
  samplers: SamplerEstimate[];
  assumptions: string[];
  calibration: Calibration;
}

/** Above this many seconds, Queue asks first (a user setting: localStorage `loom.estimateWarnSeconds`). */
export const DEFAULT_WARN_SECONDS = 60;
/** The first graph on a machine without a GPU is cut to finish within this many seconds. */
export const FIRST_RUN_BUDGET_SECONDS = 15;
const WARN_KEY = 'loom.estimateWarnSeconds';

export function warnSeconds(): number {
  const stored = Number(globalThis.localStorage?.getItem(WARN_KEY) ?? NaN);
  return Number.isFinite(stored) && stored >= 0 ? stored : DEFAULT_WARN_SECONDS;
}

export async function fetchCalibration(): Promise<Calibration | null> {
  try {
    const res = await fetch('/api/estimate/calibration');
    return res.ok ? ((await res.json()) as Calibration) : null;
  } catch {
    return null;
  }
}

/** The server's estimate, or null when it cannot answer within `timeoutMs` (queueing then goes ahead). */
export async function fetchEstimate(prompt: ApiPrompt, timeoutMs = 8000): Promise<JobEstimate | null> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch('/api/estimate', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt }),
      signal: controller.signal,
    });
    return res.ok ? ((await res.json()) as JobEstimate) : null;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** "8 s", "2 min 5 s", "1 h 3 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** The question Queue asks when a job would take longer than the threshold; null when it would not. */
export function slowJobQuestion(estimate: JobEstimate, runs: number, threshold: number): string | null {
  const total = estimate.seconds * runs;
  if (total <= threshold) return null;
  const where = estimate.calibration.gpu ? estimate.calibration.device.toUpperCase() : 'this CPU (no GPU found)';
  const parts = estimate.samplers.map(
    (s) => `${s.class_type} ${s.steps} steps at ${s.width}×${s.height}${s.batch > 1 ? ` ×${s.batch}` : ''}`,
  );
  const runsText = runs > 1 ? ` for ${runs} runs` : '';
  return (
    `This job will take about ${formatDuration(total)}${runsText} on ${where}: ${parts.join(', ')}.\n` +
    'Smaller images or fewer steps finish sooner. Queue it anyway?'
  );
}

/** Seconds one sampler would take at another size and step count (the server's model of a step). */
function samplerSeconds(s: SamplerEstimate, c: Calibration, side: { w: number; h: number }, steps: number): number {
  const pixels = Math.floor(side.w / 8) * Math.floor(side.h / 8);
  return steps * (c.overhead_s + c.per_unit_s * s.params * pixels * s.batch * s.evaluations_per_step);
}

export interface FirstRunFit {
  prompt: ApiPrompt;
  before: { width: number; height: number; steps: number; seconds: number };
  after: { width: number; height: number; steps: number; seconds: number };
}

/**
 * Without a GPU, the starting txt2img graph cut to finish within `budget` seconds: the largest size, then the
 * most steps, that fit (at least 8 steps when possible), never above the template's own values. Null when the
 * machine has a GPU, the graph already fits, or it is not a one-sampler graph from an Empty Latent Image.
 */
export function fitFirstRun(prompt: ApiPrompt, estimate: JobEstimate, budget = FIRST_RUN_BUDGET_SECONDS): FirstRunFit | null {
  const c = estimate.calibration;
  if (c.gpu || estimate.seconds <= budget || estimate.samplers.length !== 1) return null;
  const sampler = estimate.samplers[0];
  const latents = Object.entries(prompt).filter(([, n]) => n.class_type === 'EmptyLatentImage');
  if (latents.length !== 1 || !prompt[sampler.node]) return null;
  const sides = [sampler.width, 384, 320, 256, 192, 128].filter((v) => v <= sampler.width);
  const stepChoices = [sampler.steps, 12, 10, 8, 6, 4].filter((v) => v <= sampler.steps);
  const candidates: { side: number; steps: number; seconds: number }[] = [];
  for (const side of sides) {
    for (const steps of stepChoices) {
      const h = Math.round((side * sampler.height) / sampler.width / 8) * 8;
      candidates.push({ side, steps, seconds: samplerSeconds(sampler, c, { w: side, h }, steps) });
    }
  }
  const fitting = candidates.filter((x) => x.seconds <= budget);
  const rank = (x: { side: number; steps: number }) => [x.steps >= 8 ? 1 : 0, x.side, x.steps];
  const better = (a: typeof candidates[0], b: typeof candidates[0]) => {
    const [ra, rb] = [rank(a), rank(b)];
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i] > rb[i];
    return false;
  };
  const pool = fitting.length ? fitting : candidates;
  let best = pool[0];
  for (const x of pool) {
    if (fitting.length ? better(x, best) : x.seconds < best.seconds) best = x;
  }
  const height = Math.round((best.side * sampler.height) / sampler.width / 8) * 8;
  const [latentId, latent] = latents[0];
  const next: ApiPrompt = {
    ...prompt,
    [latentId]: { ...latent, inputs: { ...latent.inputs, width: best.side, height } },
    [sampler.node]: { ...prompt[sampler.node], inputs: { ...prompt[sampler.node].inputs, steps: best.steps } },
  };
  return {
    prompt: next,
    before: { width: sampler.width, height: sampler.height, steps: sampler.steps, seconds: estimate.seconds },
    after: { width: best.side, height, steps: best.steps, seconds: best.seconds },
  };
}

/** Before queueing: true to go ahead; asks the user (window.confirm) when the job would be slow here. */
export async function confirmSlowJob(prompt: ApiPrompt, runs: number): Promise<boolean> {
  const estimate = await fetchEstimate(prompt);
  if (!estimate) return true; // no estimate (old server, timeout): never block queueing on it
  const question = slowJobQuestion(estimate, runs, warnSeconds());
  return question === null || window.confirm(question);
}

/**
 * The CPU-aware first graph: once the server's calibration says there is no GPU, cut the starting graph to
 * fit the first-run budget, unless the user has edited it meanwhile (`unchanged()`). Returns what was said.
 */
export async function cpuAwareFirstGraph(
  prompt: ApiPrompt,
  calibration: Promise<Calibration | null>,
  unchanged: () => boolean,
  load: (prompt: ApiPrompt) => void,
): Promise<string | null> {
  const c = await calibration;
  if (!c || c.gpu) return null;
  const estimate = await fetchEstimate(prompt, 30000);
  const fit = estimate ? fitFirstRun(prompt, estimate) : null;
  if (!fit || !unchanged()) return null;
  load(fit.prompt);
  const { before: b, after: a } = fit;
  return (
    `No GPU found: the starting graph uses ${a.width}×${a.height} and ${a.steps} steps (about ` +
    `${formatDuration(a.seconds)} here) instead of ${b.width}×${b.height} and ${b.steps} steps (about ` +
    `${formatDuration(b.seconds)}).`
  );
}
