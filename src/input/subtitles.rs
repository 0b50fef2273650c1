//! WebVTT and SRT subtitle files from transcription services: one unit per cue, cue times
//! kept in milliseconds. The speaker comes from a WebVTT voice tag (`<v Name>`) or a `Name:`
//! prefix. A cue's text is its payload lines without markup and speaker label; offsets index
//! that text.

use std::sync::LazyLock;

use regex::Regex;

use super::text::parse_clock;
use super::{ChunkContext, Document, Parsed, Unit, check_unit_size, split_speaker_prefix};
use crate::error::{InputError, Position};

static TIMING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})",
    )
    .expect("static regex is valid")
});
static VOICE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^<v(?:\.[^ >]*)?\s+([^>]+)>").expect("static regex is valid"));
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"</?[^>]*>").expect("static regex is valid"));

/// A block of non-blank lines with the 1-based number of its first line.
fn blocks(text: &str, first_line: u64) -> Vec<(u64, Vec<&str>)> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut start = 0u64;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push((start, std::mem::take(&mut current)));
            }
        } else {
            if current.is_empty() {
                start = first_line + i as u64 + 1;
            }
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

struct Cue {
    line: u64,
    id: Option<String>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    payload: Vec<String>,
}

/// Splits a block into identifier, timing and payload. Errors name the block's line.
fn cue(block_line: u64, lines: &[&str], path: &str, record: u64) -> Result<Cue, InputError> {
    let timing_at = lines
        .iter()
        .position(|l| l.contains("-->"))
        .filter(|&i| i <= 1);
    let Some(t) = timing_at else {
        return Err(InputError::new(
            path,
            Position::Record {
                record,
                line: block_line,
            },
            "cue without a timing line (`00:00:01.000 --> 00:00:04.000`)",
        ));
    };
    let caps = TIMING.captures(lines[t]).ok_or_else(|| {
        InputError::new(
            path,
            Position::Line {
                line: block_line + t as u64,
                column: None,
            },
            format!("malformed cue timing {:?}", lines[t]),
        )
    })?;
    Ok(Cue {
        line: block_line,
        id: (t == 1).then(|| lines[0].trim().to_string()),
        start_ms: parse_clock(&caps[1]),
        end_ms: parse_clock(&caps[2]),
        payload: lines[t + 1..].iter().map(|s| s.to_string()).collect(),
    })
}

/// Turns a cue payload into a unit: voice tag or `Name:` prefix as speaker, markup removed.
fn unit_from_cue(cue: Cue, record_index: u64, path: &str) -> Result<Option<Unit>, InputError> {
    let mut speaker = None;
    let mut lines = Vec::new();
    for (i, raw) in cue.payload.iter().enumerate() {
        let mut line = raw.trim().to_string();
        if let Some(caps) = VOICE.captures(&line) {
            if speaker.is_none() {
                speaker = Some(caps[1].trim().to_string());
            }
            line = line[caps.get(0).map_or(0, |m| m.end())..].to_string();
        }
        let mut line = TAG.replace_all(&line, "").into_owned();
        line = line
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&nbsp;", " ");
        if i == 0
            && speaker.is_none()
            && let Some((name, start)) = split_speaker_prefix(&line)
        {
            speaker = Some(name);
            line = line[start..].to_string();
        }
        let line = line.trim();
        if !line.is_empty() {
            lines.push(line.to_string());
        }
    }
    let text = lines.join("\n");
    if text.is_empty() {
        return Ok(None);
    }
    check_unit_size(
        &text,
        path,
        Position::Record {
            record: record_index + 1,
            line: cue.line,
        },
    )?;
    Ok(Some(Unit {
        text,
        record_index: Some(record_index),
        record_id: cue.id,
        speaker,
        cue_start_ms: cue.start_ms,
        cue_end_ms: cue.end_ms,
        line: cue.line,
        ..Unit::default()
    }))
}

pub(super) fn parse_vtt(text: &str, path: &str, doc_id: &str) -> Result<Parsed, InputError> {
    parse_vtt_chunk(text, path, doc_id, &mut ChunkContext::default())
}

/// One chunk of a WebVTT file cut between cues: only the first holds the `WEBVTT` header.
pub(super) fn parse_vtt_chunk(
    text: &str,
    path: &str,
    doc_id: &str,
    context: &mut ChunkContext,
) -> Result<Parsed, InputError> {
    let text = text.trim_start_matches('\u{feff}');
    let all = blocks(text, context.lines);
    let first = context.lines == 0;
    let Some((_, header)) = all.first() else {
        if first {
            return Err(InputError::file(path, "empty WebVTT file"));
        }
        return Ok(units_from_blocks([].iter(), path, doc_id, context));
    };
    if !first {
        return Ok(units_from_blocks(cues_only(&all), path, doc_id, context));
    }
    if !header[0].starts_with("WEBVTT") {
        return Err(InputError::new(
            path,
            Position::Line {
                line: 1,
                column: None,
            },
            "a WebVTT file must start with `WEBVTT`",
        ));
    }
    Ok(units_from_blocks(
        cues_only(&all[1..]),
        path,
        doc_id,
        context,
    ))
}

/// Blocks that are cues, not comments, styles or regions.
fn cues_only<'a>(
    blocks: &'a [(u64, Vec<&'a str>)],
) -> impl Iterator<Item = &'a (u64, Vec<&'a str>)> {
    blocks.iter().filter(|(_, lines)| {
        !["NOTE", "STYLE", "REGION"]
            .iter()
            .any(|k| lines[0].starts_with(k))
    })
}

