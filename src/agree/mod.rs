//! `discotag agree`: agreement between two coders (a human and the model, or two humans), code
//! by code, with the statistics qualitative researchers report.
//!
//! # Brief overview
//!
//! [`coders`] reads each coder; [`compare`] finds the units both coded and builds, per code, the
//! 2x2 tables of [`align`] at two levels:
//!
//! * **segment level**, always: utterances matched by id, or the model's segments (or sentences
//!   of the source text when two project coders are compared) with a span coder's codes by the
//!   overlap rule of [`align::segment_carries`];
//! * **character level** (as NVivo computes it), when a coder codes spans of a REFI-QDA source.
//!
//! The statistics and bootstrap intervals come from [`crate::metrics::agreement`]; the review
//! queue is [`disagreements`]; the HTML report is [`crate::metrics::report`], fed by
//! [`report_input`].

pub mod align;
pub mod coders;
pub mod disagreements;
mod report_input;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::codebook::Codebook;
use crate::error::{Error, Result};
use crate::metrics::agreement::{self, CodeAgreement, MacroAgreement, StatisticIntervals};
use crate::metrics::classification::{Confusion, confusions};
use crate::segment::SegmentUnit;
use align::Span;
use coders::{Coder, CoderInput};

pub use report_input::report_input;

/// The default share of the shorter of segment and span that must overlap for a span coder's
/// code to count on a segment (`--min-overlap`).
pub const DEFAULT_MIN_OVERLAP: f64 = 0.5;

/// Thresholds at which the agreement curve of a scored candidate is computed.
pub const CURVE_THRESHOLDS: [f32; 19] = [
    0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80,
    0.85, 0.90, 0.95,
];

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct AgreeConfig {
    pub reference: CoderInput,
    pub candidate: CoderInput,
    /// The codes to compare; otherwise the dataset's codes, else every code either coder used.
    pub codebook: Option<Codebook>,
    /// See [`DEFAULT_MIN_OVERLAP`].
    pub min_overlap: f64,
    /// How source text is cut when two span coders are compared (`turn` or `sentence`).
    pub unit: SegmentUnit,
    /// Bootstrap replicates for the 95% intervals (0: none).
    pub bootstrap: usize,
    pub seed: u64,
}

/// One unit both coders coded, with both codings in code-list order.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedUnit {
    /// The matched key, or `source name [start, end)` for source segments.
    pub key: String,
    pub text: String,
    pub speaker: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Source name and code-point range, for source segments.
    pub place: Option<(String, u64, u64)>,
    pub reference: Vec<bool>,
    pub candidate: Vec<bool>,
    /// The candidate's scores in code-list order (a dataset candidate only).
    pub scores: Option<Vec<f32>>,
}

/// Agreement at one level (segments, or characters).
#[derive(Debug, Clone, Serialize)]
pub struct LevelAgreement {
    /// What a unit is at this level, in words.
    pub level: String,
    pub n_units: u64,
    pub per_code: BTreeMap<String, CodeAgreement>,
    #[serde(rename = "macro")]
    pub macro_average: MacroAgreement,
    /// Bootstrap 95% intervals per code and for the macro average.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<LevelIntervals>,
    /// The 2x2 tables the statistics come from, per code.
    pub tables: BTreeMap<String, Confusion>,
    /// Character level only: the statistics per source and code, as NVivo's coding comparison
    /// reports them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_source: BTreeMap<String, BTreeMap<String, CodeAgreement>>,
}

/// Bootstrap 95% percentile intervals of one level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelIntervals {
    pub replicates: usize,
    pub seed: u64,
    pub per_code: BTreeMap<String, StatisticIntervals>,
    #[serde(rename = "macro")]
    pub macro_average: StatisticIntervals,
}

/// One point of a threshold curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub threshold: f32,
    pub cohen_kappa: f64,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
}

/// The result of `discotag agree`.
#[derive(Debug, Clone)]
pub struct Agreement {
    pub codes: Vec<String>,
    pub reference_name: String,
    pub candidate_name: String,
    /// The model that made the candidate dataset, if the candidate is one.
    pub candidate_model_id: Option<String>,
    pub segment: LevelAgreement,
    pub character: Option<LevelAgreement>,
    pub min_overlap: Option<f64>,
    pub unmatched_reference: u64,
    pub unmatched_candidate: u64,
    /// Per code, when the candidate has scores.
    pub curves: BTreeMap<String, Vec<CurvePoint>>,
    /// The model's thresholds by code name, marked on the curves; the caller sets them
    /// (see [`Agreement::candidate_model_id`]).
    pub thresholds: Option<HashMap<String, f32>>,
    pub units: Vec<ComparedUnit>,
    pub notes: Vec<String>,
}

