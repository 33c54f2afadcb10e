#!/usr/bin/env python3
"""Times the same encoder in PyTorch, as a peer for `npm run bench` (which runs this script and reads its JSON).

The model is the pre-LayerNorm subnet the bench times on onnxruntime: token and position embeddings, per layer
LayerNorm, query/key/value/output projections of `heads * head_size`, softmax attention, LayerNorm, a GELU
feed-forward, then a final LayerNorm, masked mean pooling, a tanh pooler and the classifier. Random weights:
only the time is read. Usage (the bench sets the thread variables before torch is imported, see NOTES.md):

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 scripts/bench-torch.py '<json spec>'

spec: {"vocab": n, "hidden": h, "headSize": d, "maxTokens": t, "labels": k, "threads": n,
       "layers": [{"heads": a, "ffn": f}, ...], "shapes": [[batch, tokens], ...], "targetMs": ms}
Prints {"torch": version, "threads": n, "blas": [libraries], "rows": [{"batch", "tokens", "p50Ms", "p90Ms", "reps"}]}.
Debian's torch calls whichever libblas.so.3 the alternatives system names: the reference BLAS (libblas3) is ~30x
slower than OpenBLAS (libopenblas0-pthread), so the BLAS libraries loaded are part of the output.
"""
import json
import math
import sys
import time

import torch
from torch import nn


class Layer(nn.Module):
    def __init__(self, hidden, heads, head_size, ffn):
        super().__init__()
        width = heads * head_size
        self.heads, self.head_size = heads, head_size
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.query, self.key, self.value = (nn.Linear(hidden, width) for _ in range(3))
        self.output = nn.Linear(width, hidden)
        self.ffn_in, self.ffn_out = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)

    def forward(self, x, bias):
        b, t, _ = x.shape
        n = self.norm1(x)
        split = lambda y: y.view(b, t, self.heads, self.head_size).transpose(1, 2)  # [b, heads, t, d]
        q, k, v = split(self.query(n)), split(self.key(n)), split(self.value(n))
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_size) + bias  # [b, heads, t, t]
        context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.output(context)
        return x + self.ffn_out(nn.functional.gelu(self.ffn_in(self.norm2(x)), approximate="tanh"))


class Encoder(nn.Module):
    def __init__(self, spec):
        super().__init__()
        h = spec["hidden"]
        self.tokens = nn.Embedding(spec["vocab"], h)
        self.positions = nn.Embedding(spec["maxTokens"], h)
        self.norm = nn.LayerNorm(h)
        self.layers = nn.ModuleList(Layer(h, l["heads"], spec["headSize"], l["ffn"]) for l in spec["layers"])
        self.final = nn.LayerNorm(h)
        self.pooler = nn.Linear(h, h)
        self.classifier = nn.Linear(h, spec["labels"])

    def forward(self, ids, mask):
        t = ids.shape[1]
        x = self.norm(self.tokens(ids) + self.positions.weight[:t])
        maskf = mask.to(torch.float32)
        bias = ((1 - maskf) * -1e9)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        x = self.final(x)
        pooled = (maskf[:, :, None] * x).sum(1) / maskf.sum(1, keepdim=True)
        return self.classifier(torch.tanh(self.pooler(pooled)))


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    model = Encoder(spec).eval()
    rows = []
    with torch.inference_mode():
        for batch, tokens in spec["shapes"]:
            ids = torch.randint(1, spec["vocab"], (batch, tokens))
            mask = torch.ones(batch, tokens, dtype=torch.int32)
            for _ in range(3):
                model(ids, mask)
            t0 = time.perf_counter()
            model(ids, mask)
            estimate = max((time.perf_counter() - t0) * 1000, 0.01)
            reps = min(400, max(10, math.ceil(spec["targetMs"] / estimate)))
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                model(ids, mask)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            rows.append(
                {
                    "batch": batch,
                    "tokens": tokens,
                    "p50Ms": times[len(times) // 2],
                    "p90Ms": times[min(len(times) - 1, int(0.9 * len(times)))],
                    "reps": reps,
                }
            )
    print(json.dumps({"torch": torch.__version__, "threads": spec["threads"], "blas": blas_libraries(), "rows": rows}))


def blas_libraries():
    """The BLAS shared libraries this process has loaded (Linux), by file name."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    except OSError:
        return []
    return sorted(paths)


if __name__ == "__main__":
    main()
