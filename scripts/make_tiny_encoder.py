#!/usr/bin/env python3
"""Write a tiny, randomly initialised BERT encoder folder (config.json, tokenizer.json,
model.safetensors) from tests/fixtures/tiny_encoder, for memory runs that should not be
dominated by the real encoder's compute. Not a useful model: its scores mean nothing.

Needs numpy and safetensors. Usage: python3 scripts/make_tiny_encoder.py /tmp/tiny-encoder
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    fixture = ROOT / "tests/fixtures/tiny_encoder"
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(fixture / name, out / name)
    c = json.loads((fixture / "config.json").read_text())
    h, i, rng = c["hidden_size"], c["intermediate_size"], np.random.default_rng(0)
    w = lambda *shape: (rng.standard_normal(shape) * 0.02).astype(np.float32)
    t = {
        "embeddings.word_embeddings.weight": w(c["vocab_size"], h),
        "embeddings.position_embeddings.weight": w(c["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": w(c["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": np.ones(h, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(h, np.float32),
    }
    for layer in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t[p + name + ".weight"], t[p + name + ".bias"] = w(h, h), np.zeros(h, np.float32)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = w(i, h), np.zeros(i, np.float32)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = w(h, i), np.zeros(h, np.float32)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + name + ".weight"], t[p + name + ".bias"] = np.ones(h, np.float32), np.zeros(h, np.float32)
    save_file(t, str(out / "model.safetensors"))
    print(f"tiny encoder in {out}")


if __name__ == "__main__":
    main()