/// The `agree --json` object: the contract of product.md (`n_units`, `per_code` with
/// `percent_agreement`, `cohen_kappa`, `krippendorff_alpha`, `precision`, `recall`, `f1`, and
/// `macro`) at segment level, plus the character level, intervals and curves when there are.
#[derive(Debug, Serialize)]
pub struct AgreementJson<'a> {
    pub n_units: u64,
    pub reference: &'a str,
    pub candidate: &'a str,
    pub level: &'a str,
    pub per_code: &'a BTreeMap<String, CodeAgreement>,
    #[serde(rename = "macro")]
    pub macro_average: &'a MacroAgreement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals: Option<&'a LevelIntervals>,
    pub tables: &'a BTreeMap<String, Confusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_overlap: Option<f64>,
    pub unmatched_reference: u64,
    pub unmatched_candidate: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub character_level: Option<&'a LevelAgreement>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub threshold_curve: &'a BTreeMap<String, Vec<CurvePoint>>,
    pub notes: &'a [String],
}

impl Agreement {
    /// The `--json` view.
    pub fn json(&self) -> AgreementJson<'_> {
        AgreementJson {
            n_units: self.segment.n_units,
            reference: &self.reference_name,
            candidate: &self.candidate_name,
            level: &self.segment.level,
            per_code: &self.segment.per_code,
            macro_average: &self.segment.macro_average,
            intervals: self.segment.intervals.as_ref(),
            tables: &self.segment.tables,
            min_overlap: self.min_overlap,
            unmatched_reference: self.unmatched_reference,
            unmatched_candidate: self.unmatched_candidate,
            character_level: self.character.as_ref(),
            threshold_curve: &self.curves,
            notes: &self.notes,
        }
    }
}

/// The codes compared, and how each coder's code names map onto them.
#[derive(Debug, Clone)]
pub struct CodeList {
    pub names: Vec<String>,
    /// Whether the list is fixed (a codebook or a dataset's codes): then unknown codes in
    /// labelled utterances are errors and unknown project codes are ignored.
    pub fixed: bool,
}

impl CodeList {
    fn choose(codebook: Option<&Codebook>, reference: &Coder, candidate: &Coder) -> Self {
        if let Some(codebook) = codebook {
            return CodeList {
                names: codebook.code_names(),
                fixed: true,
            };
        }
        for coder in [candidate, reference] {
            if let Some(codes) = &coder.dataset_codes {
                return CodeList {
                    names: codes.clone(),
                    fixed: true,
                };
            }
        }
        let mut names: Vec<String> = Vec::new();
        let used = [reference, candidate].into_iter().flat_map(|c| {
            c.units
                .iter()
                .flat_map(|u| u.codes.iter())
                .chain(c.spans.iter().map(|s| &s.code))
        });
        for name in used {
            if !names.iter().any(|n| n == name) {
                names.push(name.clone());
            }
        }
        names.sort();
        CodeList {
            names,
            fixed: false,
        }
    }

    /// The index of a coder's code name: exact, else ignoring case, else, for a hierarchical
    /// name (`Discourses/Empowerment/co-production`), its last part, then each enclosing code
    /// from the innermost out, so that a sub-code counts as its parent code in the list.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.match_name(name).map(|(index, _)| index)
    }

    /// As [`CodeList::index_of`], and whether the name matched through an enclosing code.
    fn match_name(&self, name: &str) -> Option<(usize, bool)> {
        let same = |candidate: &str| {
            self.names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(candidate.trim()))
        };
        if let Some(exact) = self
            .names
            .iter()
            .position(|n| n == name)
            .or_else(|| same(name))
        {
            return Some((exact, false));
        }
        let mut parts: Vec<&str> = name.split(['/', '\\']).collect();
        let leaf = parts.pop()?;
        if let Some(index) = same(leaf) {
            return Some((index, false));
        }
        parts
            .iter()
            .rev()
            .find_map(|part| same(part))
            .map(|index| (index, true))
    }
}

