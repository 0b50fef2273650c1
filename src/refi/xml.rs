//! A small element tree built from quick-xml events, for reading REFI-QDA documents
//! (`project.qde`, `.qdc`). quick-xml does the parsing; this only gathers elements by local
//! name (namespace prefixes are ignored, so `<Project>` and `<qda:Project>` read alike),
//! their attributes (normalised as XML 1.0 says) and their text (line ends normalised, entity
//! and character references resolved). No DTD is read, so no entity is ever expanded beyond
//! the five predefined ones.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

/// Deepest element nesting accepted. REFI-QDA documents nest a few levels (codes nest
/// deeper, but never hundreds deep); the limit keeps hostile input from exhausting the stack.
pub(crate) const MAX_XML_DEPTH: usize = 256;

/// One element: local name, attributes, child elements and its own text.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Element {
    pub name: String,
    /// The namespace prefix of the element's name, if any (`qda` in `<qda:Project>`).
    pub prefix: Option<String>,
    /// Attributes by local name, values unescaped and normalised.
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Text directly inside this element (not in its children), CDATA included.
    pub text: String,
}

impl Element {
    /// An attribute's value by local name (ASCII case ignored, as some producers differ).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// A non-blank attribute value, trimmed.
    pub fn attr_nonblank(&self, name: &str) -> Option<&str> {
        self.attr(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Child elements with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child element with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Why a document could not be read, with the 1-based line where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XmlError {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn line_at(text: &str, offset: u64) -> u64 {
    let end = (offset as usize).min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
        + 1
}

/// Strips a UTF-8 byte-order mark, or decodes UTF-16 announced by its byte-order mark.
///
/// # Errors
/// A sentence when the bytes are not UTF-8 (or UTF-16 with a mark).
pub(crate) fn decode_document(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, String> {
    let utf16 = match bytes {
        [0xFF, 0xFE, rest @ ..] => Some((rest, u16::from_le_bytes as fn([u8; 2]) -> u16)),
        [0xFE, 0xFF, rest @ ..] => Some((rest, u16::from_be_bytes as fn([u8; 2]) -> u16)),
        _ => None,
    };
    if let Some((rest, word)) = utf16 {
        let words: Vec<u16> = rest.chunks_exact(2).map(|c| word([c[0], c[1]])).collect();
        return String::from_utf16(&words)
            .map(std::borrow::Cow::Owned)
            .map_err(|_| "invalid UTF-16 (an unpaired surrogate)".to_string());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes)
        .map(std::borrow::Cow::Borrowed)
        .map_err(|e| format!("not valid UTF-8 (at byte {})", e.valid_up_to()))
}

fn element_from(start: &BytesStart<'_>, text: &str, offset: u64) -> Result<Element, XmlError> {
    let error = |message: String| XmlError {
        line: line_at(text, offset),
        message,
    };
    let name = start.name();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| error(format!("bad attribute: {e}")))?;
        let key = attribute.key.local_name().as_ref().to_string();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| error(format!("bad value of attribute {key}: {e}")))?;
        attributes.push((key, value.into_owned()));
    }
    Ok(Element {
        name: name.local_name().as_ref().to_string(),
        prefix: name.prefix().map(|p| p.as_ref().to_string()),
        attributes,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Parses a whole document (already decoded, without a byte-order mark) into its root element.
///
/// # Errors
/// When the document is not well-formed, has no root element, nests deeper than
/// [`MAX_XML_DEPTH`] or uses an entity other than the five predefined ones.
pub(crate) fn parse(text: &str) -> Result<Element, XmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let offset = reader.buffer_position();
        let event = reader.read_event().map_err(|e| XmlError {
            line: line_at(text, reader.error_position()),
            message: e.to_string(),
        })?;
        let error = |message: String| XmlError {
            line: line_at(text, offset),
            message,
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(error("more than one root element".into()));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(error(format!(
                        "elements nest deeper than {MAX_XML_DEPTH} levels"
                    )));
                }
                stack.push(element_from(&start, text, offset)?);
            }
            Event::Empty(start) => {
                let element = element_from(&start, text, offset)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| error("closing tag without an opening one".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(content) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&content.xml10_content());
                } else if !content.trim().is_empty() {
                    return Err(error("text outside the root element".into()));
                }
            }
            Event::CData(content) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&content.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or_else(|| error(format!("unknown entity &{};", &*reference)))?
                        .to_string(),
                    Err(e) => return Err(error(format!("bad character reference: {e}"))),
                };
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError {
            line: line_at(text, text.len() as u64),
            message: format!("the document ends inside <{}>", stack[stack.len() - 1].name),
        });
    }
    root.ok_or_else(|| XmlError {
        line: 1,
        message: "no root element".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_local_names_and_resolved_text() {
        let doc = "<?xml version=\"1.0\"?>\n<q:Project xmlns:q=\"urn:QDA-XML:project:1.0\" name=\"A &amp; B\">\r\n<q:Description>one&#x1F642;\r\ntwo &lt;3</q:Description><q:Users/></q:Project>";
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Project");
        assert_eq!(root.prefix.as_deref(), Some("q"));
        assert_eq!(root.attr("name"), Some("A & B"));
        assert_eq!(root.attr("NAME"), Some("A & B"));
        assert_eq!(root.child("Description").unwrap().text, "one🙂\ntwo <3");
        assert!(root.child("Users").unwrap().children.is_empty());
    }

    #[test]
    fn malformed_documents_are_errors_with_a_line() {
        let err = parse("<a>\n<b>\n</a>").unwrap_err();
        assert!(err.line >= 2, "{err}");
        assert!(
            parse("<a>&bogus;</a>")
                .unwrap_err()
                .message
                .contains("bogus")
        );
        assert!(parse("<a/><b/>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<a>").unwrap_err().message.contains("ends inside"));
        let deep = "<a>".repeat(MAX_XML_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().message.contains("nest deeper"));
    }

    #[test]
    fn decodes_utf8_with_a_mark_and_utf16() {
        assert_eq!(decode_document(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        let mut le = vec![0xFF, 0xFE];
        le.extend("<a/>".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode_document(&le).unwrap(), "<a/>");
        assert!(decode_document(b"<a>\xff</a>").is_err());
    }
}
