#!/usr/bin/env python3
"""Make REFI-QDA projects (.qdpx) with other QDA applications: AQDA and Exegete.

Each tool is driven headless through its own functions, in a throw-away folder, on the same two
synthetic interview transcripts (the first read from UTF-8 bytes with a byte-order mark and
CRLF line ends, the second UTF-8 with LF line ends and blank lines between paragraphs; both
with accented letters, an emoji and curly quotes), the same codes (`prevention`,
`empowerment`, `efficiency`, and `co-production` nested under `empowerment`) and the same 16
codings by two coders, `Alice` and `Bob` (overlapping, across a line end, across a blank
line, next to and around the emoji, up to the end of a text). Each tool's own exporter writes
`tests/fixtures/refi-qda/<tool>/commissioning.qdpx`; the script then writes
`tests/fixtures/refi-qda/<tool>/expected.json` from the tool's OWN record (its API or database
functions, NOT the .qdpx): each document's text as the tool stores it, and each coding's
document, code path, coder, positions and highlighted text as the tool stores it.

A coding's positions are found with `str.find` of the quoted passage in the text the tool
returns for the document (Python: code points), which is what both tools store; both tools
reject a coding unless `text[start:end]` equals the text posted with it, so the highlighted
text is checked by the tool, not by this script.

AQDA ("Augmented Qualitative Data Analysis", https://pypi.org/project/aqda/), `aqda`: a
local-first QDA web application (FastAPI, SQLite, browser front end), driven through its HTTP
API with FastAPI's in-process TestClient (no network, no browser): `POST /api/projects`,
`POST /api/documents` (file upload), `POST /api/codes`, `PUT /api/settings` (`coder_name`,
which AQDA stamps on each coding), `POST /api/codings`, then `GET /api/export/{id}/qdpx`.
It stores positions as code points (`coding.offset_unit = 'codepoint'`); its front end converts
the browser's UTF-16 selection offsets to code points before posting them. On upload it drops a
byte-order mark and keeps CRLF. Expected data from `GET /api/codings`, `/api/codes`,
`/api/documents/{id}`.

Exegete (https://pypi.org/project/exegete/), `exegete`: a QualCoder-compatible QDA application
(an MCP server) that keeps a QualCoder project database. The script makes the project with
Exegete's own `new_project.write_project`, writes with its `QualcoderDatabase`
(`import_text_file`, `add_category`, `add_code`, `add_coding` with `owner` = the coder),
and exports with its MCP tool `export_refi_qda`, called in process after `select_project`.
Its import drops the byte-order mark and turns CRLF into LF, as QualCoder's does, so each
quoted passage is looked up with its line ends turned the same way. Its category is exported as
a non-codable parent code, its sources under a lower-case `sources/`, and every coding under one
user named after the AI coder (Exegete declares this as a known fault of its export); the
coders are in its database, and in expected.json. Expected data from `list_codes`,
`get_coded_text_segments`, `code_path` and `get_file_content`.

Versions used: Python 3.11.7; aqda 0.5.0 (fastapi 0.165.0, starlette 1.10.0, httpx 0.28.1,
aiosqlite 0.22.1); exegete 0.15.1a1 (mcp 1.30.0). One venv per tool, from the repository root:

    python3.11 -m venv /tmp/aqda-venv
    /tmp/aqda-venv/bin/pip install aqda==0.5.0
    /tmp/aqda-venv/bin/python scripts/make_foreign_qdpx.py aqda
    python3.11 -m venv /tmp/exegete-venv
    /tmp/exegete-venv/bin/pip install exegete==0.15.1a1
    /tmp/exegete-venv/bin/python scripts/make_foreign_qdpx.py exegete

The exports are not byte-for-byte reproducible (AQDA draws random GUIDs; both stamp dates).
The texts, codes, codings and positions are the same on every run.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "refi-qda"

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


def write_expected(out_dir: Path, expected: dict) -> None:
    with open(out_dir / "expected.json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(expected, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"{len(expected['codings'])} codings in {len(expected['documents'])} documents; "
          f"wrote {out_dir}/commissioning.qdpx and expected.json")


def make_aqda(out_dir: Path) -> None:
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
            return list(reversed(parts))

        codings = ok(client.get("/api/codings", params={"project_id": pid})).json()
        documents = [ok(client.get(f"/api/documents/{d['id']}")).json() for d in docs.values()]

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "commissioning.qdpx").write_bytes(export.content)
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
                "code_path": code_path(c["code_id"]),
                "coder": c["coder"],
                "start_pos": c["start_pos"],
                "end_pos": c["end_pos"],
                "offset_unit": c["offset_unit"],
                "selected_text": c["selected_text"],
            }
            for c in codings
        ],
    }
    write_expected(out_dir, expected)



def make_exegete(out_dir: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="exegete_"))
    # Exegete keeps its settings and state under the home folder: a throw-away one.
    os.environ["HOME"] = str(work / "home")
    (work / "home").mkdir()
    import exegete
    from exegete import new_project, server
    from exegete.database import QualcoderDatabase

    # A new QualCoder project, as Exegete's own "new project" makes it.
    folder = work / "joint_commissioning.qda"
    new_project.write_project(folder, new_project.creation_statements(
        "Alice", new_project.about_line(exegete.__version__), new_project.creation_date()))

    db = QualcoderDatabase(str(folder), read_only=False)
    files = {}
    for name, data in ((DOC_A_NAME, DOC_A_BYTES), (DOC_B_NAME, DOC_B_BYTES)):
        # The decoded file as it is read, byte-order mark and CRLF included: Exegete's import
        # drops the mark and turns every line end into \n, as QualCoder's own import does.
        imported = db.import_text_file(name, data.decode("utf-8"), owner="Alice")
        files[name] = imported["id"]
    category = db.add_category("Discourses", owner="Alice",
                               memo="The three discourses of joint commissioning.")
    codes = {}
    for name, parent, description in CODES:
        codes[name] = db.add_code(
            name, owner="Alice", memo=description,
            category_id=None if parent else category["id"],
            parent_code_id=codes[parent] if parent else None)
    for who, doc_name, code_name, quote in CODINGS:
        text = db.get_file_content(files[doc_name])["content"]
        # The passage as the stored text has it: line ends as Exegete stored them.
        quote = quote.replace("\r\n", "\n")
        start = text.find(quote)
        if start < 0 or text.find(quote, start + 1) >= 0:
            raise SystemExit(f"{quote!r} is not found exactly once in {doc_name}")
        # Exegete rejects a coding unless text[start:end] equals the selected text.
        db.add_coding(files[doc_name], codes[code_name], start, start + len(quote), quote,
                      owner=who)

    # The expected codings, from Exegete's own database functions, not from the export.
    documents = [db.get_file_content(fid) for fid in files.values()]
    codings = []
    for code in db.list_codes():
        for segment in db.get_coded_text_segments(code["id"], honor_visibility=False):
            codings.append({
                "document": segment["file_name"],
                "code_path": db.code_path(code["id"]).split(" > "),
                "coder": segment["owner"],
                "start_pos": segment["position_start"],
                "end_pos": segment["position_end"],
                "offset_unit": "codepoint",
                "selected_text": segment["text"],
            })
    db.close()

    # Export with Exegete's own tool (the MCP tool `export_refi_qda`, called in process):
    # every text coding of the open project.
    answer = json.loads(server.select_project(str(folder)))
    if not answer.get("success"):
        raise SystemExit(f"select_project: {answer}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = work / "export" / "commissioning.qdpx"
    target.parent.mkdir()
    answer = json.loads(server.export_refi_qda(str(target)))
    if not answer.get("success"):
        raise SystemExit(f"export_refi_qda: {answer}")
    (out_dir / "commissioning.qdpx").write_bytes(target.read_bytes())
    write_expected(out_dir, {
        "producer": f"Exegete {exegete.__version__}",
        "python": sys.version.split()[0],
        "note": "From Exegete's own database functions (the QualCoder database), not from the "
                ".qdpx. Positions are QualCoder's: code points of the stored text (line ends "
                "\\n), end exclusive. The export files every coding under one user (a fault "
                "Exegete declares); `coder` is the owner the database keeps.",
        "export_answer": {k: answer[k] for k in ("codings_exported", "codes_exported",
                                                 "files_exported")},
        "documents": [{"name": d["name"], "content": d["content"]} for d in documents],
        "codings": codings,
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tool", choices=["aqda", "exegete"])
    tool = parser.parse_args().tool
    {"aqda": make_aqda, "exegete": make_exegete}[tool](FIXTURES / tool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
