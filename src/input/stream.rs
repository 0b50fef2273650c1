//! Reading one input as a stream of chunks, in bounded memory and with no size limit.
//!
//! Record formats (JSONL, CSV) are cut between records, plain text and subtitles between
//! paragraphs or cues, so each chunk is parsed by the format's own reader exactly as if it were
//! the whole file, with line numbers, record indexes and code-point offsets following on from
//! the chunks before it ([`ChunkContext`]). Every chunk carries the [`Cursor`] after it: how many
//! bytes it ends at and the sha256 of every byte up to there, so a resumed run can check that an
//! input is unchanged before it continues from the last commit. Containers (DOCX, .qdpx) and
//! UTF-16 text are read whole, within [`super::MAX_INPUT_BYTES`].
//!
//! A source that is not a regular file (stdin, a pipe) is *live*: whatever has arrived is handed
//! on at the next boundary instead of waiting for a full chunk, so rows of a live stream appear
//! within one commit interval.

use std::io::{BufRead, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Format, InputSource, MAX_INPUT_BYTES, MAX_UNIT_BYTES, Parsed, ReadOptions};
use crate::error::{InputError, Position};

/// How far an input has been read and committed: everything before `bytes` is in the dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Bytes of the input consumed by committed rows.
    pub bytes: u64,
    /// sha256 (hex) of those bytes: a resumed run re-reads them and compares, so an input that
    /// changed is detected, never silently continued.
    pub prefix_sha256: String,
    /// Lines before `bytes` (line numbers of later errors and JSONL record indexes follow on).
    pub lines: u64,
    /// Records (CSV records, subtitle cues) before `bytes`.
    pub records: u64,
    /// Code points before `bytes` (plain-text offsets index the whole file).
    pub chars: u64,
    /// What a reader needs to carry across the cut (plain-text speaker and header, CSV header).
    #[serde(default)]
    pub carry: Carry,
}

/// Format state that spans chunks of one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carry {
    /// Plain text: the speaker of the last turn (a paragraph without a label continues it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// Plain text: the metadata header, applied to every row of the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
    /// CSV: the header row's fields and the delimiter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_header: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_delimiter: Option<u8>,
}

/// Where a chunk starts in its input, and what the chunks before it left for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkContext {
    /// Lines before the chunk.
    pub lines: u64,
    /// Records (CSV records, subtitle cues) before the chunk; advanced by the parser.
    pub records: u64,
    /// Code points before the chunk.
    pub chars: u64,
    pub carry: Carry,
}

/// A piece of an input: what it parsed to, and how far the input has been read after it.
#[derive(Debug)]
pub struct Chunk {
    pub parsed: Parsed,
    pub cursor: Cursor,
    /// Set on an input's last chunk.
    pub end: Option<End>,
}

/// The end of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// sha256 of the whole input; `None` when it could not be read to its end.
    pub sha256: Option<String>,
    pub bytes: u64,
}

/// Chunk size for record formats.
pub const RECORD_CHUNK_BYTES: usize = 1 << 20;
/// Chunk size for plain text and subtitles (large, so that a speaker label seen twice in a file
/// is almost always seen twice in a chunk).
pub const TEXT_CHUNK_BYTES: usize = 8 << 20;
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Opens an input for reading, and says whether it is live (not a regular file).
///
/// # Errors
/// When the file cannot be opened.
pub fn open(source: &InputSource) -> std::io::Result<(Box<dyn BufRead + Send>, bool)> {
    match source {
        InputSource::File(path) => {
            let file = std::fs::File::open(path)?;
            let live = !file.metadata()?.is_file();
            Ok((
                Box::new(std::io::BufReader::with_capacity(READ_BUFFER_BYTES, file)),
                live,
            ))
        }
        InputSource::Stdin => {
            let live = !std::fs::metadata("/dev/stdin").is_ok_and(|m| m.is_file());
            Ok((
                Box::new(std::io::BufReader::with_capacity(
                    READ_BUFFER_BYTES,
                    std::io::stdin(),
                )),
                live,
            ))
        }
    }
}

