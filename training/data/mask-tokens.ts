import { TokenizerError } from '../../src/errors.ts';
import type { Rng } from '../../src/model/random.ts';
import type { TokenBatch } from '../../src/model/token-batch.ts';
import type { Vocabulary } from '../../src/tokenizer/index.ts';

// A batch as the model sees it in masked-LM, and what it must predict: targets [batch * tokens] hold the
// original id at each chosen position, -1 elsewhere.
export interface MaskedBatch {
  batch: TokenBatch;
  targets: Int32Array;
}

// BERT's masking. In each row, round(probability * n) of the n maskable tokens (real and not special; at least
// one when n > 0) are chosen for prediction, a fixed count per row as in BERT's data script; of those, 80% become
// [MASK], 10% a random non-special token and 10% stay as they are.
export class TokenMasker {
  private readonly maskId: number;
  private readonly special: ReadonlySet<number>;

  constructor(
    private readonly vocabulary: Vocabulary,
    private readonly probability: number,
  ) {
    if (vocabulary.maskId === undefined) {
      throw new TokenizerError(
        'INVALID_VOCABULARY',
        'the vocabulary has no [MASK] token, which masked-LM pretraining needs',
      );
    }
    this.maskId = vocabulary.maskId;
    this.special = new Set([
      vocabulary.padId,
      vocabulary.unkId,
      vocabulary.clsId,
      vocabulary.sepId,
      this.maskId,
    ]);
  }

  // Masks a packed batch; every choice comes from `rng`, so a step's masks follow from its seed.
  mask(batch: TokenBatch, rng: Rng): MaskedBatch {
    const ids = batch.ids.slice();
    const targets = new Int32Array(ids.length).fill(-1);
    for (let row = 0; row < batch.batch; row++) {
      const candidates: number[] = [];
      for (let t = row * batch.tokens; t < (row + 1) * batch.tokens; t++) {
        if (batch.mask[t] === 1 && !this.special.has(ids[t]!)) candidates.push(t);
      }
      const picks =
        candidates.length === 0 ? 0 : Math.max(1, Math.round(this.probability * candidates.length));
      // A partial Fisher-Yates shuffle: the first `picks` candidates are a uniform sample.
      for (let k = 0; k < picks; k++) {
        const j = k + rng.int(candidates.length - k);
        [candidates[k], candidates[j]] = [candidates[j]!, candidates[k]!];
        const at = candidates[k]!;
        targets[at] = ids[at]!;
        const u = rng.next();
        if (u < 0.8) ids[at] = this.maskId;
        else if (u < 0.9) ids[at] = this.randomToken(rng);
      }
    }
    return { batch: { ...batch, ids }, targets };
  }

  private randomToken(rng: Rng): number {
    let id = rng.int(this.vocabulary.size);
    while (this.special.has(id)) id = rng.int(this.vocabulary.size);
    return id;
  }
}
