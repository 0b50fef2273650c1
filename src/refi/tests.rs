//! Unit tests of the REFI-QDA module: reading the fixture project (NVivo-like: byte-order
//! mark, CRLF, emoji, nested codes, two coders) and a project full of other tools' quirks,
//! position conversion, GUIDs, writing codings back and reading them again (validated against
//! the official schema with xmllint when it is installed), and codebook import.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::codebook::Codebook;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A zip archive of `entries`, deflated.
pub(super) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// The fixture project folder (`tests/fixtures/refi-qda/commissioning`) zipped into a .qdpx.
pub(super) fn fixture_qdpx() -> Vec<u8> {
    let root = repo().join("tests/fixtures/refi-qda/commissioning");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    zip_of(&entries)
}

fn entry(bytes: &[u8], name: &str) -> Vec<u8> {
    let mut zip = crate::input::zip_limits::LimitedZip::open(bytes, "t.qdpx").unwrap();
    zip.read(name).unwrap()
}

/// Validates a `project.qde` against the official schema with xmllint. Skipped (loudly) when
/// xmllint is missing, unless `DISCOTAG_REQUIRE_TOOLS=1`.
pub(super) fn assert_valid_project(qde: &[u8]) {
    let schema = repo().join("tests/fixtures/refi-qda/Project.xsd");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("project.qde");
    std::fs::write(&file, qde).unwrap();
    match std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "project.qde does not validate against Project.xsd:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(qde)
        ),
        Err(e) => {
            assert!(
                std::env::var("DISCOTAG_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "xmllint is required (DISCOTAG_REQUIRE_TOOLS=1) but cannot run: {e}"
            );
            eprintln!(
                "WARNING: xmllint not found ({e}); schema validation SKIPPED. Install libxml2-utils."
            );
        }
    }
}

fn slice(text: &str, start: u64, end: u64) -> String {
    text.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

#[test]
fn derived_guids_are_valid_stable_and_distinct() {
    let a = derived_guid(&["user", "discotag"]);
    assert!(is_valid_guid(&a), "{a}");
    assert_eq!(a, derived_guid(&["user", "discotag"]));
    assert_ne!(a, derived_guid(&["userd", "iscotag"]));
    assert_eq!(&a[14..15], "8", "version 8: {a}");
    assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "variant: {a}");
}

#[test]
fn guid_pattern_follows_the_schema() {
    assert!(is_valid_guid("a2b94468-80a5-412f-92d6-e900d97b55a6"));
    assert!(is_valid_guid("{AD68FBE7-E1EE-4A82-A279-23CC698C89EB}"));
    assert!(!is_valid_guid("A"));
    assert!(!is_valid_guid("{a2b94468-80a5-412f-92d6-e900d97b55a6"));
    assert!(!is_valid_guid("a2b94468-80a5-412f-92d6-e900d97b55ag"));
    assert_eq!(guid_key(" {AB-Cd} "), "ab-cd");
}

#[test]
fn atlas_ti_counts_crlf_as_one() {
    assert_eq!(
        LineEnds::for_origin(Some("ATLAS.ti 9.1.3")),
        LineEnds::CrlfAsOne
    );
    assert_eq!(LineEnds::for_origin(Some("NVivo 14")), LineEnds::CodePoints);
    assert_eq!(LineEnds::for_origin(None), LineEnds::CodePoints);
    let text = "ab\r\ncd\r\n\r\nef";
    let map = PositionMap::new(text, LineEnds::CrlfAsOne);
    assert_eq!(map.len(), 12);
    assert_eq!(map.len_in_positions(), 9);
    // Positions: a0 b1 CRLF2 c3 d4 CRLF5 CRLF6 e7 f8 end9.
    let expected = [(0, 0), (2, 2), (3, 4), (5, 6), (6, 8), (7, 10), (9, 12)];
    for (position, code_points) in expected {
        assert_eq!(
            map.to_code_points(position),
            Some(code_points),
            "{position}"
        );
        assert_eq!(map.to_position(code_points), position, "{code_points}");
    }
    assert_eq!(map.to_code_points(10), None);
    assert_eq!(map.to_position(3), 2, "between \\r and \\n");
    let plain = PositionMap::new(text, LineEnds::CodePoints);
    assert_eq!(plain.to_code_points(12), Some(12));
    assert_eq!(plain.to_code_points(13), None);
}

// ---- reading ----------------------------------------------------------------------------

