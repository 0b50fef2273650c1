//! DOCX transcripts (Word `.docx`; `.docm` and `.dotx` packages read the same way): the main
//! document part becomes plain text by the convention below, and that plain text is read
//! exactly as a plain-text transcript (`text.rs`): an optional `---` metadata header,
//! `Name:` speaker turns, timestamps. `char_start`/`char_end` index this plain text, so slicing
//! [`plain_text`] by them gives back each segment's text.
//!
//! The container is read under the limits of [`super::zip_limits`]; the XML with `quick-xml`.
//!
//! # Finding the main part
//!
//! The target of the package's `officeDocument` relationship in `_rels/.rels`, falling back to
//! `word/document.xml`. When `[Content_Types].xml` gives that part a content type, it must be a
//! WordprocessingML one (a workbook or a presentation renamed `.docx` is refused).
//!
//! # The plain-text convention
//!
//! - Each paragraph (`w:p`, in document order, table cell paragraphs included) is one line;
//!   lines are joined with `\n`, with no newline after the last. An empty paragraph is an empty
//!   line, which ends a speaker turn as a blank line does in a `.txt` transcript.
//! - Within a paragraph: the text of every `w:t` in order, exactly as decoded (entities
//!   resolved, whitespace kept whether or not `xml:space="preserve"` is set; as in any XML
//!   parser a literal CR LF or CR in the XML source reads as `\n`, while `&#13;` stays a CR);
//!   `w:tab` and `w:ptab` give `\t`; `w:br` (any type) and `w:cr` give `\n`;
//!   `w:noBreakHyphen` gives `-`; `w:softHyphen` gives nothing; `w:sym` gives the character of
//!   its `w:char` code unless that code is in the Private Use Area (symbol-font glyphs such as
//!   Wingdings, which have no reliable Unicode meaning), in which case it gives nothing.
//! - Included: inserted (`w:ins`) and moved-to text, hyperlinks, smart tags, custom XML,
//!   content controls (`w:sdt`), simple and complex field results.
//! - Excluded: deleted and moved-from text (`w:del`, `w:delText`, `w:moveFrom`), field
//!   instructions (`w:instrText`), text boxes and drawings (`w:txbxContent`, `w:drawing`,
//!   `w:pict`, `w:object`), ruby guide text (`w:rt`), property elements (`w:pPr`, `w:rPr`,
//!   ...), equations (`m:oMath`, whose text is not in `w:t`), every markup-compatibility
//!   branch after the first of an `mc:AlternateContent`, and other parts: headers, footers,
//!   footnotes, endnotes and comments.
//!
//! Hostile input is refused with an [`InputError`] naming the file and the zip entry: a
//! document type declaration (Office XML never has one; refusing it rules out entity expansion
//! attacks), an entity other than the five XML ones and character references, malformed or
//! truncated XML (with its line and column in the entry), and everything `zip_limits` refuses.

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::{NsReader, Reader};

use super::Parsed;
use super::zip_limits::{LimitedZip, ZipLimits};
use crate::error::{InputError, Position};

/// Where Word puts the main document part; used when `_rels/.rels` names none.
const DEFAULT_MAIN_PART: &str = "word/document.xml";
const PACKAGE_RELATIONSHIPS: &str = "_rels/.rels";
const CONTENT_TYPES: &str = "[Content_Types].xml";

/// The relationship type of the main part, transitional and strict Office Open XML.
const OFFICE_DOCUMENT_RELATIONSHIPS: [&str; 2] = [
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
    "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument",
];

/// The WordprocessingML namespace, transitional and strict.
const WORDPROCESSING_NAMESPACES: [&str; 2] = [
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",
];

const MARKUP_COMPATIBILITY_NAMESPACE: &str =
    "http://schemas.openxmlformats.org/markup-compatibility/2006";

/// The first bytes of an OLE compound file: an old binary Word `.doc` (or another Office
/// 97-2003 file) renamed `.docx`.
const OLE_SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Reads a DOCX transcript: [`plain_text`], then the plain-text transcript reader.
pub(super) fn parse(bytes: &[u8], path: &str, doc_id: &str) -> Result<Parsed, InputError> {
    let text = plain_text(bytes, path)?;
    super::text::parse(&text, path, doc_id)
}

/// The plain text of a DOCX file's main document part, by the convention in this module's
/// documentation. `display_path` names the file in errors.
///
/// # Errors
/// An [`InputError`] naming the file (and the zip entry where there is one) when the bytes are
/// not a readable zip container, break a [`ZipLimits`] limit, hold no main document part, or
/// hold XML that is malformed, declares a document type or uses an undefined entity.
pub fn plain_text(bytes: &[u8], display_path: &str) -> Result<String, InputError> {
    plain_text_with_limits(bytes, display_path, ZipLimits::default())
}

fn plain_text_with_limits(
    bytes: &[u8],
    path: &str,
    limits: ZipLimits,
) -> Result<String, InputError> {
    if bytes.starts_with(&OLE_SIGNATURE) {
        return Err(InputError::file(
            path,
            "an old binary Word .doc (or other Office 97-2003) file, not a .docx: save it as .docx or .txt",
        ));
    }
    let mut zip = LimitedZip::open_with_limits(bytes, path, limits)?;
    let main_part = main_part(&mut zip, path)?;
    let xml = read_xml(&mut zip, &main_part, path)?;
    document_text(&xml).map_err(|problem| problem.into_input_error(path, &main_part, &xml))
}