/// Compares two coders.
///
/// # Errors
/// When an input cannot be read, labelled utterances use a code outside a fixed code list, or
/// the coders share no unit.
pub fn compare(config: &AgreeConfig) -> Result<Agreement> {
    if !(0.0..=1.0).contains(&config.min_overlap) {
        return Err(Error::Usage(format!(
            "--min-overlap {} must be between 0 and 1",
            config.min_overlap
        )));
    }
    if config.unit == SegmentUnit::Window {
        return Err(Error::Usage(
            "--unit window needs the model's tokenizer; compare coders by `sentence` or `turn`"
                .into(),
        ));
    }
    let reference = coders::load(&config.reference)?;
    let candidate = coders::load(&config.candidate)?;
    let codes = CodeList::choose(config.codebook.as_ref(), &reference, &candidate);
    if codes.names.is_empty() {
        return Err(Error::Usage(
            "neither coder used any code and no --codebook was given: nothing to compare".into(),
        ));
    }
    let mut notes: Vec<String> = reference
        .notes
        .iter()
        .chain(&candidate.notes)
        .cloned()
        .collect();
    for coder in [&reference, &candidate] {
        check_codes(coder, &codes, &mut notes)?;
    }

    let matched = match (reference.is_spans(), candidate.is_spans()) {
        (false, false) => match_units(&reference, &candidate, &codes)?,
        (true, false) => span_against_units(&reference, &candidate, &codes, config, false)?,
        (false, true) => span_against_units(&candidate, &reference, &codes, config, true)?,
        (true, true) => spans_against_spans(&reference, &candidate, &codes, config)?,
    };
    if matched.units.is_empty() {
        return Err(Error::Data {
            path: reference.name.clone().into(),
            reason: format!(
                "no unit in common with {} (units are matched by id, or by REFI-QDA source and position)",
                candidate.name
            ),
        });
    }

    let unit_tables: Vec<Vec<Confusion>> = matched
        .units
        .iter()
        .map(|u| {
            agreement::unit_tables(&u.reference, &u.candidate)
                .expect("both codings are in code-list order")
        })
        .collect();
    let segment = level(
        matched.level_name.clone(),
        &codes.names,
        &unit_tables,
        config,
    );
    let character = matched.char_blocks.as_ref().map(|blocks| {
        let mut character = level("characters (NVivo)".into(), &codes.names, blocks, config);
        character.per_source = matched
            .source_tables
            .iter()
            .map(|(source, tables)| {
                let stats = codes
                    .names
                    .iter()
                    .cloned()
                    .zip(tables.iter().map(CodeAgreement::from_confusion))
                    .collect();
                (source.clone(), stats)
            })
            .collect();
        character
    });
    let curves = threshold_curves(&matched.units, &codes.names);
    notes.extend(matched.notes);
    Ok(Agreement {
        codes: codes.names,
        reference_name: reference.name,
        candidate_name: candidate.name,
        candidate_model_id: candidate.model_id,
        segment,
        character,
        min_overlap: matched.char_blocks.is_some().then_some(config.min_overlap),
        unmatched_reference: matched.unmatched_reference,
        unmatched_candidate: matched.unmatched_candidate,
        curves,
        thresholds: None,
        units: matched.units,
        notes,
    })
}

/// Labelled utterances must use known codes when the code list is fixed; project codes outside
/// it are ignored, with a note.
fn check_codes(coder: &Coder, codes: &CodeList, notes: &mut Vec<String>) -> Result<()> {
    if !codes.fixed {
        return Ok(());
    }
    for unit in &coder.units {
        if let Some(unknown) = unit.codes.iter().find(|c| codes.index_of(c).is_none()) {
            return Err(Error::Data {
                path: unit.origin.clone().into(),
                reason: format!(
                    "unknown code {unknown:?}; the codes compared are {}",
                    codes.names.join(", ")
                ),
            });
        }
    }
    let mut ignored: Vec<&str> = coder
        .spans
        .iter()
        .map(|s| s.code.as_str())
        .filter(|c| codes.index_of(c).is_none())
        .collect();
    ignored.sort_unstable();
    ignored.dedup();
    let mut rolled_up: Vec<String> = coder
        .spans
        .iter()
        .filter_map(|s| match codes.match_name(&s.code) {
            Some((index, true)) => Some(format!("{} as {}", s.code, codes.names[index])),
            _ => None,
        })
        .collect();
    rolled_up.sort_unstable();
    rolled_up.dedup();
    if !rolled_up.is_empty() {
        notes.push(format!(
            "{}: sub-codes counted as their parent code: {}",
            coder.name,
            rolled_up.join(", ")
        ));
    }
    if !ignored.is_empty() {
        notes.push(format!(
            "{}: codes outside the compared list were ignored: {}",
            coder.name,
            ignored.join(", ")
        ));
    }
    Ok(())
}

