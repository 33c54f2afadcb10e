import type { BackendPreference } from '../../src/backend/select-backend.ts';
import type { SubnetConfig, SupernetConfig } from '../../src/model/config.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';
import type { LossSpec } from './losses.ts';

// Messages between the training process and its gradient workers.

export interface WorkerInit {
  config: SupernetConfig;
  backend: BackendPreference;
  // The student's flat parameters, shared and updated in place by the main thread.
  params: SharedArrayBuffer;
  // This worker's gradient output, shared.
  grads: SharedArrayBuffer;
}

export type WorkerRequest =
  | { type: 'teacher'; id: number; params: SharedArrayBuffer | null }
  | {
      type: 'step';
      id: number;
      paramsVersion: number;
      batch: TokenBatch;
      labels: Int32Array;
      // A probability per label for each row, [batch * labels]: mixed into the label target (LossSpec.priorWeight).
      priors?: Float32Array;
      subnets: SubnetConfig[];
      loss: LossSpec;
    }
  | {
      // Masked-LM gradients of the full model. targets [batch * tokens]: the original id where the batch's ids
      // were masked, -1 elsewhere.
      type: 'masked-lm-step';
      id: number;
      paramsVersion: number;
      batch: TokenBatch;
      targets: Int32Array;
    }
  | { type: 'predict'; id: number; paramsVersion: number; batch: TokenBatch; subnets: SubnetConfig[] }
  | { type: 'importance'; id: number; paramsVersion: number; batch: TokenBatch; labels: Int32Array };

export interface SubnetStepStats {
  loss: number;
  correct: number;
}

export type WorkerResponse =
  | { type: 'ready'; id: number; backend: string }
  | { type: 'step'; id: number; loss: number; perSubnet: SubnetStepStats[] }
  // loss: the mean over this worker's masked tokens; correct: how many of them the model predicted.
  | { type: 'masked-lm-step'; id: number; loss: number; correct: number; masked: number }
  | { type: 'predict'; id: number; logits: Float32Array[] }
  | { type: 'importance'; id: number; heads: Float32Array[]; neurons: Float32Array[] }
  | { type: 'error'; id: number; message: string; stack?: string };
