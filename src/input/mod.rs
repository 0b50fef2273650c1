//! Stage "read": find inputs (files, folders, stdin), take this shard's share, hash them, and
//! parse each into [`Document`]s of [`Unit`]s (speaker turns, records, subtitle cues) that keep
//! their exact position in the source.
//!
//! One reader per format lives in its own file; [`parse`] dispatches on [`Format`].

mod csv;
mod discover;
pub mod docx;
mod jsonl;
mod qdpx;
pub mod stream;
mod subtitles;
mod text;
pub mod zip_limits;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use discover::{
    DiscoveredInput, Discovery, Found, InputSource, Shard, discover, sha256_hex, walk,
};
pub use qdpx::{SourceSegment, source_segments};
pub use stream::{Carry, ChunkContext, Cursor};

use crate::error::{InputError, Position};

/// The largest unit (turn, record, cue) accepted, in bytes. A 60-minute interview is about
/// 60 kB in all; a single unit beyond this is almost certainly not a transcript.
pub const MAX_UNIT_BYTES: usize = 2 * 1024 * 1024;

/// The largest input read whole, in bytes: containers (DOCX, .qdpx) and UTF-16 text. Every
/// other input streams ([`stream`]) and has no size limit.
pub const MAX_INPUT_BYTES: u64 = 512 * 1024 * 1024;

/// Input formats discotag reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain text, one speaker turn per paragraph (`Name: text`), optional `---` header.
    Text,
    /// One JSON object per line with `text`, optional `id`, `doc_id`, `speaker`.
    Jsonl,
    /// CSV (or TSV, or `;`-separated) with a header row; column names chosen by options.
    Csv,
    /// WebVTT subtitles.
    Vtt,
    /// SubRip subtitles.
    Srt,
    /// Word `.docx`: paragraphs become lines of plain text, then read as plain text.
    Docx,
    /// REFI-QDA project (.qdpx): each text source is a document, parsed as plain text.
    Qdpx,
}

impl Format {
    /// The format a file name implies, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "txt" | "text" => Some(Format::Text),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "csv" | "tsv" => Some(Format::Csv),
            "vtt" => Some(Format::Vtt),
            "srt" => Some(Format::Srt),
            "docx" => Some(Format::Docx),
            "qdpx" => Some(Format::Qdpx),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Vtt => "vtt",
            Format::Srt => "srt",
            Format::Docx => "docx",
            Format::Qdpx => "qdpx",
        }
    }
}

/// Column names for CSV input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumns {
    pub text: String,
    pub speaker: String,
    pub id: String,
    pub doc_id: String,
}

impl Default for CsvColumns {
    fn default() -> Self {
        CsvColumns {
            text: "text".into(),
            speaker: "speaker".into(),
            id: "id".into(),
            doc_id: "doc_id".into(),
        }
    }
}

/// Options that change how inputs are parsed.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub csv: CsvColumns,
}

/// One document: an interview, a meeting, a debate. A file holds one document, or several
/// when its records carry different `doc_id`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub doc_id: String,
    /// Metadata carried into every row: the plain-text header, for instance.
    pub metadata: BTreeMap<String, String>,
    pub units: Vec<Unit>,
}

/// A span of source text with one speaker: a turn, a JSONL/CSV record or a subtitle cue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unit {
    /// The unit's text, exactly as it stands in the offset base.
    pub text: String,
    /// Code-point offset of `text` in the offset base: the whole decoded file for plain text,
    /// 0 for record formats (whose offsets index the record's own text).
    pub char_start: u64,
    /// 0-based record index for record formats.
    pub record_index: Option<u64>,
    /// The record's own `id` (JSONL, CSV) or cue identifier (WebVTT, SRT).
    pub record_id: Option<String>,
    pub speaker: Option<String>,
    pub cue_start_ms: Option<i64>,
    pub cue_end_ms: Option<i64>,
    /// Per-record metadata (extra JSONL fields, extra CSV columns).
    pub metadata: BTreeMap<String, String>,
    /// 1-based line where the unit starts, for error messages.
    pub line: u64,
}

/// What parsing one input produced: its documents and any per-record errors.
#[derive(Debug, Default)]
pub struct Parsed {
    pub documents: Vec<Document>,
    pub errors: Vec<InputError>,
}