fn code_vector(names: &[String], codes: &CodeList) -> Vec<bool> {
    let mut out = vec![false; codes.names.len()];
    for name in names {
        if let Some(i) = codes.index_of(name) {
            out[i] = true;
        }
    }
    out
}

/// The names of the codes set in `flags` (code-list order): the inverse of `code_vector`.
fn code_names<'a>(codes: &'a [String], flags: &[bool]) -> Vec<&'a str> {
    codes
        .iter()
        .zip(flags)
        .filter(|(_, on)| **on)
        .map(|(c, _)| c.as_str())
        .collect()
}

fn score_vector(scores: &HashMap<String, f32>, codes: &CodeList) -> Option<Vec<f32>> {
    codes
        .names
        .iter()
        .map(|name| scores.get(name).copied())
        .collect()
}

/// What matching produced.
struct Matched {
    level_name: String,
    units: Vec<ComparedUnit>,
    /// Character-level blocks (one per segment) with a table per code, for span coders.
    char_blocks: Option<Vec<Vec<Confusion>>>,
    /// Character-level tables per code of each source, by source name.
    source_tables: BTreeMap<String, Vec<Confusion>>,
    unmatched_reference: u64,
    unmatched_candidate: u64,
    notes: Vec<String>,
}

/// Two unit coders: matched by key.
fn match_units(reference: &Coder, candidate: &Coder, codes: &CodeList) -> Result<Matched> {
    let by_key: HashMap<&str, &coders::CodedUnit> = candidate
        .units
        .iter()
        .map(|u| (u.key.as_str(), u))
        .collect();
    let mut units = Vec::new();
    for r in &reference.units {
        let Some(c) = by_key.get(r.key.as_str()) else {
            continue;
        };
        let (speaker, metadata) = merged_context(r, c);
        units.push(ComparedUnit {
            key: r.key.clone(),
            text: r.text.clone(),
            speaker,
            metadata,
            place: None,
            reference: code_vector(&r.codes, codes),
            candidate: code_vector(&c.codes, codes),
            scores: score_vector(&c.scores, codes),
        });
    }
    let n = units.len() as u64;
    Ok(Matched {
        level_name: "utterances matched by id".into(),
        units,
        char_blocks: None,
        source_tables: BTreeMap::new(),
        unmatched_reference: reference.units.len() as u64 - n,
        unmatched_candidate: candidate.units.len() as u64 - n,
        notes: Vec::new(),
    })
}

/// Speaker and metadata of a matched unit: the reference's, completed by the candidate's.
fn merged_context(
    r: &coders::CodedUnit,
    c: &coders::CodedUnit,
) -> (Option<String>, BTreeMap<String, String>) {
    let mut metadata = c.metadata.clone();
    metadata.extend(r.metadata.clone());
    (r.speaker.clone().or_else(|| c.speaker.clone()), metadata)
}

/// Each coder's merged spans per (source GUID, code index).
fn span_index(coder: &Coder, codes: &CodeList) -> HashMap<(String, usize), Vec<Span>> {
    let mut out: HashMap<(String, usize), Vec<Span>> = HashMap::new();
    for span in &coder.spans {
        if let Some(code) = codes.index_of(&span.code) {
            out.entry((span.source.clone(), code))
                .or_default()
                .push((span.start, span.end));
        }
    }
    out
}

/// A segment of a source with the two codings, before statistics.
struct SourceSegment {
    span: Span,
    unit: ComparedUnit,
}

