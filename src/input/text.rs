//! Plain-text transcripts: an optional metadata header between `---` fences, then one speaker
//! turn per paragraph (`Name: text`), sometimes with a timestamp (`[00:12:31] Name: text`).
//!
//! Offsets index the whole decoded file, header and any byte-order mark included. A paragraph
//! without a speaker label continues with the previous speaker; a label is accepted when it is
//! a common role (Interviewer, Respondent, P07, ...) or opens at least two turns in the file,
//! so that "The point is: ..." in running text is not taken for a speaker.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use regex::Regex;

use super::{ChunkContext, Document, Parsed, Unit, check_unit_size};
use crate::error::{InputError, Position};

/// A leading timestamp, a name of up to 40 characters, optionally a timestamp, then a colon.
static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[\[(]?(?P<ts>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)[\])]?\s+)?(?P<name>[^\s:\[\]()][^:\n]{0,39}?)\s*(?:[\[(](?P<ts2>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)[\])])?\s*:(?:[ \t]+|$)",
    )
    .expect("static regex is valid")
});

/// A speaker line without a colon, as transcription services export it (`Speaker 1  0:05`,
/// `Jane Smith 01:02:03`): a name and a clock time alone on the line; the text follows below.
static NAME_AND_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<name>[^\s:\[\]()][^:\n]{0,39}?)\s+[\[(]?(?P<ts>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)[\])]?\s*$")
        .expect("static regex is valid")
});

/// Speaker names accepted even when they open only one turn.
static ROLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(interviewer|interviewee|respondent|participant|moderator|facilitator|researcher|chair|speaker\s*\d*|int|resp|[iqarp]|[a-z]{1,3}\d{1,4}|(p|r|participant|respondent)\s*\d{1,4})(\s*\(.*\))?$")
        .expect("static regex is valid")
});

struct Line {
    byte_start: usize,
    /// End of the line's content, before `\r\n` or `\n`.
    byte_end: usize,
    char_start: u64,
    number: u64,
}

fn lines(text: &str, base: &ChunkContext) -> Vec<Line> {
    let mut out = Vec::new();
    let mut byte_start = 0;
    let mut char_start = base.chars;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let content = raw.strip_suffix('\n').unwrap_or(raw);
        let content = content.strip_suffix('\r').unwrap_or(content);
        out.push(Line {
            byte_start,
            byte_end: byte_start + content.len(),
            char_start,
            number: base.lines + i as u64 + 1,
        });
        byte_start += raw.len();
        char_start += raw.chars().count() as u64;
    }
    out
}

/// A speaker label found at the start of a line.
struct Label {
    name: String,
    /// Byte offset in the line where the spoken text starts.
    text_offset: usize,
    timestamp_ms: Option<i64>,
}

fn find_label(line: &str) -> Option<Label> {
    let caps = LABEL
        .captures(line)
        .or_else(|| NAME_AND_TIME.captures(line))?;
    let name = caps.name("name")?.as_str().trim();
    if !super::is_plausible_speaker(name) {
        return None;
    }
    let ts = caps.name("ts").or(caps.name("ts2"));
    Some(Label {
        name: name.to_string(),
        text_offset: caps.get(0)?.end(),
        timestamp_ms: ts.and_then(|m| parse_clock(m.as_str())),
    })
}

/// Parses `h:mm:ss.mmm`, `mm:ss` and similar clock times into milliseconds.
pub(super) fn parse_clock(s: &str) -> Option<i64> {
    let (clock, frac) = match s.find(['.', ',']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut total: i64 = 0;
    for part in clock.split(':') {
        total = total * 60 + part.trim().parse::<i64>().ok()?;
    }
    let millis = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32)
    };
    Some(total * 1000 + millis)
}

fn is_blank(s: &str) -> bool {
    s.chars().all(|c| c.is_whitespace() || c == '\u{feff}')
}

pub(super) fn parse(text: &str, path: &str, doc_id: &str) -> Result<Parsed, InputError> {
    parse_chunk(text, path, doc_id, &mut ChunkContext::default())
}