/// sha256 (hex) and size of a whole file, read in bounded memory.
///
/// # Errors
/// When the file cannot be read.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Code points in a run of UTF-8 bytes (additive over any split of the bytes).
fn count_chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// One input read chunk by chunk.
pub struct InputStream {
    reader: Box<dyn BufRead + Send>,
    live: bool,
    format: Format,
    path: String,
    doc_id: String,
    options: ReadOptions,
    hasher: Sha256,
    consumed: u64,
    pending: Vec<u8>,
    context: ChunkContext,
    eof: bool,
    finished: bool,
    /// Units and errors produced so far (for "no text found").
    units: u64,
    errors: u64,
    only_whitespace: bool,
    /// Discarding the rest of an over-long line.
    skipping: bool,
    held_errors: Vec<InputError>,
    csv_scan: CsvScan,
    chunk_bytes: Option<usize>,
}

/// Quote-aware search for record ends in CSV bytes.
#[derive(Default)]
struct CsvScan {
    position: usize,
    quoted: bool,
    last_boundary: Option<usize>,
}

impl InputStream {
    pub fn new(
        reader: Box<dyn BufRead + Send>,
        live: bool,
        format: Format,
        path: &str,
        doc_id: &str,
        options: &ReadOptions,
    ) -> Self {
        InputStream {
            reader,
            live,
            format,
            path: path.to_string(),
            doc_id: doc_id.to_string(),
            options: options.clone(),
            hasher: Sha256::new(),
            consumed: 0,
            pending: Vec::new(),
            context: ChunkContext::default(),
            eof: false,
            finished: false,
            units: 0,
            errors: 0,
            only_whitespace: true,
            skipping: false,
            held_errors: Vec::new(),
            csv_scan: CsvScan::default(),
            chunk_bytes: None,
        }
    }

