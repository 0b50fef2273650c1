#!/usr/bin/env python3
"""Dev-only check: does averaging two models' calibrated scores (the default, MPNet, and
models/fast, MiniLM) beat the first alone on real dev? Per-code thresholds are chosen by 5-fold
cross-validation inside dev (chosen on 4/5, scored on the other 1/5), so no passage is scored
at thresholds chosen on it. Needs pyarrow (e.g. the bench venv: target/bench-venv).

  for m in default fast; do
    discotag label data/real/dev.jsonl --model models/$m --unit turn --max-tokens 256 \
      --precision fp32 --out target/ensemble/$m
  done
  target/bench-venv/bin/python scripts/ensemble_check.py target/ensemble/default target/ensemble/fast
"""
import json, sys, random
from pathlib import Path
import pyarrow.dataset as ds
CODES = ["prevention", "empowerment", "efficiency"]
def scores(folder):
    t = ds.dataset(folder + "/segments").to_table().to_pylist()
    return {r["record_id"]: [r["score_" + c] for c in CODES] for r in t}
gold = {}
for line in open(Path(__file__).resolve().parent.parent / "data/real/dev.jsonl", encoding="utf-8"):
    r = json.loads(line); gold[r["id"]] = [c in r["labels"] for c in CODES]
ids = sorted(gold)
A = scores(sys.argv[1]); B = scores(sys.argv[2])
assert set(A) == set(gold) == set(B), (len(A), len(B), len(gold))
def f1(pairs):
    tp = sum(p and g for p, g in pairs); fp = sum(p and not g for p, g in pairs); fn = sum(g and not p for p, g in pairs)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
grid = [i / 100 for i in range(5, 96)]
def cv_macro(score):
    rng = random.Random(7); order = ids[:]; rng.shuffle(order)
    folds = [order[i::5] for i in range(5)]
    per_code = []
    for c in range(3):
        pred = {}
        for k in range(5):
            train = [i for j, f in enumerate(folds) if j != k for i in f]
            best = max(grid, key=lambda t: (f1([(score[i][c] >= t, gold[i][c]) for i in train]), -abs(t - 0.5)))
            for i in folds[k]: pred[i] = score[i][c] >= best
        per_code.append(f1([(pred[i], gold[i][c]) for i in ids]))
    return sum(per_code) / 3, per_code
for name, w in [("default", 1.0), ("fast", 0.0), ("avg 0.5", 0.5), ("avg 0.6", 0.6), ("avg 0.7", 0.7), ("avg 0.8", 0.8)]:
    s = {i: [w * a + (1 - w) * b for a, b in zip(A[i], B[i])] for i in ids}
    m, pc = cv_macro(s)
    print(f"{name:10s} dev macro-F1 (5-fold CV thresholds) {m:.3f}  " + " ".join(f"{c} {x:.3f}" for c, x in zip(CODES, pc)))