pub(super) fn parse_srt(text: &str, path: &str, doc_id: &str) -> Result<Parsed, InputError> {
    parse_srt_chunk(text, path, doc_id, &mut ChunkContext::default())
}

/// One chunk of an SRT file cut between cues.
pub(super) fn parse_srt_chunk(
    text: &str,
    path: &str,
    doc_id: &str,
    context: &mut ChunkContext,
) -> Result<Parsed, InputError> {
    let text = text.trim_start_matches('\u{feff}');
    let all = blocks(text, context.lines);
    Ok(units_from_blocks(all.iter(), path, doc_id, context))
}

/// Cues numbered on from `context.records`, which is advanced past them.
fn units_from_blocks<'a>(
    blocks: impl Iterator<Item = &'a (u64, Vec<&'a str>)>,
    path: &str,
    doc_id: &str,
    context: &mut ChunkContext,
) -> Parsed {
    let mut units = Vec::new();
    let mut errors = Vec::new();
    for (line, lines) in blocks {
        let record_index = context.records;
        context.records += 1;
        match cue(*line, lines, path, record_index + 1)
            .and_then(|c| unit_from_cue(c, record_index, path))
        {
            Ok(Some(unit)) => units.push(unit),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    Parsed {
        documents: vec![Document {
            doc_id: doc_id.to_string(),
            metadata: Default::default(),
            units,
        }],
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt_voice_tags_prefixes_notes_and_times() {
        let text = "WEBVTT\n\nNOTE recorded at the board\n\n1\n00:00:01.000 --> 00:00:05.500 align:start\n<v Cllr Patel>We pooled the <i>whole</i> budget.</v>\n\n2\n00:00:06.000 --> 00:00:08.000\nChair: Thank you &amp; next item.\nSecond line.\n\n00:00:09.000 --> 00:00:10.000\n\n";
        let parsed = parse_vtt(text, "b.vtt", "b").unwrap();
        let units = &parsed.documents[0].units;
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].speaker.as_deref(), Some("Cllr Patel"));
        assert_eq!(units[0].text, "We pooled the whole budget.");
        assert_eq!(units[0].cue_start_ms, Some(1_000));
        assert_eq!(units[0].cue_end_ms, Some(5_500));
        assert_eq!(units[0].record_id.as_deref(), Some("1"));
        assert_eq!(units[1].speaker.as_deref(), Some("Chair"));
        assert_eq!(units[1].text, "Thank you & next item.\nSecond line.");
    }

    #[test]
    fn srt_cues_and_bad_timing() {
        let text = "1\r\n00:00:01,000 --> 00:00:04,200\r\nFinance Officer: Savings of £4m.\r\n\r\n2\r\nnot a timing\r\nText\r\n\r\n3\r\n00:01:00,000 --> 00:01:02,000\r\nTwo\r\nlines\r\n";
        let parsed = parse_srt(text, "f.srt", "f").unwrap();
        let units = &parsed.documents[0].units;
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].speaker.as_deref(), Some("Finance Officer"));
        assert_eq!(units[0].text, "Savings of £4m.");
        assert_eq!(units[1].cue_start_ms, Some(60_000));
        assert_eq!(units[1].text, "Two\nlines");
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(
            parsed.errors[0].position,
            Position::Record { record: 2, line: 5 }
        );
    }

    #[test]
    fn vtt_without_header_is_rejected() {
        assert!(parse_vtt("1\n00:00:01.000 --> 00:00:02.000\nhi\n", "x.vtt", "x").is_err());
    }
}
