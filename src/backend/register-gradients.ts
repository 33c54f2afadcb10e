// tfjs-core's CommonJS build registers no gradients; the @tensorflow/tfjs bundle registers them all on the
// same tfjs-core instance. Training needs them; serving does not load them.
let loaded: Promise<void> | undefined;

// Registers every tfjs gradient once per process.
export function registerGradients(): Promise<void> {
  loaded ??= import('@tensorflow/tfjs').then(() => undefined);
  return loaded;
}
