//! Where two coders meet: the 2x2 table of one code over a set of units or characters.
//!
//! * Segment level: a segment carries a code for a span coder when one of the coder's spans of
//!   that code overlaps it by at least `min_overlap` of the shorter of the two (the segment or the
//!   span), so that a short coding inside a long segment counts, a long coding across a segment
//!   counts, and a few characters of sloppy boundary do not.
//! * Character level, as NVivo computes it: every code point of a source is a unit; it is coded
//!   by a coder when it lies in one of the coder's spans of that code; characters neither coder
//!   coded count as agreement.
//!
//! Spans are half-open code-point ranges `(start, end)`.

use crate::metrics::classification::Confusion;

/// A half-open code-point range.
pub type Span = (u64, u64);

/// Sorts and merges overlapping or touching spans; drops empty ones.
pub fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|(s, e)| s < e);
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The length of `a ∩ b`.
fn overlap(a: Span, b: Span) -> u64 {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

/// Code points of merged `spans` inside `range`.
fn covered(spans: &[Span], range: Span) -> u64 {
    let first = spans.partition_point(|s| s.1 <= range.0);
    spans[first..]
        .iter()
        .take_while(|s| s.0 < range.1)
        .map(|&s| overlap(s, range))
        .sum()
}

/// Code points inside `range` covered by both merged span lists.
fn covered_by_both(a: &[Span], b: &[Span], range: Span) -> u64 {
    let (mut i, mut j) = (
        a.partition_point(|s| s.1 <= range.0),
        b.partition_point(|s| s.1 <= range.0),
    );
    let mut total = 0;
    while i < a.len() && j < b.len() && a[i].0 < range.1 && b[j].0 < range.1 {
        let common = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        total += overlap(common, range);
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    total
}

/// The character-level table of one code over `range`, from each coder's merged spans.
pub fn char_confusion(reference: &[Span], candidate: &[Span], range: Span) -> Confusion {
    let length = range.1.saturating_sub(range.0);
    let r = covered(reference, range);
    let c = covered(candidate, range);
    let both = covered_by_both(reference, candidate, range);
    Confusion {
        true_positive: both,
        false_negative: r - both,
        false_positive: c - both,
        true_negative: length - (r + c - both),
    }
}

/// Whether a segment carries a code, given the coder's spans of that code (any order).
pub fn segment_carries(segment: Span, spans: &[Span], min_overlap: f64) -> bool {
    let segment_len = segment.1.saturating_sub(segment.0);
    spans.iter().any(|&span| {
        let shared = overlap(segment, span);
        let shorter = segment_len.min(span.1.saturating_sub(span.0));
        shared > 0 && shared as f64 >= min_overlap * shorter as f64
    })
}

/// Cuts `[0, length)` into blocks that start at each segment's start (the first at 0), so that
/// every code point belongs to exactly one block: the unit of the character-level bootstrap.
pub fn blocks(segment_starts: &[u64], length: u64) -> Vec<Span> {
    let mut starts: Vec<u64> = segment_starts
        .iter()
        .copied()
        .filter(|&s| s < length)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .zip(starts.iter().skip(1).chain([&length]))
        .map(|(&s, &e)| (s, e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merge_joins_overlapping_and_touching() {
        assert_eq!(
            merge(vec![(5, 9), (0, 2), (2, 3), (8, 12), (20, 20)]),
            vec![(0, 3), (5, 12)]
        );
    }

    #[test]
    fn char_confusion_counts_uncoded_characters_as_agreement() {
        // Source of 20 code points: reference codes 2..10, candidate 5..15.
        let t = char_confusion(&[(2, 10)], &[(5, 15)], (0, 20));
        assert_eq!(
            (
                t.true_positive,
                t.false_negative,
                t.false_positive,
                t.true_negative
            ),
            (5, 3, 5, 7)
        );
        // Restricted to a block.
        let t = char_confusion(&[(2, 10)], &[(5, 15)], (8, 12));
        assert_eq!(
            (
                t.true_positive,
                t.false_negative,
                t.false_positive,
                t.true_negative
            ),
            (2, 0, 2, 0)
        );
    }

    #[test]
    fn overlap_rule_uses_the_shorter_of_segment_and_span() {
        // A 10-point coding inside a 100-point segment counts.
        assert!(segment_carries((0, 100), &[(40, 50)], 0.5));
        // A coding that only grazes the segment's last 3 points does not.
        assert!(!segment_carries((0, 100), &[(97, 140)], 0.5));
        // Half of the shorter: 20 of a 40-point span.
        assert!(segment_carries((0, 100), &[(80, 120)], 0.5));
        assert!(!segment_carries((0, 100), &[(81, 121)], 0.5));
        // Zero share: any overlap; touching is not overlap.
        assert!(segment_carries((0, 100), &[(99, 200)], 0.0));
        assert!(!segment_carries((0, 100), &[(100, 200)], 0.0));
    }

    #[test]
    fn blocks_partition_the_source() {
        assert_eq!(
            blocks(&[4, 10, 10, 2], 12),
            vec![(0, 2), (2, 4), (4, 10), (10, 12)]
        );
        assert_eq!(blocks(&[], 5), vec![(0, 5)]);
    }

    fn spans() -> impl Strategy<Value = Vec<Span>> {
        proptest::collection::vec((0u64..200, 0u64..40), 0..12)
            .prop_map(|v| v.into_iter().map(|(s, l)| (s, s + l)).collect())
    }

    proptest! {
        /// The sweep equals counting code point by code point; blocks add up to the whole.
        #[test]
        fn char_confusion_matches_a_per_character_count(a in spans(), b in spans(), cuts in proptest::collection::vec(0u64..250, 0..8)) {
            let (a, b) = (merge(a), merge(b));
            let length = 250;
            let inside = |spans: &[Span], x: u64| spans.iter().any(|&(s, e)| s <= x && x < e);
            let mut expected = Confusion::default();
            for x in 0..length {
                match (inside(&a, x), inside(&b, x)) {
                    (true, true) => expected.true_positive += 1,
                    (true, false) => expected.false_negative += 1,
                    (false, true) => expected.false_positive += 1,
                    (false, false) => expected.true_negative += 1,
                }
            }
            prop_assert_eq!(char_confusion(&a, &b, (0, length)), expected);
            let mut summed = Confusion::default();
            for block in blocks(&cuts, length) {
                let t = char_confusion(&a, &b, block);
                summed.true_positive += t.true_positive;
                summed.false_negative += t.false_negative;
                summed.false_positive += t.false_positive;
                summed.true_negative += t.true_negative;
            }
            prop_assert_eq!(summed, expected);
        }
    }
}
