//! Stage "segment": splits each unit (turn, record, cue) into segments that keep their exact
//! code-point position in the source. No I/O here.
//!
//! * `turn`: the whole unit.
//! * `sentence`: one segment per sentence (Unicode sentence boundaries, UAX #29).
//! * `window` (default): consecutive sentences of one unit packed greedily while they fit the
//!   encoder's token budget; a sentence longer than the budget is cut between words at token
//!   boundaries, so no window is truncated.
//!
//! Segments are trimmed of surrounding white space, never empty and never overlap.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// How a unit is cut into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentUnit {
    /// One segment per speaker turn or record.
    Turn,
    /// One segment per sentence.
    Sentence,
    /// Sentences of a turn packed into windows that fit the token limit.
    #[default]
    Window,
}

/// What segmentation needs to know about tokens.
pub trait TokenBudget {
    /// The number of word-piece tokens in `text`, special tokens excluded.
    fn count(&self, text: &str) -> usize;
    /// Byte offsets in `text` at which a piece may start so that every piece has at most
    /// `budget` tokens, preferring word starts. Excludes 0.
    fn cut_points(&self, text: &str, budget: usize) -> Vec<usize>;
    /// Tokens that the encoder adds around every segment ([CLS] and [SEP]).
    fn special_tokens(&self) -> usize;
}

/// Splits `text` into segment byte ranges.
pub fn split(
    text: &str,
    unit: SegmentUnit,
    max_tokens: usize,
    tokens: &dyn TokenBudget,
) -> Vec<Range<usize>> {
    split_untokenized(text, unit).unwrap_or_else(|| {
        windows(
            text,
            max_tokens.saturating_sub(tokens.special_tokens()).max(1),
            tokens,
        )
    })
}

/// Splits `text` into `turn` or `sentence` byte ranges without a tokenizer, for comparing
/// coders' spans where no encoder runs. `None` for `window`, which needs the token budget.
pub fn split_untokenized(text: &str, unit: SegmentUnit) -> Option<Vec<Range<usize>>> {
    match unit {
        SegmentUnit::Turn => Some(trim(text, 0..text.len()).into_iter().collect()),
        SegmentUnit::Sentence => Some(sentences(text)),
        SegmentUnit::Window => None,
    }
}

/// Narrows a byte range to exclude leading and trailing white space; `None` if nothing is left.
fn trim(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let slice = &text[range.clone()];
    let start = range.start + (slice.len() - slice.trim_start().len());
    let end = range.start + slice.trim_end().len();
    (start < end).then_some(start..end)
}

fn sentences(text: &str) -> Vec<Range<usize>> {
    text.split_sentence_bound_indices()
        .filter_map(|(start, s)| trim(text, start..start + s.len()))
        .collect()
}

fn windows(text: &str, budget: usize, tokens: &dyn TokenBudget) -> Vec<Range<usize>> {
    // Sentences, with over-long ones already cut into pieces that fit.
    let mut pieces: Vec<(Range<usize>, usize)> = Vec::new();
    for sentence in sentences(text) {
        let n = tokens.count(&text[sentence.clone()]);
        if n <= budget {
            pieces.push((sentence, n));
            continue;
        }
        let mut start = sentence.start;
        let cuts = tokens.cut_points(&text[sentence.clone()], budget);
        for cut in cuts
            .into_iter()
            .map(|c| sentence.start + c)
            .chain([sentence.end])
        {
            if let Some(piece) = trim(text, start..cut) {
                let count = tokens.count(&text[piece.clone()]);
                pieces.push((piece, count));
            }
            start = cut;
        }
    }
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut current: Option<(Range<usize>, usize)> = None;
    for (piece, n) in pieces {
        current = match current {
            Some((range, used)) if used + n <= budget => Some((range.start..piece.end, used + n)),
            Some((range, _)) => {
                out.push(range);
                Some((piece, n))
            }
            None => Some((piece, n)),
        };
    }
    out.extend(current.map(|(range, _)| range));
    out
}

/// Converts byte ranges in `text` to code-point ranges, in one pass (ranges must be sorted).
pub fn char_ranges(text: &str, ranges: &[Range<usize>]) -> Vec<Range<u64>> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut byte = 0usize;
    let mut chars = 0u64;
    let mut advance = |to: usize| {
        chars += text[byte..to].chars().count() as u64;
        byte = to;
        chars
    };
    for range in ranges {
        let start = advance(range.start);
        let end = advance(range.end);
        out.push(start..end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One token per whitespace-separated word: enough to test packing and cutting.
    struct Words;
    impl TokenBudget for Words {
        fn count(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
        fn cut_points(&self, text: &str, budget: usize) -> Vec<usize> {
            let starts: Vec<usize> = text
                .char_indices()
                .filter(|&(i, c)| {
                    !c.is_whitespace() && (i == 0 || text[..i].ends_with(char::is_whitespace))
                })
                .map(|(i, _)| i)
                .collect();
            starts.into_iter().skip(budget).step_by(budget).collect()
        }
        fn special_tokens(&self) -> usize {
            2
        }
    }

    #[test]
    fn windows_pack_sentences_within_budget() {
        let text = "One two three. Four five. Six seven eight nine. Ten.";
        let got: Vec<&str> = split(text, SegmentUnit::Window, 7, &Words)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(
            got,
            vec!["One two three. Four five.", "Six seven eight nine. Ten."]
        );
    }

    #[test]
    fn long_sentence_is_cut_between_words() {
        let text = "a b c d e f g h i j";
        let got: Vec<&str> = split(text, SegmentUnit::Window, 6, &Words)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(got, vec!["a b c d", "e f g h", "i j"]);
    }

    #[test]
    fn sentences_and_turns_are_trimmed() {
        let text = "  Hello there.  How are you?\r\n";
        let s: Vec<&str> = split(text, SegmentUnit::Sentence, 128, &Words)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(s, vec!["Hello there.", "How are you?"]);
        let t: Vec<&str> = split(text, SegmentUnit::Turn, 128, &Words)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(t, vec!["Hello there.  How are you?"]);
        assert!(split("   \n ", SegmentUnit::Turn, 128, &Words).is_empty());
    }

    #[test]
    fn char_ranges_count_code_points() {
        let text = "é🙂 ab";
        let r = char_ranges(text, &[0..2, 7..9]);
        assert_eq!(r, vec![0..1, 3..5]);
    }

    proptest! {
        #[test]
        fn slices_round_trip_and_never_overlap(
            text in "[a-zA-Zé🙂 .!?\r\n]{0,300}",
            unit in prop_oneof![Just(SegmentUnit::Turn), Just(SegmentUnit::Sentence), Just(SegmentUnit::Window)],
            max in 3usize..20,
        ) {
            let ranges = split(&text, unit, max, &Words);
            let chars: Vec<char> = text.chars().collect();
            let char_ranges = char_ranges(&text, &ranges);
            let mut last_end = 0;
            for (bytes, cps) in ranges.iter().zip(&char_ranges) {
                prop_assert!(bytes.start >= last_end, "overlap");
                last_end = bytes.end;
                let sliced: String = chars[cps.start as usize..cps.end as usize].iter().collect();
                prop_assert_eq!(&sliced, &text[bytes.clone()]);
                prop_assert!(!sliced.trim().is_empty());
                if unit == SegmentUnit::Window {
                    prop_assert!(Words.count(&sliced) <= max - 2 || max < 3);
                }
            }
        }
    }
}