const GP: &str = "8E7FDDFE-DB36-48DC-B464-80C3A4DECD90";
const COMMISSIONER: &str = "A2B94468-80A5-412F-92D6-E900D97B55A6";

#[test]
fn reads_the_fixture_project() {
    let project = read_project(&fixture_qdpx(), "commissioning.qdpx").unwrap();
    assert_eq!(project.name, "Joint commissioning interviews");
    assert_eq!(project.line_ends, LineEnds::CodePoints);
    assert!(
        project.source_errors.is_empty(),
        "{:?}",
        project.source_errors
    );
    assert!(
        project.coding_errors.is_empty(),
        "{:?}",
        project.coding_errors
    );
    let users: Vec<_> = project
        .users
        .iter()
        .map(|u| u.name.clone().unwrap())
        .collect();
    assert_eq!(users, ["Ruth Okonjo", "Sam Patel"]);
    let paths: Vec<_> = project.codes.iter().map(Code::path).collect();
    assert_eq!(
        paths,
        [
            "Discourses",
            "Discourses/Prevention",
            "Discourses/Empowerment",
            "Discourses/Efficiency",
            "Memorable quote"
        ]
    );
    assert!(!project.codes[0].is_codable && project.codes[1].is_codable);
    assert!(
        project.codes[1]
            .description
            .as_deref()
            .unwrap()
            .starts_with("Intervening")
    );
    assert_eq!(project.codes[4].description, None);

    let gp = project.source(GP).unwrap();
    assert_eq!(gp.name, "Site F GP interview");
    assert!(gp.had_byte_order_mark, "NVivo-style text starts with a BOM");
    assert!(!gp.plain_text.starts_with('\u{feff}'));
    assert!(gp.plain_text.contains("\r\n"), "CRLF is kept in the text");
    assert_eq!(
        gp.plain_text_entry.as_deref(),
        Some("Sources/8E7FDDFE-DB36-48DC-B464-80C3A4DECD90.txt")
    );
    let inline = project.source(&COMMISSIONER.to_lowercase()).unwrap();
    assert_eq!(inline.plain_text_entry, None);
    assert!(inline.plain_text.contains("📉"));

    assert_eq!(project.codings.len(), 11);
    assert_eq!(project.codings_by("Ruth Okonjo").len(), 6);
    assert_eq!(project.codings_by("Sam Patel").len(), 5);
    let texts: BTreeSet<String> = project
        .codings
        .iter()
        .map(|c| {
            slice(
                &project.source(&c.source_guid).unwrap().plain_text,
                c.start,
                c.end,
            )
        })
        .collect();
    // Spans after an emoji and after CRLF line ends slice exactly.
    assert!(texts.contains(
        "If the falls team and the council's reablement service saw Mrs B. before her third fall, she'd still be at home 🙂 and not on a ward."
    ));
    assert!(texts.contains(
        "Pool the budget, stop paying three organisations to visit one front door, and you save on admissions later."
    ));
    assert!(texts.contains(
        "We cut duplicated services and renegotiated the community contract 📉 on value for money."
    ));
    let first = &project.codings[0];
    assert_eq!(project.user_name(first), Some("Ruth Okonjo"));
    assert_eq!(project.code(&first.code_guid).unwrap().name, "Prevention");
}