/// What the sources of a span comparison add up to.
#[derive(Default)]
struct SourceResults {
    units: Vec<ComparedUnit>,
    /// Character-level bootstrap blocks, each with a table per code.
    blocks: Vec<Vec<Confusion>>,
    /// Character-level tables per code of each source, by source name.
    source_tables: BTreeMap<String, Vec<Confusion>>,
}

/// Adds the compared units, character blocks and tables of one source from its segments.
fn source_level(
    source: &coders::SourceText,
    segments: Vec<SourceSegment>,
    reference_spans: &HashMap<(String, usize), Vec<Span>>,
    candidate_spans: &HashMap<(String, usize), Vec<Span>>,
    codes: &CodeList,
    results: &mut SourceResults,
) {
    let length = source.text.chars().count() as u64;
    let merged = |index: &HashMap<(String, usize), Vec<Span>>, code: usize| {
        align::merge(
            index
                .get(&(source.guid.clone(), code))
                .cloned()
                .unwrap_or_default(),
        )
    };
    let per_code: Vec<(Vec<Span>, Vec<Span>)> = (0..codes.names.len())
        .map(|c| (merged(reference_spans, c), merged(candidate_spans, c)))
        .collect();
    let starts: Vec<u64> = segments.iter().map(|s| s.span.0).collect();
    let first_block = results.blocks.len();
    for block in align::blocks(&starts, length) {
        results.blocks.push(
            per_code
                .iter()
                .map(|(r, c)| align::char_confusion(r, c, block))
                .collect(),
        );
    }
    let mut name = source.name.clone();
    if results.source_tables.contains_key(&name) {
        name = format!("{} ({})", source.name, source.guid);
    }
    let tables = totals(&results.blocks[first_block..], codes.names.len());
    results.source_tables.insert(name, tables);
    results.units.extend(segments.into_iter().map(|s| s.unit));
}

/// Characters of `text` in `[start, end)`.
fn slice_chars(text: &str, start: u64, end: u64) -> String {
    text.chars()
        .skip(start as usize)
        .take(end.saturating_sub(start) as usize)
        .collect()
}

/// A span coder against a unit coder whose units sit in the same sources (a dataset made by
/// labelling the project): the unit coder's segments are the units.
fn span_against_units(
    spans: &Coder,
    units_coder: &Coder,
    codes: &CodeList,
    config: &AgreeConfig,
    spans_is_candidate: bool,
) -> Result<Matched> {
    let span_codes = span_index(spans, codes);
    let mut unit_spans: HashMap<(String, usize), Vec<Span>> = HashMap::new();
    let mut by_source: HashMap<&str, Vec<&coders::CodedUnit>> = HashMap::new();
    for unit in &units_coder.units {
        if let Some((guid, start, end)) = &unit.source_span {
            by_source.entry(guid.as_str()).or_default().push(unit);
            for name in &unit.codes {
                if let Some(code) = codes.index_of(name) {
                    unit_spans
                        .entry((guid.clone(), code))
                        .or_default()
                        .push((*start, *end));
                }
            }
        }
    }
    if by_source.is_empty() {
        return Err(Error::Usage(format!(
            "{} codes spans of REFI-QDA sources but {} has no segments placed in them: label the same .qdpx with `discotag label` and compare with that output",
            spans.name, units_coder.name
        )));
    }
    let mut results = SourceResults::default();
    let mut placed = 0u64;
    for source in &spans.sources {
        let Some(source_units) = by_source.get(source.guid.as_str()) else {
            continue;
        };
        let mut segments: Vec<SourceSegment> = source_units
            .iter()
            .filter_map(|u| {
                let (_, start, end) = u.source_span.clone()?;
                let span_side: Vec<bool> = (0..codes.names.len())
                    .map(|c| {
                        span_codes.get(&(source.guid.clone(), c)).is_some_and(|s| {
                            align::segment_carries((start, end), s, config.min_overlap)
                        })
                    })
                    .collect();
                let unit_side = code_vector(&u.codes, codes);
                let (reference, candidate) = if spans_is_candidate {
                    (unit_side, span_side)
                } else {
                    (span_side, unit_side)
                };
                Some(SourceSegment {
                    span: (start, end),
                    unit: ComparedUnit {
                        key: u.key.clone(),
                        text: u.text.clone(),
                        speaker: u.speaker.clone(),
                        metadata: u.metadata.clone(),
                        place: Some((source.name.clone(), start, end)),
                        reference,
                        candidate,
                        scores: if spans_is_candidate {
                            None
                        } else {
                            score_vector(&u.scores, codes)
                        },
                    },
                })
            })
            .collect();
        segments.sort_by_key(|s| s.span);
        placed += segments.len() as u64;
        let (reference_spans, candidate_spans) = if spans_is_candidate {
            (&unit_spans, &span_codes)
        } else {
            (&span_codes, &unit_spans)
        };
        source_level(
            source,
            segments,
            reference_spans,
            candidate_spans,
            codes,
            &mut results,
        );
    }
    let unmatched_units = units_coder.units.len() as u64 - placed;
    let sources_without_segments = spans
        .sources
        .iter()
        .filter(|s| !by_source.contains_key(s.guid.as_str()))
        .count() as u64;
    let mut notes = Vec::new();
    if sources_without_segments > 0 {
        notes.push(format!(
            "{sources_without_segments} source(s) of {} have no segments in {} and were left out",
            spans.name, units_coder.name
        ));
    }
    let (unmatched_reference, unmatched_candidate) = if spans_is_candidate {
        (unmatched_units, sources_without_segments)
    } else {
        (sources_without_segments, unmatched_units)
    };
    Ok(Matched {
        level_name: format!(
            "the model's segments ({} of the shorter overlap)",
            config.min_overlap
        ),
        units: results.units,
        char_blocks: Some(results.blocks),
        source_tables: results.source_tables,
        unmatched_reference,
        unmatched_candidate,
        notes,
    })
}

