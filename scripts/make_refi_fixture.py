#!/usr/bin/env python3
"""Write the REFI-QDA fixture project under tests/fixtures/refi-qda/commissioning/.

A small, synthetic, hand-written project in the shape NVivo exports (an `origin` naming the
tool, upper-case GUIDs, sources under `Sources/` named `internal://<GUID>.txt`, plain text
saved with a UTF-8 byte-order mark and CRLF line ends), plus one source whose text is inline
`PlainTextContent` with LF line ends, nested codes (a non-codable category with three codable
children, and a top-level code without a description), and two coders whose codings overlap.
The texts include emoji and accented letters, so positions must count code points.

Positions are computed here, by finding each quoted span in the text (without the byte-order
mark, counting `\\r\\n` as two code points), so they are right by construction.

Usage (from the repository root): python3 scripts/make_refi_fixture.py
The output is deterministic; the tests zip the folder into a .qdpx themselves.
"""
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/refi-qda/commissioning"

RUTH = "5C94BC9E-DB8C-4F1D-9CD6-E900C7440860"
SAM = "70DAF61C-B6F0-4B5E-8C2F-548FDE3AD3D4"
USERS = [(RUTH, "Ruth Okonjo"), (SAM, "Sam Patel")]

DISCOURSES = "2DFBA8C9-59F5-4424-99D6-EA9BCE18134B"
PREVENTION = "1B594544-2954-4B67-86FF-FB552F090BA8"
EMPOWERMENT = "AE6D04CE-D987-4FC8-AF97-D72CA6FFD08F"
EFFICIENCY = "D5EF65D5-BF84-425B-A1D6-EA69914DF5CA"
QUOTE = "51DC3BCD-5454-47FF-A4D6-EA699144410D"

GP_SOURCE = "8E7FDDFE-DB36-48DC-B464-80C3A4DECD90"
COMMISSIONER_SOURCE = "A2B94468-80A5-412F-92D6-E900D97B55A6"

GP_TEXT = "\r\n".join(
    [
        "Interviewer: Thanks for making time between surgeries. What does joint commissioning mean here?",
        "",
        "Respondent: Honestly? It should mean we get in earlier. If the falls team and the council's "
        "reablement service saw Mrs B. before her third fall, she'd still be at home 🙂 and not on a ward.",
        "",
        "Interviewer: And who decides what that looks like?",
        "",
        "Respondent: The people using it, ideally. We ran co-design sessions with carers at the café "
        "on the high street, and they told us the hand-offs were the worst part.",
        "",
        "Respondent: And the money follows, doesn't it? Pool the budget, stop paying three "
        "organisations to visit one front door, and you save on admissions later.",
        "",
    ]
)

COMMISSIONER_TEXT = "\n".join(
    [
        "Interviewer: What changed when the budgets were pooled?",
        "",
        "Respondent: Contracts, mostly. We cut duplicated services and renegotiated the community "
        "contract 📉 on value for money.",
        "",
        "Respondent: But the JSNA drove it: we targeted the wards with the highest frailty scores, "
        "to keep people independent for longer.",
    ]
)

# (source, text, [(user, quoted span, [codes])])
SELECTIONS = {
    GP_SOURCE: [
        (RUTH, "It should mean we get in earlier.", [PREVENTION]),
        (RUTH, "If the falls team and the council's reablement service saw Mrs B. before her third "
               "fall, she'd still be at home 🙂 and not on a ward.", [PREVENTION]),
        (SAM, "It should mean we get in earlier. If the falls team", [PREVENTION]),
        (RUTH, "We ran co-design sessions with carers at the café on the high street", [EMPOWERMENT]),
        (SAM, "We ran co-design sessions with carers at the café on the high street, and they told "
              "us the hand-offs were the worst part.", [EMPOWERMENT, QUOTE]),
        (RUTH, "Pool the budget, stop paying three organisations to visit one front door, and you "
               "save on admissions later.", [EFFICIENCY, PREVENTION]),
    ],
    COMMISSIONER_SOURCE: [
        (RUTH, "We cut duplicated services and renegotiated the community contract 📉 on value for "
               "money.", [EFFICIENCY]),
        (SAM, "Contracts, mostly.", [EFFICIENCY]),
        (SAM, "we targeted the wards with the highest frailty scores, to keep people independent "
              "for longer.", [PREVENTION]),
    ],
}