/// A project with the quirks of several producers and some broken parts.
fn quirks_qdpx() -> Vec<u8> {
    let qde = r#"<?xml version="1.0" encoding="UTF-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Quirks" origin="MAXQDA 2020 (Release 20.4.2)">
 <Users><User guid="A1" name="Ann"/></Users>
 <CodeBook><Codes>
  <Code guid="C1" name="Costs" isCodable="true"><Code guid="{C2}" name="Pooled budgets" isCodable="true"/></Code>
 </Codes></CodeBook>
 <Sources>
  <TextSource guid="S1" name="Lower-case folder" plainTextPath="internal://S1.txt">
   <PlainTextSelection guid="P1" startPosition="0" endPosition="5"><Coding guid="K1" creatingUser="a1"><CodeRef targetGUID="c1"/></Coding></PlainTextSelection>
   <PlainTextSelection guid="P2" startPosition="3" endPosition="999"><Coding guid="K2" creatingUser="A1"><CodeRef targetGUID="C1"/></Coding></PlainTextSelection>
   <PlainTextSelection guid="P3" startPosition="0" endPosition="2" creatingUser="A1"><Coding guid="K3"><CodeRef targetGUID="NOPE"/></Coding></PlainTextSelection>
   <PlainTextSelection guid="P4" startPosition="7" endPosition="12" creatingUser="{GHOST}"><Coding guid="K4"><CodeRef targetGUID="c2"/></Coding></PlainTextSelection>
   <PlainTextSelection guid="P6" startPosition="4" endPosition="4"><Coding guid="K6"><CodeRef targetGUID="C1"/></Coding></PlainTextSelection>
  </TextSource>
  <TextSource guid="S2" name="Word only" richTextPath="internal://S2.docx"/>
  <TextSource guid="S3" name="Outside" plainTextPath="relative://transcripts/S3.txt"/>
  <TextSource guid="S4" name="Inline emoji"><PlainTextContent>🙂 ok&#13;
fine</PlainTextContent><PlainTextSelection guid="P5" startPosition="2" endPosition="4"><Coding guid="K5"><CodeRef targetGUID="C1"/></Coding></PlainTextSelection></TextSource>
  <TextSource guid="S5" name="Rich text is txt" richTextPath="internal://S5.txt"/>
  <TextSource guid="S6" name="UTF-16" plainTextPath="S6.txt"/>
  <TextSource guid="S7" name="Missing" plainTextPath="internal://gone.txt"/>
  <TextSource guid="S8" name="Latin-1" plainTextPath="internal://S8.txt"/>
  <TextSource guid="s1" name="Duplicate" plainTextPath="internal://S1.txt"/>
  <PDFSource guid="D1" name="Scan"/>
 </Sources>
</Project>"#;
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend("Ann: 🙂 yes".encode_utf16().flat_map(u16::to_le_bytes));
    zip_of(&[
        ("project.qde", qde.as_bytes()),
        ("sources/S1.txt", "Hello\r\nworld of care".as_bytes()),
        ("sources/S2.docx", b"PK not really"),
        ("Sources/S5.txt", b"Respondent: plain"),
        ("S6.txt", &utf16),
        ("sources/S8.txt", b"caf\xe9"),
    ])
}

#[test]
fn reads_other_producers_quirks_and_reports_what_it_cannot() {
    let project = read_project(&quirks_qdpx(), "quirks.qdpx").unwrap();
    assert_eq!(project.line_ends, LineEnds::CodePoints);
    let names: Vec<_> = project.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Lower-case folder",
            "Inline emoji",
            "Rich text is txt",
            "UTF-16"
        ]
    );
    assert_eq!(project.source("S6").unwrap().plain_text, "Ann: 🙂 yes");
    assert!(project.source("S6").unwrap().had_byte_order_mark);
    // XML turns the inline &#13; into a CR; the raw line end is normalised to LF.
    assert_eq!(project.source("S4").unwrap().plain_text, "🙂 ok\r\nfine");
    assert_eq!(
        project.skipped_sources,
        [("PDFSource".to_string(), "Scan".to_string())]
    );

    let source_errors: Vec<String> = project
        .source_errors
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(source_errors.len(), 5, "{source_errors:#?}");
    assert!(source_errors[4].contains("\"Duplicate\"") && source_errors[4].contains("same GUID"));
    assert!(
        source_errors[0].contains("\"Word only\" (S2)") && source_errors[0].contains("S2.docx")
    );
    assert!(
        source_errors[1].contains("\"Outside\"") && source_errors[1].contains("outside the .qdpx")
    );
    assert!(source_errors[2].contains("\"Missing\"") && source_errors[2].contains("missing"));
    assert!(source_errors[3].contains("\"Latin-1\"") && source_errors[3].contains("UTF-8"));
    assert!(
        source_errors[3].contains("entry sources/S8.txt"),
        "{}",
        source_errors[3]
    );

    let coding_errors: Vec<String> = project
        .coding_errors
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(coding_errors.len(), 3, "{coding_errors:#?}");
    assert!(coding_errors[0].contains("\"P2\"") && coding_errors[0].contains("beyond the end"));
    assert!(coding_errors[0].contains("quirks.qdpx: entry project.qde"));
    assert!(coding_errors[1].contains("\"P3\"") && coding_errors[1].contains("NOPE"));
    assert!(coding_errors[2].contains("\"P6\""));

    let s1 = project.source("S1").unwrap();
    let kept: Vec<(String, String, Option<String>)> = project
        .codings
        .iter()
        .map(|c| {
            let text = &project.source(&c.source_guid).unwrap().plain_text;
            (
                c.selection_guid.clone(),
                slice(text, c.start, c.end),
                project.user_name(c).map(str::to_string),
            )
        })
        .collect();
    assert_eq!(s1.plain_text, "Hello\r\nworld of care");
    assert_eq!(
        kept,
        [
            (
                "P1".to_string(),
                "Hello".to_string(),
                Some("Ann".to_string())
            ),
            ("P4".to_string(), "world".to_string(), None),
            ("P5".to_string(), "ok".to_string(), None),
        ]
    );
    // The coding's user comes from its selection; the unlisted user is listed without a name.
    assert_eq!(project.codings[1].user_guid.as_deref(), Some("{GHOST}"));
    assert_eq!(project.user("ghost").unwrap().name, None);
    assert_eq!(
        project.code(&project.codings[1].code_guid).unwrap().path(),
        "Costs/Pooled budgets"
    );
}

