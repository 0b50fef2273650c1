//! Writing a coder's codings back into a `.qdpx`: a copy of the original archive (every entry
//! but `project.qde` copied byte for byte, still compressed) whose `project.qde` gains a new
//! `User`, any codes missing from the codebook, and one `PlainTextSelection` per coded span.
//!
//! `project.qde` is not re-serialised: the new elements are spliced into the original text at
//! the places the schema's element order requires (users first in `Users`, new codes at the end
//! of `CodeBook/Codes`, new selections after a source's existing selections and before its
//! `Coding`, `NoteRef` and `VariableValue` children), so everything else in it is unchanged.
//!
//! A code's spans in one source are merged when they overlap, touch, or are separated only by
//! whitespace (two window segments of one turn), so a coded passage is one selection; spans of
//! different codes over the same range share one selection with a `Coding` each. GUIDs derive
//! from the original `project.qde`, the coder and the span ([`derived_guid`]), so the same
//! input always gives the same output.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Cursor, Write};

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};

use super::read::read_project;
use super::{PositionMap, Project, RefiError, derived_guid, guid_key};
use crate::input::sha256_hex;
use crate::input::zip_limits::LimitedZip;

/// One code the coder applied to one span of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCoding {
    /// The source's GUID (`refi_source_guid` in discotag's output metadata).
    pub source_guid: String,
    /// The code's name, matched to the codebook by name (see [`write_codings`]).
    pub code: String,
    /// Code-point offsets into the source's plain text, end exclusive.
    pub start: u64,
    pub end: u64,
    /// A note for the coder, written as the selection's `Description` (the memo QDA tools
    /// show); the notes of codings merged into one selection are joined.
    pub memo: Option<String>,
}

/// How the codings are attributed.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions<'a> {
    /// The coder's user name; it must not name an existing user of the project.
    pub coder: &'a str,
    /// An `xsd:dateTime` (`2026-12-01T14:00:00Z`) stamped on the new selections and codings as
    /// their `creationDateTime` (some importers need one); `None` leaves it out, which keeps
    /// the output independent of the clock.
    pub created: Option<&'a str>,
}

/// The new archive and what was added to it.
#[derive(Debug, Clone)]
pub struct Written {
    pub bytes: Vec<u8>,
    pub user_guid: String,
    /// Names of the codes added to the codebook, in the order added.
    pub codes_added: Vec<String>,
    pub selections: usize,
    pub codings: usize,
}