/// Decodes and parses an input's bytes.
///
/// `display_path` names the input in errors; `default_doc_id` is used when records carry none.
///
/// # Errors
/// An [`InputError`] for problems with the whole input: binary content, invalid UTF-8, an empty
/// file, a CSV without its text column, a damaged or hostile DOCX container. Problems with
/// single records are in [`Parsed::errors`].
pub fn parse(
    bytes: &[u8],
    format: Format,
    display_path: &str,
    default_doc_id: &str,
    options: &ReadOptions,
) -> Result<Parsed, InputError> {
    // A .qdpx is a zip container: its reader decodes each source's plain text itself.
    let decoded = || decode(bytes, display_path);
    let parsed = match format {
        Format::Text => text::parse(&decoded()?, display_path, default_doc_id)?,
        Format::Jsonl => jsonl::parse(&decoded()?, display_path, default_doc_id),
        Format::Csv => csv::parse(&decoded()?, display_path, default_doc_id, &options.csv)?,
        Format::Vtt => subtitles::parse_vtt(&decoded()?, display_path, default_doc_id)?,
        Format::Srt => subtitles::parse_srt(&decoded()?, display_path, default_doc_id)?,
        // A zip container: read from its bytes, not decoded as text.
        Format::Docx => docx::parse(bytes, display_path, default_doc_id)?,
        Format::Qdpx => qdpx::parse(bytes, display_path)?,
    };
    if parsed.documents.iter().all(|d| d.units.is_empty()) && parsed.errors.is_empty() {
        return Err(InputError::file(
            display_path,
            format!("no text found: the file holds no {} content", format.name()),
        ));
    }
    Ok(parsed)
}

/// Parses one chunk of decoded text cut at a boundary of its format (see [`stream`]).
///
/// # Errors
/// An [`InputError`] that stops the input (a CSV without its text column, a WebVTT file
/// without its header, an unclosed metadata header).
pub fn parse_chunk(
    text: &str,
    format: Format,
    display_path: &str,
    default_doc_id: &str,
    options: &ReadOptions,
    context: &mut ChunkContext,
) -> Result<Parsed, InputError> {
    match format {
        Format::Text => text::parse_chunk(text, display_path, default_doc_id, context),
        Format::Jsonl => Ok(jsonl::parse_chunk(
            text,
            display_path,
            default_doc_id,
            context,
        )),
        Format::Csv => csv::parse_chunk(text, display_path, default_doc_id, &options.csv, context),
        Format::Vtt => subtitles::parse_vtt_chunk(text, display_path, default_doc_id, context),
        Format::Srt => subtitles::parse_srt_chunk(text, display_path, default_doc_id, context),
        Format::Docx | Format::Qdpx => Err(InputError::file(
            display_path,
            "internal error: a container is not read in chunks",
        )),
    }
}

/// The format of stdin, told from its first bytes (which stay buffered for the reader):
/// JSON lines when the first character is `{`, WebVTT after `WEBVTT`, SRT when a number line
/// is followed by a cue timing, else plain text.
///
/// # Errors
/// A message for the user when it cannot be told: stdin is empty, blank so far, binary, not
/// UTF-8 or a JSON array.
pub fn detect_stdin_format() -> Result<Format, String> {
    use std::io::BufRead;
    let mut stdin = std::io::stdin().lock();
    let bytes = stdin
        .fill_buf()
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    detect_format(bytes)
}

/// [`detect_stdin_format`] on the first bytes of a stream.
///
/// # Errors
/// When the format cannot be told from them.
pub fn detect_format(bytes: &[u8]) -> Result<Format, String> {
    let undecided = |why: &str| {
        format!(
            "cannot tell the format of stdin from its first bytes ({why}): name it with --format"
        )
    };
    if bytes.is_empty() {
        return Err(undecided("stdin is empty"));
    }
    if bytes.contains(&0) {
        return Err(undecided("binary data"));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // A character cut at the end of the buffer is fine; anything else is not UTF-8.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid up to here")
        }
        Err(_) => return Err(undecided("not UTF-8")),
    };
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let mut lines = text.lines();
    match text.chars().next() {
        None => Err(undecided("only blank lines so far")),
        Some('{') => Ok(Format::Jsonl),
        Some('[') => Err(undecided("a JSON array, not JSON lines")),
        _ if text.starts_with("WEBVTT") => Ok(Format::Vtt),
        _ if lines
            .next()
            .is_some_and(|l| l.trim().parse::<u64>().is_ok())
            && lines.next().is_some_and(|l| l.contains("-->")) =>
        {
            Ok(Format::Srt)
        }
        _ => Ok(Format::Text),
    }
}

