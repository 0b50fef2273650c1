#!/usr/bin/env python3
"""Build data/real/{train,dev,test}.jsonl: verbatim real passages, double-coded and adjudicated.

Steps (each reads what the one before wrote; see data/README.md, "Real passages"):

  merge     raw collector files (data/real/raw/*.jsonl) -> data/real/pool.jsonl
            keeps a passage only if its text is, after collapsing whitespace, a substring of
            the page excerpt the collector saved (--pages DIR); drops exact and near-exact
            duplicates and passages outside 3..150 words; ids are `real-<collector id>`
  split     data/real/pool.jsonl -> data/real/split.json: every source (a page, joined with
            any page of the same title) goes to one split, train 60% / dev 20% / test 20% of
            passages, balanced by register, before any coding is looked at
  kappa     Cohen's kappa per code between two coders' files (id + labels per line)
  assemble  pool + split + coder A + coder B + adjudication -> data/real/{train,dev,test}.jsonl
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "real"
CODES = ["prevention", "empowerment", "efficiency"]
SPLITS = {"train": 0.6, "dev": 0.2, "test": 0.2}


def read_jsonl(path: Path) -> list[dict]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: {e}")
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def fingerprint(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def normal_url(url: str) -> str:
    url = re.sub(r"^https?://(www\.)?", "", (url or "").strip().lower())
    return url.split("#")[0].split("?")[0].rstrip("/")


def merge(args) -> None:
    kept, dropped = [], Counter()
    seen: set[str] = set()
    # Earlier rounds: their passages and their sources (a later round adds new sources only).
    used_urls, used_titles = set(), set()
    for path in args.against:
        for row in read_jsonl(path):
            seen.add(fingerprint(row["text"]))
            used_urls.add(normal_url(row.get("url")))
            used_titles.add(((row.get("source") or {}).get("title") or "").strip().lower())
    used_titles.discard("")
    for raw in sorted(args.raw.glob("*.jsonl")):
        for row in read_jsonl(raw):
            text = collapse(row.get("text", ""))
            page = args.pages / row.get("page_file", "")
            if not row.get("page_file") or not page.is_file():
                dropped["no saved page"] += 1
                continue
            if text not in collapse(page.read_text(encoding="utf-8")):
                dropped["not verbatim in its page"] += 1
                continue
            title = ((row.get("source") or {}).get("title") or "").strip().lower()
            if normal_url(row.get("url")) in used_urls or title in used_titles:
                dropped["source used in an earlier round"] += 1
                continue
            words = len(text.split())
            if not 3 <= words <= 150:
                dropped["length"] += 1
                continue
            key = fingerprint(text)
            if key in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(key)
            source = row.get("source") or {}
            kept.append({
                "text": text,
                "source": {k: source.get(k) for k in ("title", "publisher", "date")},
                "url": row.get("url"),
                "speaker": row.get("speaker"),
                "speaker_role": row.get("speaker_role"),
                "register": row.get("register"),
                "collector_id": row.get("id"),
            })
    # a passage contained in a longer kept passage of the same page is a near duplicate
    by_url = defaultdict(list)
    for row in kept:
        by_url[normal_url(row["url"])].append(row)
    final = []
    for row in kept:
        mine = fingerprint(row["text"])
        if any(o is not row and mine in fingerprint(o["text"]) and len(o["text"]) > len(row["text"])
               for o in by_url[normal_url(row["url"])]):
            dropped["inside a longer passage"] += 1
            continue
        final.append(row)
    for row in final:
        # stable across merges: collectors' ids are unique per collector
        row["id"] = f"real-{row['collector_id']}"
    ordered = [{"id": r["id"], **{k: v for k, v in r.items() if k != "id"}} for r in final]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out, ordered)
    print(f"kept {len(ordered)}; dropped {dict(dropped)}")
    print("by register:", dict(Counter(r["register"] for r in ordered)))
    print("distinct urls:", len({normal_url(r['url']) for r in ordered}))


def coding_input(args) -> None:
    done = set()
    for path in args.exclude:
        done |= {r["id"] for r in read_jsonl(path)}
    rows = [{"id": r["id"], "text": r["text"]} for r in read_jsonl(args.pool) if r["id"] not in done]
    random.Random(7).shuffle(rows)
    for k in range(args.parts):
        part = rows[k::args.parts]
        write_jsonl(Path(f"{args.out}_{k + 1}.jsonl"), part)
        print(f"{args.out}_{k + 1}.jsonl: {len(part)}")


def source_groups(rows: list[dict]) -> dict[str, str]:
    """Passage id -> source key; pages sharing a url or a title are one source."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in rows:
        u = "url:" + normal_url(r["url"])
        title = ((r.get("source") or {}).get("title") or "").strip().lower()
        find(u)
        if title:
            parent[find("title:" + title)] = find(u)
    return {r["id"]: find("url:" + normal_url(r["url"])) for r in rows}


def split(args) -> None:
    rows = read_jsonl(REAL / "pool.jsonl")
    groups = source_groups(rows)
    members = defaultdict(list)
    for r in rows:
        members[groups[r["id"]]].append(r)
    keys = sorted(members)
    random.Random(args.seed).shuffle(keys)
    # biggest sources first, so the small ones can even out the shares
    keys.sort(key=lambda k: -len(members[k]))
    total = len(rows)
    reg_total = Counter(r["register"] for r in rows)
    count = Counter()
    reg_count = defaultdict(Counter)
    assignment = {}
    for k in keys:
        regs = Counter(r["register"] for r in members[k])

        def deficit(s: str) -> float:
            share = SPLITS[s] * total - count[s]
            by_reg = sum(SPLITS[s] * reg_total[g] - reg_count[s][g] for g in regs)
            return share + 0.5 * by_reg

        best = max(SPLITS, key=deficit)
        assignment[k] = best
        count[best] += len(members[k])
        reg_count[best].update(regs)
    out = {r["id"]: assignment[groups[r["id"]]] for r in rows}
    (REAL / "split.json").write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print("passages per split:", dict(Counter(out.values())))
    print("sources per split:", dict(Counter(assignment.values())))