/// Parses one chunk of a transcript cut at a paragraph boundary: the header is read only from
/// the first chunk, offsets and line numbers follow on from `context`, and the speaker of the
/// last turn carries over to the next chunk. A label is accepted when it opens at least two
/// turns in its chunk (chunks are several MB, so in practice in its file).
pub(super) fn parse_chunk(
    text: &str,
    path: &str,
    doc_id: &str,
    context: &mut ChunkContext,
) -> Result<Parsed, InputError> {
    let lines = lines(text, context);
    let line_str = |l: &Line| &text[l.byte_start..l.byte_end];
    let (metadata, body) = if context.lines == 0 && context.chars == 0 {
        let (metadata, body_start) = parse_header(text, &lines, path)?;
        context.carry.metadata = Some(metadata.clone());
        (metadata, &lines[body_start..])
    } else {
        (
            context.carry.metadata.clone().unwrap_or_default(),
            &lines[..],
        )
    };

    let mut label_counts: HashMap<String, usize> = HashMap::new();
    for line in body {
        if let Some(label) = find_label(line_str(line)) {
            *label_counts.entry(label.name).or_default() += 1;
        }
    }
    let accepted =
        |name: &str| label_counts.get(name).is_some_and(|&n| n >= 2) || ROLE.is_match(name);

    let mut units: Vec<Unit> = Vec::new();
    let mut errors = Vec::new();
    let mut speaker: Option<String> = context.carry.speaker.take();
    let mut timestamp: Option<i64> = None;
    // The turn being built: (byte start, byte end, char start, line, timestamp).
    let mut open: Option<(usize, usize, u64, u64, Option<i64>)> = None;
    let close = |open: &mut Option<(usize, usize, u64, u64, Option<i64>)>,
                 speaker: &Option<String>,
                 units: &mut Vec<Unit>,
                 errors: &mut Vec<InputError>| {
        if let Some((start, end, char_start, line, ts)) = open.take() {
            let turn = &text[start..end];
            if let Err(e) = check_unit_size(turn, path, Position::Line { line, column: None }) {
                errors.push(e);
                return;
            }
            units.push(Unit {
                text: turn.to_string(),
                char_start,
                speaker: speaker.clone(),
                cue_start_ms: ts,
                line,
                ..Unit::default()
            });
        }
    };

    for line in body {
        let content = line_str(line);
        if is_blank(content) {
            close(&mut open, &speaker, &mut units, &mut errors);
            continue;
        }
        let label = find_label(content).filter(|l| accepted(&l.name));
        let text_offset = match &label {
            Some(l) => {
                close(&mut open, &speaker, &mut units, &mut errors);
                speaker = Some(l.name.clone());
                // Kept until the turn's text starts, which may be on a later line.
                timestamp = l.timestamp_ms;
                l.text_offset
            }
            None => 0,
        };
        let spoken = &content[text_offset..];
        let lead = spoken.len()
            - spoken
                .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                .len();
        let start = line.byte_start + text_offset + lead;
        let end = line.byte_start + content.trim_end().len();
        if start >= end {
            continue; // a label alone on its line: the text follows on the next line
        }
        match &mut open {
            Some(turn) => turn.1 = end,
            None => {
                let char_start =
                    line.char_start + content[..text_offset + lead].chars().count() as u64;
                open = Some((start, end, char_start, line.number, timestamp.take()));
            }
        }
    }
    close(&mut open, &speaker, &mut units, &mut errors);
    context.carry.speaker = speaker;

    Ok(Parsed {
        documents: vec![Document {
            doc_id: metadata
                .get("doc_id")
                .cloned()
                .unwrap_or_else(|| doc_id.to_string()),
            metadata,
            units,
        }],
        errors,
    })
}