/// The entry name of the main document part (see the module documentation).
fn main_part(zip: &mut LimitedZip, path: &str) -> Result<String, InputError> {
    let related = match zip.find(PACKAGE_RELATIONSHIPS) {
        Some(entry) => {
            let xml = read_xml(zip, &entry, path)?;
            office_document_target(&xml).map_err(|p| p.into_input_error(path, &entry, &xml))?
        }
        None => None,
    };
    let part = related
        .iter()
        .map(String::as_str)
        .chain([DEFAULT_MAIN_PART])
        .find_map(|candidate| zip.find(candidate))
        .ok_or_else(|| {
            InputError::new(
                path,
                Position::Entry {
                    entry: related.clone().unwrap_or_else(|| DEFAULT_MAIN_PART.into()),
                },
                "no main document part (neither the officeDocument relationship of _rels/.rels nor word/document.xml is in the zip): not a Word document",
            )
        })?;
    if let Some(entry) = zip.find(CONTENT_TYPES) {
        let xml = read_xml(zip, &entry, path)?;
        let content_type =
            content_type_of(&xml, &part).map_err(|p| p.into_input_error(path, &entry, &xml))?;
        if let Some(content_type) = content_type
            && !content_type.contains("wordprocessingml")
        {
            return Err(InputError::new(
                path,
                Position::Entry { entry: part },
                format!("the main part has content type {content_type}, not a Word document's"),
            ));
        }
    }
    Ok(part)
}

