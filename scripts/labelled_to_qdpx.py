#!/usr/bin/env python3
"""Export labelled utterances (discotag JSONL: id, text, labels) as a REFI-QDA project (.qdpx),
coded by one coder, as a research team's QDA tool would export it.

Every --per-source consecutive utterances become one text source, a transcript of speaker
turns ("Respondent: <text>", blank line between turns); each of an utterance's labels is one
coding of that utterance's text (the words after "Respondent: ") by the coder. Codes are the
codebook's codes under a non-codable "Discourses" parent (with the definitions as
descriptions), so `train --data x.qdpx` without --codebook finds them as NVivo users name them.
Sources are stored as `Sources/<GUID>.txt` (UTF-8, LF line ends).

  python3 scripts/labelled_to_qdpx.py data/labelled/train.jsonl --codebook CODEBOOK.toml \\
      --out train.qdpx [--coder "Ruth Okonjo"] [--per-source 20]

The output is deterministic (GUIDs come from a hash of the input). Used by the train/eval
tests (tests/cli/train_eval.rs) and to check that training from a project matches training from
the same labels in JSONL (docs/FEW_SHOT.md).
"""
import argparse
import hashlib
import json
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

DATE = "2026-01-01T00:00:00Z"


def guid(*parts: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256("|".join(parts).encode()).digest()[:16], version=4)).upper()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path)
    p.add_argument("--codebook", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--coder", default="Coder A")
    p.add_argument("--per-source", type=int, default=20)
    args = p.parse_args()

    codebook = tomllib.loads(args.codebook.read_text(encoding="utf-8"))
    codes = codebook["codes"]
    rows = [json.loads(l) for l in args.data.read_text(encoding="utf-8").splitlines() if l.strip()]
    seed = args.data.name
    user = guid(seed, "user", args.coder)
    parent = guid(seed, "code", "Discourses")
    code_guid = {c["name"]: guid(seed, "code", c["name"]) for c in codes}

    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<Project xmlns="urn:QDA-XML:project:1.0" name={quoteattr(args.data.stem)} origin="discotag scripts/labelled_to_qdpx.py" '
        f'creatingUserGUID="{user}" creationDateTime="{DATE}">',
        f'  <Users><User guid="{user}" name={quoteattr(args.coder)}/></Users>',
        "  <CodeBook><Codes>",
        f'    <Code guid="{parent}" name="Discourses" isCodable="false">',
    ]
    for c in codes:
        out.append(
            f'      <Code guid="{code_guid[c["name"]]}" name={quoteattr(c["name"].capitalize())} isCodable="true">'
            f'<Description>{escape(c["definition"])}</Description></Code>'
        )
    out += ["    </Code>", "  </Codes></CodeBook>", "  <Sources>"]
    texts = {}
    for start in range(0, len(rows), args.per_source):
        chunk = rows[start : start + args.per_source]
        source = guid(seed, "source", str(start))
        text, selections = "", []
        for row in chunk:
            if text:
                text += "\n\n"
            text += "Respondent: "
            begin = len(text)  # code points: Python strings index code points
            text += " ".join(row["text"].split())
            for label in row["labels"]:
                if label not in code_guid:
                    sys.exit(f"{args.data}: id {row['id']}: unknown code {label!r}")
                selections.append((row["id"], label, begin, len(text)))
        text += "\n"
        texts[source] = text
        name = f"{args.data.stem} {start // args.per_source + 1:03d}"
        out.append(
            f'    <TextSource guid="{source}" name={quoteattr(name)} plainTextPath="internal://{source}.txt" '
            f'creatingUser="{user}" creationDateTime="{DATE}">'
        )
        for row_id, label, begin, end in selections:
            sel = guid(seed, "selection", str(row_id), label)
            out.append(
                f'      <PlainTextSelection guid="{sel}" startPosition="{begin}" endPosition="{end}" '
                f'creatingUser="{user}" creationDateTime="{DATE}">'
                f'<Coding guid="{guid(seed, "coding", str(row_id), label)}" creatingUser="{user}" '
                f'creationDateTime="{DATE}"><CodeRef targetGUID="{code_guid[label]}"/></Coding></PlainTextSelection>'
            )
        out.append("    </TextSource>")
    out += ["  </Sources>", "</Project>", ""]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(args.out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("project.qde", "\n".join(out))
        for source, text in texts.items():
            z.writestr(f"Sources/{source}.txt", text)
    print(f"{args.out}: {len(rows)} utterances in {len(texts)} sources, coder {args.coder!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
