// Engines that run materialized subnets (tfjs, onnxruntime), ONNX export, and the residency cache.
export {
  buildOnnxGraph,
  GRAPH_FORMS,
  type GraphForm,
  ONNX_ATTENTION_MASK,
  ONNX_INPUT_IDS,
  ONNX_LOGITS,
  ONNX_OPSET,
} from './build-onnx-graph.ts';
export { ENGINE_NAMES, type Engine, type EngineName, type LoadedSubnet } from './engine.ts';
export { exportSubnetOnnx } from './export-subnet-onnx.ts';
export { OnnxEngine, type OnnxEngineOptions } from './onnx-engine.ts';
export {
  type ResidentSubnet,
  SubnetCache,
  type SubnetCacheOptions,
  type SubnetCacheStats,
  type SubnetLease,
} from './subnet-cache.ts';
export { TfjsEngine } from './tfjs-engine.ts';