/// Reads an XML entry as text: UTF-8 (a byte-order mark dropped) or UTF-16 with a byte-order
/// mark, the two encodings Office Open XML allows.
fn read_xml(zip: &mut LimitedZip, entry: &str, path: &str) -> Result<String, InputError> {
    let bytes = zip.read(entry)?;
    let entry_error = |reason: String| {
        InputError::new(
            path,
            Position::Entry {
                entry: entry.to_string(),
            },
            reason,
        )
    };
    let utf16 = match bytes.as_slice() {
        [0xFF, 0xFE, rest @ ..] => Some((rest, u16::from_le_bytes as fn([u8; 2]) -> u16)),
        [0xFE, 0xFF, rest @ ..] => Some((rest, u16::from_be_bytes as fn([u8; 2]) -> u16)),
        _ => None,
    };
    if let Some((rest, word)) = utf16 {
        let words: Vec<u16> = rest.chunks_exact(2).map(|c| word([c[0], c[1]])).collect();
        return String::from_utf16(&words)
            .map_err(|_| entry_error("invalid UTF-16 XML (an unpaired surrogate)".into()));
    }
    let utf8 = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(utf8) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => Err(entry_error(format!(
            "XML is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))),
    }
}

/// A problem in one XML entry, at a byte offset of its text.
#[derive(Debug)]
struct XmlProblem {
    offset: u64,
    message: String,
}

impl XmlProblem {
    fn new(offset: u64, message: impl Into<String>) -> Self {
        XmlProblem {
            offset,
            message: message.into(),
        }
    }

    fn from_reader_error(offset: u64, error: &quick_xml::Error) -> Self {
        Self::new(offset, format!("malformed XML: {error}"))
    }

    /// The error naming the file and entry, with the line and column (in characters, 1-based)
    /// of the problem within the entry.
    fn into_input_error(self, path: &str, entry: &str, xml: &str) -> InputError {
        let before = &xml.as_bytes()[..(self.offset as usize).min(xml.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // Count characters, not bytes: every UTF-8 character has exactly one non-continuation byte.
        let column = before[line_start..]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count()
            + 1;
        InputError::new(
            path,
            Position::Entry {
                entry: entry.to_string(),
            },
            format!("{}, at line {line}, column {column}", self.message),
        )
    }
}

const DOCTYPE_REFUSED: &str =
    "a document type declaration (Office XML has none; refused to rule out entity expansion)";

/// The text an entity or character reference stands for.
fn resolve_reference(reference: &BytesRef, offset: u64) -> Result<String, XmlProblem> {
    match reference.resolve_char_ref() {
        Ok(Some(c)) => return Ok(c.to_string()),
        Ok(None) => {}
        Err(e) => return Err(XmlProblem::from_reader_error(offset, &e)),
    }
    let name: &str = reference;
    resolve_predefined_entity(name)
        .map(str::to_string)
        .ok_or_else(|| {
            XmlProblem::new(
                offset,
                format!("undefined entity &{name}; (Office XML defines none of its own)"),
            )
        })
}

/// Calls `visit` with the local name and attributes of every element of a small package XML
/// entry (`_rels/.rels`, `[Content_Types].xml`), refusing document types and undefined
/// entities.
fn visit_elements(
    xml: &str,
    mut visit: impl FnMut(&str, &BytesStart, u64) -> Result<(), XmlProblem>,
) -> Result<(), XmlProblem> {
    let mut reader = Reader::from_str(xml);
    loop {
        let offset = reader.buffer_position();
        match reader.read_event() {
            Err(e) => return Err(XmlProblem::from_reader_error(reader.error_position(), &e)),
            Ok(Event::Start(element) | Event::Empty(element)) => {
                visit(element.local_name().as_ref(), &element, offset)?;
            }
            Ok(Event::DocType(_)) => return Err(XmlProblem::new(offset, DOCTYPE_REFUSED)),
            Ok(Event::GeneralRef(reference)) => {
                resolve_reference(&reference, offset)?;
            }
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
        }
    }
}

/// The value of the attribute with this local name (entities resolved), if present.
fn attribute(
    element: &BytesStart,
    local_name: &str,
    offset: u64,
) -> Result<Option<String>, XmlProblem> {
    for attribute in element.attributes() {
        let attribute =
            attribute.map_err(|e| XmlProblem::new(offset, format!("malformed attribute: {e}")))?;
        if attribute.key.local_name().as_ref() == local_name {
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| XmlProblem::from_reader_error(offset, &e))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

/// The entry named by the package's internal `officeDocument` relationship, if any.
fn office_document_target(rels_xml: &str) -> Result<Option<String>, XmlProblem> {
    let mut target = None;
    visit_elements(rels_xml, |name, element, offset| {
        if name != "Relationship" || target.is_some() {
            return Ok(());
        }
        let kind = attribute(element, "Type", offset)?;
        let external = attribute(element, "TargetMode", offset)?.as_deref() == Some("External");
        if !external
            && kind.is_some_and(|k| OFFICE_DOCUMENT_RELATIONSHIPS.contains(&k.trim()))
            && let Some(to) = attribute(element, "Target", offset)?
        {
            target = Some(package_entry_name(&to));
        }
        Ok(())
    })?;
    Ok(target)
}

/// A relationship target of the package root (`/word/document.xml`, `./word/document.xml`) as
/// a zip entry name, with `.` and `..` segments resolved.
fn package_entry_name(target: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in target.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    segments.join("/")
}

/// The content type `[Content_Types].xml` gives an entry: its `Override`, else the `Default`
/// for its extension; part names and extensions compare case-insensitively, as in OPC.
fn content_type_of(types_xml: &str, entry: &str) -> Result<Option<String>, XmlProblem> {
    let part_name = format!("/{entry}");
    let extension = entry.rsplit_once('.').map_or("", |(_, ext)| ext);
    let mut by_override = None;
    let mut by_default = None;
    visit_elements(types_xml, |name, element, offset| {
        match name {
            "Override" if by_override.is_none() => {
                let part = attribute(element, "PartName", offset)?;
                if part.is_some_and(|p| p.eq_ignore_ascii_case(&part_name)) {
                    by_override = attribute(element, "ContentType", offset)?;
                }
            }
            "Default" if by_default.is_none() => {
                let ext = attribute(element, "Extension", offset)?;
                if ext.is_some_and(|e| e.eq_ignore_ascii_case(extension)) {
                    by_default = attribute(element, "ContentType", offset)?;
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(by_override.or(by_default))
}

/// The WordprocessingML and markup-compatibility elements the convention cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    Document,
    Paragraph,
    Run,
    Text,
    Tab,
    Break,
    NoBreakHyphen,
    SoftHyphen,
    Symbol,
    /// An element whose whole content is left out of the plain text.
    Excluded,
    AlternateContent,
    /// `mc:Choice` or `mc:Fallback`.
    AlternateBranch,
    Other,
}

/// The namespaces the convention reads elements of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vocabulary {
    Wordprocessing,
    MarkupCompatibility,
    Other,
}

impl Vocabulary {
    fn of(namespace: &ResolveResult) -> Vocabulary {
        match namespace {
            ResolveResult::Bound(namespace) => {
                let namespace: &str = namespace.as_ref();
                if WORDPROCESSING_NAMESPACES.contains(&namespace) {
                    Vocabulary::Wordprocessing
                } else if namespace == MARKUP_COMPATIBILITY_NAMESPACE {
                    Vocabulary::MarkupCompatibility
                } else {
                    Vocabulary::Other
                }
            }
            _ => Vocabulary::Other,
        }
    }
}

impl Element {
    fn of(vocabulary: Vocabulary, local_name: &str) -> Element {
        match vocabulary {
            Vocabulary::Wordprocessing => match local_name {
                "document" => Element::Document,
                "p" => Element::Paragraph,
                "r" => Element::Run,
                "t" => Element::Text,
                "tab" | "ptab" => Element::Tab,
                "br" | "cr" => Element::Break,
                "noBreakHyphen" => Element::NoBreakHyphen,
                "softHyphen" => Element::SoftHyphen,
                "sym" => Element::Symbol,
                "del" | "delText" | "moveFrom" | "instrText" | "delInstrText" | "txbxContent"
                | "drawing" | "pict" | "object" | "rt" | "pPr" | "rPr" | "sectPr" | "tblPr"
                | "tblGrid" | "trPr" | "tcPr" | "sdtPr" | "sdtEndPr" => Element::Excluded,
                _ => Element::Other,
            },
            Vocabulary::MarkupCompatibility => match local_name {
                "AlternateContent" => Element::AlternateContent,
                "Choice" | "Fallback" => Element::AlternateBranch,
                _ => Element::Other,
            },
            Vocabulary::Other => Element::Other,
        }
    }
}

/// The state of the walk over the main document part.
#[derive(Default)]
struct PlainTextBuilder {
    text: String,
    paragraphs: usize,
    /// Elements open, the root included.
    depth: usize,
    /// The depth of the excluded element being skipped, if any.
    skipping_from: Option<usize>,
    runs_open: usize,
    texts_open: usize,
    /// Open `mc:AlternateContent` elements: their depth and whether a branch was taken.
    alternates: Vec<(usize, bool)>,
    saw_root: bool,
}

impl PlainTextBuilder {
    fn takes_text(&self) -> bool {
        self.skipping_from.is_none() && self.texts_open > 0
    }

    /// Called for the element at the root: it must be the one `w:document`.
    fn check_root(&mut self, element: Element, offset: u64) -> Result<(), XmlProblem> {
        if self.saw_root {
            return Err(XmlProblem::new(offset, "a second root element"));
        }
        if element != Element::Document {
            return Err(XmlProblem::new(
                offset,
                "the root element is not w:document: not a WordprocessingML main part",
            ));
        }
        self.saw_root = true;
        Ok(())
    }

    fn start(
        &mut self,
        element: Element,
        start: &BytesStart,
        offset: u64,
    ) -> Result<(), XmlProblem> {
        self.depth += 1;
        if self.skipping_from.is_some() {
            return Ok(());
        }
        if self.depth == 1 {
            self.check_root(element, offset)?;
        }
        match element {
            Element::Excluded => self.skipping_from = Some(self.depth),
            Element::AlternateContent => self.alternates.push((self.depth, false)),
            Element::AlternateBranch => {
                if let Some((depth, taken)) = self.alternates.last_mut()
                    && *depth + 1 == self.depth
                {
                    if *taken {
                        self.skipping_from = Some(self.depth);
                    }
                    *taken = true;
                }
            }
            Element::Paragraph => self.start_paragraph(),
            Element::Run => self.runs_open += 1,
            Element::Text => self.texts_open += 1,
            _ => self.inline(element, start),
        }
        Ok(())
    }

    fn empty(
        &mut self,
        element: Element,
        empty: &BytesStart,
        offset: u64,
    ) -> Result<(), XmlProblem> {
        if self.skipping_from.is_some() {
            return Ok(());
        }
        if self.depth == 0 {
            self.check_root(element, offset)?;
        }
        match element {
            Element::Paragraph => self.start_paragraph(),
            _ => self.inline(element, empty),
        }
        Ok(())
    }

    fn end(&mut self, element: Element) {
        match self.skipping_from {
            Some(depth) if depth == self.depth => self.skipping_from = None,
            Some(_) => {}
            None => match element {
                Element::Run => self.runs_open = self.runs_open.saturating_sub(1),
                Element::Text => self.texts_open = self.texts_open.saturating_sub(1),
                Element::AlternateContent
                    if self
                        .alternates
                        .last()
                        .is_some_and(|(d, _)| *d == self.depth) =>
                {
                    self.alternates.pop();
                }
                _ => {}
            },
        }
        self.depth = self.depth.saturating_sub(1);
    }

    fn start_paragraph(&mut self) {
        if self.paragraphs > 0 {
            self.text.push('\n');
        }
        self.paragraphs += 1;
    }

    /// Tabs, breaks, hyphens and symbols: only inside a run.
    fn inline(&mut self, element: Element, tag: &BytesStart) {
        if self.runs_open == 0 {
            return;
        }
        match element {
            Element::Tab => self.text.push('\t'),
            Element::Break => self.text.push('\n'),
            Element::NoBreakHyphen => self.text.push('-'),
            Element::Symbol => {
                if let Some(c) = symbol_char(tag) {
                    self.text.push(c);
                }
            }
            _ => {}
        }
    }

    fn push_text(&mut self, text: &str) {
        if self.takes_text() {
            self.text.push_str(text);
        }
    }
}

/// The character of a `w:sym`, unless it is a symbol-font code in the Private Use Area.
fn symbol_char(tag: &BytesStart) -> Option<char> {
    let code = attribute(tag, "char", 0).ok()??;
    let c = char::from_u32(u32::from_str_radix(code.trim(), 16).ok()?)?;
    let private_use = ('\u{E000}'..='\u{F8FF}').contains(&c);
    (!private_use && !c.is_control()).then_some(c)
}

/// The plain text of a main document part (`word/document.xml`).
fn document_text(xml: &str) -> Result<String, XmlProblem> {
    let mut reader = NsReader::from_str(xml);
    let mut builder = PlainTextBuilder::default();
    loop {
        let offset = reader.buffer_position();
        let (element_namespace, event) = match reader.read_resolved_event() {
            Ok((namespace, event)) => (Vocabulary::of(&namespace), event),
            Err(e) => return Err(XmlProblem::from_reader_error(reader.error_position(), &e)),
        };
        match event {
            Event::Start(start) => {
                let element = Element::of(element_namespace, start.local_name().as_ref());
                builder.start(element, &start, offset)?;
            }
            Event::Empty(empty) => {
                let element = Element::of(element_namespace, empty.local_name().as_ref());
                builder.empty(element, &empty, offset)?;
            }
            Event::End(end) => {
                builder.end(Element::of(element_namespace, end.local_name().as_ref()));
            }
            Event::Text(text) => builder.push_text(&text.xml10_content()),
            Event::CData(data) => builder.push_text(&data.xml10_content()),
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference, offset)?;
                builder.push_text(&resolved);
            }
            Event::DocType(_) => return Err(XmlProblem::new(offset, DOCTYPE_REFUSED)),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if builder.depth != 0 {
        return Err(XmlProblem::new(
            xml.len() as u64,
            "the XML ends inside an element (truncated?)",
        ));
    }
    if !builder.saw_root {
        return Err(XmlProblem::new(
            0,
            "no w:document element: not a WordprocessingML main part",
        ));
    }
    Ok(builder.text)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use proptest::prelude::*;
    use zip::write::SimpleFileOptions;

    use super::*;
    use crate::input::{Format, ReadOptions};

    const NAMESPACES: &str = concat!(
        r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" "#,
        r#"xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" "#,
        r#"xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" "#,
        r#"xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" "#,
        r#"xmlns:v="urn:schemas-microsoft-com:vml""#
    );

    const CONTENT_TYPES_XML: &str = concat!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
        r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">"#,
        r#"<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>"#,
        r#"<Default Extension="xml" ContentType="application/xml"/>"#,
        r#"<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>"#,
        r#"</Types>"#
    );

    fn relationships_xml(target: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{target}"/></Relationships>"#
        )
    }

    fn document_xml(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n<w:document {NAMESPACES}><w:body>{body}<w:sectPr><w:pgSz w:w=\"11906\"/></w:sectPr></w:body></w:document>"
        )
    }

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

    /// A .docx as Word lays it out, with this main part.
    fn docx_with_main_part(xml: &[u8]) -> Vec<u8> {
        zip_of(&[
            ("[Content_Types].xml", CONTENT_TYPES_XML.as_bytes()),
            (
                "_rels/.rels",
                relationships_xml("word/document.xml").as_bytes(),
            ),
            ("word/document.xml", xml),
        ])
    }

    fn docx(body: &str) -> Vec<u8> {
        docx_with_main_part(document_xml(body).as_bytes())
    }

    fn text_of(body: &str) -> String {
        plain_text(&docx(body), "t.docx").unwrap()
    }

    fn error_of(bytes: &[u8]) -> InputError {
        plain_text(bytes, "in/t.docx").expect_err("refused")
    }

    fn entry(error: &InputError) -> &str {
        match &error.position {
            Position::Entry { entry } => entry,
            other => panic!("not an entry position: {other:?} ({error})"),
        }
    }

    /// A paragraph of one run per piece of text.
    fn paragraph(runs: &[&str]) -> String {
        let runs: String = runs
            .iter()
            .map(|t| format!(r#"<w:r><w:t xml:space="preserve">{t}</w:t></w:r>"#))
            .collect();
        format!("<w:p>{runs}</w:p>")
    }

    #[test]
    fn runs_split_mid_word_are_joined_and_inline_elements_become_characters() {
        let body = concat!(
            r#"<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs><w:rPr><w:del w:id="9"/></w:rPr></w:pPr>"#,
            r#"<w:r><w:rPr><w:b/></w:rPr><w:t>Inter</w:t></w:r><w:r><w:t>viewer:</w:t></w:r>"#,
            r#"<w:r><w:tab/><w:t>So</w:t><w:br/><w:t>then</w:t><w:br w:type="page"/><w:t>and</w:t><w:cr/>"#,
            r#"<w:t>co</w:t><w:noBreakHyphen/><w:t>pro</w:t><w:softHyphen/><w:t>duction </w:t>"#,
            r#"<w:sym w:font="Wingdings" w:char="F04A"/><w:sym w:font="Arial" w:char="2192"/><w:ptab w:relativeTo="margin" w:alignment="right" w:leader="none"/></w:r></w:p>"#,
        );
        assert_eq!(
            text_of(body),
            "Interviewer:\tSo\nthen\nand\nco-production →\t"
        );
    }

    #[test]
    fn inserted_text_and_field_results_count_deleted_text_and_instructions_do_not() {
        let body = concat!(
            r#"<w:p><w:r><w:t xml:space="preserve">We </w:t></w:r>"#,
            r#"<w:del w:id="1" w:author="A"><w:r><w:delText xml:space="preserve">never </w:delText></w:r></w:del>"#,
            r#"<w:ins w:id="2" w:author="A"><w:r><w:t xml:space="preserve">always </w:t></w:r></w:ins>"#,
            r#"<w:r><w:t>pooled</w:t></w:r>"#,
            r#"<w:moveFrom w:id="3"><w:r><w:t xml:space="preserve"> twice</w:t></w:r></w:moveFrom>"#,
            r#"<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>"#,
            r#"<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t xml:space="preserve"> 3</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>"#,
            r#"<w:fldSimple w:instr=" DATE "><w:r><w:t xml:space="preserve"> today</w:t></w:r></w:fldSimple>"#,
            r#"<w:hyperlink r:id="rId9"><w:r><w:t xml:space="preserve"> link</w:t></w:r></w:hyperlink>"#,
            r#"<w:smartTag w:uri="urn:x" w:element="place"><w:r><w:t xml:space="preserve"> Leeds</w:t></w:r></w:smartTag>"#,
            r#"<w:sdt><w:sdtPr><w:alias w:val="Name"/><w:placeholder><w:docPart w:val="X"/></w:placeholder></w:sdtPr>"#,
            r#"<w:sdtContent><w:r><w:t xml:space="preserve"> control</w:t></w:r></w:sdtContent></w:sdt>"#,
            r#"<w:r><w:footnoteReference w:id="1"/><w:commentReference w:id="0"/></w:r>"#,
            r#"<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wp:inline><w:txbxContent><w:p><w:r><w:t>box</w:t></w:r></w:p></w:txbxContent></wp:inline></w:drawing></mc:Choice>"#,
            r#"<mc:Fallback><w:pict><v:textbox><w:txbxContent><w:p><w:r><w:t>box</w:t></w:r></w:p></w:txbxContent></v:textbox></w:pict></mc:Fallback></mc:AlternateContent></w:r>"#,
            r#"<mc:AlternateContent><mc:Choice Requires="w14"><w:r><w:t xml:space="preserve"> once</w:t></w:r></mc:Choice>"#,
            r#"<mc:Fallback><w:r><w:t xml:space="preserve"> once</w:t></w:r></mc:Fallback></mc:AlternateContent>"#,
            r#"<w:ruby><w:rt><w:r><w:t>かん</w:t></w:r></w:rt><w:rubyBase><w:r><w:t xml:space="preserve"> 漢</w:t></w:r></w:rubyBase></w:ruby>"#,
            r#"</w:p>"#,
        );
        assert_eq!(
            text_of(body),
            "We always pooled 3 today link Leeds control once 漢"
        );
    }

    #[test]
    fn table_cell_paragraphs_are_lines_in_document_order() {
        let cell = |paragraphs: &str| {
            format!("<w:tc><w:tcPr><w:tcW w:w=\"1\"/></w:tcPr>{paragraphs}</w:tc>")
        };
        let nested = format!(
            "<w:tbl><w:tr>{}</w:tr></w:tbl><w:p/>",
            cell(&paragraph(&["nested"]))
        );
        let body = format!(
            "{}<w:tbl><w:tblPr/><w:tblGrid><w:gridCol w:w=\"1\"/></w:tblGrid><w:tr><w:trPr/>{}{}</w:tr><w:tr>{}</w:tr></w:tbl>{}",
            paragraph(&["before"]),
            cell(&format!("{}{}", paragraph(&["a1"]), paragraph(&["a2"]))),
            cell(&paragraph(&["b"])),
            cell(&nested),
            paragraph(&["after"]),
        );
        assert_eq!(text_of(&body), "before\na1\na2\nb\nnested\n\nafter");
    }

    #[test]
    fn entities_whitespace_and_line_ends_are_read_as_xml_defines_them() {
        let body = concat!(
            "<w:p><w:r>",
            "<w:t>A&amp;E &lt;3 &quot;q&quot; &apos;s &#233;&#x1F642;</w:t>",
            r#"<w:t xml:space="preserve">  two  spaces  </w:t>"#,
            "<w:t>  kept without preserve  </w:t>",
            "<w:t>crlf\r\nlf\ncr\rend</w:t>",
            "<w:t>&#13;&#10;</w:t>",
            "<w:t><![CDATA[<raw & text>]]></w:t>",
            "</w:r></w:p>",
            "\r\n  <w:p>  <w:r>  <w:t>indented markup</w:t>  </w:r>  </w:p>\r\n",
        );
        assert_eq!(
            text_of(body),
            "A&E <3 \"q\" 's é🙂  two  spaces    kept without preserve  crlf\nlf\ncr\nend\r\n<raw & text>\nindented markup"
        );
    }

    #[test]
    fn speaker_labels_open_turns_without_blank_paragraphs_and_offsets_index_the_plain_text() {
        let body = [
            paragraph(&["---"]),
            paragraph(&["site: North"]),
            paragraph(&["---"]),
            paragraph(&["Inter", "viewer:", " How did it start? 🙂"]),
            paragraph(&["Respondent: We pooled the budget."]),
            paragraph(&["It took years."]),
            "<w:p/>".to_string(),
            paragraph(&["[00:12:31] Respondent:", " Café 𝄞 then"]),
        ]
        .concat();
        let bytes = docx(&body);
        let parsed =
            crate::input::parse(&bytes, Format::Docx, "t.docx", "t", &ReadOptions::default())
                .unwrap();
        let doc = &parsed.documents[0];
        assert_eq!(doc.metadata["site"], "North");
        let turns: Vec<(&str, &str)> = doc
            .units
            .iter()
            .map(|u| (u.speaker.as_deref().unwrap(), u.text.as_str()))
            .collect();
        assert_eq!(
            turns,
            vec![
                ("Interviewer", "How did it start? 🙂"),
                ("Respondent", "We pooled the budget.\nIt took years."),
                ("Respondent", "Café 𝄞 then"),
            ]
        );
        assert_eq!(doc.units[2].cue_start_ms, Some(751_000));
        let text: Vec<char> = plain_text(&bytes, "t.docx").unwrap().chars().collect();
        for unit in &doc.units {
            let start = unit.char_start as usize;
            let end = start + unit.text.chars().count();
            assert_eq!(text[start..end].iter().collect::<String>(), unit.text);
        }
    }

    #[test]
    fn the_main_part_is_found_through_the_package_relationship_with_fallback() {
        let xml = document_xml(&paragraph(&["Respondent: elsewhere"]));
        let types = CONTENT_TYPES_XML.replace("/word/document.xml", "/Custom/Main.XML");
        let related = zip_of(&[
            ("[Content_Types].xml", types.as_bytes()),
            (
                "_rels/.rels",
                relationships_xml("/custom/./parts/../main.xml").as_bytes(),
            ),
            ("custom/main.xml", xml.as_bytes()),
        ]);
        assert_eq!(
            plain_text(&related, "t.docx").unwrap(),
            "Respondent: elsewhere"
        );
        // No package parts at all: word/document.xml is read.
        let bare = zip_of(&[("word/document.xml", xml.as_bytes())]);
        assert_eq!(
            plain_text(&bare, "t.docx").unwrap(),
            "Respondent: elsewhere"
        );
        // A relationship to a missing part falls back to word/document.xml too.
        let dangling = zip_of(&[
            ("_rels/.rels", relationships_xml("word/gone.xml").as_bytes()),
            ("word/document.xml", xml.as_bytes()),
        ]);
        assert_eq!(
            plain_text(&dangling, "t.docx").unwrap(),
            "Respondent: elsewhere"
        );
    }

    #[test]
    fn a_workbook_renamed_docx_is_refused_by_its_content_type() {
        let types = CONTENT_TYPES_XML
            .replace("/word/document.xml", "/xl/workbook.xml")
            .replace(
                "wordprocessingml.document.main+xml",
                "spreadsheetml.sheet.main+xml",
            );
        let bytes = zip_of(&[
            ("[Content_Types].xml", types.as_bytes()),
            (
                "_rels/.rels",
                relationships_xml("xl/workbook.xml").as_bytes(),
            ),
            ("xl/workbook.xml", b"<workbook/>"),
        ]);
        let err = error_of(&bytes);
        assert_eq!(entry(&err), "xl/workbook.xml");
        assert!(err.reason.contains("spreadsheetml"), "{err}");
    }

    #[test]
    fn damaged_containers_are_errors_naming_the_file() {
        let good = docx(&paragraph(&["Respondent: fine"]));
        let mut ole = OLE_SIGNATURE.to_vec();
        ole.resize(4096, 0);
        for (bytes, expected) in [
            (b"Respondent: plain text saved as .docx".to_vec(), "zip"),
            (good[..good.len() / 2].to_vec(), "zip"),
            (Vec::new(), "zip"),
            (ole, ".doc"),
        ] {
            let err = error_of(&bytes);
            assert_eq!(err.path, "in/t.docx");
            assert_eq!(err.position, Position::File);
            assert!(err.reason.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_zip_without_a_main_part_names_the_missing_entry() {
        let err = error_of(&zip_of(&[("notes.txt", b"Respondent: hi".as_slice())]));
        assert_eq!(entry(&err), "word/document.xml");
        assert!(err.reason.contains("not a Word document"), "{err}");
    }

    #[test]
    fn malformed_xml_is_reported_with_its_line_and_column_in_the_entry() {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<w:document {NAMESPACES}>\n<w:body><w:p><w:r><w:t>oops</w:r></w:p></w:body></w:document>"
        );
        let err = error_of(&docx_with_main_part(xml.as_bytes()));
        assert_eq!(err.path, "in/t.docx");
        assert_eq!(entry(&err), "word/document.xml");
        let column = "<w:body><w:p><w:r><w:t>oops".chars().count() + 1;
        assert!(err.reason.contains("malformed XML"), "{err}");
        assert!(
            err.reason.ends_with(&format!("at line 3, column {column}")),
            "{err}"
        );
        // Cut off mid-element, and cut off after a complete tag.
        let whole = document_xml(&paragraph(&["Respondent: cut"]));
        for cut in [whole.len() - 10, whole.find("cut").unwrap()] {
            let err = error_of(&docx_with_main_part(&whole.as_bytes()[..cut]));
            assert_eq!(entry(&err), "word/document.xml");
            assert!(
                err.reason.contains("malformed") || err.reason.contains("truncated"),
                "{err}"
            );
        }
    }

    #[test]
    fn entity_expansion_and_undefined_entities_are_refused() {
        let laughs = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE w:document [<!ENTITY a \"ha\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]><w:document {NAMESPACES}><w:body><w:p><w:r><w:t>&c;</w:t></w:r></w:p></w:body></w:document>"
        );
        let err = error_of(&docx_with_main_part(laughs.as_bytes()));
        assert_eq!(entry(&err), "word/document.xml");
        assert!(err.reason.contains("document type declaration"), "{err}");
        let undefined = document_xml("<w:p><w:r><w:t>&c;</w:t></w:r></w:p>");
        let err = error_of(&docx_with_main_part(undefined.as_bytes()));
        assert!(err.reason.contains("undefined entity &c;"), "{err}");
        // The package parts read before the main part are held to the same rules.
        let rels = relationships_xml("word/document.xml").replace(
            "<Relationships",
            "<!DOCTYPE r [<!ENTITY x \"y\">]><Relationships",
        );
        let bytes = zip_of(&[
            ("_rels/.rels", rels.as_bytes()),
            ("word/document.xml", document_xml("").as_bytes()),
        ]);
        assert_eq!(entry(&error_of(&bytes)), "_rels/.rels");
    }

    #[test]
    fn a_main_part_that_is_not_wordprocessingml_is_refused() {
        for xml in [
            "<html><body><p>Respondent: hi</p></body></html>",
            "<document><body/></document>",
            "<?xml version=\"1.0\"?><!-- nothing -->",
        ] {
            let err = error_of(&docx_with_main_part(xml.as_bytes()));
            assert!(err.reason.contains("w:document"), "{err}");
        }
    }

    #[test]
    fn main_parts_in_utf16_are_read_and_invalid_utf8_is_refused() {
        let xml = document_xml(&paragraph(&["Respondent: café 🙂"]));
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(
            plain_text(&docx_with_main_part(&utf16), "t.docx").unwrap(),
            "Respondent: café 🙂"
        );
        let mut bad = xml.into_bytes();
        let at = bad.len() - 40;
        bad[at] = 0xFF;
        let err = error_of(&docx_with_main_part(&bad));
        assert!(err.reason.contains("UTF-8"), "{err}");
    }

    #[test]
    fn container_limits_apply_to_docx_files() {
        // A zip bomb: megabytes of spaces squeezed a thousandfold, under the default limits.
        let bomb = document_xml(&paragraph(&[&" ".repeat(8 * 1024 * 1024)]));
        let err = error_of(&docx_with_main_part(bomb.as_bytes()));
        assert_eq!(entry(&err), "word/document.xml");
        assert!(err.reason.contains("zip bomb"), "{err}");

        let tight = ZipLimits {
            max_entries: 3,
            max_entry_bytes: 2_000,
            ..ZipLimits::default()
        };
        let words: String = (0..400).map(|i| format!("w{i} ")).collect();
        let big = docx(&paragraph(&[&words]));
        let err = plain_text_with_limits(&big, "t.docx", tight).unwrap_err();
        assert_eq!(entry(&err), "word/document.xml");
        assert!(err.reason.contains("more than 2000 bytes"), "{err}");

        let crowded = zip_of(&[
            ("[Content_Types].xml", CONTENT_TYPES_XML.as_bytes()),
            ("a.xml", b"<a/>"),
            ("b.xml", b"<b/>"),
            ("word/document.xml", document_xml("").as_bytes()),
        ]);
        let err = plain_text_with_limits(&crowded, "t.docx", tight).unwrap_err();
        assert_eq!(err.position, Position::File);
        assert!(err.reason.contains("lists 4 entries"), "{err}");
    }

    #[test]
    fn a_document_without_text_is_no_text_found() {
        let err = crate::input::parse(
            &docx("<w:p/><w:p><w:r><w:t xml:space=\"preserve\">  </w:t></w:r></w:p>"),
            Format::Docx,
            "t.docx",
            "t",
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(err.reason.contains("no text"), "{err}");
    }

    /// Pieces of a paragraph: the XML of some runs and the text the convention gives them.
    const PIECES: &[(&str, &str)] = &[
        ("<w:r><w:t>Interviewer:</w:t></w:r>", "Interviewer:"),
        (
            "<w:r><w:t xml:space=\"preserve\">Respondent: </w:t></w:r>",
            "Respondent: ",
        ),
        ("<w:r><w:t>Dr. Jones:</w:t></w:r>", "Dr. Jones:"),
        ("<w:r><w:t>[00:01:02] </w:t></w:r>", "[00:01:02] "),
        ("<w:r><w:t>---</w:t></w:r>", "---"),
        ("<w:r><w:t>site: North</w:t></w:r>", "site: North"),
        ("<w:r><w:t xml:space=\"preserve\"> </w:t></w:r>", " "),
        (
            "<w:r><w:t>We pooled the budget. </w:t></w:r>",
            "We pooled the budget. ",
        ),
        (
            "<w:r><w:t>spread</w:t></w:r><w:r><w:t>sheets</w:t></w:r>",
            "spreadsheets",
        ),
        ("<w:r><w:tab/></w:r>", "\t"),
        ("<w:r><w:br/></w:r>", "\n"),
        ("<w:r><w:t>caf&#233; &amp; </w:t></w:r>", "café & "),
        ("<w:r><w:t>🙂𝄞</w:t></w:r>", "🙂𝄞"),
        ("<w:r><w:t>\u{feff}</w:t></w:r>", "\u{feff}"),
        ("<w:r><w:t>a\r\nb</w:t></w:r>", "a\nb"),
        ("<w:r><w:t>&#13;</w:t></w:r>", "\r"),
        ("<w:r><w:t>“quoted”</w:t></w:r>", "“quoted”"),
        (
            "<w:del w:id=\"1\"><w:r><w:delText>gone</w:delText></w:r></w:del>",
            "",
        ),
        (
            "<w:ins w:id=\"2\"><w:r><w:t>added </w:t></w:r></w:ins>",
            "added ",
        ),
        ("<w:r><w:noBreakHyphen/><w:softHyphen/></w:r>", "-"),
    ];

    /// A block of the body: its XML and the lines it gives.
    fn blocks() -> impl Strategy<Value = (String, Vec<String>)> {
        let paragraph =
            proptest::collection::vec(proptest::sample::select(PIECES), 0..6).prop_map(|pieces| {
                let xml: String = pieces.iter().map(|(xml, _)| *xml).collect();
                let text: String = pieces.iter().map(|(_, text)| *text).collect();
                (format!("<w:p>{xml}</w:p>"), text)
            });
        let single = paragraph.clone().prop_map(|(xml, text)| (xml, vec![text]));
        let table = proptest::collection::vec(paragraph, 1..3).prop_map(|cells| {
            let xml: String = cells
                .iter()
                .map(|(xml, _)| format!("<w:tc>{xml}</w:tc>"))
                .collect();
            let lines = cells.into_iter().map(|(_, text)| text).collect();
            (format!("<w:tbl><w:tr>{xml}</w:tr></w:tbl>"), lines)
        });
        prop_oneof![4 => single, 1 => table]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn plain_text_follows_the_convention_and_offsets_slice_it_exactly(
            blocks in proptest::collection::vec(blocks(), 1..12)
        ) {
            let body: String = blocks.iter().map(|(xml, _)| xml.as_str()).collect();
            let expected = blocks.iter().flat_map(|(_, lines)| lines.iter().cloned()).collect::<Vec<_>>().join("\n");
            let bytes = docx(&body);
            let text = plain_text(&bytes, "t.docx").unwrap();
            prop_assert_eq!(&text, &expected);
            let chars: Vec<char> = text.chars().collect();
            match crate::input::parse(&bytes, Format::Docx, "t.docx", "t", &ReadOptions::default()) {
                Err(e) => prop_assert_eq!(e.path, "t.docx"),
                Ok(parsed) => {
                    for unit in parsed.documents.iter().flat_map(|d| &d.units) {
                        let start = unit.char_start as usize;
                        let end = start + unit.text.chars().count();
                        prop_assert!(end <= chars.len());
                        prop_assert_eq!(chars[start..end].iter().collect::<String>(), unit.text.clone());
                    }
                }
            }
        }

        #[test]
        fn arbitrary_main_parts_never_panic(xml in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Err(e) = plain_text(&docx_with_main_part(&xml), "t.docx") {
                prop_assert_eq!(e.path, "t.docx");
            }
        }
    }
}