fn atlas_qdpx() -> Vec<u8> {
    let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="A" origin="ATLAS.ti 9.1.3">
<Users><User guid="11111111-1111-4111-8111-111111111111" name="Ann"/></Users>
<CodeBook><Codes><Code guid="22222222-2222-4222-8222-222222222222" name="Care" isCodable="true"/></Codes></CodeBook>
<Sources><TextSource guid="33333333-3333-4333-8333-333333333333" name="T" plainTextPath="internal://t.txt">
<PlainTextSelection guid="44444444-4444-4444-8444-444444444444" startPosition="3" endPosition="8" creatingUser="11111111-1111-4111-8111-111111111111"><Coding guid="55555555-5555-4555-8555-555555555555"><CodeRef targetGUID="22222222-2222-4222-8222-222222222222"/></Coding></PlainTextSelection>
</TextSource></Sources></Project>"#;
    zip_of(&[
        ("project.qde", qde.as_bytes()),
        ("sources/t.txt", "ab\r\ncd\r\nef🙂".as_bytes()),
    ])
}

#[test]
fn atlas_ti_positions_count_crlf_as_one_character() {
    let project = read_project(&atlas_qdpx(), "a.qdpx").unwrap();
    assert_eq!(project.line_ends, LineEnds::CrlfAsOne);
    let coding = &project.codings[0];
    let text = &project.sources[0].plain_text;
    // ATLAS.ti's 3..8 is "cd\r\nef": c3 d4 CRLF5 e6 f7.
    assert_eq!(slice(text, coding.start, coding.end), "cd\r\nef");
    assert_eq!((coding.start, coding.end), (4, 10));
}

#[test]
fn broken_containers_are_whole_input_errors_naming_file_and_entry() {
    let good = fixture_qdpx();
    let truncated = read_project(&good[..good.len() / 2], "t.qdpx").unwrap_err();
    assert_eq!(truncated.path, "t.qdpx");
    assert!(truncated.reason.contains("zip"), "{truncated}");

    let no_project = read_project(&zip_of(&[("a.txt", b"x")]), "n.qdpx").unwrap_err();
    assert!(
        no_project.to_string().contains("entry project.qde"),
        "{no_project}"
    );

    let bad_xml = read_project(
        &zip_of(&[("project.qde", b"<Project><Users></Project>")]),
        "b.qdpx",
    )
    .unwrap_err();
    assert!(
        bad_xml.to_string().contains("entry project.qde"),
        "{bad_xml}"
    );
    assert!(bad_xml.reason.contains("not well-formed XML"), "{bad_xml}");

    let not_project =
        read_project(&zip_of(&[("project.qde", b"<CodeBook/>")]), "c.qdpx").unwrap_err();
    assert!(not_project.reason.contains("<CodeBook>"), "{not_project}");

    let zeros = vec![b' '; 8 * 1024 * 1024];
    let bomb = read_project(&zip_of(&[("project.qde", &zeros)]), "bomb.qdpx").unwrap_err();
    assert!(bomb.reason.contains("zip bomb"), "{bomb}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    use proptest::prelude::*;
    let good = fixture_qdpx();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(200));
    runner
        .run(
            &(
                0..good.len(),
                any::<u8>(),
                proptest::collection::vec(any::<u8>(), 0..64),
            ),
            |(at, byte, junk)| {
                let mut damaged = good.clone();
                damaged[at] ^= byte | 1;
                let _ = read_project(&damaged, "d.qdpx");
                let _ = read_project(&junk, "j.qdpx");
                Ok(())
            },
        )
        .unwrap();
}

// ---- writing ----------------------------------------------------------------------------