/// Decodes the bytes as text: UTF-8, or UTF-16 when a UTF-16 byte-order mark says so (the mark
/// is consumed, as UTF-16 decoders do; a UTF-8 mark is kept as the file's first code point).
/// Rejects empty files, binary content (NUL bytes) and invalid UTF-8, naming the position.
fn decode<'a>(bytes: &'a [u8], path: &str) -> Result<std::borrow::Cow<'a, str>, InputError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(InputError::file(path, "empty file"));
    }
    let utf16 = match bytes {
        [0xFF, 0xFE, rest @ ..] => Some((rest, u16::from_le_bytes as fn([u8; 2]) -> u16)),
        [0xFE, 0xFF, rest @ ..] => Some((rest, u16::from_be_bytes as fn([u8; 2]) -> u16)),
        _ => None,
    };
    if let Some((rest, from_bytes)) = utf16 {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| from_bytes([c[0], c[1]]))
            .collect();
        let text = String::from_utf16(&units).map_err(|_| {
            InputError::file(
                path,
                "invalid UTF-16 (an unpaired surrogate): save the file as UTF-8",
            )
        })?;
        if text.trim().is_empty() {
            return Err(InputError::file(path, "empty file"));
        }
        return Ok(std::borrow::Cow::Owned(text));
    }
    if let Some(offset) = bytes.iter().take(8192).position(|&b| b == 0) {
        return Err(InputError::new(
            path,
            Position::Byte {
                offset: offset as u64,
            },
            "binary file (NUL byte): not a transcript",
        ));
    }
    std::str::from_utf8(bytes)
        .map(std::borrow::Cow::Borrowed)
        .map_err(|e| invalid_utf8(path, bytes, e.valid_up_to(), 0))
}

/// The error for bytes that are not UTF-8 from `valid_up_to` on, naming the 1-based line (after
/// `lines_before`) and column in characters.
fn invalid_utf8(path: &str, bytes: &[u8], valid_up_to: usize, lines_before: u64) -> InputError {
    let valid = &bytes[..valid_up_to];
    let line = lines_before + valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column =
        std::str::from_utf8(&valid[line_start..]).map_or(0, |s| s.chars().count() as u64) + 1;
    InputError::new(
        path,
        Position::Line {
            line,
            column: Some(column),
        },
        format!("invalid UTF-8 at byte {valid_up_to}: save the file as UTF-8"),
    )
}

/// Rejects units larger than [`MAX_UNIT_BYTES`].
fn check_unit_size(text: &str, path: &str, position: Position) -> Result<(), InputError> {
    if text.len() > MAX_UNIT_BYTES {
        return Err(InputError::new(
            path,
            position,
            format!(
                "a single turn or record of {} bytes exceeds the limit of {} bytes: is this a transcript?",
                text.len(),
                MAX_UNIT_BYTES
            ),
        ));
    }
    Ok(())
}

/// Groups units into documents by doc id, in order of first appearance.
fn group_by_doc(units: Vec<(String, Unit)>) -> Vec<Document> {
    let mut documents: Vec<Document> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (doc_id, unit) in units {
        let i = *index.entry(doc_id.clone()).or_insert_with(|| {
            documents.push(Document {
                doc_id,
                metadata: BTreeMap::new(),
                units: Vec::new(),
            });
            documents.len() - 1
        });
        documents[i].units.push(unit);
    }
    documents
}

/// Whether `name` looks like a speaker label: 1 to 4 words within 40 characters, starting with
/// a letter, every word capitalised or a number, no sentence punctuation. "Dr. Jones", "P07 (GP)"
/// and "INTERVIEWER" pass; "the point is" and "Yes, well" do not.
fn is_plausible_speaker(name: &str) -> bool {
    let words: Vec<&str> = name.split_whitespace().collect();
    !words.is_empty()
        && words.len() <= 4
        && name.chars().count() <= 40
        && name.chars().next().is_some_and(char::is_alphabetic)
        && !name.contains(['?', '!', ',', ';', '"'])
        && words
            .iter()
            .all(|w| w.chars().next().is_some_and(|c| !c.is_lowercase()))
}

/// Splits a leading `Name:` speaker label off a record's text (used by CSV-less formats such as
/// subtitles). Returns the speaker and the byte offset where the spoken text starts.
fn split_speaker_prefix(text: &str) -> Option<(String, usize)> {
    let colon = text.find(':')?;
    let name = text[..colon].trim();
    let rest = &text[colon + 1..];
    if !is_plausible_speaker(name) || !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let skip = rest.len() - rest.trim_start().len();
    Some((name.to_string(), colon + 1 + skip))
}

/// The default document id for an input: its file stem.
pub fn default_doc_id(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stdin".into())
}

