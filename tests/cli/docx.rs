//! `discotag label` on Word .docx transcripts: speakers, labels and offsets into the DOCX
//! plain text (computed here independently from the paragraphs written); damaged and hostile
//! .docx files among good inputs.

use std::io::{Cursor, Write};

use arrow_array::{Array, MapArray, StringArray};
use zip::write::SimpleFileOptions;

use crate::util::*;

const CONTENT_TYPES_XML: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">"#,
    r#"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#,
    r#"<Default Extension="xml" ContentType="application/xml"/>"#,
    r#"<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>"#,
    r#"</Types>"#
);

const RELATIONSHIPS_XML: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    r#"<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>"#,
    r#"</Relationships>"#
);

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        writer
            .start_file(*name, SimpleFileOptions::default())
            .unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn document_xml(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    )
}

fn docx_with_main_part(xml: &[u8]) -> Vec<u8> {
    zip_of(&[
        ("[Content_Types].xml", CONTENT_TYPES_XML.as_bytes()),
        ("_rels/.rels", RELATIONSHIPS_XML.as_bytes()),
        ("word/document.xml", xml),
    ])
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One `w:p` for a line of text, split into two runs mid-line (as Word splits runs where
/// formatting or revision ids change), with tabs as `w:tab` and newlines as `w:br`.
fn paragraph_xml(line: &str) -> String {
    let middle = line.chars().count() / 2;
    let (first, second): (String, String) = (
        line.chars().take(middle).collect(),
        line.chars().skip(middle).collect(),
    );
    let run = |text: &str| {
        let inner: Vec<String> = text
            .split('\n')
            .map(|piece| {
                piece
                    .split('\t')
                    .map(|t| format!(r#"<w:t xml:space="preserve">{}</w:t>"#, escape(t)))
                    .collect::<Vec<_>>()
                    .join("<w:tab/>")
            })
            .collect();
        format!("<w:r><w:rPr><w:b/></w:rPr>{}</w:r>", inner.join("<w:br/>"))
    };
    format!("<w:p>{}{}</w:p>", run(&first), run(&second))
}

/// A .docx with one paragraph per line, and its plain text by the documented convention:
/// paragraphs joined with `\n`.
fn docx_of(lines: &[&str]) -> (Vec<u8>, String) {
    let body: String = lines.iter().map(|l| paragraph_xml(l)).collect();
    (
        docx_with_main_part(document_xml(&body).as_bytes()),
        lines.join("\n"),
    )
}

const INTERVIEW: &[&str] = &[
    "---",
    "site: Eastport",
    "participant_role: commissioner",
    "---",
    "Interviewer: What does joint commissioning mean here?",
    "Respondent: We pool the budget so we stop paying twice. And we go in early, before the crisis.",
    "It took years to agree & sign.",
    "",
    "Interviewer: And the carers?\tThey said “ask us first” 🙂",
    "Respondent: Co-production.\nThat’s the word we use now.",
];

#[test]
fn labels_a_docx_transcript_with_offsets_into_its_plain_text() {
    let wd = Workdir::new();
    let (bytes, plain_text) = docx_of(INTERVIEW);
    let path = wd.create("site_x.docx", &bytes);
    wd.command(&[
        "label",
        path.to_str().unwrap(),
        "--out",
        "out",
        "--unit",
        "sentence",
    ])
    .assert()
    .success();
    let batches = read_segments(&wd.path().join("out"));
    let texts = strings(&batches, "text");
    let starts = ints(&batches, "char_start");
    let ends = ints(&batches, "char_end");
    assert!(texts.len() >= 6, "{texts:?}");
    let chars: Vec<char> = plain_text.chars().collect();
    for ((text, start), end) in texts.iter().zip(&starts).zip(&ends) {
        let sliced: String = chars[start.unwrap() as usize..end.unwrap() as usize]
            .iter()
            .collect();
        assert_eq!(&sliced, text.as_ref().unwrap());
    }
    let speakers: Vec<String> = strings(&batches, "speaker")
        .into_iter()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(speakers.first().map(String::as_str), Some("Interviewer"));
    assert_eq!(speakers.last().map(String::as_str), Some("Respondent"));
    assert!(
        speakers
            .iter()
            .all(|s| s == "Interviewer" || s == "Respondent")
    );
    // A paragraph without a label continues the turn; an empty paragraph ends it.
    assert!(
        texts
            .iter()
            .any(|t| t.as_deref() == Some("It took years to agree & sign."))
    );
    assert_eq!(labels(&batches).len(), texts.len());
    let schema = batches[0].schema();
    for column in [
        "labels",
        "score_prevention",
        "score_empowerment",
        "score_efficiency",
    ] {
        assert!(schema.field_with_name(column).is_ok(), "missing {column}");
    }
    assert_eq!(strings(&batches, "doc_id")[0].as_deref(), Some("site_x"));
    let metadata = column::<MapArray>(&batches[0], "metadata").value(0);
    let keys = metadata
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let keys: Vec<&str> = (0..keys.len()).map(|i| keys.value(i)).collect();
    assert_eq!(keys, vec!["participant_role", "site"]);
    assert_eq!(
        manifest(&wd.path().join("out"))["inputs"][0]["format"],
        "docx"
    );
}

#[test]
fn a_docx_on_stdin_needs_format_docx() {
    let wd = Workdir::new();
    let (bytes, plain_text) = docx_of(&INTERVIEW[4..6]);
    wd.command(&["label", "-", "--format", "docx", "--out", "out"])
        .write_stdin(bytes)
        .assert()
        .success();
    let batches = read_segments(&wd.path().join("out"));
    assert_eq!(strings(&batches, "source_path")[0].as_deref(), Some("-"));
    let texts = strings(&batches, "text");
    let starts = ints(&batches, "char_start");
    let chars: Vec<char> = plain_text.chars().collect();
    for (text, start) in texts.iter().zip(&starts) {
        let text = text.as_deref().unwrap();
        let start = start.unwrap() as usize;
        let sliced: String = chars[start..start + text.chars().count()].iter().collect();
        assert_eq!(sliced, text);
    }
}

#[test]
fn bad_docx_files_among_good_ones_give_exit_3_and_error_records() {
    let wd = Workdir::new();
    wd.create(
        "in/good.txt",
        "Interviewer: Hello.\n\nRespondent: We pooled the budget to stop paying twice.\n",
    );
    let (good, _) = docx_of(&INTERVIEW[4..6]);
    wd.create("in/good.docx", &good);
    wd.create(
        "in/not_a_zip.docx",
        "Respondent: plain text saved as .docx\n",
    );
    wd.create("in/truncated.docx", &good[..good.len() / 2]);
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.resize(2048, 0);
    wd.create("in/old_word.docx", ole);
    wd.create(
        "in/no_document.docx",
        zip_of(&[("notes.txt", b"Respondent: hi".as_slice())]),
    );
    let malformed = "<?xml version=\"1.0\"?>\n<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\n<w:body><w:p><w:r><w:t>oops</w:r></w:p></w:body></w:document>";
    wd.create(
        "in/malformed.docx",
        docx_with_main_part(malformed.as_bytes()),
    );
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE w:document [<!ENTITY a \"ha\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>";
    wd.create("in/laughs.docx", docx_with_main_part(laughs.as_bytes()));
    let bomb = document_xml(&format!(
        "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
        " ".repeat(8 * 1024 * 1024)
    ));
    wd.create("in/bomb.docx", docx_with_main_part(bomb.as_bytes()));
    let names: Vec<String> = (0..20_001).map(|i| format!("e{i}")).collect();
    let crowded: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    wd.create("in/crowded.docx", zip_of(&crowded));

    wd.command(&["label", "in", "--out", "out"])
        .assert()
        .code(3);
    let out = wd.path().join("out");
    let errors = errors(&out);
    let find = |name: &str| {
        errors
            .iter()
            .find(|e| e["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no error for {name}: {errors:?}"))
            .clone()
    };
    let reason = |name: &str| find(name)["reason"].as_str().unwrap().to_string();
    let entry = |name: &str| {
        let error = find(name);
        assert_eq!(error["position"]["kind"], "entry", "{error}");
        error["position"]["entry"].as_str().unwrap().to_string()
    };
    assert!(reason("not_a_zip.docx").contains("zip"));
    assert!(reason("truncated.docx").contains("zip"));
    assert!(reason("old_word.docx").contains(".doc"));
    assert!(reason("crowded.docx").contains("20001 entries"));
    assert_eq!(entry("no_document.docx"), "word/document.xml");
    assert_eq!(entry("malformed.docx"), "word/document.xml");
    assert!(reason("malformed.docx").contains("at line 3, column"));
    assert_eq!(entry("laughs.docx"), "word/document.xml");
    assert!(reason("laughs.docx").contains("document type declaration"));
    assert_eq!(entry("bomb.docx"), "word/document.xml");
    assert!(reason("bomb.docx").contains("zip bomb"));

    // The good inputs are labelled.
    let sources = strings(&read_segments(&out), "source_path");
    for good in ["good.txt", "good.docx"] {
        assert!(
            sources
                .iter()
                .any(|s| s.as_deref().unwrap().ends_with(good)),
            "no rows from {good}"
        );
    }
    let manifest = manifest(&out);
    let failed = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "failed")
        .count();
    assert_eq!(failed, 8);
}