/// Copies the `.qdpx` in `original` and adds `codings` by a new user named `options.coder`.
///
/// Code names are matched to codable codes of the codebook by name, then by path
/// (`Discourses/Prevention`), then by the name [`to_codebook`](super::to_codebook) gives a
/// code, then by name ignoring case; a code found by none of these is added at the top level
/// of the codebook.
///
/// # Errors
/// When the original cannot be read ([`RefiError::Input`]), a coding names a source the
/// project does not have or lies outside its text, the coder's name is empty or already a
/// user's, or the new archive cannot be written.
pub fn write_codings(
    original: &[u8],
    path: &str,
    options: &WriteOptions<'_>,
    codings: &[NewCoding],
) -> Result<Written, RefiError> {
    let invalid = |reason: String| RefiError::Invalid {
        path: path.to_string(),
        reason,
    };
    let project = read_project(original, path)?;
    let coder = options.coder.trim();
    if coder.is_empty() || coder.chars().any(|c| !is_xml_char(c) || c.is_control()) {
        return Err(invalid(format!(
            "coder name {:?} must be non-empty text without control characters",
            options.coder
        )));
    }
    if project.users_named(coder).next().is_some() {
        return Err(RefiError::CoderExists {
            path: path.to_string(),
            coder: coder.to_string(),
        });
    }
    if let Some(created) = options.created
        && !is_date_time(created)
    {
        return Err(invalid(format!(
            "creation time {created:?} is not an xsd:dateTime such as 2026-12-01T14:00:00Z"
        )));
    }

    let mut zip = LimitedZip::open(original, path)?;
    let qde_bytes = zip.read(&project.project_entry)?;
    let (bom, qde) = match qde_bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (true, rest),
        None => (false, qde_bytes.as_slice()),
    };
    let qde = std::str::from_utf8(qde).map_err(|_| {
        invalid(format!(
            "{} is not UTF-8; discotag writes codings only into UTF-8 projects",
            project.project_entry
        ))
    })?;
    let seed = sha256_hex(&qde_bytes);
    let user_guid = derived_guid(&["user", &seed, coder]);

    let code_guids = resolve_codes(&project, codings, &seed);
    let mut by_source: BTreeMap<String, Vec<&NewCoding>> = BTreeMap::new();
    for coding in codings {
        let source =
            project
                .source(&coding.source_guid)
                .ok_or_else(|| RefiError::UnknownSource {
                    path: path.to_string(),
                    guid: coding.source_guid.clone(),
                })?;
        let len = source.plain_text.chars().count() as u64;
        if coding.start >= coding.end || coding.end > len {
            return Err(RefiError::OutOfRange {
                path: path.to_string(),
                source_name: source.name.clone(),
                code: coding.code.clone(),
                start: coding.start,
                end: coding.end,
                len,
            });
        }
        by_source
            .entry(guid_key(&source.guid))
            .or_default()
            .push(coding);
    }

    let anchors = find_anchors(qde).map_err(invalid)?;
    let prefix = anchors
        .prefix
        .as_deref()
        .map(|p| format!("{p}:"))
        .unwrap_or_default();
    let stamp = options
        .created
        .map(|c| format!(" creationDateTime=\"{}\"", escape(c)))
        .unwrap_or_default();
    let mut edits: Vec<Edit> = Vec::new();
    let mut selection_count = 0;
    let mut coding_count = 0;

    for (source_key, source_codings) in &by_source {
        let source = project
            .source(source_key)
            .expect("codings were grouped by known sources");
        let anchor = anchors.sources.get(source_key).ok_or_else(|| {
            invalid(format!(
                "source {:?} was read but its TextSource element was not found again",
                source.name
            ))
        })?;
        let chars: Vec<char> = source.plain_text.chars().collect();
        let positions = PositionMap::new(&source.plain_text, project.line_ends);
        let mut content = String::new();
        for ((start, end), codes) in selections(&chars, source_codings) {
            let selection_guid = derived_guid(&[
                "selection",
                &seed,
                coder,
                &source.guid,
                &start.to_string(),
                &end.to_string(),
            ]);
            let excerpt = excerpt(&chars[start as usize..end as usize]);
            content.push_str(&format!(
                "\n      <{prefix}PlainTextSelection guid=\"{selection_guid}\" name=\"{}\" startPosition=\"{}\" endPosition=\"{}\" creatingUser=\"{user_guid}\"{stamp}>",
                escape(excerpt.as_str()),
                positions.to_position(start),
                positions.to_position(end),
            ));
            let memos: Vec<&str> = source_codings
                .iter()
                .filter(|c| c.start >= start && c.end <= end && codes.contains(&c.code.as_str()))
                .filter_map(|c| c.memo.as_deref())
                .collect();
            if !memos.is_empty() {
                content.push_str(&format!(
                    "\n        <{prefix}Description>{}</{prefix}Description>",
                    escape(memos.join("\n"))
                ));
            }
            for code in codes {
                let coding_guid = derived_guid(&[
                    "coding",
                    &seed,
                    coder,
                    &source.guid,
                    &start.to_string(),
                    &end.to_string(),
                    code,
                ]);
                content.push_str(&format!(
                    "\n        <{prefix}Coding guid=\"{coding_guid}\" creatingUser=\"{user_guid}\"{stamp}><{prefix}CodeRef targetGUID=\"{}\"/></{prefix}Coding>",
                    code_guids[code].0
                ));
                coding_count += 1;
            }
            content.push_str(&format!("\n      </{prefix}PlainTextSelection>"));
            selection_count += 1;
        }
        edits.push(anchor.insert(content, &format!("{prefix}TextSource"), "    "));
    }

    let user_xml = format!(
        "\n    <{prefix}User guid=\"{user_guid}\" name=\"{}\"/>",
        escape(coder)
    );
    let mut codes_added = Vec::new();
    let mut codes_xml = String::new();
    let mut added: Vec<(&String, &(String, bool))> =
        code_guids.iter().filter(|(_, (_, new))| *new).collect();
    added.sort_by_key(|(name, _)| name.as_str());
    for (name, (guid, _)) in added {
        codes_xml.push_str(&format!(
            "\n      <{prefix}Code guid=\"{guid}\" name=\"{}\" isCodable=\"true\"/>",
            escape(name.as_str())
        ));
        codes_added.push(name.clone());
    }
    let codebook_xml = if codes_xml.is_empty() {
        String::new()
    } else {
        format!(
            "\n  <{prefix}CodeBook>\n    <{prefix}Codes>{codes_xml}\n    </{prefix}Codes>\n  </{prefix}CodeBook>"
        )
    };
    match &anchors.users {
        Some(users) => {
            edits.push(users.insert(user_xml, &format!("{prefix}Users"), "  "));
            if anchors.codebook.is_none() && !codebook_xml.is_empty() {
                edits.push(Edit::insert_at(users.end, codebook_xml.clone()));
            }
        }
        None => {
            let mut content = format!("\n  <{prefix}Users>{user_xml}\n  </{prefix}Users>");
            if anchors.codebook.is_none() {
                content.push_str(&codebook_xml);
            }
            edits.push(
                anchors
                    .project
                    .insert_first(content, &format!("{prefix}Project")),
            );
        }
    }
    if !codes_xml.is_empty() {
        match (&anchors.codebook, &anchors.codes) {
            (_, Some(codes)) => {
                edits.push(codes.insert(codes_xml, &format!("{prefix}Codes"), "    "))
            }
            (Some(codebook), None) => edits.push(codebook.insert(
                format!("\n    <{prefix}Codes>{codes_xml}\n    </{prefix}Codes>"),
                &format!("{prefix}CodeBook"),
                "  ",
            )),
            (None, None) => {} // the whole CodeBook was inserted with the users
        }
    }

    let mut new_qde = Vec::with_capacity(qde_bytes.len() + edits.len() * 256);
    if bom {
        new_qde.extend_from_slice(b"\xEF\xBB\xBF");
    }
    new_qde.extend_from_slice(apply(qde, edits).map_err(invalid)?.as_bytes());
    let bytes = rewrite_archive(original, path, &project.project_entry, &new_qde)?;
    Ok(Written {
        bytes,
        user_guid,
        codes_added,
        selections: selection_count,
        codings: coding_count,
    })
}

