//! `discotag suggest`: the segments of a labelled dataset whose human coding would teach the
//! model most (uncertainty sampling with diversity).
//!
//! A segment's uncertainty is how near one of its scores is to that code's threshold, measured
//! in logits (`|logit(score) - logit(threshold)|`, so 0.45 against 0.5 is as near as 0.95
//! against 0.96 is not). The dataset is streamed; per code only the nearest candidates are
//! kept. Suggestions are then picked greedily: codes take turns (so every code gets
//! suggestions), and within a code the nearest candidate wins after a penalty for each
//! suggestion already taken from its source and from its speaker; a candidate that nearly
//! repeats a suggestion (word trigrams, Jaccard ≥ 0.6) or overlaps one is skipped.

use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::output::read::for_each_row;
use crate::output::schema::Row;

/// Logits added to a candidate's distance for each suggestion already taken from its source.
const SOURCE_PENALTY: f64 = 0.5;
/// Logits added for each suggestion already taken from its speaker in that source.
const SPEAKER_PENALTY: f64 = 0.25;
/// Word-trigram Jaccard similarity from which two segments count as near duplicates.
const NEAR_DUPLICATE: f64 = 0.6;

/// One suggested segment.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub source_path: String,
    pub doc_id: String,
    pub record_index: Option<i64>,
    pub record_id: Option<String>,
    pub segment_index: i32,
    pub char_start: i64,
    pub char_end: i64,
    pub speaker: Option<String>,
    pub text: String,
    /// The model's score per code.
    pub scores: BTreeMap<String, f32>,
    /// The code whose threshold the score is nearest, its threshold and the distance in logits.
    pub code: String,
    pub threshold: f32,
    pub distance: f64,
    pub reason: String,
    /// The REFI-QDA source the segment comes from, if the dataset was labelled from a project.
    #[serde(skip)]
    pub source_guid: Option<String>,
}

/// What was chosen from.
#[derive(Debug, Clone, Serialize)]
pub struct SuggestStats {
    pub rows: u64,
    /// Mean distance (logits) of every row's nearest code to its threshold.
    pub mean_distance_all: f64,
    pub mean_distance_suggested: f64,
}

fn logit(p: f32) -> f64 {
    let p = f64::from(p).clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// A candidate in a per-code heap, largest distance on top (the first to be evicted).
struct Candidate {
    distance: f64,
    order: u64,
    row: Row,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.order.cmp(&other.order))
    }
}

fn trigrams(text: &str) -> HashSet<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.len() < 3 {
        return std::iter::once(words.join(" ")).collect();
    }
    words.windows(3).map(|w| w.join(" ")).collect()
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    let shared = a.intersection(b).count();
    let union = a.len() + b.len() - shared;
    if union == 0 {
        1.0
    } else {
        shared as f64 / union as f64
    }
}

