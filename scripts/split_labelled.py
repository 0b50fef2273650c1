#!/usr/bin/env python3
"""Split a labelled-utterance JSONL file into train, dev and test files, once, before training.

Stratified by label combination and deterministic: within each combination, utterances are
ordered by sha256(seed + id); the first 15% go to test, the next 15% to dev, the rest to train.
The test split is never used for a choice (no thresholds, no checkpoints, no settings).

Usage: python3 scripts/split_labelled.py data/labelled/joint_commissioning.jsonl data/labelled
"""
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

SEED = "discotag-split-v1"
TEST_SHARE = 0.15
DEV_SHARE = 0.15


def main() -> None:
    source, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row["labels"]))].append(row)
    splits = {"train": [], "dev": [], "test": []}
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda r: hashlib.sha256((SEED + str(r["id"])).encode()).hexdigest())
        n_test = round(len(members) * TEST_SHARE)
        n_dev = round(len(members) * DEV_SHARE)
        splits["test"] += members[:n_test]
        splits["dev"] += members[n_test : n_test + n_dev]
        splits["train"] += members[n_test + n_dev :]
    for name, members in splits.items():
        members.sort(key=lambda r: str(r["id"]))
        path = out_dir / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in members), encoding="utf-8")
        print(f"{path}: {len(members)}")


if __name__ == "__main__":
    main()