/// For each code name used: the GUID of the matching codable code, or a new GUID (`true`).
fn resolve_codes(
    project: &Project,
    codings: &[NewCoding],
    seed: &str,
) -> HashMap<String, (String, bool)> {
    let names: BTreeSet<&str> = codings.iter().map(|c| c.code.as_str()).collect();
    let codable: Vec<_> = project.codes.iter().filter(|c| c.is_codable).collect();
    let mut out = HashMap::new();
    for name in names {
        let found = codable
            .iter()
            .find(|c| c.name == name)
            .or_else(|| codable.iter().find(|c| c.path() == name))
            .or_else(|| {
                codable
                    .iter()
                    .find(|c| super::qdc::discotag_name(c) == name)
            })
            .or_else(|| {
                codable
                    .iter()
                    .find(|c| c.name.to_lowercase() == name.to_lowercase())
            });
        let entry = match found {
            Some(code) => (code.guid.clone(), false),
            None => (derived_guid(&["code", seed, name]), true),
        };
        out.insert(name.to_string(), entry);
    }
    out
}

/// Merges each code's spans and groups codes by identical span: `(start, end) -> codes`. A
/// coding with a memo is a passage of its own and is never merged with its neighbours.
pub(super) fn selections<'c>(
    chars: &[char],
    codings: &[&'c NewCoding],
) -> BTreeMap<(u64, u64), Vec<&'c str>> {
    let mut by_code: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    let mut out: BTreeMap<(u64, u64), Vec<&str>> = BTreeMap::new();
    for coding in codings {
        if coding.memo.is_some() {
            let codes = out.entry((coding.start, coding.end)).or_default();
            if !codes.contains(&coding.code.as_str()) {
                codes.push(coding.code.as_str());
            }
            continue;
        }
        by_code
            .entry(coding.code.as_str())
            .or_default()
            .push((coding.start, coding.end));
    }
    for (code, mut spans) in by_code {
        spans.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (start, end) in spans {
            match merged.last_mut() {
                Some(last) if start <= last.1 || only_whitespace(chars, last.1, start) => {
                    last.1 = last.1.max(end);
                }
                _ => merged.push((start, end)),
            }
        }
        for span in merged {
            let codes = out.entry(span).or_default();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    out
}

fn only_whitespace(chars: &[char], from: u64, to: u64) -> bool {
    chars[from as usize..to as usize]
        .iter()
        .all(|c| c.is_whitespace())
}

/// A selection's `name`: its first words, on one line, as QDA tools show them.
fn excerpt(chars: &[char]) -> String {
    const EXCERPT_CHARS: usize = 40;
    let mut out = String::new();
    let mut space = false;
    for &c in chars {
        if c.is_whitespace() || !is_xml_char(c) || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        if out.chars().count() >= EXCERPT_CHARS {
            out.push('…');
            break;
        }
    }
    out
}

/// Characters XML 1.0 allows in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A loose check of `xsd:dateTime`: `YYYY-MM-DDThh:mm:ss`, optional fraction and zone.
fn is_date_time(s: &str) -> bool {
    let bytes = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        bytes
            .get(r)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    bytes.len() >= 19
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && s[19..]
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'Z' | '+' | '-' | ':'))
}