/// Two span coders: sources matched by GUID (else by name), cut into turns or sentences.
fn spans_against_spans(
    reference: &Coder,
    candidate: &Coder,
    codes: &CodeList,
    config: &AgreeConfig,
) -> Result<Matched> {
    let reference_spans = span_index(reference, codes);
    let mut candidate_spans = span_index(candidate, codes);
    // Sources of the candidate's project known by another GUID but the same name are re-keyed.
    for source in &candidate.sources {
        if let Some(same) = reference
            .sources
            .iter()
            .find(|r| r.guid != source.guid && r.name == source.name)
        {
            let keys: Vec<(String, usize)> = candidate_spans
                .keys()
                .filter(|(g, _)| *g == source.guid)
                .cloned()
                .collect();
            for key in keys {
                if let Some(spans) = candidate_spans.remove(&key) {
                    candidate_spans.insert((same.guid.clone(), key.1), spans);
                }
            }
        }
    }
    let in_candidate = |s: &coders::SourceText| {
        candidate
            .sources
            .iter()
            .any(|c| c.guid == s.guid || c.name == s.name)
    };
    let mut results = SourceResults::default();
    let mut notes = Vec::new();
    for source in reference.sources.iter().filter(|s| in_candidate(s)) {
        let segments = source_segments(source, config.unit)?;
        let segments = segments
            .into_iter()
            .map(|(start, end, speaker)| {
                let carries = |index: &HashMap<(String, usize), Vec<Span>>| -> Vec<bool> {
                    (0..codes.names.len())
                        .map(|c| {
                            index.get(&(source.guid.clone(), c)).is_some_and(|s| {
                                align::segment_carries((start, end), s, config.min_overlap)
                            })
                        })
                        .collect()
                };
                SourceSegment {
                    span: (start, end),
                    unit: ComparedUnit {
                        key: format!("{} [{start}, {end})", source.name),
                        text: slice_chars(&source.text, start, end),
                        speaker,
                        metadata: BTreeMap::new(),
                        place: Some((source.name.clone(), start, end)),
                        reference: carries(&reference_spans),
                        candidate: carries(&candidate_spans),
                        scores: None,
                    },
                }
            })
            .collect();
        source_level(
            source,
            segments,
            &reference_spans,
            &candidate_spans,
            codes,
            &mut results,
        );
    }
    let shared = reference.sources.iter().filter(|s| in_candidate(s)).count();
    if shared < reference.sources.len() || shared < candidate.sources.len() {
        notes.push(format!(
            "{shared} source(s) are in both projects; the others were left out"
        ));
    }
    Ok(Matched {
        level_name: format!(
            "{}s of the source text ({} of the shorter overlap)",
            match config.unit {
                SegmentUnit::Turn => "turn",
                _ => "sentence",
            },
            config.min_overlap
        ),
        units: results.units,
        char_blocks: Some(results.blocks),
        source_tables: results.source_tables,
        unmatched_reference: (reference.sources.len() - shared) as u64,
        unmatched_candidate: candidate.sources.len().saturating_sub(shared) as u64,
        notes,
    })
}