/// A path relative to nothing: how the user named it.
pub fn display_path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reports_position_of_invalid_utf8() {
        let err = decode(b"ok line\nbad \xff here", "f.txt").unwrap_err();
        assert_eq!(
            err.position,
            Position::Line {
                line: 2,
                column: Some(5)
            }
        );
        assert!(err.reason.contains("UTF-8"));
    }

    #[test]
    fn decode_reads_utf16_with_a_byte_order_mark() {
        let text = "Respondent: café 🙂";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&le, "f").unwrap(), text);
        assert_eq!(decode(&be, "f").unwrap(), text);
    }

    #[test]
    fn decode_rejects_empty_and_binary() {
        assert!(decode(b"  \n\n", "f").unwrap_err().reason.contains("empty"));
        let err = decode(b"PK\x03\x04\x00\x00", "f").unwrap_err();
        assert_eq!(err.position, Position::Byte { offset: 4 });
    }

    #[test]
    fn stdin_format_is_told_from_the_first_bytes_or_refused() {
        assert_eq!(detect_format(b"\n {\"text\": \"hi\"}\n"), Ok(Format::Jsonl));
        assert_eq!(detect_format(b"WEBVTT\n\n1\n"), Ok(Format::Vtt));
        assert_eq!(
            detect_format(b"1\n00:00:01,000 --> 00:00:02,000\nHi\n"),
            Ok(Format::Srt)
        );
        assert_eq!(detect_format(b"Interviewer: hello\n"), Ok(Format::Text));
        assert_eq!(
            detect_format("caf\u{e9}".as_bytes()[..4].as_ref()),
            Ok(Format::Text)
        );
        for bad in [
            &b""[..],
            b" \n\n",
            b"[{\"text\": 1}]",
            b"PK\x03\x04\x00",
            b"\xff\xfe\x00a",
        ] {
            let err = detect_format(bad).unwrap_err();
            assert!(err.contains("--format"), "{err}");
        }
    }

    #[test]
    fn speaker_prefix_is_recognised_conservatively() {
        assert_eq!(
            split_speaker_prefix("Cllr Patel: we pooled it"),
            Some(("Cllr Patel".into(), 12))
        );
        assert_eq!(split_speaker_prefix("the point is: we pooled it"), None);
        assert_eq!(
            split_speaker_prefix("Time: 10:30 today"),
            Some(("Time".into(), 6))
        );
        assert_eq!(split_speaker_prefix("No colon here"), None);
        assert_eq!(
            split_speaker_prefix("Dr. Jones: yes"),
            Some(("Dr. Jones".into(), 11))
        );
        assert_eq!(split_speaker_prefix("Yes, well: no"), None);
        assert!(is_plausible_speaker("P07 (GP)") && is_plausible_speaker("INTERVIEWER"));
        assert!(!is_plausible_speaker("10") && !is_plausible_speaker("one two three four five"));
        assert_eq!(split_speaker_prefix("See http://x"), None);
    }

    mod robustness {
        //! Property tests that feed every reader arbitrary bytes and transcript-like fragments
        //! in random order: parsing never panics, whole-input errors name the file, and plain
        //! text units index the decoded file exactly.

        use super::*;
        use proptest::prelude::*;

        const FORMATS: [Format; 6] = [
            Format::Text,
            Format::Jsonl,
            Format::Csv,
            Format::Vtt,
            Format::Srt,
            Format::Docx,
        ];

        const FRAGMENTS: &[&str] = &[
            "Interviewer:",
            "Respondent:",
            "Dr. Jones:",
            " ",
            "\n",
            "\n\n",
            "\r\n",
            "---\n",
            "site: Leeds\n",
            "[00:01:02] ",
            "Ann (00:03):",
            "Speaker 1  0:05\n",
            "WEBVTT\n\n",
            "00:00:01.000 --> 00:00:02.500\n",
            "<v Ann>",
            "</v>",
            "NOTE aside\n",
            "1\n",
            "00:00:01,000 --> 00:00:02,000\n",
            "99:99:99,999 --> 00:00:00,000\n",
            "{\"text\": \"we pooled it\"}\n",
            "{\"doc_id\": 3, ",
            "\"text\": ",
            "\"id\": null}",
            "{broken\n",
            "id,text,speaker\n",
            "1,\"quoted\nnewline\",Ann\n",
            ";",
            "\t",
            ",",
            "\"",
            "caf\u{e9} ",
            "\u{1F642}",
            "\u{feff}",
            "\u{200b}",
            "words and more words. ",
        ];

        fn fragments() -> impl Strategy<Value = String> {
            proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..60)
                .prop_map(|parts| parts.concat())
        }

        fn check(bytes: &[u8]) {
            for format in FORMATS {
                match parse(bytes, format, "in/t.x", "t", &ReadOptions::default()) {
                    Err(e) => assert_eq!(e.path, "in/t.x"),
                    Ok(parsed) => {
                        for e in &parsed.errors {
                            assert_eq!(e.path, "in/t.x");
                        }
                        if format == Format::Text {
                            let text = decode(bytes, "in/t.x").unwrap();
                            let chars: Vec<char> = text.chars().collect();
                            for unit in parsed.documents.iter().flat_map(|d| &d.units) {
                                let start = unit.char_start as usize;
                                let len = unit.text.chars().count();
                                let slice: String = chars[start..start + len].iter().collect();
                                assert_eq!(slice, unit.text);
                            }
                        }
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(600))]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                check(&bytes);
            }

            #[test]
            fn transcript_like_fragments_never_panic(text in fragments()) {
                check(text.as_bytes());
            }
        }
    }
}
