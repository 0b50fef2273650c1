#!/usr/bin/env python3
"""Cut labelled passages into fragments, as published quotes are cut from longer answers.

For each passage of two or more sentences, writes every sentence and every run of two
consecutive sentences as an extra training item that inherits the passage's labels (a fragment
of a coded passage usually still carries the code; where it does not, the label is noise the
dev split measures). Long single sentences are also cut at a clause boundary (a comma or dash
after at least eight words). Fragments of fewer than five words are skipped. The originals are
written too, first, unchanged.

  python3 scripts/fragments.py IN.jsonl [IN2.jsonl ...] > OUT.jsonl
"""
import json
import re
import sys

SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"'“‘(]*[A-Z0-9])")
CLAUSE = re.compile(r"(?:,|;| –| -| —)\s+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if s.strip()]


def clause_cuts(sentence: str) -> list[str]:
    words = sentence.split()
    if len(words) < 20:
        return []
    out = []
    for m in CLAUSE.finditer(sentence):
        head, tail = sentence[: m.start()].strip(), sentence[m.end():].strip()
        if len(head.split()) >= 8 and len(tail.split()) >= 8:
            out += [head, tail]
            break
    return out


def main() -> None:
    seen = set()
    for path in sys.argv[1:]:
        for line in open(path, encoding="utf-8"):
            if not line.strip():
                continue
            row = json.loads(line)
            print(json.dumps({"id": row["id"], "text": row["text"], "labels": row["labels"]}, ensure_ascii=False))
            parts = sentences(row["text"])
            pieces = []
            if len(parts) >= 2:
                pieces += parts + [" ".join(parts[i:i + 2]) for i in range(len(parts) - 2)]
            for s in parts:
                pieces += clause_cuts(s)
            for k, piece in enumerate(dict.fromkeys(pieces)):
                if len(piece.split()) < 5 or piece == row["text"] or piece in seen:
                    continue
                seen.add(piece)
                print(json.dumps({"id": f"{row['id']}~f{k}", "text": piece, "labels": row["labels"]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
