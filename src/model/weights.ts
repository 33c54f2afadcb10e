// A named weight tensor held in host memory: what the artifact stores and the model loads.
export interface WeightTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}
