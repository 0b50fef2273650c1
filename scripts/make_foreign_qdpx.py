#!/usr/bin/env python3
"""Make a REFI-QDA project (.qdpx) with another QDA application: AQDA.

AQDA ("Augmented Qualitative Data Analysis", https://pypi.org/project/aqda/) is a local-first
QDA tool: a FastAPI web application with a browser front end and a SQLite database. This
script drives it headless through its own HTTP API (FastAPI's in-process TestClient, no
network, no browser), in a throw-away data folder:

1. create a project, upload two synthetic interview transcripts as .txt files (the first in
   UTF-8 with a byte-order mark and CRLF line ends, the second in UTF-8 with LF line ends and
   blank lines between paragraphs; both with accented letters, an emoji and curly quotes),
2. create the codes `prevention`, `empowerment`, `efficiency` and `co-production` nested under
   `empowerment`,
3. code passages as two coders (AQDA stamps each coding with the `coder_name` setting, so the
   script sets it to `Alice`, codes, then to `Bob`, codes), with overlapping codings, codings
   across a line end, next to and around the emoji, and up to the end of a text,
4. export the project with AQDA's own REFI-QDA exporter (`GET /api/export/{id}/qdpx`) to
   `tests/fixtures/refi-qda/aqda/commissioning.qdpx`,
5. dump, from AQDA's own API (`GET /api/codings`, `GET /api/codes`, `GET /api/documents/{id}`),
   NOT from the .qdpx, every coding's document name, code path, coder, positions and the
   highlighted text as AQDA stores it (`selected_text`), and each document's text as AQDA
   stores it, to `tests/fixtures/refi-qda/aqda/expected.json`.

Positions: AQDA stores codings as code-point offsets into the document text
(`coding.offset_unit = 'codepoint'`). Its browser front end converts the DOM selection's
UTF-16 offsets to code points before posting them, and `POST /api/codings` rejects a coding
unless `text[start_pos:end_pos]` (Python, code points) equals the posted `selected_text`.
This script posts what the front end would: the code-point offsets of the quoted passage,
found with `str.find` in the text AQDA returns for the document. The coding's text is then
checked by AQDA itself, not by this script.

Versions used: Python 3.11.7, aqda 0.5.0 (fastapi 0.165.0, starlette 1.10.0, httpx 0.28.1,
aiosqlite 0.22.1). Regenerate from the repository root:

    python3.11 -m venv /tmp/aqda-venv
    /tmp/aqda-venv/bin/pip install aqda==0.5.0
    /tmp/aqda-venv/bin/python scripts/make_foreign_qdpx.py

The export is not byte-for-byte reproducible: AQDA draws new random GUIDs and stamps dates on
every export. The texts, codes, codings and positions are the same on every run.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "refi-qda" / "aqda"

# Synthetic interview talk about joint commissioning (not real interviews).
DOC_A_NAME = "site_a_commissioner.txt"
DOC_A_LINES = [
    "Interviewer: What is joint commissioning for, in your view?",
    "Respondent: For me it’s about getting in early — the falls prevention service keeps "
    "people well and out of hospital, and that saves money later.",
    "Interviewer: And the people who use the services?",
    "Respondent: We run co-production sessions with carers; the café meetings 🙂 let people "
    "say what “good” looks like for them.",
    "Respondent: The pooled budget removes duplicated services — value for money, frankly, "
    "and fewer hand-offs.",
]
# UTF-8 with a byte-order mark and CRLF line ends, as Windows editors save transcripts.
DOC_A_BYTES = b"\xef\xbb\xbf" + "\r\n".join(DOC_A_LINES).encode("utf-8") + b"\r\n"

DOC_B_NAME = "site_b_lay_member.txt"
DOC_B_TEXT = (
    "Interviewer: Could you tell me about the Health and Wellbeing Board?\n"
    "\n"
    "Lay member (Zoë): Honestly? It’s the first place I’ve felt listened to 💬 — they asked "
    "us, the residents, to co-design the reablement pathway.\n"
    "\n"
    "They also said it would “cut costly hand-offs” between the council and the NHS, which "
    "worried me a little.\n"
    "\n"
    "Interviewer: Anything else?\n"
    "\n"
    "Lay member (Zoë): Early support, naïve as it sounds, keeps people independent for longer."
)
DOC_B_BYTES = DOC_B_TEXT.encode("utf-8")

# (coder, document, code, quoted passage[, occurrence]): what each coder highlights.
CODINGS = [
    ("Alice", DOC_A_NAME, "prevention",
     "getting in early — the falls prevention service keeps people well and out of hospital"),
    ("Alice", DOC_A_NAME, "efficiency", "and that saves money later."),
    ("Alice", DOC_A_NAME, "empowerment",
     "We run co-production sessions with carers; the café meetings 🙂 let people say what "
     "“good” looks like for them."),
    ("Alice", DOC_A_NAME, "co-production", "co-production sessions with carers"),
    ("Alice", DOC_A_NAME, "efficiency",
     "The pooled budget removes duplicated services — value for money, frankly, and fewer "
     "hand-offs.\r\n"),
    ("Bob", DOC_A_NAME, "prevention", "the falls prevention service keeps people well"),
    # Across a CRLF line end, into the next turn.
    ("Bob", DOC_A_NAME, "efficiency",
     "that saves money later.\r\nInterviewer: And the people"),
    # Starts right after the emoji.
    ("Bob", DOC_A_NAME, "empowerment", " let people say what “good” looks like for them."),
    ("Bob", DOC_A_NAME, "efficiency", "value for money"),
    ("Alice", DOC_B_NAME, "empowerment",
     "It’s the first place I’ve felt listened to 💬 — they asked us, the residents, to "
     "co-design the reablement pathway."),
    ("Alice", DOC_B_NAME, "co-production", "co-design the reablement pathway"),
    ("Alice", DOC_B_NAME, "efficiency", "“cut costly hand-offs”"),
    # To the very end of the text.
    ("Alice", DOC_B_NAME, "prevention",
     "Early support, naïve as it sounds, keeps people independent for longer."),
    # Across blank lines (two LFs), ends on the emoji.
    ("Bob", DOC_B_NAME, "empowerment", "felt listened to 💬"),
    ("Bob", DOC_B_NAME, "efficiency",
     "reablement pathway.\n\nThey also said it would “cut costly hand-offs” between the "
     "council and the NHS"),
    ("Bob", DOC_B_NAME, "prevention", "keeps people independent"),
]

CODES = [
    # (name, parent, description)
    ("prevention", None, "Intervening earlier and upstream: keeping people well, avoiding crises."),
    ("empowerment", None, "Services built around the needs and voices of the people who use them."),
    ("efficiency", None, "Getting more for the money: pooling, removing duplication, savings."),
    ("co-production", "empowerment", "Designing services together with the people who use them."),
]


def main() -> int:
    data_dir = tempfile.mkdtemp(prefix="aqda_data_")
    # AQDA reads its data folder from the environment when its modules are imported.
    os.environ["AQDA_DATA_DIR"] = data_dir
    import aqda
    from aqda.app import app
    from fastapi.testclient import TestClient

    def ok(response, status=200):
        if response.status_code != status:
            raise SystemExit(f"{response.request.method} {response.request.url}: "
                             f"{response.status_code} {response.text}")
        return response

    # AQDA only answers requests addressed to localhost (a guard against DNS rebinding).
    with TestClient(app, base_url="http://localhost") as client:
        project = ok(client.post("/api/projects", json={
            "name": "Joint commissioning (AQDA)",
            "description": "Synthetic interviews about joint commissioning, for discotag's tests.",
        }), 201).json()
        pid = project["id"]

        docs = {}
        for name, data in ((DOC_A_NAME, DOC_A_BYTES), (DOC_B_NAME, DOC_B_BYTES)):
            doc = ok(client.post("/api/documents", data={"project_id": str(pid)},
                                 files={"file": (name, data, "text/plain")}), 201).json()
            full = ok(client.get(f"/api/documents/{doc['id']}")).json()
            docs[name] = full

        codes = {}
        for name, parent, description in CODES:
            code = ok(client.post("/api/codes", json={
                "project_id": pid,
                "name": name,
                "parent_id": codes[parent]["id"] if parent else None,
                "description": description,
            }), 201).json()
            codes[name] = code

        coder = None
        for who, doc_name, code_name, quote in CODINGS:
            if who != coder:
                ok(client.put("/api/settings", json=[{"key": "coder_name", "value": who}]))
                coder = who
            text = docs[doc_name]["content"]
            start = text.find(quote)
            if start < 0 or text.find(quote, start + 1) >= 0:
                raise SystemExit(f"{quote!r} is not found exactly once in {doc_name}")
            ok(client.post("/api/codings", json={
                "document_id": docs[doc_name]["id"],
                "code_id": codes[code_name]["id"],
                "start_pos": start,
                "end_pos": start + len(quote),
                "selected_text": quote,
            }), 201)

        export = ok(client.get(f"/api/export/{pid}/qdpx"))

        # The expected codings, from AQDA's own API (its database), not from the export.
        all_codes = {c["id"]: c for c in ok(client.get("/api/codes",
                                                       params={"project_id": pid})).json()}

        def code_path(code_id):
            parts = []
            while code_id is not None:
                parts.append(all_codes[code_id]["name"])
                code_id = all_codes[code_id]["parent_id"]
            return "/".join(reversed(parts))

        codings = ok(client.get("/api/codings", params={"project_id": pid})).json()
        documents = [ok(client.get(f"/api/documents/{d['id']}")).json() for d in docs.values()]

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "commissioning.qdpx").write_bytes(export.content)
    expected = {
        "producer": f"AQDA {aqda.__version__}",
        "python": sys.version.split()[0],
        "note": "From AQDA's own API (its database), not from the .qdpx. Positions are "
                "AQDA's: code points of the document text, end exclusive.",
        "documents": [
            {"name": d["name"], "content": d["content"]} for d in documents
        ],
        "codings": [
            {
                "document": c["document_name"],
                "code": code_path(c["code_id"]),
                "coder": c["coder"],
                "start_pos": c["start_pos"],
                "end_pos": c["end_pos"],
                "offset_unit": c["offset_unit"],
                "selected_text": c["selected_text"],
            }
            for c in codings
        ],
    }
    with open(OUT_DIR / "expected.json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(expected, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"{len(codings)} codings in {len(documents)} documents; "
          f"wrote {OUT_DIR / 'commissioning.qdpx'} ({len(export.content)} bytes) and expected.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
