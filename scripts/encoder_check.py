#!/usr/bin/env python3
"""Which sentence encoder to build into discotag: frozen features and a logistic head per code,
trained on the real train split (plus, with --with-synthetic, the synthetic train split), each
code's threshold chosen on real dev, scored on real dev. The test split is not read.

Needs sentence-transformers and scikit-learn (any venv); encoders from local folders:

  python3 scripts/encoder_check.py --encoder minilm=DIR --encoder mpnet=DIR [--with-synthetic]
"""
import argparse
import json
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parent.parent
CODES = ["prevention", "empowerment", "efficiency"]


def load(path: Path):
    rows = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    return [r["text"] for r in rows], np.array([[c in r["labels"] for c in CODES] for r in rows])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--encoder", action="append", required=True, help="NAME=DIR")
    p.add_argument("--with-synthetic", action="store_true")
    args = p.parse_args()
    train_x, train_y = load(ROOT / "data/real/train.jsonl")
    if args.with_synthetic:
        sx, sy = load(ROOT / "data/labelled/train.jsonl")
        train_x, train_y = train_x + sx, np.vstack([train_y, sy])
    dev_x, dev_y = load(ROOT / "data/real/dev.jsonl")
    for spec in args.encoder:
        name, folder = spec.split("=", 1)
        model = SentenceTransformer(folder, device="cpu")
        model.max_seq_length = 256
        tr = model.encode(train_x, batch_size=32, normalize_embeddings=True)
        dv = model.encode(dev_x, batch_size=32, normalize_embeddings=True)
        f1s = {}
        for c, code in enumerate(CODES):
            best = 0.0
            for strength in (0.3, 1.0, 3.0, 10.0):
                clf = LogisticRegression(C=strength, class_weight="balanced", max_iter=2000)
                clf.fit(tr, train_y[:, c])
                scores = clf.predict_proba(dv)[:, 1]
                for t in np.arange(0.05, 0.96, 0.01):
                    best = max(best, f1_score(dev_y[:, c], scores >= t, zero_division=0))
            f1s[code] = round(best, 3)
        print(json.dumps({"encoder": name, "with_synthetic": args.with_synthetic, "dev_f1": f1s,
                          "dev_macro_f1": round(sum(f1s.values()) / 3, 3)}))


if __name__ == "__main__":
    main()
