#!/usr/bin/env python3
"""Build the tiny WordPiece tokenizer fixture used by fast Rust unit tests.

What
    Writes ``tests/fixtures/tiny_encoder/tokenizer.json``: a Hugging Face
    ``tokenizers`` JSON with exactly the same pipeline as the real
    all-MiniLM-L6-v2 tokenizer (BertNormalizer with clean_text,
    handle_chinese_chars, strip_accents=None, lowercase=True; BertPreTokenizer;
    WordPiece model with ``##`` continuing-subword prefix, unk "[UNK]",
    max_input_chars_per_word=100; TemplateProcessing "[CLS] $A [SEP]";
    WordPiece decoder) but with a vocabulary of a few hundred entries instead
    of 30,522.  Truncation and padding are NOT set (both ``null`` in the
    JSON), unlike the real tokenizer.json which pads/truncates to 128.

    Vocabulary layout (deterministic):
      * ids 0-4: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4
      * every lower-case ASCII letter and digit, and its ``##`` form
        (the normaliser lower-cases, so upper-case letters never reach the
        model); every ASCII punctuation character (BertPreTokenizer always
        splits punctuation into single-character words, so ``##`` forms of
        punctuation would be unreachable and are omitted)
      * a handful of common English suffix pieces (##s, ##ing, ...)
      * the words (>= 2 alphanumeric chars) of the small interview-like
        corpus below, most frequent first, ties broken alphabetically, capped
        at TARGET_VOCAB_SIZE entries in total (the corpus currently yields
        382 entries, below the cap).
    Because every printable ASCII character is in the vocabulary, any ASCII
    text tokenises without [UNK] (except single "words" longer than 100
    characters, which WordPiece maps to [UNK] as in the real tokenizer);
    non-ASCII characters that survive normalisation become [UNK].

How to run (from the repository root)
    /tmp/refvenv/bin/python scripts/make_tiny_tokenizer.py \
        [--out tests/fixtures/tiny_encoder/tokenizer.json]

    The script also runs self-checks (round trip, ASCII fuzzing, identical
    word splitting to the real tokenizer if its path is given with --real)
    and patches ``vocab_size`` in tests/fixtures/tiny_encoder/config.json if
    that file exists.

Versions used to generate the committed fixture
    Python 3.11.7, tokenizers 0.23.3 (see tests/fixtures/README.md).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections import Counter
from pathlib import Path

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

TARGET_VOCAB_SIZE = 600

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

SUFFIXES = [
    "##s", "##es", "##ed", "##ing", "##er", "##ers", "##ly", "##al",
    "##tion", "##tions", "##ment", "##ments", "##ity", "##ness", "##ise",
    "##ised", "##ive", "##ful", "##able", "##ance", "##ence", "##ship",
]

# Small inline corpus of interview-like talk (British English) about joint
# commissioning in health and social care.  Only used to pick frequent words.
CORPUS = """
Interviewer: Could you tell me a bit about your role in joint commissioning?
Well, I work for the local authority, and I lead on adult social care commissioning with the clinical commissioning group.
We meet with the health partners every month to talk about the pooled budget and the Better Care Fund.
I think the main thing is that we have got a shared plan, but the money is still quite separate.
Interviewer: What do you mean by separate?
So the council has its own budget and the NHS has its own budget, and we are trying to bring them together.
It is not always easy, because the rules are different and the people are different.
To be honest, a lot of it comes down to trust and relationships between the managers.
We have a joint board, and the board makes decisions about services for older people and people with learning disabilities.
Interviewer: How do you decide what to commission?
We look at the needs assessment, we talk to providers, and we listen to what people tell us about their care.
Sometimes the data is not very good, so we have to use our judgement as well.
I would say the integrated care board has changed things quite a lot in the last year.
There is more talk about the system and about outcomes, rather than just activity and contracts.
Interviewer: Can you give me an example of something that worked well?
Yes, the hospital discharge service was a good example, because health and social care staff worked together in one team.
People were going home sooner, and the home care providers knew what was happening.
But the funding was only for one year, so we did not know if it would continue.
Interviewer: And what has been difficult?
The workforce is the biggest problem, we cannot recruit enough care workers, especially in rural areas.
Pay is low and the work is hard, and people can earn more in a supermarket.
We have also had problems with information sharing, because the systems do not talk to each other.
I think the government needs to give us longer term funding, so that we can plan properly.
Interviewer: How do you involve service users and carers?
We have a reference group of carers, and they help us to design the service specification.
It is really important that we hear from people who use the services, not just from the professionals.
Interviewer: Is there anything else you would like to add?
Only that joint commissioning is about people, really, it is about getting the right support at the right time.
If we get the partnership right, then the money and the contracts follow.
Thank you very much for your time, that has been really helpful.
We also commission mental health services with the trust, and the voluntary sector provides a lot of the community support.
The public health team sits in the council now, which helps with prevention and early intervention.
Our director is very supportive, and the chief executive of the hospital is on the board as well.
We are doing a review of residential and nursing home placements, because the costs have gone up.
The market is fragile, and some providers have told us they might hand back contracts.
I suppose the question is whether we can afford to keep paying more when demand is going up every year.
"""


def build_vocab(corpus: str, target: int) -> list[str]:
    vocab: list[str] = list(SPECIAL_TOKENS)
    seen = set(vocab)

    def add(tok: str) -> None:
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)

    chars = string.ascii_lowercase + string.digits
    for c in chars:
        add(c)
    for c in chars:
        add("##" + c)
    for c in string.punctuation:
        add(c)
    for s in SUFFIXES:
        add(s)

    # Split the corpus exactly like the real pipeline does before WordPiece.
    norm = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    pre = pre_tokenizers.BertPreTokenizer()
    words = [w for w, _ in pre.pre_tokenize_str(norm.normalize_str(corpus))]
    counts = Counter(w for w in words if len(w) >= 2 and w.isalnum())
    for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= target:
            break
        add(w)
    return vocab


def build_tokenizer(vocab: list[str]) -> Tokenizer:
    tok = Tokenizer(
        WordPiece(
            {t: i for i, t in enumerate(vocab)},
            unk_token="[UNK]",
            continuing_subword_prefix="##",
            max_input_chars_per_word=100,
        )
    )
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = vocab.index("[CLS]"), vocab.index("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.add_special_tokens(SPECIAL_TOKENS)
    tok.no_truncation()
    tok.no_padding()
    return tok


def self_check(tok: Tokenizer, vocab: list[str], real: Path | None) -> None:
    assert tok.token_to_id("[PAD]") == 0 and tok.token_to_id("[UNK]") == 1
    assert tok.token_to_id("[CLS]") == 2 and tok.token_to_id("[SEP]") == 3
    assert tok.token_to_id("[MASK]") == 4
    assert tok.get_vocab_size() == len(vocab)
    assert 300 <= len(vocab) <= 600, len(vocab)

    # Round trips: decode(encode(s)) == lower-cased s for plain sentences.
    for s in [
        "We meet with the health partners every month.",
        "The council and the NHS share a pooled budget of 42 pounds.",
        "Joint commissioning is about people, really.",
        "Xylophones quizzically zigzag beyond Qatar.",
    ]:
        enc = tok.encode(s)
        assert enc.ids[0] == 2 and enc.ids[-1] == 3, enc.tokens
        assert 1 not in enc.ids, enc.tokens
        back = tok.decode(enc.ids, skip_special_tokens=True)
        assert back == s.lower(), (s, back, enc.tokens)
        print(f"  round trip ok: {s!r} -> {enc.tokens}")

    # Non-ASCII falls back to [UNK]; accents are stripped by the normaliser.
    enc = tok.encode("café 日本 🙂")
    print(f"  non-ASCII: {enc.tokens}")
    assert enc.tokens[1:5] == ["c", "##a", "##f", "##e"], enc.tokens
    assert enc.tokens.count("[UNK]") == 3, enc.tokens

    # Any printable ASCII text (incl. tabs/CRLF) tokenises without [UNK].
    rng = random.Random(1234)
    alphabet = string.printable  # letters, digits, punctuation, whitespace
    for _ in range(2000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        enc = tok.encode(s)
        assert 1 not in enc.ids, (s, enc.tokens)
        assert enc.ids[0] == 2 and enc.ids[-1] == 3
        assert len(enc.ids) == len(enc.attention_mask) == len(enc.type_ids)
        assert all(m == 1 for m in enc.attention_mask)  # no padding
    # A single ASCII "word" over 100 chars is [UNK], exactly as in the real one.
    assert tok.encode("a" * 101).tokens == ["[CLS]", "[UNK]", "[SEP]"]
    print("  ASCII fuzz ok (2000 random strings, no [UNK])")

    if real is not None and real.exists():
        rt = Tokenizer.from_file(str(real))
        rt.no_padding()
        rt.no_truncation()
        samples = [
            "Hello,   World!\tIt's £4.2m\r\nfor the ICB.",
            "naïve café in Zürich 日本 🙂",
            "\u00a0\u2003joint\u2009commissioning\u3000",
        ]
        for s in samples:
            a = [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(s))]
            b = [w for w, _ in rt.pre_tokenizer.pre_tokenize_str(rt.normalizer.normalize_str(s))]
            assert a == b, (a, b)
        print("  normaliser/pre-tokeniser identical to real tokenizer on samples")


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=root / "tests/fixtures/tiny_encoder/tokenizer.json")
    ap.add_argument("--real", type=Path, default=None,
                    help="optional path to the real tokenizer.json for a comparison check")
    args = ap.parse_args()

    vocab = build_vocab(CORPUS, TARGET_VOCAB_SIZE)
    tok = build_tokenizer(vocab)
    print(f"vocab size: {len(vocab)}")
    self_check(tok, vocab, args.real)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out), pretty=True)
    data = json.loads(args.out.read_text(encoding="utf-8"))
    assert data["truncation"] is None and data["padding"] is None
    # Reload from disk and re-check to make sure the saved file is faithful.
    self_check(Tokenizer.from_file(str(args.out)), vocab, None)
    print(f"wrote {args.out}")

    cfg = args.out.parent / "config.json"
    if cfg.exists():
        c = json.loads(cfg.read_text(encoding="utf-8"))
        if c.get("vocab_size") != len(vocab):
            c["vocab_size"] = len(vocab)
            cfg.write_text(json.dumps(c, indent=2) + "\n", encoding="utf-8")
            print(f"patched vocab_size={len(vocab)} in {cfg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