/// A source's text cut into speaker turns and, for `sentence`, sentences: (start, end, speaker)
/// in code points.
fn source_segments(
    source: &coders::SourceText,
    unit: SegmentUnit,
) -> Result<Vec<(u64, u64, Option<String>)>> {
    Ok(
        crate::input::source_segments(&source.text, &source.name, unit, None)
            .into_iter()
            .map(|s| (s.start, s.end, s.speaker))
            .collect(),
    )
}

/// The per-code totals of units' tables (zeros for no units).
fn totals(units: &[Vec<Confusion>], codes: usize) -> Vec<Confusion> {
    agreement::sum_units(units).unwrap_or_else(|_| vec![Confusion::default(); codes])
}

fn level(
    name: String,
    codes: &[String],
    units: &[Vec<Confusion>],
    config: &AgreeConfig,
) -> LevelAgreement {
    let tables = totals(units, codes.len());
    let per_code: Vec<CodeAgreement> = tables.iter().map(CodeAgreement::from_confusion).collect();
    let macro_average = agreement::macro_average(&per_code);
    let intervals = (config.bootstrap > 0)
        .then(|| agreement::bootstrap(units, config.bootstrap, config.seed).ok())
        .flatten()
        .map(|b| LevelIntervals {
            replicates: b.replicates,
            seed: b.seed,
            per_code: codes.iter().cloned().zip(b.per_code).collect(),
            macro_average: b.macro_average,
        });
    LevelAgreement {
        level: name,
        n_units: tables.first().map_or(0, |t| {
            t.true_positive + t.false_positive + t.false_negative + t.true_negative
        }),
        per_code: codes.iter().cloned().zip(per_code).collect(),
        macro_average,
        intervals,
        tables: codes.iter().cloned().zip(tables).collect(),
        per_source: BTreeMap::new(),
    }
}

/// Segment-level kappa, F1, precision and recall of the candidate's scores cut at each of
/// [`CURVE_THRESHOLDS`], per code; empty when the candidate has no scores.
fn threshold_curves(units: &[ComparedUnit], codes: &[String]) -> BTreeMap<String, Vec<CurvePoint>> {
    let mut out = BTreeMap::new();
    if units.is_empty() || units.iter().any(|u| u.scores.is_none()) {
        return out;
    }
    let reference: Vec<Vec<bool>> = units.iter().map(|u| u.reference.clone()).collect();
    let per_threshold: Vec<(f32, Vec<Confusion>)> = CURVE_THRESHOLDS
        .iter()
        .map(|&threshold| {
            let says: Vec<Vec<bool>> = units
                .iter()
                .filter_map(|u| u.scores.as_ref())
                .map(|s| s.iter().map(|&score| score >= threshold).collect())
                .collect();
            (threshold, confusions(&reference, &says, codes.len()))
        })
        .collect();
    for (c, code) in codes.iter().enumerate() {
        let points = per_threshold
            .iter()
            .map(|(threshold, tables)| {
                let stats = CodeAgreement::from_confusion(&tables[c]);
                CurvePoint {
                    threshold: *threshold,
                    cohen_kappa: stats.cohen_kappa,
                    f1: stats.f1,
                    precision: stats.precision,
                    recall: stats.recall,
                }
            })
            .collect();
        out.insert(code.clone(), points);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_code_names_match_by_name_case_leaf_then_parent() {
        let codes = CodeList {
            names: vec!["prevention".into(), "empowerment".into()],
            fixed: true,
        };
        assert_eq!(codes.match_name("prevention"), Some((0, false)));
        assert_eq!(codes.match_name("Prevention"), Some((0, false)));
        assert_eq!(codes.match_name("Discourses/Prevention"), Some((0, false)));
        assert_eq!(
            codes.match_name("Discourses/Empowerment/co-production"),
            Some((1, true))
        );
        assert_eq!(codes.match_name("Discourses\\Efficiency"), None);
        assert_eq!(codes.match_name("Memorable quote"), None);
    }
}
