#!/usr/bin/env python3
"""Few-shot quality: how `discotag train` does when a team has coded only 25, 50, 100, 200 or
all of its units, in head mode and fine-tuned, on both codebooks.

At each size, the first N utterances of the training split in a seeded order (so each sample
holds the smaller ones) are all a team would have: `discotag train` runs on them with its
default settings and no --dev, so its own dev split comes out of those N units, as it would
for the team. Each model is then scored with `discotag eval --json` on the codebook's dev split
(for choosing default settings) and on its test split (for the report; never used for a
choice). Time and peak memory of training come from /usr/bin/time.

  python3 scripts/few_shot.py [--codebooks default second] [--sizes 25 50 100 200 0] \\
      [--modes head finetune] [--out target/few-shot]

Size 0 means every training utterance. Results go to OUT/results.jsonl (one line per run) and a
markdown table to stdout (docs/FEW_SHOT.md quotes it).
"""
import argparse
import json
import os
import random
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "discotag"
CODEBOOKS = {
    "default": (ROOT / "data/codebooks/joint_commissioning.toml", ROOT / "data/labelled"),
    "second": (ROOT / "data/codebooks/policy_imperatives.toml", ROOT / "data/labelled/policy_imperatives"),
}


def rows(path: Path) -> list[str]:
    return [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def evaluate(model: Path, data: Path) -> dict:
    out = subprocess.run([str(BIN), "eval", "--model", str(model), "--data", str(data), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def run(codebook: str, n: int, mode: str, out: Path) -> dict:
    codebook_file, folder = CODEBOOKS[codebook]
    train = rows(folder / "train.jsonl")
    random.Random(13).shuffle(train)
    sample = train if n == 0 else train[:n]
    name = f"{codebook}-{len(sample)}-{mode}"
    data = out / f"{name}.jsonl"
    data.write_text("\n".join(sample) + "\n", encoding="utf-8")
    model = out / name
    cmd = ["/usr/bin/time", "-f", "%e %M", str(BIN), "train", "--codebook", str(codebook_file),
           "--data", str(data), "--out", str(model), "--mode", mode, "--curve-repeats", "0"]
    started = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True)
    result = {"codebook": codebook, "n_train": len(sample), "mode": mode}
    if done.returncode != 0:
        result["error"] = done.stderr.strip().splitlines()[-2:]
        return result
    seconds, kb = done.stderr.strip().splitlines()[-1].split()
    result.update(train_seconds=round(float(seconds)), train_peak_rss_mb=int(kb) // 1024,
                  wall=round(time.time() - started))
    for split in ("dev", "test"):
        report = evaluate(model, folder / f"{split}.jsonl")
        result[f"{split}_macro_f1"] = round(report["macro_f1"], 3)
        result[f"{split}_macro_kappa"] = round(report["macro_kappa"], 3) if report["macro_kappa"] is not None else None
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--codebooks", nargs="*", default=["default", "second"], choices=sorted(CODEBOOKS))
    p.add_argument("--sizes", nargs="*", type=int, default=[25, 50, 100, 200, 0])
    p.add_argument("--modes", nargs="*", default=["head", "finetune"], choices=["head", "finetune"])
    p.add_argument("--out", type=Path, default=ROOT / "target/few-shot")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with open(args.out / "results.jsonl", "a", encoding="utf-8") as log:
        for codebook in args.codebooks:
            for mode in args.modes:
                for n in args.sizes:
                    result = run(codebook, n, mode, args.out)
                    print(json.dumps(result), flush=True)
                    log.write(json.dumps(result) + "\n")
                    log.flush()
                    results.append(result)
    print("\n| codebook | mode | coded units | dev F1 / kappa | test F1 / kappa | training time, peak RSS |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['codebook']} | {r['mode']} | {r['n_train']} | not trainable: {r['error'][-1]} | | |")
            continue
        print(f"| {r['codebook']} | {r['mode']} | {r['n_train']} | {r['dev_macro_f1']:.3f} / {r['dev_macro_kappa']} "
              f"| {r['test_macro_f1']:.3f} / {r['test_macro_kappa']} | {r['train_seconds']} s, {r['train_peak_rss_mb']} MB |")


if __name__ == "__main__":
    main()
