//! Reading a `.qdpx`: the archive under the limits of [`LimitedZip`], `project.qde` into an
//! element tree, then users, codes, text sources with their plain text, and codings.

use std::collections::HashMap;

use super::xml::{self, Element};
use super::{
    Code, Coding, LineEnds, PROJECT_ENTRY, PositionMap, Project, TextSource, User, guid_key,
};
use crate::error::{InputError, Position};
use crate::input::zip_limits::LimitedZip;

/// Reads a REFI-QDA project from the bytes of a `.qdpx`; `path` names it in errors.
///
/// Problems with single sources and selections are collected in
/// [`Project::source_errors`] and [`Project::coding_errors`]; the rest is read.
///
/// # Errors
/// An [`InputError`] naming the file and entry when the archive is not a readable zip, has no
/// `project.qde`, or `project.qde` is not a well-formed REFI-QDA project.
pub fn read_project(bytes: &[u8], path: &str) -> Result<Project, InputError> {
    let mut zip = LimitedZip::open(bytes, path)?;
    let entry = project_entry(&zip).ok_or_else(|| {
        InputError::new(
            path,
            Position::Entry {
                entry: PROJECT_ENTRY.into(),
            },
            "no project.qde in the archive: is this a REFI-QDA project (.qdpx)?",
        )
    })?;
    let root = read_xml(&mut zip, path, &entry)?;
    if root.name != "Project" {
        return Err(entry_error(
            path,
            &entry,
            format!(
                "the root element is <{}>, not a REFI-QDA <Project>",
                root.name
            ),
        ));
    }
    let mut texts = ZipTexts { zip: &mut zip };
    Ok(project_from(&root, path, &entry, &mut texts))
}

/// The project document: `project.qde`, else the only `.qde` entry.
fn project_entry(zip: &LimitedZip<'_>) -> Option<String> {
    zip.find(PROJECT_ENTRY).or_else(|| {
        let qde: Vec<String> = zip
            .names()
            .into_iter()
            .filter(|n| n.to_ascii_lowercase().ends_with(".qde"))
            .collect();
        (qde.len() == 1).then(|| qde[0].clone())
    })
}

pub(super) fn entry_error(path: &str, entry: &str, reason: impl Into<String>) -> InputError {
    InputError::new(
        path,
        Position::Entry {
            entry: entry.to_string(),
        },
        reason,
    )
}

/// Reads and parses one XML entry.
pub(super) fn read_xml(
    zip: &mut LimitedZip<'_>,
    path: &str,
    entry: &str,
) -> Result<Element, InputError> {
    let bytes = zip.read(entry)?;
    parse_xml(&bytes, path, entry)
}

/// Decodes and parses an XML document; errors name `path` and `entry`.
pub(super) fn parse_xml(bytes: &[u8], path: &str, entry: &str) -> Result<Element, InputError> {
    let text = xml::decode_document(bytes).map_err(|reason| entry_error(path, entry, reason))?;
    xml::parse(&text).map_err(|e| {
        entry_error(
            path,
            entry,
            format!("not well-formed XML at line {}: {}", e.line, e.message),
        )
    })
}

/// Where plain-text entries come from: the archive, or nothing (a bare `project.qde`).
pub(super) trait TextEntries {
    /// The archive entry a source path names, if the archive holds it.
    fn resolve(&self, source_path: &str) -> Option<String>;
    fn read(&mut self, entry: &str) -> Result<Vec<u8>, InputError>;
}

struct ZipTexts<'z, 'a> {
    zip: &'z mut LimitedZip<'a>,
}

impl TextEntries for ZipTexts<'_, '_> {
    fn resolve(&self, source_path: &str) -> Option<String> {
        let (scheme, rest) = match source_path.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => (String::new(), source_path),
        };
        let rest = rest.trim_start_matches('/');
        let rest = rest.replace('\\', "/");
        if scheme.is_empty() || scheme == "internal" {
            for candidate in [format!("sources/{rest}"), rest.clone()] {
                if let Some(found) = self.zip.find(&candidate) {
                    return Some(found);
                }
            }
        }
        // Any scheme: an entry with the same file name (producers disagree on folders).
        let base = rest
            .rsplit('/')
            .next()
            .unwrap_or(&rest)
            .to_ascii_lowercase();
        if base.is_empty() {
            return None;
        }
        self.zip.names().into_iter().find(|n| {
            n.replace('\\', "/")
                .rsplit('/')
                .next()
                .is_some_and(|b| b.eq_ignore_ascii_case(&base))
        })
    }

    fn read(&mut self, entry: &str) -> Result<Vec<u8>, InputError> {
        self.zip.read(entry)
    }
}

