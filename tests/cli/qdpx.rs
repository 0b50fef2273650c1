//! REFI-QDA through the binary: label a .qdpx (offsets slice each source's plain text), write
//! the model's labels back with `qdpx export` (valid against the official schema, re-imported
//! with the same codings), import a codebook with `qdpx codebook`, and hostile .qdpx files.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use discotag::output::read::read_dataset;
use discotag::refi;

use crate::util::*;

/// The fixture project folder zipped into a .qdpx.
pub fn fixture_qdpx() -> Vec<u8> {
    let root = repo().join("tests/fixtures/refi-qda/commissioning");
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let name = entry
                .path()
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            files.push((name, std::fs::read(entry.path()).unwrap()));
        }
    }
    zip_of(
        &files
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect::<Vec<_>>(),
    )
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn entry(qdpx: &[u8], name: &str) -> Vec<u8> {
    let mut zip = discotag::input::zip_limits::LimitedZip::open(qdpx, "t.qdpx").unwrap();
    zip.read(name).unwrap()
}

/// xmllint validation of a project.qde against the official schema; skipped loudly without
/// xmllint unless `DISCOTAG_REQUIRE_TOOLS=1`.
fn assert_valid(qde: &[u8], schema: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.xml");
    std::fs::write(&file, qde).unwrap();
    let schema = repo().join("tests/fixtures/refi-qda").join(schema);
    match std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "does not validate against {}:\n{}",
            schema.display(),
            String::from_utf8_lossy(&out.stderr)
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

fn slice(text: &str, start: i64, end: i64) -> String {
    text.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

#[test]
fn label_qdpx_offsets_slice_each_sources_plain_text() {
    let wd = Workdir::new();
    let qdpx = wd.create("study.qdpx", fixture_qdpx());
    wd.command(&["label", "study.qdpx", "--out", "out", "--unit", "sentence"])
        .assert()
        .success();
    let project = refi::read_project(&std::fs::read(&qdpx).unwrap(), "study.qdpx").unwrap();
    let dataset = read_dataset(&wd.path().join("out")).unwrap();
    assert!(dataset.rows.len() > 8, "{} rows", dataset.rows.len());
    let mut doc_ids = BTreeSet::new();
    for row in &dataset.rows {
        let guid = &row.metadata[refi::SOURCE_GUID_KEY];
        let source = project.source(guid).unwrap();
        assert_eq!(row.metadata[refi::SOURCE_NAME_KEY], source.name);
        assert_eq!(*row.doc_id, *source.name);
        assert_eq!(
            slice(&source.plain_text, row.char_start, row.char_end),
            row.text
        );
        doc_ids.insert(row.doc_id.to_string());
    }
    assert_eq!(
        doc_ids,
        BTreeSet::from(["Site F GP interview".into(), "Site G commissioner".into()])
    );
    // The GP source's text has a byte-order mark, CRLF line ends and an emoji before this
    // sentence; its offsets still slice the plain text (checked above) at the right place.
    let fall = dataset
        .rows
        .iter()
        .find(|r| r.text.starts_with("If the falls team"))
        .unwrap();
    assert!(fall.text.contains("🙂"));
}

#[test]
fn qdpx_export_validates_and_reimports_the_models_codings() {
    let wd = Workdir::new();
    wd.create("study.qdpx", fixture_qdpx());
    // The tiny model's random encoder may put every score under its thresholds; with the
    // thresholds at 0 every row carries every code, so there is always something to export.
    copy_model(tiny_model(), &wd.path().join("model"));
    wd.create(
        "model/thresholds.json",
        r#"{"prevention": 0.0, "empowerment": 0.0, "efficiency": 0.0}"#,
    );
    wd.command(&[
        "label",
        "study.qdpx",
        "--out",
        "out",
        "--unit",
        "sentence",
        "--model",
        "model",
    ])
    .assert()
    .success();
    wd.command(&[
        "qdpx",
        "export",
        "--project",
        "study.qdpx",
        "--dataset",
        "out",
        "--out",
        "with-model.qdpx",
        "--coder",
        "tiny model",
    ])
    .assert()
    .success();
    let original = std::fs::read(wd.path().join("study.qdpx")).unwrap();
    let written = std::fs::read(wd.path().join("with-model.qdpx")).unwrap();
    assert_valid(&entry(&written, "project.qde"), "Project.xsd");

    let before = refi::read_project(&original, "study.qdpx").unwrap();
    let after = refi::read_project(&written, "with-model.qdpx").unwrap();
    assert!(after.coding_errors.is_empty(), "{:?}", after.coding_errors);
    assert_eq!(after.sources, before.sources);
    for coder in ["Ruth Okonjo", "Sam Patel"] {
        assert_eq!(after.codings_by(coder), before.codings_by(coder));
    }
    // Every labelled row is covered by a coding of its code by the new coder, and every such
    // coding starts and ends where labelled rows do (touching rows are merged).
    let dataset = read_dataset(&wd.path().join("out")).unwrap();
    let model = after.codings_by("tiny model");
    let labelled: Vec<_> = dataset
        .rows
        .iter()
        .flat_map(|r| r.labels.iter().map(move |l| (r, l)))
        .collect();
    assert!(!labelled.is_empty(), "the tiny model labels some rows");
    assert!(!model.is_empty());
    // The tiny model's codes (prevention, ...) are the fixture's codes (Prevention, ...) by
    // name ignoring case, so no code is added.
    assert_eq!(after.codes, before.codes);
    let code_name = |c: &refi::Coding| after.code(&c.code_guid).unwrap().name.to_lowercase();
    for (row, label) in &labelled {
        let guid = &row.metadata[refi::SOURCE_GUID_KEY];
        assert!(
            model.iter().any(|c| refi::same_guid(&c.source_guid, guid)
                && code_name(c) == **label
                && c.start as i64 <= row.char_start
                && row.char_end <= c.end as i64),
            "row {:?} labelled {label} has no coding",
            row.text
        );
    }
    for coding in &model {
        let code = code_name(coding);
        let rows: Vec<_> = labelled
            .iter()
            .filter(|(r, l)| {
                **l == code
                    && refi::same_guid(&coding.source_guid, &r.metadata[refi::SOURCE_GUID_KEY])
            })
            .collect();
        assert!(
            rows.iter()
                .any(|(r, _)| r.char_start == coding.start as i64)
        );
        assert!(rows.iter().any(|(r, _)| r.char_end == coding.end as i64));
    }

    // The same coder again is refused, with a fatal error.
    wd.command(&[
        "qdpx",
        "export",
        "--project",
        "with-model.qdpx",
        "--dataset",
        "out",
        "--out",
        "again.qdpx",
        "--coder",
        "tiny model",
    ])
    .assert()
    .code(1)
    .stderr(predicates::str::contains(
        "already has a user named \"tiny model\"",
    ));
}

#[test]
fn qdpx_codebook_produces_a_loadable_codebook() {
    let wd = Workdir::new();
    let qdc = r#"<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="MAXQDA 2022">
  <Codes>
    <Code guid="a2b94468-80a5-412f-92d6-e900d97b55a6" name="Efficiency or value for money" isCodable="true">
      <Description>Getting more for the money.</Description>
    </Code>
    <Code guid="b2b94468-80a5-412f-92d6-e900d97b55a6" name="Place agenda" isCodable="true">
      <Code guid="c2b94468-80a5-412f-92d6-e900d97b55a6" name="Locality" isCodable="true"/>
    </Code>
  </Codes>
</CodeBook>"#;
    wd.create("imperatives.qdc", qdc);
    assert_valid(qdc.as_bytes(), "Codebook.xsd");
    wd.command(&["qdpx", "codebook", "imperatives.qdc", "--out", "cb.toml"])
        .assert()
        .success()
        .stderr(predicates::str::contains("placeholder"));
    let codebook = discotag::codebook::Codebook::load(&wd.path().join("cb.toml")).unwrap();
    assert_eq!(codebook.name, "imperatives");
    assert_eq!(
        codebook.code_names(),
        [
            "Efficiency_or_value_for_money",
            "Place_agenda",
            "Place_agenda__Locality"
        ]
    );

    wd.create("study.qdpx", fixture_qdpx());
    wd.command(&[
        "qdpx",
        "codebook",
        "study.qdpx",
        "--out",
        "jc.toml",
        "--name",
        "jc",
    ])
    .assert()
    .success();
    let codebook = discotag::codebook::Codebook::load(&wd.path().join("jc.toml")).unwrap();
    assert_eq!(codebook.codes.len(), 4);

    wd.command(&["qdpx", "codebook", "missing.qdc", "--out", "x.toml"])
        .assert()
        .code(1);
}

#[test]
fn hostile_qdpx_files_are_errors_with_file_and_entry() {
    let wd = Workdir::new();
    wd.create(
        "in/good.txt",
        "Interviewer: Hello.\n\nRespondent: We pooled the budget to stop paying twice.\n",
    );
    let good = fixture_qdpx();
    wd.create("in/truncated.qdpx", &good[..good.len() / 2]);
    wd.create(
        "in/bomb.qdpx",
        zip_of(&[("project.qde", &vec![b' '; 8 * 1024 * 1024])]),
    );
    wd.create(
        "in/bad_xml.qdpx",
        zip_of(&[(
            "project.qde",
            b"<Project xmlns=\"urn:QDA-XML:project:1.0\"><Sources></Project>",
        )]),
    );
    let mixed = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="Mixed"><Sources>
<TextSource guid="11111111-1111-4111-8111-111111111111" name="Readable" plainTextPath="internal://a.txt"/>
<TextSource guid="22222222-2222-4222-8222-222222222222" name="Word only" richTextPath="internal://b.docx"/>
</Sources></Project>"#;
    wd.create(
        "in/mixed.qdpx",
        zip_of(&[
            ("project.qde", mixed.as_bytes()),
            (
                "sources/a.txt",
                "Respondent: Prevention means getting in early.".as_bytes(),
            ),
        ]),
    );
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
    assert!(
        find("truncated.qdpx")["reason"]
            .as_str()
            .unwrap()
            .contains("zip")
    );
    let bomb = find("bomb.qdpx");
    assert_eq!(bomb["position"]["kind"], "entry");
    assert_eq!(bomb["position"]["entry"], "project.qde");
    assert!(bomb["reason"].as_str().unwrap().contains("zip bomb"));
    let bad_xml = find("bad_xml.qdpx");
    assert_eq!(bad_xml["position"]["entry"], "project.qde");
    assert!(bad_xml["reason"].as_str().unwrap().contains("XML"));
    let word_only = find("mixed.qdpx");
    assert!(
        word_only["reason"]
            .as_str()
            .unwrap()
            .contains("\"Word only\""),
        "{word_only}"
    );

    let dataset = read_dataset(&out).unwrap();
    let docs: BTreeSet<String> = dataset.rows.iter().map(|r| r.doc_id.to_string()).collect();
    assert_eq!(docs, BTreeSet::from(["good".into(), "Readable".into()]));
    assert!(Path::new(&out.join("errors.jsonl")).exists());
}

/// A project another QDA application exported, and what that application's own database says
/// its codings are (`scripts/make_foreign_qdpx.py`; see tests/fixtures/README.md).
fn foreign_fixture(tool: &str) -> (Vec<u8>, serde_json::Value) {
    let dir = repo().join("tests/fixtures/refi-qda").join(tool);
    let qdpx = std::fs::read(dir.join("commissioning.qdpx")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    (qdpx, expected)
}

/// (document, code path, start, end, text) of one coding.
type CodingKey = (String, String, u64, u64, String);

/// Reads a foreign project and checks it against its producer's own record: no errors, each
/// source's plain text is the document text the producer stores, and every coding, with the
/// text sliced from its source's plain text, equals one the producer stores (its positions and
/// its highlighted text), with none missing or extra. Returns the project and each coding's
/// key with its coder's name.
fn assert_reads_as_its_producer_stored(
    tool: &str,
    origin: &str,
) -> (refi::Project, Vec<(CodingKey, String)>) {
    let (qdpx, expected) = foreign_fixture(tool);
    let project = refi::read_project(&qdpx, "commissioning.qdpx").unwrap();
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
    assert!(project.skipped_sources.is_empty());
    assert_eq!(project.origin.as_deref(), Some(origin));
    assert_eq!(project.line_ends, refi::LineEnds::CodePoints);
    assert_valid(&entry(&qdpx, refi::PROJECT_ENTRY), "Project.xsd");

    let documents = expected["documents"].as_array().unwrap();
    assert_eq!(project.sources.len(), documents.len());
    for document in documents {
        let name = document["name"].as_str().unwrap();
        let source = project.sources.iter().find(|s| s.name == name).unwrap();
        assert_eq!(
            source.plain_text,
            document["content"].as_str().unwrap(),
            "{name}"
        );
        assert!(!source.had_byte_order_mark, "{name}");
    }

    let read: Vec<(CodingKey, String)> = project
        .codings
        .iter()
        .map(|c| {
            let source = project.source(&c.source_guid).unwrap();
            let key = (
                source.name.clone(),
                project.code(&c.code_guid).unwrap().path(),
                c.start,
                c.end,
                slice(&source.plain_text, c.start as i64, c.end as i64),
            );
            (key, project.user_name(c).unwrap().to_string())
        })
        .collect();
    let mut wanted: Vec<CodingKey> = expected_codings(&expected)
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(wanted.len(), 16);
    let mut keys: Vec<CodingKey> = read.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    wanted.sort();
    assert_eq!(keys, wanted);

    // The hard cases are among them: across a line end, across a blank line, right after
    // the emoji, ending on the emoji.
    let texts: Vec<&str> = keys.iter().map(|k| k.4.as_str()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("later.\r\nInterviewer") || t.contains("later.\nInterviewer"))
    );
    assert!(texts.iter().any(|t| t.contains("pathway.\n\nThey")));
    assert!(texts.iter().any(|t| t.starts_with(" let people say")));
    assert!(texts.iter().any(|t| t.ends_with("listened to 💬")));
    (project, read)
}

/// The codings in a producer's record, each with its coder.
fn expected_codings(expected: &serde_json::Value) -> Vec<(CodingKey, String)> {
    expected["codings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["offset_unit"], "codepoint");
            let path: Vec<&str> = c["code_path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            let key = (
                c["document"].as_str().unwrap().to_string(),
                path.join("/"),
                c["start_pos"].as_u64().unwrap(),
                c["end_pos"].as_u64().unwrap(),
                c["selected_text"].as_str().unwrap().to_string(),
            );
            (key, c["coder"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn foreign_aqda_project_reads_every_coding_on_the_characters_aqda_highlighted() {
    let (project, mut read) = assert_reads_as_its_producer_stored("aqda", "AQDA");
    // AQDA keeps the CRLF line ends of the uploaded file and drops its byte-order mark.
    assert!(
        project
            .sources
            .iter()
            .any(|s| s.plain_text.contains("\r\n"))
    );
    // One REFI-QDA user per coder: each coding is read with the coder who made it in AQDA.
    let mut wanted = expected_codings(&foreign_fixture("aqda").1);
    read.sort();
    wanted.sort();
    assert_eq!(read, wanted);
    assert_eq!(project.codings_by("Alice").len(), 9);
    assert_eq!(project.codings_by("Bob").len(), 7);
}

#[test]
fn foreign_exegete_project_reads_every_coding_on_the_characters_exegete_highlighted() {
    let (project, read) = assert_reads_as_its_producer_stored("exegete", "Exegete");
    // Exegete (like QualCoder) stores \n line ends; its archive has a lower-case `sources/`.
    assert!(project.sources.iter().all(|s| !s.plain_text.contains('\r')));
    assert!(project.sources.iter().all(|s| {
        s.plain_text_entry
            .as_deref()
            .is_some_and(|e| e.starts_with("sources/"))
    }));
    // Its category is a non-codable parent code.
    let discourses = project
        .codes
        .iter()
        .find(|c| c.name == "Discourses")
        .unwrap();
    assert!(!discourses.is_codable);
    // Its export files every coding under one user, whoever made it (a fault Exegete
    // declares); the coders are in its database only.
    assert!(read.iter().all(|(_, user)| user == "AI Coding Assistant"));
    assert_eq!(project.users.len(), 1);
}

/// `discotag label` on a foreign project: exit 0, one row per sentence of each source, each
/// row's offsets slicing its source's plain text.
fn assert_label_slices_each_source(tool: &str) {
    let (qdpx, _) = foreign_fixture(tool);
    let wd = Workdir::new();
    wd.create("foreign.qdpx", qdpx.clone());
    wd.command(&[
        "label",
        "foreign.qdpx",
        "--out",
        "out",
        "--unit",
        "sentence",
    ])
    .assert()
    .success();
    let project = refi::read_project(&qdpx, "foreign.qdpx").unwrap();
    let dataset = read_dataset(&wd.path().join("out")).unwrap();
    let mut names = BTreeSet::new();
    for row in &dataset.rows {
        let source = project
            .source(&row.metadata[refi::SOURCE_GUID_KEY])
            .unwrap();
        assert_eq!(
            slice(&source.plain_text, row.char_start, row.char_end),
            row.text
        );
        names.insert(source.name.clone());
    }
    assert_eq!(
        names,
        BTreeSet::from([
            "site_a_commissioner.txt".to_string(),
            "site_b_lay_member.txt".to_string()
        ])
    );
    let with_emoji = dataset.rows.iter().find(|r| r.text.contains("🙂")).unwrap();
    assert!(with_emoji.text.contains("“good”"), "{}", with_emoji.text);
}

#[test]
fn label_foreign_aqda_project_offsets_slice_each_source() {
    assert_label_slices_each_source("aqda");
}

#[test]
fn label_foreign_exegete_project_offsets_slice_each_source() {
    assert_label_slices_each_source("exegete");
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Each row's distance (in logits) from its nearest code threshold, as `suggest` measures it.
fn distances(out: &Path) -> Vec<f64> {
    let thresholds: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tiny_model().join("thresholds.json")).unwrap(),
    )
    .unwrap();
    let data = read_dataset(out).unwrap();
    data.rows
        .iter()
        .map(|row| {
            data.codes
                .iter()
                .zip(&row.scores)
                .map(|(c, &s)| (logit(f64::from(s)) - logit(thresholds[c].as_f64().unwrap())).abs())
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

/// `suggest` returns N distinct segments nearer their thresholds than the average, the codes
/// taking turns; `--qdpx-out` files them in a copy of the project as selections coded
/// "discotag: to code", with the reasons as descriptions, valid against Project.xsd.
#[test]
fn suggest_picks_uncertain_segments_and_files_them_in_the_project() {
    let wd = Workdir::new();
    let data = repo().join("data/labelled/test.jsonl");
    wd.command(&["label", "--out", "labelled"])
        .arg(&data)
        .assert()
        .success();
    let out = wd
        .command(&["suggest", "--dataset", "labelled", "--n", "9", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let suggested: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(suggested.len(), 9);
    let places: BTreeSet<(String, i64, i64)> = suggested
        .iter()
        .map(|s| {
            (
                s["doc_id"].as_str().unwrap().to_string(),
                s["record_index"].as_i64().unwrap(),
                s["char_start"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(places.len(), 9, "distinct segments");
    for key in [
        "source_path",
        "doc_id",
        "char_start",
        "char_end",
        "text",
        "scores",
        "reason",
    ] {
        assert!(suggested.iter().all(|s| !s[key].is_null()), "{key}");
    }
    let all = distances(&wd.path().join("labelled"));
    let mean_all = all.iter().sum::<f64>() / all.len() as f64;
    let mean_suggested = suggested
        .iter()
        .map(|s| s["distance"].as_f64().unwrap())
        .sum::<f64>()
        / 9.0;
    assert!(mean_suggested < mean_all, "{mean_suggested} vs {mean_all}");
    let mut per_code = std::collections::BTreeMap::new();
    for s in &suggested {
        *per_code
            .entry(s["code"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_code.values().copied().collect::<Vec<_>>(),
        vec![3, 3, 3],
        "{per_code:?}"
    );

    // into the project it was labelled from
    wd.create("study.qdpx", fixture_qdpx());
    wd.command(&[
        "label",
        "study.qdpx",
        "--out",
        "from-project",
        "--unit",
        "sentence",
    ])
    .assert()
    .success();
    wd.command(&[
        "suggest",
        "--dataset",
        "from-project",
        "--n",
        "3",
        "--qdpx-out",
        "to-code.qdpx",
        "--project",
        "study.qdpx",
    ])
    .assert()
    .success();
    let written = std::fs::read(wd.path().join("to-code.qdpx")).unwrap();
    let qde = entry(&written, "project.qde");
    assert_valid(&qde, "Project.xsd");
    assert!(String::from_utf8_lossy(&qde).contains("the model is unsure whether"));
    let project = refi::read_project(&written, "to-code.qdpx").unwrap();
    let code = project
        .codes
        .iter()
        .find(|c| c.name == "discotag: to code")
        .expect("the suggestion code is added");
    let user = project
        .users
        .iter()
        .find(|u| u.name.as_deref() == Some("discotag suggest"))
        .unwrap();
    let codings: Vec<&refi::Coding> = project
        .codings
        .iter()
        .filter(|c| c.code_guid == code.guid)
        .collect();
    assert_eq!(codings.len(), 3);
    assert!(
        codings
            .iter()
            .all(|c| c.user_guid.as_deref() == Some(user.guid.as_str()))
    );

    // a dataset from other inputs cannot be filed in the project
    wd.command(&[
        "suggest",
        "--dataset",
        "labelled",
        "--n",
        "2",
        "--qdpx-out",
        "x.qdpx",
        "--project",
        "study.qdpx",
    ])
    .assert()
    .failure()
    .stderr(predicates::str::contains("does not come from a source"));
}
