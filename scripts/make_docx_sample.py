#!/usr/bin/env python3
"""Write the DOCX sample transcript ``data/sample/site_f_lay_member.docx``.

What
    A short synthetic interview with a lay member of a joint commissioning board, written by
    hand for the discotag project (not a real interview or person), saved as a Word document
    the way transcripts often arrive: one paragraph per speaker turn, the speaker label in a
    bold run of its own, no blank paragraphs between turns, and a ``---`` metadata header at
    the top (carried into every row's ``metadata`` by discotag, as for plain text).

    One paragraph deliberately holds a tab (``w:tab``), a line break (``w:br``), an emoji
    outside the Basic Multilingual Plane and curly quotes; some words are split across runs
    mid-word (as Word does when formatting or revision ids change), and "A&E" exercises the
    ``&amp;`` entity. discotag reads this file through the plain-text convention documented in
    ``src/input/docx.rs`` and docs/SCHEMA.md ("Offsets").

How
    python3 -m venv /tmp/docx-venv && /tmp/docx-venv/bin/pip install python-docx
    /tmp/docx-venv/bin/python scripts/make_docx_sample.py

    The zip is rewritten with fixed entry timestamps and fixed core properties, so running the
    script again gives the same bytes (and the same sha256 in a run manifest), given the same
    python-docx (1.2.0 made the committed file) and zlib.
"""

import datetime
import io
import pathlib
import zipfile

import docx

OUT = pathlib.Path(__file__).resolve().parent.parent / "data" / "sample" / "site_f_lay_member.docx"
FIXED_TIME = datetime.datetime(2024, 5, 2, 10, 0, 0, tzinfo=datetime.timezone.utc)

HEADER = [
    "---",
    "site: Site F (coastal unitary council, one integrated care board place)",
    "participant_role: lay member of the joint commissioning board; parent carer",
    "date: 2024-05-02",
    "interviewer: R. Okonjo",
    "study: Discourses of joint commissioning (synthetic sample)",
    "note: synthetic transcript written by hand for the discotag project; not a real interview",
    "---",
]

# Each turn is (speaker, runs). A run is a string, or ("tab",), ("br",) for a tab or a line
# break. Consecutive strings stay separate runs in the document.
TURNS = [
    ("Interviewer", ["Thanks for coming in. Is it all right if I record this?"]),
    ("Respondent", ["Yes, that’s fine. I’ve done a few of these now, I know the drill."]),
    ("Interviewer", ["Could you tell me how you came to be on the joint commissioning board?"]),
    (
        "Respondent",
        [
            "My son has a learning disability, he’s twenty-six now, and for years I was the "
            "awkward parent at every review. Then somebody at the council rang and said, you "
            "clearly have opinions, would you like to have them on the board instead of in the "
            "corridor. So I said yes before I’d read the terms of reference."
        ],
    ),
    ("Interviewer", ["What did you expect the board to be like?"]),
    (
        "Respondent",
        [
            "Honestly? I thought it would be about people. It’s mostly about spread",
            "sheets. The first meeting I went to, I wrote it down:",
            ("tab",),
            "“Item 7, service user voice: deferred.”",
            ("br",),
            "My son read the minutes over my shoulder and texted me that night, “they deferred us again 🙄”.",
        ],
    ),
    ("Interviewer", ["Can you give me an example of something the board did that you were pleased with?"]),
    (
        "Respondent",
        [
            "The short breaks review. Instead of the council writing one specification and the "
            "NHS writing another, we got twelve families round a table, with biscuits, and asked "
            "them what a good weekend looked like. They designed it with us. Co-pro",
            "duction was a word I’d never heard before I joined, and now I use it in the supermarket.",
        ],
    ),
    ("Interviewer", ["And did that change what was actually bought?"]),
    (
        "Respondent",
        [
            "It did. Fewer block-booked beds in the respite unit, more personal budgets so "
            "families could choose someone they trust. And the finance officer told me afterwards "
            "it came in cheaper, because the unit was half empty most weekends and we’d been "
            "paying for the empty beds all along."
        ],
    ),
    ("Interviewer", ["How do the NHS and council members of the board get on?"]),
    (
        "Respondent",
        [
            "Politely. They’re very polite. But you can feel it when the money comes up: "
            "everybody moves their papers a bit closer to themselves. "
        ],
    ),
    ("[00:18:40] Interviewer", ["You mentioned money. Where do you see the pressure?"]),
    (
        "Respondent",
        [
            "At the crisis end. If my son’s support falls over on a Friday night, the only door "
            "open is A&E, and that’s the most expensive door there is. I keep saying, spend it on "
            "Thursday and you won’t spend three times as much on Saturday. Get in early, know who’s "
            "wobbling. Some of them nod."
        ],
    ),
    ("Interviewer", ["Do you feel listened to?"]),
    (
        "Respondent",
        [
            "On a good day. The chair is very good at saying “that’s a really important point” "
            "and then moving on to the next item."
        ],
    ),
    ("Interviewer", ["If you could change one thing, what would it be?"]),
    (
        "Respondent",
        [
            "Put the families’ report first on the agenda, not last. And pay carers for their "
            "time on the board, the way the consultants get paid. It’s not about the money, it’s "
            "about being taken seriously."
        ],
    ),
    ("Interviewer", ["That’s a good place to stop. Thank you."]),
    ("Respondent", ["Thank you. I’ll send you the receipt for the biscuits."]),
]


def build() -> bytes:
    document = docx.Document()
    props = document.core_properties
    props.author = "discotag project"
    props.last_modified_by = "discotag project"
    props.title = "Site F interview (synthetic sample)"
    props.created = FIXED_TIME.replace(tzinfo=None)
    props.modified = FIXED_TIME.replace(tzinfo=None)
    props.revision = 1
    for line in HEADER:
        document.add_paragraph(line)
    for speaker, runs in TURNS:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{speaker}:").bold = True
        paragraph.add_run(" ")
        for run in runs:
            if run == ("tab",):
                paragraph.add_run().add_tab()
            elif run == ("br",):
                paragraph.add_run().add_break()
            else:
                paragraph.add_run(run)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def with_fixed_timestamps(data: bytes) -> bytes:
    """The same zip with every entry dated FIXED_TIME, so the output is reproducible."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def main() -> None:
    OUT.write_bytes(with_fixed_timestamps(build()))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