/// Builds the project from the root element of `project.qde`.
pub(super) fn project_from(
    root: &Element,
    path: &str,
    entry: &str,
    texts: &mut dyn TextEntries,
) -> Project {
    let origin = root.attr_nonblank("origin").map(str::to_string);
    let mut project = Project {
        name: root.attr("name").unwrap_or_default().to_string(),
        line_ends: LineEnds::for_origin(origin.as_deref()),
        origin,
        project_entry: entry.to_string(),
        ..Project::default()
    };
    for users in root.children_named("Users") {
        for user in users.children_named("User") {
            if let Some(guid) = user.attr_nonblank("guid") {
                project.users.push(User {
                    guid: guid.to_string(),
                    name: user.attr("name").map(str::to_string),
                });
            }
        }
    }
    if let Some(codebook) = root.child("CodeBook") {
        project.codes = codes_of(codebook);
    }
    let code_index: HashMap<String, usize> = project
        .codes
        .iter()
        .enumerate()
        .map(|(i, c)| (guid_key(&c.guid), i))
        .collect();
    for sources in root.children_named("Sources") {
        for element in &sources.children {
            if element.name != "TextSource" {
                let name = element
                    .attr("name")
                    .or(element.attr("guid"))
                    .unwrap_or_default();
                project
                    .skipped_sources
                    .push((element.name.clone(), name.to_string()));
                continue;
            }
            read_text_source(element, path, entry, texts, &code_index, &mut project);
        }
    }
    let known: Vec<String> = project.users.iter().map(|u| guid_key(&u.guid)).collect();
    let mut unlisted: Vec<String> = Vec::new();
    for coding in &project.codings {
        if let Some(guid) = &coding.user_guid {
            let key = guid_key(guid);
            if !known.contains(&key) && !unlisted.iter().any(|g| guid_key(g) == key) {
                unlisted.push(guid.clone());
            }
        }
    }
    project
        .users
        .extend(unlisted.into_iter().map(|guid| User { guid, name: None }));
    project
}

/// Every code under a `CodeBook` (or a `.qdc` root), parents before children.
pub(super) fn codes_of(codebook: &Element) -> Vec<Code> {
    fn walk(element: &Element, parents: &mut Vec<String>, out: &mut Vec<Code>) {
        for code in element.children_named("Code") {
            let Some(guid) = code.attr_nonblank("guid") else {
                continue;
            };
            let name = code
                .attr("name")
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .unwrap_or(guid)
                .to_string();
            out.push(Code {
                guid: guid.to_string(),
                name: name.clone(),
                parents: parents.clone(),
                is_codable: code
                    .attr("isCodable")
                    .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false") && v.trim() != "0"),
                description: code
                    .child("Description")
                    .map(|d| d.text.trim().to_string())
                    .filter(|d| !d.is_empty()),
                color: code.attr_nonblank("color").map(str::to_string),
            });
            parents.push(name);
            walk(code, parents, out);
            parents.pop();
        }
    }
    let mut out = Vec::new();
    for codes in codebook.children_named("Codes") {
        walk(codes, &mut Vec::new(), &mut out);
    }
    out
}

/// The plain text of a source and where it came from.
struct SourceText {
    text: String,
    entry: Option<String>,
    had_byte_order_mark: bool,
}

fn read_text_source(
    element: &Element,
    path: &str,
    project_entry: &str,
    texts: &mut dyn TextEntries,
    code_index: &HashMap<String, usize>,
    project: &mut Project,
) {
    let guid = element
        .attr_nonblank("guid")
        .unwrap_or_default()
        .to_string();
    let name = element
        .attr_nonblank("name")
        .map(str::to_string)
        .unwrap_or_else(|| guid.clone());
    let label = format!("source {name:?} ({guid})");
    if guid.is_empty() {
        project.source_errors.push(entry_error(
            path,
            project_entry,
            format!("{label}: a TextSource without a guid"),
        ));
        return;
    }
    if project.source(&guid).is_some() {
        project.source_errors.push(entry_error(
            path,
            project_entry,
            format!("{label}: another text source has the same GUID; left out"),
        ));
        return;
    }
    let text = match source_text(element, texts) {
        Ok(text) => text,
        Err((entry, reason)) => {
            let entry = entry.as_deref().unwrap_or(project_entry);
            project
                .source_errors
                .push(entry_error(path, entry, format!("{label}: {reason}")));
            return;
        }
    };
    let positions = PositionMap::new(&text.text, project.line_ends);
    for selection in element.children_named("PlainTextSelection") {
        let selection_guid = selection
            .attr("guid")
            .unwrap_or_default()
            .trim()
            .to_string();
        let range = selection_range(selection, &positions).map_err(|reason| {
            entry_error(
                path,
                project_entry,
                format!("{label}: selection {selection_guid:?}: {reason}; left out"),
            )
        });
        let (start, end) = match range {
            Ok(range) => range,
            Err(e) => {
                project.coding_errors.push(e);
                continue;
            }
        };
        let selection_user = selection
            .attr_nonblank("creatingUser")
            .or(selection.attr_nonblank("modifyingUser"));
        for coding in selection.children_named("Coding") {
            let target = coding
                .child("CodeRef")
                .and_then(|r| r.attr_nonblank("targetGUID"))
                .unwrap_or_default();
            if !code_index.contains_key(&guid_key(target)) {
                project.coding_errors.push(entry_error(
                    path,
                    project_entry,
                    format!(
                        "{label}: selection {selection_guid:?}: a coding refers to code {target:?}, which the codebook does not have; left out"
                    ),
                ));
                continue;
            }
            project.codings.push(Coding {
                source_guid: guid.clone(),
                selection_guid: selection_guid.clone(),
                code_guid: project.codes[code_index[&guid_key(target)]].guid.clone(),
                user_guid: coding
                    .attr_nonblank("creatingUser")
                    .or(selection_user)
                    .map(str::to_string),
                start,
                end,
            });
        }
    }
    project.sources.push(TextSource {
        guid,
        name,
        plain_text: text.text,
        plain_text_entry: text.entry,
        had_byte_order_mark: text.had_byte_order_mark,
    });
}

