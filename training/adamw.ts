import type { FlatLayout } from './flat-params.ts';

// AdamW state over a flat parameter buffer: first and second moments and the step count.
export interface AdamState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

export interface AdamSettings {
  learningRate: number;
  weightDecay: number;
  clipNorm: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export function createAdamState(total: number): AdamState {
  return { step: 0, m: new Float32Array(total), v: new Float32Array(total) };
}

// Linear warm-up to the peak rate, then linear decay to zero at the last step.
export function learningRateAt(
  step: number,
  totalSteps: number,
  peak: number,
  warmupFraction: number,
): number {
  const warmup = Math.max(1, Math.round(totalSteps * warmupFraction));
  if (step < warmup) return (peak * (step + 1)) / warmup;
  return peak * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
}

// One AdamW step in place, on the host (a few ms for millions of parameters). Gradients are clipped to a
// global norm first; returns the norm before clipping.
export function adamwStep(
  params: Float32Array,
  grads: Float32Array,
  state: AdamState,
  layout: FlatLayout,
  settings: AdamSettings,
): number {
  const { learningRate, weightDecay, clipNorm } = settings;
  const beta1 = settings.beta1 ?? 0.9;
  const beta2 = settings.beta2 ?? 0.999;
  const epsilon = settings.epsilon ?? 1e-8;
  let sumSquares = 0;
  for (let i = 0; i < grads.length; i++) sumSquares += grads[i]! * grads[i]!;
  const norm = Math.sqrt(sumSquares);
  const scale = norm > clipNorm ? clipNorm / norm : 1;
  state.step += 1;
  const correction1 = 1 - beta1 ** state.step;
  const correction2 = 1 - beta2 ** state.step;
  const stepSize = learningRate / correction1;
  const { m, v } = state;
  for (let w = 0; w < layout.specs.length; w++) {
    const from = layout.offsets[w]!;
    const to = from + layout.sizes[w]!;
    const decay = layout.decays(w) ? 1 - learningRate * weightDecay : 1;
    for (let i = from; i < to; i++) {
      const g = grads[i]! * scale;
      const mi = beta1 * m[i]! + (1 - beta1) * g;
      const vi = beta2 * v[i]! + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = params[i]! * decay - (stepSize * mi) / (Math.sqrt(vi / correction2) + epsilon);
    }
  }
  return norm;
}