/// One change to the text of `project.qde`: replace `remove` bytes at `at` with `insert`.
#[derive(Debug)]
struct Edit {
    at: usize,
    remove: usize,
    insert: String,
}

impl Edit {
    fn insert_at(at: usize, insert: String) -> Edit {
        Edit {
            at,
            remove: 0,
            insert,
        }
    }
}

fn apply(text: &str, mut edits: Vec<Edit>) -> Result<String, String> {
    edits.sort_by_key(|e| e.at);
    let mut out =
        String::with_capacity(text.len() + edits.iter().map(|e| e.insert.len()).sum::<usize>());
    let mut done = 0;
    for edit in edits {
        if edit.at < done {
            return Err("project.qde could not be edited: two changes overlap".into());
        }
        out.push_str(&text[done..edit.at]);
        out.push_str(&edit.insert);
        done = edit.at + edit.remove;
    }
    out.push_str(&text[done..]);
    Ok(out)
}

/// Where new children go in an element of `project.qde`.
#[derive(Debug, Clone, Copy, Default)]
struct Container {
    /// Byte offset just after the opening tag (`<Users ...>`).
    open_end: usize,
    /// Where new last children go: the start of the closing tag, or of the first child that
    /// must stay after them. For an empty element (`<Users/>`) the `/` of its tag.
    insert_at: usize,
    /// Whether the element is written empty (`<X/>`) and must be opened up.
    empty: bool,
    /// Byte offset just after the element.
    end: usize,
}

impl Container {
    /// An edit adding `content` as the element's last children (before any that must follow);
    /// an empty element is opened up and closed on a line indented by `closing_indent`.
    fn insert(&self, content: String, qualified_name: &str, closing_indent: &str) -> Edit {
        if self.empty {
            Edit {
                at: self.insert_at,
                remove: self.end - self.insert_at,
                insert: format!(">{content}\n{closing_indent}</{qualified_name}>"),
            }
        } else {
            Edit::insert_at(self.insert_at, content)
        }
    }

    /// An edit adding `content` as the element's first children.
    fn insert_first(&self, content: String, qualified_name: &str) -> Edit {
        if self.empty {
            self.insert(content, qualified_name, "")
        } else {
            Edit::insert_at(self.open_end, content)
        }
    }
}

/// The places in `project.qde` new elements go.
#[derive(Debug, Default)]
struct Anchors {
    prefix: Option<String>,
    project: Container,
    users: Option<Container>,
    codebook: Option<Container>,
    codes: Option<Container>,
    /// Top-level `Sources/TextSource` elements by GUID key.
    sources: HashMap<String, Container>,
}

/// Children of a `TextSource` that the schema puts after its `PlainTextSelection`s.
const AFTER_SELECTIONS: [&str; 3] = ["Coding", "NoteRef", "VariableValue"];