def labels_of(path: Path) -> dict[str, list[str]]:
    out = {}
    for row in read_jsonl(path):
        labels = sorted(set(row["labels"]), key=CODES.index)
        unknown = set(labels) - set(CODES)
        if unknown:
            sys.exit(f"{path}: {row['id']}: unknown codes {unknown}")
        out[row["id"]] = labels
    return out


def cohen_kappa(a: list[bool], b: list[bool]) -> float:
    n = len(a)
    tp = sum(x and y for x, y in zip(a, b))
    fp = sum((not x) and y for x, y in zip(a, b))
    fn = sum(x and not y for x, y in zip(a, b))
    tn = n - tp - fp - fn
    den = (tp + fp) * (fp + tn) + (tp + fn) * (fn + tn)
    return float("nan") if den == 0 else 2 * (tp * tn - fp * fn) / den


def kappa_table(a: dict, b: dict, ids: list[str]) -> dict:
    out = {}
    for c in CODES:
        x = [c in a[i] for i in ids]
        y = [c in b[i] for i in ids]
        out[c] = {"kappa": cohen_kappa(x, y), "agreement": sum(p == q for p, q in zip(x, y)) / len(ids),
                  "a": sum(x), "b": sum(y)}
    out["macro_kappa"] = sum(out[c]["kappa"] for c in CODES) / len(CODES)
    return out


def kappa(args) -> None:
    a, b = labels_of(args.a), labels_of(args.b)
    ids = sorted(set(a) & set(b))
    print(json.dumps({"n": len(ids), **kappa_table(a, b, ids)}, indent=1))


def assemble(args) -> None:
    pool = read_jsonl(args.pool)
    if args.all_to:
        where = {r["id"]: args.all_to for r in pool}
    else:
        where = json.loads((REAL / "split.json").read_text())
    a, b = labels_of(args.a), labels_of(args.b)
    adjudicated = {r["id"]: r for r in read_jsonl(args.adjudicated)}
    out = defaultdict(list)
    missing = []
    for r in pool:
        i = r["id"]
        if i not in a or i not in b:
            missing.append(i)
            continue
        if a[i] == b[i]:
            labels, note = a[i], None
        elif i in adjudicated:
            labels = sorted(set(adjudicated[i]["labels"]), key=CODES.index)
            note = adjudicated[i].get("reason")
        else:
            missing.append(i)
            continue
        row = {"id": i, "text": r["text"], "labels": labels, "coder_a": a[i], "coder_b": b[i],
               "source": r["source"], "url": r["url"], "speaker_role": r.get("speaker_role"),
               "register": r.get("register")}
        if note:
            row["adjudication"] = note
        out[where[i]].append(row)
    if missing:
        sys.exit(f"{len(missing)} passages lack a coding or an adjudication, e.g. {missing[:5]}")
    for s, rows in out.items():
        write_jsonl(args.pool.parent / f"{s}.jsonl", rows)
    everything = [r for rows in out.values() for r in rows]
    print("per split:", {s: len(v) for s, v in out.items()})
    print("none share:", sum(not r["labels"] for r in everything) / len(everything))
    print("per code:", {c: sum(c in r["labels"] for r in everything) for c in CODES})
    ids = [r["id"] for r in everything]
    print("coder kappa (all):", json.dumps(kappa_table(a, b, ids)))
    for s, rows in sorted(out.items()):
        print(f"coder kappa ({s}):", json.dumps(kappa_table(a, b, [r["id"] for r in rows])))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("merge")
    m.add_argument("--pages", type=Path, required=True, help="folder of the page excerpts the collectors saved")
    m.add_argument("--raw", type=Path, default=REAL / "raw", help="folder of the collectors' files")
    m.add_argument("--out", type=Path, default=REAL / "pool.jsonl")
    m.add_argument("--against", type=Path, nargs="*", default=[],
                   help="passages of earlier rounds: their texts and sources are not taken again")
    c = sub.add_parser("coding-input", help="id and text only, shuffled, for coders")
    c.add_argument("--exclude", type=Path, nargs="*", default=[], help="inputs already handed out")
    c.add_argument("--pool", type=Path, default=REAL / "pool.jsonl")
    c.add_argument("--parts", type=int, default=2)
    c.add_argument("--out", type=Path, required=True, help="prefix: writes PREFIX_1.jsonl ...")
    s = sub.add_parser("split")
    s.add_argument("--seed", type=int, default=2026)
    k = sub.add_parser("kappa")
    k.add_argument("a", type=Path)
    k.add_argument("b", type=Path)
    a = sub.add_parser("assemble")
    a.add_argument("--a", type=Path, required=True)
    a.add_argument("--b", type=Path, required=True)
    a.add_argument("--adjudicated", type=Path, required=True)
    a.add_argument("--pool", type=Path, default=REAL / "pool.jsonl", help="writes <split>.jsonl beside it")
    a.add_argument("--all-to", choices=sorted(SPLITS), help="put every passage in this split (a later round of new sources for training)")
    args = p.parse_args()
    {"merge": merge, "coding-input": coding_input, "split": split, "kappa": kappa, "assemble": assemble}[args.cmd](args)


if __name__ == "__main__":
    main()