fn coding(source: &str, code: &str, start: u64, end: u64) -> NewCoding {
    NewCoding {
        source_guid: source.into(),
        code: code.into(),
        start,
        end,
        memo: None,
    }
}

/// `(source guid, code name, start, end)` of codings, for comparing sets.
fn keyed(project: &Project, codings: &[&Coding]) -> BTreeSet<(String, String, u64, u64)> {
    codings
        .iter()
        .map(|c| {
            (
                guid_key(&c.source_guid),
                project.code(&c.code_guid).unwrap().name.clone(),
                c.start,
                c.end,
            )
        })
        .collect()
}

#[test]
fn merges_a_codes_touching_spans_and_shares_selections_between_codes() {
    let text: Vec<char> = "Aaa bbb.\n\nR: ccc ddd".chars().collect();
    let codings = [
        coding("s", "x", 0, 3),
        coding("s", "x", 4, 8),   // after one space: merged
        coding("s", "x", 13, 16), // after "\n\nR: ": not merged
        coding("s", "y", 0, 8),
        coding("s", "x", 15, 20), // overlaps the previous x span
    ];
    let refs: Vec<&NewCoding> = codings.iter().collect();
    let selections = write::selections(&text, &refs);
    let got: Vec<((u64, u64), Vec<&str>)> = selections.into_iter().collect();
    assert_eq!(got, [((0, 8), vec!["x", "y"]), ((13, 20), vec!["x"])]);
}

#[test]
fn codings_with_a_memo_keep_their_own_selection() {
    let text: Vec<char> = "Aaa bbb.".chars().collect();
    let noted = |start, end, memo: &str| NewCoding {
        memo: Some(memo.into()),
        ..coding("s", "x", start, end)
    };
    let codings = [noted(0, 3, "first"), noted(4, 8, "second")];
    let refs: Vec<&NewCoding> = codings.iter().collect();
    let got: Vec<((u64, u64), Vec<&str>)> = write::selections(&text, &refs).into_iter().collect();
    assert_eq!(got, [((0, 3), vec!["x"]), ((4, 8), vec!["x"])]);
}

#[test]
fn writes_codings_back_and_reads_them_again() {
    let original = fixture_qdpx();
    let before = read_project(&original, "in.qdpx").unwrap();
    let gp = before.source(GP).unwrap();
    let chars: Vec<char> = gp.plain_text.chars().collect();
    let at = |needle: &str| -> (u64, u64) {
        let byte = gp.plain_text.find(needle).unwrap();
        let start = gp.plain_text[..byte].chars().count() as u64;
        (start, start + needle.chars().count() as u64)
    };
    let (a0, a1) = at("It should mean we get in earlier.");
    let (b0, b1) = at("If the falls team");
    let (c0, c1) = at("Pool the budget");
    let (d0, d1) = at("she'd still be at home 🙂 and not on a ward.");
    assert_eq!(chars[a1 as usize], ' ');
    let codings = [
        coding(GP, "Prevention", a0, a1),
        coding(GP, "Prevention", b0, b1), // one space after the first: merged with it
        coding(GP, "place", c0, c1),      // not in the codebook: added
        coding(GP, "Prevention", d0, d1),
        coding(
            &COMMISSIONER.to_lowercase(),
            "Discourses__Efficiency",
            0,
            12,
        ), // discotag name
    ];
    let options = WriteOptions {
        coder: "discotag",
        created: Some("2026-12-01T14:00:00Z"),
    };
    let written = write_codings(&original, "in.qdpx", &options, &codings).unwrap();
    assert_eq!(written.codes_added, ["place"]);
    assert_eq!(written.selections, 4);
    assert_eq!(written.codings, 4);
    assert!(is_valid_guid(&written.user_guid));

    let qde = entry(&written.bytes, "project.qde");
    assert_valid_project(&qde);
    let after = read_project(&written.bytes, "out.qdpx").unwrap();
    assert!(after.coding_errors.is_empty(), "{:?}", after.coding_errors);
    assert_eq!(after.users_named("discotag").count(), 1);
    assert_eq!(
        after.users_named("discotag").next().unwrap().guid,
        written.user_guid
    );
    let expected: BTreeSet<_> = [
        (guid_key(GP), "Prevention".to_string(), a0, b1),
        (guid_key(GP), "place".to_string(), c0, c1),
        (guid_key(GP), "Prevention".to_string(), d0, d1),
        (guid_key(COMMISSIONER), "Efficiency".to_string(), 0, 12),
    ]
    .into();
    assert_eq!(keyed(&after, &after.codings_by("discotag")), expected);
    // Everything that was there is untouched.
    for coder in ["Ruth Okonjo", "Sam Patel"] {
        assert_eq!(
            keyed(&after, &after.codings_by(coder)),
            keyed(&before, &before.codings_by(coder))
        );
    }
    assert_eq!(after.codes[..before.codes.len()], before.codes[..]);
    assert_eq!(after.sources, before.sources);
    // Other entries are byte-identical.
    let name = "Sources/8E7FDDFE-DB36-48DC-B464-80C3A4DECD90.txt";
    assert_eq!(entry(&written.bytes, name), entry(&original, name));
    // Deterministic.
    let again = write_codings(&original, "in.qdpx", &options, &codings).unwrap();
    assert_eq!(again.bytes, written.bytes);
}