/// A selection's range in code points.
fn selection_range(selection: &Element, positions: &PositionMap) -> Result<(u64, u64), String> {
    let number = |name: &str| -> Result<i64, String> {
        let raw = selection
            .attr(name)
            .ok_or_else(|| format!("no {name}"))?
            .trim();
        raw.parse::<i64>()
            .map_err(|_| format!("{name} {raw:?} is not a whole number"))
    };
    let (start, end) = (number("startPosition")?, number("endPosition")?);
    if start < 0 || end < 0 {
        return Err(format!("negative position {start}..{end}"));
    }
    if start >= end {
        return Err(format!(
            "startPosition {start} is not before endPosition {end}"
        ));
    }
    let length = positions.len_in_positions();
    let convert = |p: i64| positions.to_code_points(p as u64);
    match (convert(start), convert(end)) {
        (Some(start), Some(end)) => Ok((start, end)),
        _ => Err(format!(
            "positions {start}..{end} go beyond the end of the plain text ({length} characters)"
        )),
    }
}

/// Finds and decodes a source's plain text. Errors carry the entry involved, if any.
fn source_text(
    element: &Element,
    texts: &mut dyn TextEntries,
) -> Result<SourceText, (Option<String>, String)> {
    if let Some(inline) = element.child("PlainTextContent") {
        let (text, had_byte_order_mark) = match inline.text.strip_prefix('\u{feff}') {
            Some(rest) => (rest.to_string(), true),
            None => (inline.text.clone(), false),
        };
        return Ok(SourceText {
            text,
            entry: None,
            had_byte_order_mark,
        });
    }
    let source_path = match element.attr_nonblank("plainTextPath") {
        Some(p) => p,
        None => {
            let other = element
                .attr_nonblank("richTextPath")
                .or(element.attr_nonblank("path"));
            match other {
                Some(p) if p.to_ascii_lowercase().ends_with(".txt") => p,
                Some(p) => {
                    return Err((
                        None,
                        format!(
                            "has no plain text (no plainTextPath or PlainTextContent), only {p}: export the project again with plain text, or label the document itself"
                        ),
                    ));
                }
                None => {
                    return Err((
                        None,
                        "has no plain text (no plainTextPath or PlainTextContent)".into(),
                    ));
                }
            }
        }
    };
    let Some(entry) = texts.resolve(source_path) else {
        let outside = ["relative://", "absolute://", "file://"]
            .iter()
            .any(|s| source_path.to_ascii_lowercase().starts_with(s));
        let reason = if outside {
            format!(
                "its plain text {source_path} is outside the .qdpx; export the project with its sources embedded"
            )
        } else {
            format!("its plain text {source_path} is missing from the .qdpx")
        };
        return Err((None, reason));
    };
    let bytes = texts
        .read(&entry)
        .map_err(|e| (Some(entry.clone()), e.reason))?;
    let (text, had_byte_order_mark) = decode_plain_text(&bytes)
        .map_err(|reason| (Some(entry.clone()), format!("plain text {reason}")))?;
    Ok(SourceText {
        text,
        entry: Some(entry),
        had_byte_order_mark,
    })
}

/// Decodes a plain-text entry: UTF-8, or UTF-16 announced by a byte-order mark. The mark is
/// removed (see the module documentation); whether there was one is returned.
pub(super) fn decode_plain_text(bytes: &[u8]) -> Result<(String, bool), String> {
    let had_byte_order_mark = bytes.starts_with(b"\xEF\xBB\xBF")
        || bytes.starts_with(b"\xFF\xFE")
        || bytes.starts_with(b"\xFE\xFF");
    let text = xml::decode_document(bytes)?;
    Ok((text.into_owned(), had_byte_order_mark))
}