    /// Cuts chunks of about this many bytes instead of the format's default (tests use tiny
    /// chunks to exercise every cut).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = Some(bytes.max(1));
        self
    }

    /// Reads the first `cursor.bytes` bytes again and compares their hash with the cursor's.
    /// When they match, the stream continues after them, as the chunk that ended there left
    /// it; when they do not (or the input is shorter now), the input changed since it was
    /// committed and this stream is spent.
    ///
    /// # Errors
    /// When the input cannot be read.
    pub fn skip_prefix(&mut self, cursor: &Cursor) -> std::io::Result<bool> {
        let mut left = cursor.bytes;
        while left > 0 {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                self.finished = true;
                return Ok(false);
            }
            let n = buf.len().min(left as usize);
            self.hasher.update(&buf[..n]);
            if self.only_whitespace && !buf[..n].iter().all(u8::is_ascii_whitespace) {
                self.only_whitespace = false;
            }
            self.reader.consume(n);
            left -= n as u64;
        }
        if hex::encode(self.hasher.clone().finalize()) != cursor.prefix_sha256 {
            self.finished = true;
            return Ok(false);
        }
        self.consumed = cursor.bytes;
        self.context = ChunkContext {
            lines: cursor.lines,
            records: cursor.records,
            chars: cursor.chars,
            carry: cursor.carry.clone(),
        };
        // Whatever came before produced units (it was committed with rows or errors).
        self.units = u64::from(cursor.bytes > 0);
        Ok(true)
    }

    fn whole_format(&mut self) -> bool {
        matches!(self.format, Format::Docx | Format::Qdpx)
            || (self.consumed == 0
                && matches!(
                    self.reader.fill_buf(),
                    Ok([0xFF, 0xFE, ..] | [0xFE, 0xFF, ..])
                ))
    }

    fn chunk_target(&self) -> usize {
        if let Some(bytes) = self.chunk_bytes {
            return bytes;
        }
        match self.format {
            Format::Jsonl | Format::Csv => RECORD_CHUNK_BYTES,
            _ => TEXT_CHUNK_BYTES,
        }
    }

    /// The next chunk, or `None` after the last one (which carries [`Chunk::end`]).
    pub fn next_chunk(&mut self) -> Option<Chunk> {
        if self.finished {
            return None;
        }
        if self.whole_format() {
            return Some(self.whole_chunk());
        }
        loop {
            let ready = self.eof || self.pending.len() >= self.chunk_target() || self.live;
            if ready
                && !self.skipping
                && let Some(cut) = self.find_cut()
                && (cut < self.pending.len() || !self.eof)
            {
                return Some(self.emit(cut));
            }
            if self.eof {
                return Some(self.emit_last());
            }
            if !self.skipping
                && self.pending.len() >= self.chunk_target() + 2 * MAX_UNIT_BYTES
                && let Some(chunk) = self.overlong()
            {
                return Some(chunk);
            }
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let error = InputError::new(
                        &self.path,
                        Position::Byte {
                            offset: self.consumed + self.pending.len() as u64,
                        },
                        format!("cannot read: {e}"),
                    );
                    return Some(self.stop(error, false));
                }
            };
            if buf.is_empty() {
                self.eof = true;
                continue;
            }
            let n = buf.len();
            if self.skipping {
                // Drop the rest of an over-long line, up to and including its newline.
                let end = buf.iter().position(|&b| b == b'\n').map(|p| p + 1);
                let take = end.unwrap_or(n);
                let dropped = buf[..take].to_vec();
                self.reader.consume(take);
                self.account(&dropped);
                self.skipping = end.is_none();
                continue;
            }
            self.pending.extend_from_slice(buf);
            self.reader.consume(n);
        }
    }

    /// Hashes and counts bytes that are passed over.
    fn account(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.consumed += bytes.len() as u64;
        self.context.lines += count_lines(bytes);
        self.context.chars += count_chars(bytes);
        if self.only_whitespace && !bytes.iter().all(u8::is_ascii_whitespace) {
            self.only_whitespace = false;
        }
    }

    /// Where the pending bytes can be cut: after the last complete record or paragraph.
    fn find_cut(&mut self) -> Option<usize> {
        if self.eof {
            return Some(self.pending.len());
        }
        let bytes = &self.pending;
        match self.format {
            Format::Jsonl => bytes.iter().rposition(|&b| b == b'\n').map(|p| p + 1),
            Format::Csv => {
                let scan = &mut self.csv_scan;
                for (i, &b) in bytes.iter().enumerate().skip(scan.position) {
                    match b {
                        b'"' => scan.quoted = !scan.quoted,
                        b'\n' if !scan.quoted => scan.last_boundary = Some(i + 1),
                        _ => {}
                    }
                }
                scan.position = bytes.len();
                scan.last_boundary
            }
            _ => {
                let paragraph = (1..bytes.len()).rev().find(|&i| {
                    bytes[i] == b'\n'
                        && (bytes[i - 1] == b'\n'
                            || (i >= 2 && bytes[i - 1] == b'\r' && bytes[i - 2] == b'\n'))
                });
                match paragraph {
                    Some(i) => Some(i + 1),
                    // A transcript without blank lines (one turn per line): cut at a line end
                    // once a chunk is full.
                    None if self.format == Format::Text && bytes.len() >= self.chunk_target() => {
                        bytes.iter().rposition(|&b| b == b'\n').map(|p| p + 1)
                    }
                    None => None,
                }
            }
        }
    }

    /// A line (or record, or paragraph) far beyond the unit size limit: an error, and the line
    /// is passed over (a CSV record cannot be resynchronised, so the input stops there).
    fn overlong(&mut self) -> Option<Chunk> {
        let error = InputError::new(
            &self.path,
            Position::Line {
                line: self.context.lines + 1,
                column: None,
            },
            format!(
                "a single line, record or paragraph longer than {} bytes: is this a transcript?",
                self.pending.len()
            ),
        );
        if self.format == Format::Csv {
            return Some(self.stop(error, true));
        }
        self.held_errors.push(error);
        let dropped = std::mem::take(&mut self.pending);
        let newline = dropped.iter().position(|&b| b == b'\n');
        match newline {
            // The over-long line ended inside the pending bytes: keep what follows it.
            Some(p) => {
                self.account(&dropped[..=p]);
                self.pending = dropped[p + 1..].to_vec();
            }
            None => {
                self.account(&dropped);
                self.skipping = true;
            }
        }
        self.csv_scan = CsvScan::default();
        None
    }

    fn cursor(&self) -> Cursor {
        Cursor {
            bytes: self.consumed,
            prefix_sha256: hex::encode(self.hasher.clone().finalize()),
            lines: self.context.lines,
            records: self.context.records,
            chars: self.context.chars,
            carry: self.context.carry.clone(),
        }
    }

    /// Parses and hands on the first `cut` pending bytes.
    fn emit(&mut self, cut: usize) -> Chunk {
        let bytes: Vec<u8> = self.pending.drain(..cut).collect();
        self.csv_scan = CsvScan {
            position: self
                .pending
                .len()
                .min(self.csv_scan.position.saturating_sub(cut)),
            quoted: self.csv_scan.quoted,
            last_boundary: None,
        };
        let first = self.consumed == 0;
        let before = self.context.clone();
        self.hasher.update(&bytes);
        self.consumed += bytes.len() as u64;
        if self.only_whitespace && !bytes.iter().all(u8::is_ascii_whitespace) {
            self.only_whitespace = false;
        }
        let parsed = self.parse(&bytes, first, before);
        self.context.lines += count_lines(&bytes);
        self.context.chars += count_chars(&bytes);
        match parsed {
            Ok(mut parsed) => {
                parsed.errors.splice(0..0, self.held_errors.drain(..));
                self.units += parsed
                    .documents
                    .iter()
                    .map(|d| d.units.len() as u64)
                    .sum::<u64>();
                self.errors += parsed.errors.len() as u64;
                Chunk {
                    parsed,
                    cursor: self.cursor(),
                    end: None,
                }
            }
            Err(error) => self.stop(error, true),
        }
    }

    /// The chunk at the end of the input, with the whole-input checks.
    fn emit_last(&mut self) -> Chunk {
        let rest = self.pending.len();
        let mut chunk = if rest > 0 {
            self.emit(rest)
        } else {
            Chunk {
                parsed: Parsed {
                    errors: self.held_errors.drain(..).collect(),
                    ..Parsed::default()
                },
                cursor: self.cursor(),
                end: None,
            }
        };
        if rest == 0 {
            self.errors += chunk.parsed.errors.len() as u64;
        }
        if chunk.end.is_some() {
            return chunk; // the parser stopped the input
        }
        if self.only_whitespace {
            chunk.parsed.errors = vec![InputError::file(&self.path, "empty file")];
        } else if self.units == 0 && self.errors == 0 {
            chunk.parsed.errors.push(InputError::file(
                &self.path,
                format!(
                    "no text found: the file holds no {} content",
                    self.format.name()
                ),
            ));
        }
        self.finished = true;
        chunk.cursor = self.cursor();
        chunk.end = Some(End {
            sha256: Some(chunk.cursor.prefix_sha256.clone()),
            bytes: self.consumed,
        });
        chunk
    }

    /// Ends the input with an error; the rest is read only to hash it (when `drain`), so that a
    /// resumed run knows the input is unchanged.
    fn stop(&mut self, error: InputError, drain: bool) -> Chunk {
        self.finished = true;
        let mut errors: Vec<InputError> = self.held_errors.drain(..).collect();
        errors.push(error);
        let mut sha256 = None;
        if drain {
            let rest = std::mem::take(&mut self.pending);
            self.hasher.update(&rest);
            self.consumed += rest.len() as u64;
            let mut ok = true;
            loop {
                match self.reader.fill_buf() {
                    Ok([]) => break,
                    Ok(buf) => {
                        let n = buf.len();
                        self.hasher.update(buf);
                        self.consumed += n as u64;
                        self.reader.consume(n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                sha256 = Some(hex::encode(self.hasher.clone().finalize()));
            }
        }
        Chunk {
            parsed: Parsed {
                documents: Vec::new(),
                errors,
            },
            cursor: self.cursor(),
            end: Some(End {
                sha256,
                bytes: self.consumed,
            }),
        }
    }

    /// Containers and UTF-16 text: read whole (within the size limit) and parse at once.
    fn whole_chunk(&mut self) -> Chunk {
        self.finished = true;
        let mut bytes = Vec::new();
        let limit = MAX_INPUT_BYTES + 1;
        let read = (&mut self.reader).take(limit).read_to_end(&mut bytes);
        self.hasher.update(&bytes);
        self.consumed = bytes.len() as u64;
        let end = |this: &Self, complete: bool| End {
            sha256: complete.then(|| hex::encode(this.hasher.clone().finalize())),
            bytes: this.consumed,
        };
        let complete = read.is_ok();
        let result = match read {
            Err(e) => Err(InputError::file(&self.path, format!("cannot read: {e}"))),
            Ok(n) if n as u64 >= limit => Err(InputError::file(
                &self.path,
                format!(
                    "larger than {} MB: a {} input is read whole",
                    MAX_INPUT_BYTES / (1024 * 1024),
                    self.format.name()
                ),
            )),
            Ok(_) => super::parse(&bytes, self.format, &self.path, &self.doc_id, &self.options),
        };
        let parsed = result.unwrap_or_else(|e| Parsed {
            documents: Vec::new(),
            errors: vec![e],
        });
        Chunk {
            parsed,
            cursor: self.cursor(),
            end: Some(end(self, complete)),
        }
    }

    fn parse(
        &mut self,
        bytes: &[u8],
        first: bool,
        before: ChunkContext,
    ) -> Result<Parsed, InputError> {
        if first && let Some(offset) = bytes.iter().take(8192).position(|&b| b == 0) {
            return Err(InputError::new(
                &self.path,
                Position::Byte {
                    offset: offset as u64,
                },
                "binary file (NUL byte): not a transcript",
            ));
        }
        let mut context = before;
        let (text, mut line_errors) = decode_chunk(bytes, &self.path, &context, self.format)?;
        let mut parsed = super::parse_chunk(
            &text,
            self.format,
            &self.path,
            &self.doc_id,
            &self.options,
            &mut context,
        )?;
        self.context.records = context.records;
        self.context.carry = context.carry;
        line_errors.append(&mut parsed.errors);
        parsed.errors = line_errors;
        Ok(parsed)
    }
}

/// Decodes a chunk as UTF-8. In JSONL a line that is not UTF-8 is an error for that line only
/// (it is blanked, so line numbers stay true); elsewhere it stops the input, naming the line.
fn decode_chunk(
    bytes: &[u8],
    path: &str,
    context: &ChunkContext,
    format: Format,
) -> Result<(String, Vec<InputError>), InputError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((text.to_string(), Vec::new())),
        Err(e) => {
            if format != Format::Jsonl {
                return Err(super::invalid_utf8(
                    path,
                    bytes,
                    e.valid_up_to(),
                    context.lines,
                ));
            }
            let mut text = String::with_capacity(bytes.len());
            let mut errors = Vec::new();
            for (i, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
                match std::str::from_utf8(raw) {
                    Ok(s) => text.push_str(s),
                    Err(e) => {
                        errors.push(super::invalid_utf8(
                            path,
                            raw,
                            e.valid_up_to(),
                            context.lines + i as u64,
                        ));
                        if raw.ends_with(b"\n") {
                            text.push('\n');
                        }
                    }
                }
            }
            Ok((text, errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Document, Unit};
    use proptest::prelude::*;

    fn stream(bytes: &[u8], format: Format, chunk: usize) -> InputStream {
        InputStream::new(
            Box::new(std::io::Cursor::new(bytes.to_vec())),
            false,
            format,
            "in/t.x",
            "t",
            &ReadOptions::default(),
        )
        .with_chunk_bytes(chunk)
    }

    fn units_of(documents: &[Document]) -> Vec<(String, Unit)> {
        documents
            .iter()
            .flat_map(|d| d.units.iter().map(|u| (d.doc_id.clone(), u.clone())))
            .collect()
    }

    /// Every unit and error of a stream read in chunks, and its chunks' cursors.
    /// Units (with their document), errors, every chunk's cursor and the end of a stream.
    type ReadAll = (Vec<(String, Unit)>, Vec<InputError>, Vec<Cursor>, End);

    fn read_all(mut s: InputStream) -> ReadAll {
        let (mut units, mut errors, mut cursors) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let chunk = s.next_chunk().expect("a stream ends with an end chunk");
            units.extend(units_of(&chunk.parsed.documents));
            errors.extend(chunk.parsed.errors);
            cursors.push(chunk.cursor);
            if let Some(end) = chunk.end {
                assert!(s.next_chunk().is_none());
                return (units, errors, cursors, end);
            }
        }
    }

    fn sorted(mut units: Vec<(String, Unit)>) -> Vec<(String, Unit)> {
        // Whole-file parsing groups units by document; chunks group them per chunk.
        units.sort_by_key(|(_, u)| (u.line, u.char_start));
        units
    }

    fn transcript(format: Format, turns: &[(u8, String)]) -> String {
        let speaker = |s: u8| ["Interviewer", "Respondent", "P07"][s as usize % 3];
        let mut out = String::new();
        match format {
            Format::Jsonl => {
                for (i, (s, text)) in turns.iter().enumerate() {
                    let doc = format!("d{}", i % 3);
                    out += &serde_json::json!({"id": i, "doc_id": doc, "speaker": speaker(*s), "text": text}).to_string();
                    out += "\n";
                    if i % 5 == 4 {
                        out += "{broken\n";
                    }
                }
            }
            Format::Csv => {
                out += "id,speaker,text\n";
                for (i, (s, text)) in turns.iter().enumerate() {
                    out += &format!("{i},{},\"{}\"\n", speaker(*s), text.replace('"', "\"\""));
                }
            }
            Format::Text => {
                out += "---\nsite: Leeds\n---\n\n";
                for (i, (s, text)) in turns.iter().enumerate() {
                    if i % 4 == 3 {
                        out += &format!("{text}\n\n"); // continues the last speaker
                    } else {
                        out += &format!("{}: {text}\n\n", speaker(*s));
                    }
                }
            }
            Format::Vtt | Format::Srt => {
                if format == Format::Vtt {
                    out += "WEBVTT\n\n";
                }
                for (i, (s, text)) in turns.iter().enumerate() {
                    let sep = if format == Format::Vtt { '.' } else { ',' };
                    out += &format!(
                        "{}\n00:00:{:02}{sep}000 --> 00:00:{:02}{sep}500\n{}: {text}\n\n",
                        i + 1,
                        i % 60,
                        i % 60,
                        speaker(*s)
                    );
                }
            }
            Format::Docx | Format::Qdpx => unreachable!(),
        }
        out
    }

    fn turns() -> impl Strategy<Value = Vec<(u8, String)>> {
        let text = proptest::sample::select(vec![
            "We pooled the budget.",
            "caf\u{e9} and \u{1F642} emoji, then more words",
            "Two lines\nin one turn, \"quoted\", with commas",
            "A longer answer that goes on. And on, with a second sentence.",
            "ok",
        ]);
        proptest::collection::vec((0u8..3, text.prop_map(str::to_string)), 1..25)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(60))]

        /// Read in chunks of any size, an input gives exactly the units, offsets, record
        /// indexes and errors that parsing it whole gives.
        #[test]
        fn chunks_of_any_size_parse_as_the_whole(turns in turns(), chunk in 1usize..300, f in 0usize..5) {
            let format = [Format::Jsonl, Format::Csv, Format::Text, Format::Vtt, Format::Srt][f];
            let text = transcript(format, &turns);
            let whole = crate::input::parse(text.as_bytes(), format, "in/t.x", "t", &ReadOptions::default()).unwrap();
            let (units, errors, cursors, end) = read_all(stream(text.as_bytes(), format, chunk));
            prop_assert_eq!(sorted(units), sorted(units_of(&whole.documents)));
            prop_assert_eq!(errors, whole.errors);
            prop_assert_eq!(end.bytes, text.len() as u64);
            prop_assert_eq!(end.sha256, Some(hex::encode(Sha256::digest(text.as_bytes()))));
            // Each cursor's hash is the hash of the bytes before it.
            for c in &cursors {
                prop_assert_eq!(&c.prefix_sha256, &hex::encode(Sha256::digest(&text.as_bytes()[..c.bytes as usize])));
            }
        }

        /// A stream resumed from any cursor continues with exactly the units after it.
        #[test]
        fn resuming_from_a_cursor_continues_exactly(turns in turns(), chunk in 1usize..200, f in 0usize..5, pick in 0usize..100) {
            let format = [Format::Jsonl, Format::Csv, Format::Text, Format::Vtt, Format::Srt][f];
            let text = transcript(format, &turns);
            let mut first = stream(text.as_bytes(), format, chunk);
            let mut before = Vec::new();
            let mut chunks = Vec::new();
            while let Some(c) = first.next_chunk() {
                chunks.push(c);
            }
            let cut = pick % chunks.len();
            for c in &chunks[..=cut] {
                before.extend(units_of(&c.parsed.documents));
            }
            let cursor = chunks[cut].cursor.clone();
            let mut resumed = stream(text.as_bytes(), format, chunk);
            prop_assert!(resumed.skip_prefix(&cursor).unwrap());
            let mut after = Vec::new();
            while let Some(c) = resumed.next_chunk() {
                after.extend(units_of(&c.parsed.documents));
            }
            before.extend(after);
            let (all, _, _, _) = read_all(stream(text.as_bytes(), format, chunk));
            prop_assert_eq!(before, all);
        }
    }

    #[test]
    fn a_changed_prefix_is_detected() {
        let text = transcript(
            Format::Jsonl,
            &[(0, "one".into()), (1, "two".into()), (2, "three".into())],
        );
        let mut s = stream(text.as_bytes(), Format::Jsonl, 10);
        let cursor = s.next_chunk().unwrap().cursor;
        let edited = text.replacen("one", "uno", 1);
        assert!(
            !stream(edited.as_bytes(), Format::Jsonl, 10)
                .skip_prefix(&cursor)
                .unwrap()
        );
        assert!(
            !stream(&text.as_bytes()[..3], Format::Jsonl, 10)
                .skip_prefix(&cursor)
                .unwrap()
        );
        assert!(
            stream(text.as_bytes(), Format::Jsonl, 10)
                .skip_prefix(&cursor)
                .unwrap()
        );
    }

    #[test]
    fn an_overlong_line_is_an_error_for_that_line_and_the_rest_is_read() {
        let mut text = String::from("{\"text\": \"before\"}\n{\"text\": \"");
        text.push_str(&"x".repeat(3 * MAX_UNIT_BYTES));
        text.push_str("\"}\n{\"text\": \"after\"}\n");
        let (units, errors, _, end) = read_all(stream(text.as_bytes(), Format::Jsonl, 1 << 16));
        let texts: Vec<&str> = units.iter().map(|(_, u)| u.text.as_str()).collect();
        assert_eq!(texts, ["before", "after"]);
        assert_eq!(units[1].1.record_index, Some(2));
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].position,
            Position::Line {
                line: 2,
                column: None
            }
        );
        assert_eq!(end.bytes, text.len() as u64);
    }

    #[test]
    fn invalid_utf8_in_jsonl_fails_only_its_line() {
        let bytes = b"{\"text\": \"a\"}\n{\"text\": \"\xff\"}\n{\"text\": \"c\"}\n";
        let (units, errors, _, _) = read_all(stream(bytes, Format::Jsonl, 1 << 16));
        assert_eq!(units.len(), 2);
        assert_eq!(units[1].1.record_index, Some(2));
        assert_eq!(
            errors[0].position,
            Position::Line {
                line: 2,
                column: Some(11)
            }
        );
    }

    #[test]
    fn empty_binary_and_textless_inputs_are_whole_input_errors() {
        for (bytes, format, reason) in [
            (&b"  \n\n"[..], Format::Jsonl, "empty file"),
            (&b""[..], Format::Text, "empty file"),
            (&b"ab\x00cd\n"[..], Format::Text, "binary"),
            (&b"id,text\n"[..], Format::Csv, "no text found"),
        ] {
            let (units, errors, _, _) = read_all(stream(bytes, format, 1 << 16));
            assert!(units.is_empty());
            assert_eq!(errors.len(), 1, "{reason}");
            assert!(errors[0].reason.contains(reason), "{}", errors[0].reason);
        }
    }
}