#[test]
fn writing_refuses_unknown_sources_spans_and_existing_coders() {
    let original = fixture_qdpx();
    let options = WriteOptions {
        coder: "discotag",
        created: None,
    };
    let unknown = write_codings(&original, "in.qdpx", &options, &[coding("nope", "x", 0, 1)]);
    assert!(matches!(unknown, Err(RefiError::UnknownSource { .. })));
    let beyond = write_codings(
        &original,
        "in.qdpx",
        &options,
        &[coding(GP, "x", 0, 100_000)],
    );
    assert!(matches!(beyond, Err(RefiError::OutOfRange { .. })));
    let empty = write_codings(&original, "in.qdpx", &options, &[coding(GP, "x", 5, 5)]);
    assert!(matches!(empty, Err(RefiError::OutOfRange { .. })));
    let taken = WriteOptions {
        coder: "Sam Patel",
        created: None,
    };
    assert!(matches!(
        write_codings(&original, "in.qdpx", &taken, &[]),
        Err(RefiError::CoderExists { .. })
    ));
    let bad_time = WriteOptions {
        coder: "x",
        created: Some("yesterday"),
    };
    assert!(write_codings(&original, "in.qdpx", &bad_time, &[]).is_err());
}

#[test]
fn writes_into_sparse_prefixed_and_atlas_projects() {
    let options = WriteOptions {
        coder: "model",
        created: None,
    };
    // No Users, no CodeBook, a prefixed namespace, an empty TextSource element, and a source
    // whose selections must go before its NoteRef and VariableValue children.
    let qde = r#"<?xml version="1.0" encoding="UTF-8"?>
<qda:Project xmlns:qda="urn:QDA-XML:project:1.0" name="Sparse">
  <qda:Variables><qda:Variable guid="66666666-6666-4666-8666-666666666666" name="site" typeOfVariable="Text"/></qda:Variables>
  <qda:Sources>
    <qda:TextSource guid="77777777-7777-4777-8777-777777777777" name="Empty element" plainTextPath="internal://a.txt"/>
    <qda:TextSource guid="88888888-8888-4888-8888-888888888888" name="With children" plainTextPath="internal://b.txt">
      <qda:Description>notes</qda:Description>
      <qda:NoteRef targetGUID="99999999-9999-4999-8999-999999999999"/>
      <qda:VariableValue><qda:VariableRef targetGUID="66666666-6666-4666-8666-666666666666"/><qda:TextValue>North</qda:TextValue></qda:VariableValue>
    </qda:TextSource>
  </qda:Sources>
</qda:Project>"#;
    let original = zip_of(&[
        ("project.qde", qde.as_bytes()),
        ("sources/a.txt", "Alpha beta".as_bytes()),
        ("sources/b.txt", "Gamma delta".as_bytes()),
    ]);
    let codings = [
        coding("77777777-7777-4777-8777-777777777777", "prevention", 0, 5),
        coding("88888888-8888-4888-8888-888888888888", "efficiency", 6, 11),
    ];
    let written = write_codings(&original, "sparse.qdpx", &options, &codings).unwrap();
    let new_qde = entry(&written.bytes, "project.qde");
    assert_valid_project(&new_qde);
    let text = String::from_utf8(new_qde).unwrap();
    assert!(
        text.contains("<qda:Users>") && text.contains("<qda:CodeBook>"),
        "{text}"
    );
    let after = read_project(&written.bytes, "out.qdpx").unwrap();
    let got = keyed(&after, &after.codings_by("model"));
    assert_eq!(got.len(), 2);
    assert!(got.contains(&(
        "88888888-8888-4888-8888-888888888888".into(),
        "efficiency".into(),
        6,
        11
    )));

    // An ATLAS.ti project gets positions in its own convention and reads back the same.
    let atlas = atlas_qdpx();
    let source = "33333333-3333-4333-8333-333333333333";
    let written =
        write_codings(&atlas, "a.qdpx", &options, &[coding(source, "Care", 4, 10)]).unwrap();
    let text = String::from_utf8(entry(&written.bytes, "project.qde")).unwrap();
    assert!(
        text.contains(r#"startPosition="3" endPosition="8" creatingUser"#),
        "{text}"
    );
    let after = read_project(&written.bytes, "a.qdpx").unwrap();
    let model = after.codings_by("model");
    assert_eq!((model[0].start, model[0].end), (4, 10));
    assert_eq!(model[0].code_guid, "22222222-2222-4222-8222-222222222222");
}

// ---- codebooks --------------------------------------------------------------------------

#[test]
fn imports_a_qdc_codebook_as_loadable_toml() {
    let qdc = r#"<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="QualCoder 3.5">
  <Codes>
    <Code guid="a2b94468-80a5-412f-92d6-e900d97b55a6" name="Place agenda" isCodable="true">
      <Description>The needs of a locality as a whole,
        rather than of separate organisations.</Description>
    </Code>
    <Code guid="b2b94468-80a5-412f-92d6-e900d97b55a6" name="Imperatives" isCodable="false">
      <Code guid="c2b94468-80a5-412f-92d6-e900d97b55a6" name="Care closer to home" isCodable="true"/>
      <Code guid="d2b94468-80a5-412f-92d6-e900d97b55a6" name="Place agenda" isCodable="true"><Description>Nested namesake.</Description></Code>
    </Code>
  </Codes>
</CodeBook>"#;
    let schema = repo().join("tests/fixtures/refi-qda/Codebook.xsd");
    if Path::new(&schema).exists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.qdc"), qdc).unwrap();
        if let Ok(out) = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(dir.path().join("c.qdc"))
            .output()
        {
            assert!(out.status.success(), "the test codebook itself is valid");
        }
    }
    let (codes, origin) = read_codebook(qdc.as_bytes(), "c.qdc").unwrap();
    assert_eq!(origin.as_deref(), Some("QualCoder 3.5"));
    let import = to_codebook(&codes, "imperatives", "c.qdc").unwrap();
    assert_eq!(
        import.codebook.code_names(),
        [
            "Place_agenda",
            "Imperatives__Care_closer_to_home",
            "Imperatives__Place_agenda"
        ]
    );
    assert_eq!(
        import.codebook.codes[0].definition,
        "The needs of a locality as a whole, rather than of separate organisations."
    );
    assert_eq!(import.placeholders, ["Imperatives__Care_closer_to_home"]);
    assert!(
        import.codebook.codes[1]
            .definition
            .starts_with("PLACEHOLDER")
    );
    let toml = import.to_toml().unwrap();
    let loaded = Codebook::parse(&toml).unwrap();
    assert_eq!(loaded, import.codebook);
    assert!(toml.contains("Write a definition for: Imperatives__Care_closer_to_home"));

    // The codebook of a .qdpx reads the same way.
    let (codes, _) = read_codebook(&fixture_qdpx(), "in.qdpx").unwrap();
    let import = to_codebook(&codes, "jc", "in.qdpx").unwrap();
    assert_eq!(
        import.codebook.code_names(),
        [
            "Discourses__Prevention",
            "Discourses__Empowerment",
            "Discourses__Efficiency",
            "Memorable_quote"
        ]
    );
    assert!(read_codebook(b"<Nope/>", "x.qdc").is_err());
    assert!(to_codebook(&[], "x", "x.qdc").is_err());
}

