#!/usr/bin/env python3
"""Writes a tiny BERT sequence classifier in the Hugging Face layout and the logits PyTorch computes for it.

The checkpoint (config.json, model.safetensors, vocab.txt, tokenizer_config.json) and reference.json (texts,
token ids, token types and logits) go to the folder given, by default test/fixtures/bert-tiny. The forward pass
is PyTorch's own post-LayerNorm nn.TransformerEncoderLayer with exact GELU, which computes a BERT layer; the
tokenizer is a plain reimplementation of BERT's basic + WordPiece tokenizer. Neither shares code with the
TypeScript it checks. Run once with Debian's python3-torch (1.13) to regenerate the committed fixture:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/make-bert-reference.py [--out DIR]
"""
import argparse
import json
import os
import struct
import unicodedata

import torch
from torch import nn

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a an film movie was is it this that not very good bad great awful wonderful boring plot actors acting "
    "story ending loved hated and but i you they what who did does man woman walks runs dog cat sleeps outside "
    "inside ? . , ! ' play played"
).split()
PIECES = ["##s", "##ed", "##ing", "##ly", "##er", "##y"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
VOCAB = list(dict.fromkeys(SPECIALS + WORDS + PIECES + LETTERS + ["##" + c for c in LETTERS]))

CONFIG = {
    "architectures": ["BertForSequenceClassification"],
    "model_type": "bert",
    "vocab_size": len(VOCAB),
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "hidden_act": "gelu",
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02,
    "id2label": {"0": "contradiction", "1": "entailment", "2": "neutral"},
    "label2id": {"contradiction": 0, "entailment": 1, "neutral": 2},
    "pad_token_id": 0,
}

SINGLES = [
    "The film was wonderful!",
    "A boring plot, and the acting was awful.",
    "It's not very good.",
    "Zebras played outside",
    "Cafés? Ünusual wörds get their accents stripped.",
]
PAIRS = [
    ("A man walks the dog.", "A man is outside."),
    ("The cat sleeps inside.", "The cat runs outside."),
    ("They loved the ending.", "What did they hate?"),
]


def basic_tokens(text):
    """BERT's basic tokenizer for an uncased model: lowercase, strip accents, split on spaces and punctuation."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    out, word = [], ""
    for c in text:
        if c.isspace():
            if word:
                out.append(word)
            word = ""
        elif unicodedata.category(c).startswith("P") or (33 <= ord(c) <= 47) or (58 <= ord(c) <= 64):
            if word:
                out.append(word)
            out.append(c)
            word = ""
        else:
            word += c
    if word:
        out.append(word)
    return out


def wordpiece(word, ids):
    """Greedy longest-match-first WordPiece; a word with no match is [UNK]."""
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            piece = ("##" if start > 0 else "") + word[start:end]
            if piece in ids:
                found = piece
                break
            end -= 1
        if found is None:
            return [ids["[UNK]"]]
        pieces.append(ids[found])
        start = end
    return pieces


def encode(text, ids):
    return [p for w in basic_tokens(text) for p in wordpiece(w, ids)]


def pack(a, b, ids):
    """[CLS] a [SEP] (b [SEP]) with token types 0 and 1."""
    tokens = [ids["[CLS]"]] + a + [ids["[SEP]"]]
    types = [0] * len(tokens)
    if b is not None:
        tokens += b + [ids["[SEP]"]]
        types += [1] * (len(b) + 1)
    return tokens, types


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.word = nn.Embedding(c["vocab_size"], h)
        self.position = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type = nn.Embedding(c["type_vocab_size"], h)
        self.norm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                h, c["num_attention_heads"], c["intermediate_size"], dropout=0.0, activation="gelu",
                layer_norm_eps=c["layer_norm_eps"], batch_first=True, norm_first=False,
            )
            for _ in range(c["num_hidden_layers"])
        )
        self.pooler = nn.Linear(h, h)
        self.classifier = nn.Linear(h, len(c["id2label"]))

    def forward(self, ids, types, mask):
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.norm(self.word(ids) + self.position(positions) + self.token_type(types))
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=~mask)
        return self.classifier(torch.tanh(self.pooler(x[:, 0])))

    def hf_state(self):
        """The weights under Hugging Face's BertForSequenceClassification names (Linear weights are [out, in])."""
        s = {
            "bert.embeddings.word_embeddings.weight": self.word.weight,
            "bert.embeddings.position_embeddings.weight": self.position.weight,
            "bert.embeddings.token_type_embeddings.weight": self.token_type.weight,
            "bert.embeddings.LayerNorm.weight": self.norm.weight,
            "bert.embeddings.LayerNorm.bias": self.norm.bias,
            "bert.pooler.dense.weight": self.pooler.weight,
            "bert.pooler.dense.bias": self.pooler.bias,
            "classifier.weight": self.classifier.weight,
            "classifier.bias": self.classifier.bias,
        }
        for i, layer in enumerate(self.layers):
            p = f"bert.encoder.layer.{i}."
            q, k, v = layer.self_attn.in_proj_weight.chunk(3)
            qb, kb, vb = layer.self_attn.in_proj_bias.chunk(3)
            s.update({
                p + "attention.self.query.weight": q, p + "attention.self.query.bias": qb,
                p + "attention.self.key.weight": k, p + "attention.self.key.bias": kb,
                p + "attention.self.value.weight": v, p + "attention.self.value.bias": vb,
                p + "attention.output.dense.weight": layer.self_attn.out_proj.weight,
                p + "attention.output.dense.bias": layer.self_attn.out_proj.bias,
                p + "attention.output.LayerNorm.weight": layer.norm1.weight,
                p + "attention.output.LayerNorm.bias": layer.norm1.bias,
                p + "intermediate.dense.weight": layer.linear1.weight,
                p + "intermediate.dense.bias": layer.linear1.bias,
                p + "output.dense.weight": layer.linear2.weight,
                p + "output.dense.bias": layer.linear2.bias,
                p + "output.LayerNorm.weight": layer.norm2.weight,
                p + "output.LayerNorm.bias": layer.norm2.bias,
            })
        return {name: t.detach().contiguous() for name, t in s.items()}


def write_safetensors(path, tensors):
    """The safetensors layout by hand (8-byte header length, JSON header, raw little-endian float32 data)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        data = tensors[name].to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "bert-tiny"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(20261203)
    model = Bert(CONFIG).eval()
    with torch.no_grad():
        # Larger than BERT's 0.02 initializer so that the logits differ clearly between inputs.
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    ids = {t: i for i, t in enumerate(VOCAB)}
    cases = [{"text": t, **dict(zip(("ids", "types"), pack(encode(t, ids), None, ids)))} for t in SINGLES]
    cases += [
        {"text": a, "text_pair": b, **dict(zip(("ids", "types"), pack(encode(a, ids), encode(b, ids), ids)))}
        for a, b in PAIRS
    ]
    longest = max(len(c["ids"]) for c in cases)
    batch = torch.zeros(len(cases), longest, dtype=torch.long)
    types = torch.zeros(len(cases), longest, dtype=torch.long)
    mask = torch.zeros(len(cases), longest, dtype=torch.bool)
    for r, c in enumerate(cases):
        n = len(c["ids"])
        batch[r, :n] = torch.tensor(c["ids"])
        types[r, :n] = torch.tensor(c["types"])
        mask[r, :n] = True
    with torch.no_grad():
        logits = model(batch, types, mask)
    for c, row in zip(cases, logits):
        c["logits"] = [float(v) for v in row]
    write_safetensors(os.path.join(args.out, "model.safetensors"), model.hf_state())
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "strip_accents": None, "model_max_length": 64}, f, indent=2)
    with open(os.path.join(args.out, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
    print(f"wrote {args.out}: {len(cases)} cases, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