fn find_anchors(qde: &str) -> Result<Anchors, String> {
    let mut reader = quick_xml::Reader::from_str(qde);
    let mut anchors = Anchors::default();
    // Open elements: local name, where its children go, GUID key.
    let mut stack: Vec<(String, Container, Option<String>)> = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| format!("project.qde could not be read again: {e}"))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(start) | Event::Empty(start) if stack.is_empty() => {
                anchors.prefix = start.name().prefix().map(|p| p.as_ref().to_string());
                open_or_record(&mut anchors, &mut stack, &start, qde, before, after)?;
            }
            Event::Start(start) | Event::Empty(start) => {
                open_or_record(&mut anchors, &mut stack, &start, qde, before, after)?;
            }
            Event::End(_) => {
                let (name, mut container, guid) =
                    stack.pop().ok_or("a closing tag without an opening one")?;
                if container.insert_at == 0 {
                    container.insert_at = trim_back(qde, before);
                }
                container.end = after;
                let path: Vec<&str> = stack.iter().map(|(n, _, _)| n.as_str()).collect();
                record(&mut anchors, &path, &name, container, guid);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(anchors)
}

/// Handles an opening or empty tag spanning `before..after`: notes where a text source's new
/// selections must go, then opens the element (or records it, when empty).
fn open_or_record(
    anchors: &mut Anchors,
    stack: &mut Vec<(String, Container, Option<String>)>,
    start: &BytesStart<'_>,
    qde: &str,
    before: usize,
    after: usize,
) -> Result<(), String> {
    let name = start.local_name().as_ref().to_string();
    let in_text_source = {
        let path: Vec<&str> = stack.iter().map(|(n, _, _)| n.as_str()).collect();
        path == ["Project", "Sources", "TextSource"]
    };
    if in_text_source
        && AFTER_SELECTIONS.contains(&name.as_str())
        && let Some((_, container, _)) = stack.last_mut()
        && container.insert_at == 0
    {
        container.insert_at = trim_back(qde, before);
    }
    let guid = start
        .try_get_attribute("guid")
        .ok()
        .flatten()
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| guid_key(&v));
    let empty = qde[before..after].ends_with("/>");
    if empty {
        let container = Container {
            open_end: after,
            insert_at: after - 2,
            empty: true,
            end: after,
        };
        let path: Vec<&str> = stack.iter().map(|(n, _, _)| n.as_str()).collect();
        record(anchors, &path, &name, container, guid);
    } else {
        let container = Container {
            open_end: after,
            ..Container::default()
        };
        stack.push((name, container, guid));
    }
    Ok(())
}

/// The offset before the white space that ends `text[..at]`, so that new children follow the
/// last existing one and the original line break and indentation stay before the closing tag.
fn trim_back(text: &str, at: usize) -> usize {
    text[..at].trim_end().len()
}

/// Keeps the containers new elements go into, by their place in the document.
fn record(
    anchors: &mut Anchors,
    path: &[&str],
    name: &str,
    container: Container,
    guid: Option<String>,
) {
    match (path, name) {
        ([], "Project") => anchors.project = container,
        (["Project"], "Users") => anchors.users = Some(container),
        (["Project"], "CodeBook") => anchors.codebook = Some(container),
        (["Project", "CodeBook"], "Codes") => anchors.codes = Some(container),
        (["Project", "Sources"], "TextSource") => {
            if let Some(guid) = guid {
                anchors.sources.entry(guid).or_insert(container);
            }
        }
        _ => {}
    }
}

/// A copy of the archive with `entry` replaced by `content` and every other entry copied raw.
fn rewrite_archive(
    original: &[u8],
    path: &str,
    entry: &str,
    content: &[u8],
) -> Result<Vec<u8>, RefiError> {
    let zip_error = |source| RefiError::Zip {
        path: path.to_string(),
        source,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(original)).map_err(zip_error)?;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(
        original.len() + content.len(),
    )));
    for index in 0..archive.len() {
        let file = archive.by_index_raw(index).map_err(zip_error)?;
        if file.name().is_ok_and(|name| name == entry) {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .last_modified_time(file.last_modified().unwrap_or_default());
            drop(file);
            writer.start_file(entry, options).map_err(zip_error)?;
            writer
                .write_all(content)
                .map_err(|e| zip_error(zip::result::ZipError::Io(e)))?;
        } else {
            writer.raw_copy_file(file).map_err(zip_error)?;
        }
    }
    Ok(writer.finish().map_err(zip_error)?.into_inner())
}