/// Random well-formed projects (users, nested codes, sources with inline or archived text,
/// selections in and out of range, codings of known and unknown codes, duplicate and odd
/// GUIDs, ATLAS.ti or not): reading never panics and codings slice their source; writing a
/// coding into whatever reads never panics, validates as well-formed and reads back with every
/// earlier coding kept. The same check as the `qdpx` fuzz target, run in CI.
#[test]
fn random_projects_read_and_write_without_panics() {
    use proptest::prelude::*;
    const GUIDS: &[&str] = &[
        "11111111-1111-4111-8111-111111111111",
        "{22222222-2222-4222-8222-222222222222}",
        "A",
        "a",
        "",
    ];
    const TEXTS: &[&str] = &["", "x", "Ann: hi\r\n\r\nBob: 🙂 yes", "\u{feff}R: ok\n"];
    let guid = || proptest::sample::select(GUIDS);
    let selection = (
        guid(),
        0i64..30,
        -2i64..30,
        guid(),
        proptest::option::of(guid()),
    );
    let source = (
        guid(),
        any::<bool>(),
        proptest::sample::select(TEXTS),
        proptest::collection::vec(selection, 0..4),
        any::<bool>(),
    );
    let project = (
        any::<bool>(),
        proptest::collection::vec(guid(), 0..3),
        proptest::collection::vec((guid(), any::<bool>(), any::<bool>()), 0..4),
        proptest::collection::vec(source, 0..4),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    runner
        .run(&project, |(atlas, users, codes, sources)| {
            let mut qde = format!(
                "<Project xmlns=\"urn:QDA-XML:project:1.0\" name=\"P\" origin=\"{}\">",
                if atlas { "ATLAS.ti 9" } else { "NVivo" }
            );
            if !users.is_empty() {
                qde.push_str("<Users>");
                for (i, g) in users.iter().enumerate() {
                    qde.push_str(&format!("<User guid=\"{g}\" name=\"u{i}\"/>"));
                }
                qde.push_str("</Users>");
            }
            if !codes.is_empty() {
                qde.push_str("<CodeBook><Codes>");
                let mut open = 0;
                for (i, (g, codable, nest)) in codes.iter().enumerate() {
                    qde.push_str(&format!("<Code guid=\"{g}\" name=\"c{i}\" isCodable=\"{codable}\">"));
                    if *nest {
                        open += 1;
                    } else {
                        qde.push_str("</Code>");
                    }
                }
                qde.push_str(&"</Code>".repeat(open));
                qde.push_str("</Codes></CodeBook>");
            }
            let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
            if !sources.is_empty() {
                qde.push_str("<Sources>");
                for (i, (g, inline, text, selections, note)) in sources.iter().enumerate() {
                    if *inline {
                        qde.push_str(&format!("<TextSource guid=\"{g}\" name=\"s{i}\"><PlainTextContent>{text}</PlainTextContent>"));
                    } else {
                        qde.push_str(&format!("<TextSource guid=\"{g}\" name=\"s{i}\" plainTextPath=\"internal://t{i}.txt\">"));
                        entries.push((format!("sources/t{i}.txt"), text.as_bytes().to_vec()));
                    }
                    for (sg, start, end, code, user) in selections {
                        let user = user.map(|u| format!(" creatingUser=\"{u}\"")).unwrap_or_default();
                        qde.push_str(&format!("<PlainTextSelection guid=\"{sg}\" startPosition=\"{start}\" endPosition=\"{end}\"><Coding guid=\"k\"{user}><CodeRef targetGUID=\"{code}\"/></Coding></PlainTextSelection>"));
                    }
                    if *note {
                        qde.push_str("<NoteRef targetGUID=\"n\"/>");
                    }
                    qde.push_str("</TextSource>");
                }
                qde.push_str("</Sources>");
            }
            qde.push_str("</Project>");
            let mut all: Vec<(&str, &[u8])> = vec![("project.qde", qde.as_bytes())];
            all.extend(entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
            let archive = zip_of(&all);
            let project = read_project(&archive, "f.qdpx").unwrap();
            for coding in &project.codings {
                let source = project.source(&coding.source_guid).unwrap();
                prop_assert!(coding.start < coding.end);
                prop_assert!(coding.end as usize <= source.plain_text.chars().count());
            }
            let codings: Vec<NewCoding> = project
                .sources
                .iter()
                .filter(|s| !s.plain_text.is_empty())
                .map(|s| coding(&s.guid, "fuzz", 0, s.plain_text.chars().count().min(5) as u64))
                .collect();
            let options = WriteOptions { coder: "fuzz coder", created: None };
            let written = write_codings(&archive, "f.qdpx", &options, &codings);
            let written = written.unwrap_or_else(|e| panic!("{e}\n{qde}"));
            let again = read_project(&written.bytes, "f.qdpx").unwrap();
            prop_assert_eq!(again.codings_by("fuzz coder").len(), codings.len(), "{}", qde);
            prop_assert_eq!(again.codings.len(), project.codings.len() + codings.len());
            Ok(())
        })
        .unwrap();
}
