#!/usr/bin/env python3
"""Generate an interview-like corpus of plain-text transcripts for throughput and memory runs.

Each transcript has a `---` metadata header and 30-70 alternating Interviewer/Respondent turns
drawn (with a fixed seed) from the synthetic utterances in data/labelled/, some turns joined
into long answers, as real interviews have. The output is synthetic and for benchmarking only.

With --jsonl the same turns go to one JSONL file instead (one object per turn, with `doc_id`,
`speaker` and the header's fields), for single-file streaming and memory runs.

Usage: python3 scripts/make_corpus.py --mb 10 --out /tmp/corpus-10mb [--seed 1] [--jsonl]
"""
import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITES = ["Northtown", "Eastvale", "Southport", "Westbury", "Midford", "Riverside"]
ROLES = ["GP", "commissioner", "finance officer", "council officer", "councillor", "lay representative"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, required=True, help="approximate corpus size in MB")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jsonl", action="store_true", help="write one JSONL file (--out is the file)")
    args = parser.parse_args()

    utterances = []
    for name in ("train", "dev", "test"):
        for line in (ROOT / "data/labelled" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                utterances.append((row.get("speaker_role") == "interviewer", row["text"]))
    questions = [t for q, t in utterances if q]
    answers = [t for q, t in utterances if not q]
    rng = random.Random(args.seed)
    target = int(args.mb * 1024 * 1024)
    written, n = 0, 0
    if args.jsonl:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", encoding="utf-8") as out:
            while written < target:
                doc = {"doc_id": f"interview_{n:06d}", "site": rng.choice(SITES), "participant_role": rng.choice(ROLES)}
                for t in range(rng.randint(15, 35)):
                    answer = " ".join(rng.choice(answers) for _ in range(rng.choice([1, 1, 1, 2, 3])))
                    for speaker, text in (("Interviewer", rng.choice(questions)), ("Respondent", answer)):
                        line = json.dumps({"id": f"{doc['doc_id']}-{t}-{speaker[0]}", "speaker": speaker, "text": text, **doc}, ensure_ascii=False) + "\n"
                        out.write(line)
                        written += len(line.encode("utf-8"))
                n += 1
        print(f"{n} interviews, {written / 1024 / 1024:.1f} MB in {args.out}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    while written < target:
        lines = [
            "---",
            f"site: {rng.choice(SITES)}",
            f"participant_role: {rng.choice(ROLES)}",
            f"date: 2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "study: synthetic benchmark corpus",
            "---",
            "",
        ]
        for _ in range(rng.randint(15, 35)):
            lines += [f"Interviewer: {rng.choice(questions)}", ""]
            answer = " ".join(rng.choice(answers) for _ in range(rng.choice([1, 1, 1, 2, 3])))
            lines += [f"Respondent: {answer}", ""]
        text = "\n".join(lines)
        path = args.out / f"interview_{n:06d}.txt"
        path.write_text(text, encoding="utf-8")
        written += len(text.encode("utf-8"))
        n += 1
    print(f"{n} transcripts, {written / 1024 / 1024:.1f} MB in {args.out}")


if __name__ == "__main__":
    main()
