//! Stage "tokenise": the encoder's `tokenizer.json` through the `tokenizers` crate. Truncation
//! comes from discotag's `--max-tokens`, never from the file, and nothing is padded here: the
//! batch stage pads to the longest sequence of each batch.

use std::path::Path;

use tokenizers::{PostProcessor, Tokenizer, TruncationParams};

use crate::error::{Error, Result};
use crate::segment::TokenBudget;

/// Token ids for one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub ids: Vec<u32>,
    /// Whether the text needed more than `max_tokens` tokens and was cut.
    pub truncated: bool,
}

/// A tokenizer set up for discotag: truncation at `max_tokens` including special tokens, no padding.
#[derive(Clone)]
pub struct TextTokenizer {
    truncating: Tokenizer,
    counting: Tokenizer,
    pad_id: u32,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` and sets truncation to `max_tokens`.
    ///
    /// # Errors
    /// When the file is missing or not a tokenizer, or `max_tokens` is below 3.
    pub fn from_file(path: &Path, max_tokens: usize) -> Result<Self> {
        let load = || {
            Tokenizer::from_file(path).map_err(|source| Error::Tokenizer {
                path: path.to_path_buf(),
                source,
            })
        };
        Self::new(load()?, max_tokens).map_err(|source| Error::Tokenizer {
            path: path.to_path_buf(),
            source,
        })
    }

    fn new(
        mut tokenizer: Tokenizer,
        max_tokens: usize,
    ) -> std::result::Result<Self, tokenizers::Error> {
        if max_tokens < 3 {
            return Err("--max-tokens must be at least 3".into());
        }
        // The pad id the file declares, else the conventional [PAD], else 0.
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| tokenizer.token_to_id("[PAD]"))
            .unwrap_or(0);
        tokenizer.with_padding(None);
        let mut counting = tokenizer.clone();
        counting.with_truncation(None)?;
        tokenizer.with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..TruncationParams::default()
        }))?;
        Ok(TextTokenizer {
            truncating: tokenizer,
            counting,
            pad_id,
        })
    }

    /// Tokenises one segment with special tokens, truncated to `max_tokens`.
    ///
    /// # Errors
    /// When the tokenizer fails on the text.
    pub fn encode(&self, text: &str) -> std::result::Result<Tokens, tokenizers::Error> {
        let encoding = self.truncating.encode(text, true)?;
        Ok(Tokens {
            truncated: !encoding.get_overflowing().is_empty(),
            ids: encoding.get_ids().to_vec(),
        })
    }

    /// The id used to pad batches.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
}

impl TokenBudget for TextTokenizer {
    fn count(&self, text: &str) -> usize {
        self.counting
            .encode_fast(text, false)
            .map_or(0, |e| e.len())
    }

    fn cut_points(&self, text: &str, budget: usize) -> Vec<usize> {
        let Ok(encoding) = self.counting.encode(text, false) else {
            return Vec::new();
        };
        let offsets = encoding.get_offsets();
        let words = encoding.get_word_ids();
        let mut cuts = Vec::new();
        let mut piece_start = 0usize;
        while offsets.len() - piece_start > budget {
            let mut cut = piece_start + budget;
            // Back off to the first token of a word, unless the word alone exceeds the budget.
            while cut > piece_start + 1 && words[cut].is_some() && words[cut] == words[cut - 1] {
                cut -= 1;
            }
            if cut == piece_start + 1 && words[cut].is_some() && words[cut] == words[cut - 1] {
                cut = piece_start + budget;
            }
            cuts.push(offsets[cut].0);
            piece_start = cut;
        }
        cuts
    }

    fn special_tokens(&self) -> usize {
        self.counting
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{SegmentUnit, char_ranges, split};
    use proptest::prelude::*;

    fn tiny() -> TextTokenizer {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tiny_encoder/tokenizer.json");
        TextTokenizer::from_file(&path, 16).unwrap()
    }

    #[test]
    fn truncates_at_max_tokens_and_flags_it() {
        let t = tiny();
        let short = t.encode("we pooled the budget").unwrap();
        assert!(!short.truncated);
        assert!(short.ids.len() <= 16);
        let long = t.encode(&"we pooled the budget and ".repeat(20)).unwrap();
        assert!(long.truncated);
        assert_eq!(long.ids.len(), 16);
        assert_eq!(t.special_tokens(), 2);
    }

    #[test]
    fn windows_fit_the_budget_with_the_real_tokenizer_pipeline() {
        let t = tiny();
        let text = "We pooled the budget. ".repeat(30) + &"supercalifragilistic".repeat(10);
        for range in split(&text, SegmentUnit::Window, 16, &t) {
            let tokens = t.encode(&text[range.clone()]).unwrap();
            assert!(!tokens.truncated, "window {:?} truncated", &text[range]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Windows from the real tokenizer pipeline on arbitrary text: slicing by the code-point
        /// offsets gives the text back, windows never overlap and never need truncating.
        #[test]
        fn windows_round_trip_on_arbitrary_text(text in "(\\PC|[ \r\n.!?]){0,400}") {
            let t = tiny();
            let ranges = split(&text, SegmentUnit::Window, 16, &t);
            let chars: Vec<char> = text.chars().collect();
            let mut last_end = 0;
            for (bytes, cps) in ranges.iter().zip(char_ranges(&text, &ranges)) {
                prop_assert!(bytes.start >= last_end);
                last_end = bytes.end;
                let sliced: String = chars[cps.start as usize..cps.end as usize].iter().collect();
                prop_assert_eq!(&sliced, &text[bytes.clone()]);
                prop_assert!(!t.encode(&sliced).unwrap().truncated, "window {:?} truncated", sliced);
            }
        }
    }
}