CODES = f"""    <Codes>
      <Code guid="{DISCOURSES}" name="Discourses" isCodable="false">
        <Description>The three discourses of joint commissioning.</Description>
        <Code guid="{PREVENTION}" name="Prevention" isCodable="true" color="#1F77B4">
          <Description>Intervening earlier and upstream: preventive services, early support, avoiding crises and admissions.</Description>
        </Code>
        <Code guid="{EMPOWERMENT}" name="Empowerment" isCodable="true" color="#2CA02C">
          <Description>Building services around the needs and voices of the people who use them: co-production, choice and control.</Description>
        </Code>
        <Code guid="{EFFICIENCY}" name="Efficiency" isCodable="true" color="#D62728">
          <Description>Getting more for the money: pooled budgets, removing duplication, value for money, contracts.</Description>
        </Code>
      </Code>
      <Code guid="{QUOTE}" name="Memorable quote" isCodable="true"/>
    </Codes>"""


def guid(n: int) -> str:
    return f"{n:08X}-0000-4000-8000-{n:012X}"


def selection_xml(text: str, selections, counter: list) -> str:
    out = []
    for user, span, codes in selections:
        start = text.index(span)  # Python str indices are code points
        end = start + len(span)
        counter[0] += 1
        sel = guid(counter[0])
        lines = [
            f'      <PlainTextSelection guid="{sel}" name={quoteattr(span[:30])} '
            f'startPosition="{start}" endPosition="{end}" creatingUser="{user}" '
            f'creationDateTime="2024-03-20T10:{counter[0]:02d}:00Z">'
        ]
        for code in codes:
            counter[0] += 1
            lines.append(
                f'        <Coding guid="{guid(counter[0])}" creatingUser="{user}" '
                f'creationDateTime="2024-03-20T10:{counter[0]:02d}:00Z">'
                f'<CodeRef targetGUID="{code}"/></Coding>'
            )
        lines.append("      </PlainTextSelection>")
        out.extend(lines)
    return "\n".join(out)


def main() -> None:
    (OUT / "Sources").mkdir(parents=True, exist_ok=True)
    # NVivo-style plain text: UTF-8 with a byte-order mark, CRLF line ends.
    (OUT / "Sources" / f"{GP_SOURCE}.txt").write_bytes(b"\xef\xbb\xbf" + GP_TEXT.encode("utf-8"))
    counter = [0]
    users = "\n".join(f'    <User guid="{g}" name="{n}"/>' for g, n in USERS)
    gp = selection_xml(GP_TEXT, SELECTIONS[GP_SOURCE], counter)
    commissioner = selection_xml(COMMISSIONER_TEXT, SELECTIONS[COMMISSIONER_SOURCE], counter)
    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Joint commissioning interviews" origin="NVivo 14 (synthetic fixture: scripts/make_refi_fixture.py)" creatingUserGUID="{RUTH}" creationDateTime="2024-03-20T09:00:00Z">
  <Users>
{users}
  </Users>
  <CodeBook>
{CODES}
  </CodeBook>
  <Sources>
    <TextSource guid="{GP_SOURCE}" name="Site F GP interview" plainTextPath="internal://{GP_SOURCE}.txt" creatingUser="{RUTH}" creationDateTime="2024-03-20T09:05:00Z">
      <Description>Synthetic interview with a GP partner.</Description>
{gp}
    </TextSource>
    <TextSource guid="{COMMISSIONER_SOURCE}" name="Site G commissioner" creatingUser="{SAM}" creationDateTime="2024-03-20T09:06:00Z">
      <PlainTextContent>{escape(COMMISSIONER_TEXT)}</PlainTextContent>
{commissioner}
    </TextSource>
  </Sources>
</Project>
"""
    (OUT / "project.qde").write_text(qde, encoding="utf-8", newline="\n")


if __name__ == "__main__":
    main()