/// Reads `key: value` lines between `---` fences at the top of the file. Returns the metadata
/// and the index of the first body line.
fn parse_header(
    text: &str,
    lines: &[Line],
    path: &str,
) -> Result<(BTreeMap<String, String>, usize), InputError> {
    let line_str = |l: &Line| {
        text[l.byte_start..l.byte_end]
            .trim_start_matches('\u{feff}')
            .trim()
    };
    let Some(first) = lines.iter().position(|l| !line_str(l).is_empty()) else {
        return Ok((BTreeMap::new(), 0));
    };
    if line_str(&lines[first]) != "---" {
        return Ok((BTreeMap::new(), 0));
    }
    let mut metadata = BTreeMap::new();
    for line in &lines[first + 1..] {
        let content = line_str(line);
        if content == "---" {
            return Ok((metadata, line.number as usize));
        }
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        match content.split_once(':') {
            Some((key, value)) if !key.trim().is_empty() => {
                let value = value.trim().trim_matches('"').to_string();
                metadata.insert(key.trim().to_string(), value);
            }
            _ => {
                return Err(InputError::new(
                    path,
                    Position::Line {
                        line: line.number,
                        column: None,
                    },
                    "metadata header lines must be `key: value`",
                ));
            }
        }
    }
    Err(InputError::new(
        path,
        Position::Line {
            line: lines[first].number,
            column: None,
        },
        "metadata header opened with `---` is never closed by a second `---`",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(text: &str, unit: &Unit) -> String {
        text.chars()
            .skip(unit.char_start as usize)
            .take(unit.text.chars().count())
            .collect()
    }

    #[test]
    fn header_and_turns_with_exact_offsets() {
        let text = "\u{feff}---\r\nsite: North\r\nrole: GP\r\n---\r\n\r\nInterviewer: How did it start?\r\n\r\nRespondent: We pooled the budget.\r\nIt took years.\r\n\r\nAnd then it was café time 🙂.\r\n";
        let parsed = parse(text, "t.txt", "t").unwrap();
        let doc = &parsed.documents[0];
        assert_eq!(doc.metadata["site"], "North");
        assert_eq!(doc.metadata["role"], "GP");
        assert_eq!(doc.units.len(), 3);
        assert_eq!(doc.units[0].text, "How did it start?");
        assert_eq!(doc.units[0].speaker.as_deref(), Some("Interviewer"));
        assert_eq!(doc.units[1].text, "We pooled the budget.\r\nIt took years.");
        assert_eq!(doc.units[2].speaker.as_deref(), Some("Respondent"));
        for unit in &doc.units {
            assert_eq!(slice(text, unit), unit.text);
        }
    }

    #[test]
    fn timestamps_and_one_off_colons() {
        let text = "[00:12:31] Interviewer: Tell me more.\nDr Jones: Well. The point is: money.\nThe point is: we pooled.\nDr Jones: yes\n";
        let doc = &parse(text, "t.txt", "t").unwrap().documents[0];
        assert_eq!(doc.units[0].cue_start_ms, Some(751_000));
        assert_eq!(doc.units[1].speaker.as_deref(), Some("Dr Jones"));
        // "The point is" opens one line only and is not a role: it continues Dr Jones's turn.
        assert!(doc.units[1].text.ends_with("we pooled."));
        assert_eq!(doc.units.len(), 3);
        for unit in &doc.units {
            assert_eq!(slice(text, unit), unit.text);
        }
    }

    #[test]
    fn label_on_its_own_line() {
        let text = "INTERVIEWER:\nSo, the pooled budget?\n\nR1: It saved money.";
        let doc = &parse(text, "t.txt", "t").unwrap().documents[0];
        assert_eq!(doc.units[0].speaker.as_deref(), Some("INTERVIEWER"));
        assert_eq!(doc.units[0].text, "So, the pooled budget?");
        assert_eq!(doc.units[1].speaker.as_deref(), Some("R1"));
        for unit in &doc.units {
            assert_eq!(slice(text, unit), unit.text);
        }
    }

    #[test]
    fn transcription_service_speaker_lines_without_colon() {
        let text = "Speaker 1  0:00\nSo how did the pooled budget start?\n\nSpeaker 2  0:05\nWith a row about money.\nA long one.\n\nSpeaker 1  1:10\nRight.\n";
        let doc = &parse(text, "otter.txt", "otter").unwrap().documents[0];
        let speakers: Vec<_> = doc
            .units
            .iter()
            .map(|u| u.speaker.as_deref().unwrap())
            .collect();
        assert_eq!(speakers, vec!["Speaker 1", "Speaker 2", "Speaker 1"]);
        assert_eq!(doc.units[1].text, "With a row about money.\nA long one.");
        assert_eq!(doc.units[1].cue_start_ms, Some(5_000));
        for unit in &doc.units {
            assert_eq!(slice(text, unit), unit.text);
        }
    }

    #[test]
    fn unclosed_header_is_an_error_with_line() {
        let err = parse("---\nsite: a\nInterviewer: hi\n", "t.txt", "t").unwrap_err();
        assert!(err.reason.contains("never closed"));
        assert_eq!(
            err.position,
            Position::Line {
                line: 1,
                column: None
            }
        );
    }

    #[test]
    fn clock_times() {
        assert_eq!(parse_clock("01:02:03.5"), Some(3_723_500));
        assert_eq!(parse_clock("2:03"), Some(123_000));
        assert_eq!(parse_clock("00:00:01,250"), Some(1_250));
    }
}