/// Chooses `n` segments of the dataset in `dir` to code by hand, given each code's threshold
/// (codes of the dataset without a threshold are not considered).
///
/// # Errors
/// When the dataset cannot be read, or shares no code with `thresholds`.
pub fn suggest(
    dir: &Path,
    thresholds: &BTreeMap<String, f32>,
    n: usize,
) -> Result<(Vec<Suggestion>, SuggestStats)> {
    let keep = 30 * n + 100;
    let mut heaps: BTreeMap<usize, BinaryHeap<Candidate>> = BTreeMap::new();
    let (mut rows, mut sum) = (0u64, 0.0f64);
    let (codes, _) = for_each_row(dir, |codes, row| {
        if row.text.trim().is_empty() {
            return Ok(());
        }
        let nearest = row
            .scores
            .iter()
            .zip(codes)
            .enumerate()
            .filter_map(|(c, (&s, name))| {
                let t = *thresholds.get(name)?;
                Some((c, (logit(s) - logit(t)).abs()))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((code, distance)) = nearest else {
            return Ok(());
        };
        rows += 1;
        sum += distance;
        let heap = heaps.entry(code).or_default();
        heap.push(Candidate {
            distance,
            order: rows,
            row,
        });
        if heap.len() > keep {
            heap.pop();
        }
        Ok(())
    })?;
    if rows == 0 {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            reason: if codes.iter().any(|c| thresholds.contains_key(c)) {
                "no segment with text to suggest".into()
            } else {
                format!(
                    "the dataset's codes ({}) are not the model's ({}): pass the --model that labelled it",
                    codes.join(", "),
                    thresholds.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            },
        });
    }
    let chosen = pick(heaps, n, &codes, thresholds);
    let stats = SuggestStats {
        rows,
        mean_distance_all: sum / rows as f64,
        mean_distance_suggested: chosen.iter().map(|s| s.distance).sum::<f64>()
            / chosen.len().max(1) as f64,
    };
    Ok((chosen, stats))
}

/// Where a segment's offsets point: source path, document, record index.
type Place = (String, String, Option<i64>);

/// The greedy, diversity-aware pick (see the module documentation).
fn pick(
    heaps: BTreeMap<usize, BinaryHeap<Candidate>>,
    n: usize,
    codes: &[String],
    thresholds: &BTreeMap<String, f32>,
) -> Vec<Suggestion> {
    let mut queues: BTreeMap<usize, Vec<Candidate>> = heaps
        .into_iter()
        .map(|(code, heap)| (code, heap.into_sorted_vec()))
        .collect();
    let mut taken_per_code: BTreeMap<usize, usize> = queues.keys().map(|&c| (c, 0)).collect();
    let mut per_source: HashMap<String, usize> = HashMap::new();
    let mut per_speaker: HashMap<(String, String), usize> = HashMap::new();
    let mut shingles: Vec<HashSet<String>> = Vec::new();
    // offsets index the source text, or a record's own text: the record is part of the place
    let mut spans: HashMap<Place, Vec<(i64, i64)>> = HashMap::new();
    let mut out: Vec<Suggestion> = Vec::new();
    while out.len() < n {
        let Some(code) = taken_per_code
            .iter()
            .filter(|(c, _)| queues.get(c).is_some_and(|q| !q.is_empty()))
            .min_by_key(|&(c, taken)| (*taken, *c))
            .map(|(c, _)| *c)
        else {
            break;
        };
        let queue = queues.get_mut(&code).expect("code has a queue");
        let mut best: Option<(f64, usize)> = None;
        let mut rejected = Vec::new();
        for (i, candidate) in queue.iter().enumerate() {
            let row = &candidate.row;
            let place = (
                row.source_path.to_string(),
                row.doc_id.to_string(),
                row.record_index,
            );
            let overlaps = spans.get(&place).is_some_and(|taken| {
                taken
                    .iter()
                    .any(|&(s, e)| row.char_start < e && s < row.char_end)
            });
            let grams = trigrams(&row.text);
            if overlaps
                || shingles
                    .iter()
                    .any(|g| jaccard(g, &grams) >= NEAR_DUPLICATE)
            {
                rejected.push(i);
                continue;
            }
            let source = per_source
                .get(row.source_path.as_ref())
                .copied()
                .unwrap_or(0);
            let speaker = row.speaker.as_ref().map_or(0, |s| {
                per_speaker
                    .get(&(row.source_path.to_string(), s.clone()))
                    .copied()
                    .unwrap_or(0)
            });
            let adjusted = candidate.distance
                + SOURCE_PENALTY * source as f64
                + SPEAKER_PENALTY * speaker as f64;
            if best.is_none_or(|(b, _)| adjusted < b) {
                best = Some((adjusted, i));
            }
            // the queue is sorted by distance: nothing further on can beat an unpenalised one
            if best.is_some_and(|(b, _)| candidate.distance > b) {
                break;
            }
        }
        let chosen = best.map(|(_, i)| i);
        // remove the chosen and the rejected, highest index first
        let mut remove: Vec<usize> = rejected.into_iter().chain(chosen).collect();
        remove.sort_unstable_by(|a, b| b.cmp(a));
        let mut chosen_candidate = None;
        for i in remove {
            let candidate = queue.remove(i);
            if Some(i) == chosen {
                chosen_candidate = Some(candidate);
            }
        }
        let Some(candidate) = chosen_candidate else {
            continue;
        };
        let row = candidate.row;
        *taken_per_code.entry(code).or_default() += 1;
        let from_source = per_source.entry(row.source_path.to_string()).or_default();
        *from_source += 1;
        let nth_from_source = *from_source;
        if let Some(speaker) = &row.speaker {
            *per_speaker
                .entry((row.source_path.to_string(), speaker.clone()))
                .or_default() += 1;
        }
        shingles.push(trigrams(&row.text));
        spans
            .entry((
                row.source_path.to_string(),
                row.doc_id.to_string(),
                row.record_index,
            ))
            .or_default()
            .push((row.char_start, row.char_end));
        let name = codes[code].clone();
        let threshold = thresholds[&name];
        let score = row.scores[code];
        let reason = format!(
            "{name} {score:.2} against its threshold {threshold:.2}: the model is unsure whether {name} applies{}",
            if nth_from_source > 1 {
                format!(" (suggestion {nth_from_source} from this source)")
            } else {
                String::new()
            }
        );
        out.push(Suggestion {
            scores: codes
                .iter()
                .cloned()
                .zip(row.scores.iter().copied())
                .collect(),
            source_guid: row.metadata.get(crate::refi::SOURCE_GUID_KEY).cloned(),
            source_path: row.source_path.to_string(),
            doc_id: row.doc_id.to_string(),
            record_index: row.record_index,
            record_id: row.record_id,
            segment_index: row.segment_index,
            char_start: row.char_start,
            char_end: row.char_end,
            speaker: row.speaker,
            text: row.text,
            code: name,
            threshold,
            distance: candidate.distance,
            reason,
        });
    }
    out
}
