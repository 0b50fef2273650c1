#!/usr/bin/env python3
"""Reference values for the agreement statistics of ``discotag agree`` (src/metrics/agreement.rs).

What
    Two coders (a reference and a candidate) make a binary decision per unit. Every statistic
    is a function of the 2x2 table (true_positive = both coded, false_positive = candidate
    only, false_negative = reference only, true_negative = neither). This script builds
    ~40 cases (seeded random codings with n from 5 to 2000 and prevalence from very rare to
    very common, plus edge cases and hand-picked tables up to ~1.2 million "characters"),
    expands each into the two raw 0/1 vectors and computes, with the reference libraries:

      * percent_agreement: sklearn ``accuracy_score`` (checked against irrCAC's ``pa``),
      * cohen_kappa: sklearn ``cohen_kappa_score`` (NaN when undefined),
      * krippendorff_alpha: ``krippendorff.alpha(level_of_measurement="nominal",
        value_domain=[0, 1])`` (NaN when the data has no variation),
      * gwet_ac1: irrCAC ``CAC(ratings, categories=[0, 1]).gwet()`` (``digits=15`` so that
        irrCAC's rounding does not matter),
      * precision, recall, f1: sklearn ``precision_recall_fscore_support(average="binary",
        pos_label=1, zero_division=0)``.

    ``categories=[0, 1]`` and ``value_domain=[0, 1]`` matter: a code is binary even when a
    coder never uses one of the two values. Without them irrCAC sees one category and
    reports AC1 = 1 by a 1e-15 fudge, and krippendorff raises an error.

    Writes ``tests/fixtures/agreement_reference.json``::

        {"generator": "scripts/agreement_reference.py", "versions": {...},
         "cases": [{"name": ..., "kind": "random" | "edge" | "hand",
                    "true_positive": .., "false_positive": .., "false_negative": ..,
                    "true_negative": .., "expected": {"percent_agreement": .., ...}}]}

    Undefined values (NaN) are written as ``null``. Floats are written with Python's
    shortest round-trip repr.

How to run (from the repository root; PyPI is reached through pip)
    python3 -m venv /tmp/agree-venv
    /tmp/agree-venv/bin/pip install scikit-learn krippendorff irrcac pandas
    /tmp/agree-venv/bin/python scripts/agreement_reference.py

    The output is deterministic for given library versions (recorded in the file).
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
from irrCAC.raw import CAC
from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

OUT = Path("tests/fixtures/agreement_reference.json")
SEED = 20240611

# (n, reference prevalence, probability that the candidate flips the reference's decision,
#  extra candidate bias: probability that a flip is forced towards 1 (None = symmetric)).
RANDOM_SPECS = [
    (5, 0.5, 0.2, None),
    (5, 0.2, 0.4, None),
    (7, 0.6, 0.1, None),
    (10, 0.5, 0.3, None),
    (10, 0.1, 0.2, None),
    (12, 0.9, 0.2, None),
    (20, 0.3, 0.25, None),
    (20, 0.05, 0.05, None),
    (30, 0.5, 0.5, None),
    (40, 0.7, 0.15, 1.0),
    (50, 0.02, 0.02, None),
    (50, 0.4, 0.1, 0.0),
    (75, 0.98, 0.05, None),
    (100, 0.5, 0.1, None),
    (100, 0.01, 0.01, None),
    (100, 0.25, 0.6, None),
    (150, 0.35, 0.2, 0.8),
    (200, 0.15, 0.1, None),
    (250, 0.95, 0.1, None),
    (300, 0.5, 0.9, None),
    (400, 0.03, 0.03, 1.0),
    (500, 0.2, 0.15, None),
    (600, 0.6, 0.3, 0.2),
    (750, 0.005, 0.01, None),
    (800, 0.45, 0.05, None),
    (1000, 0.1, 0.08, None),
    (1000, 0.99, 0.02, None),
    (1200, 0.3, 0.35, None),
    (1500, 0.5, 0.5, 0.5),
    (2000, 0.08, 0.04, None),
    (2000, 0.6, 0.12, 0.0),
]

# Tables (true_positive, false_positive, false_negative, true_negative).
EDGE_TABLES = {
    "perfect agreement, mixed": (7, 0, 0, 13),
    "total disagreement, mixed": (0, 6, 9, 0),
    "total disagreement, candidate always codes": (0, 10, 0, 0),
    "total disagreement, reference always codes": (0, 0, 10, 0),
    "neither coder ever codes": (0, 0, 0, 25),
    "both coders always code": (25, 0, 0, 0),
    "reference never codes, candidate sometimes": (0, 4, 0, 16),
    "reference always codes, candidate sometimes": (11, 0, 9, 0),
    "candidate never codes, reference sometimes": (0, 0, 3, 17),
    "candidate always codes, reference sometimes": (6, 14, 0, 0),
    "one disagreement in a rare code": (0, 1, 0, 99),
    "two units, one each": (1, 0, 0, 1),
    "two units, disagree both ways": (0, 1, 1, 0),
}

HAND_TABLES = {
    # Wikipedia "Cohen's kappa", first worked example: kappa = 0.4.
    "wikipedia kappa example 1": (20, 5, 10, 15),
    # Wikipedia second example: kappa 0.1304 and 0.2593 with equal percent agreement.
    "wikipedia kappa example 2a": (45, 15, 25, 15),
    "wikipedia kappa example 2b": (25, 35, 5, 35),
    # The high-agreement, low-kappa paradox: 90% agreement on a common code.
    "kappa paradox": (85, 5, 5, 5),
    # Character-level counts (NVivo style): large tables.
    "characters, rare code": (12_000, 3_400, 2_100, 180_000),
    "characters, million": (310_123, 41_877, 58_204, 790_556),
}


def expand(tp: int, fp: int, fn: int, tn: int) -> tuple[np.ndarray, np.ndarray]:
    """The two raw 0/1 vectors of a table (units in cell order)."""
    reference = np.concatenate(
        [np.ones(tp), np.zeros(fp), np.ones(fn), np.zeros(tn)]
    ).astype(np.int64)
    candidate = np.concatenate(
        [np.ones(tp), np.ones(fp), np.zeros(fn), np.zeros(tn)]
    ).astype(np.int64)
    return reference, candidate


def table(reference: np.ndarray, candidate: np.ndarray) -> tuple[int, int, int, int]:
    r = reference.astype(bool)
    c = candidate.astype(bool)
    return (
        int(np.sum(r & c)),
        int(np.sum(~r & c)),
        int(np.sum(r & ~c)),
        int(np.sum(~r & ~c)),
    )


def nan_to_none(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def statistics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        percent = accuracy_score(reference, candidate)
        kappa = cohen_kappa_score(reference, candidate)
        try:
            alpha = krippendorff.alpha(
                reliability_data=np.vstack([reference, candidate]).astype(float),
                level_of_measurement="nominal",
                value_domain=[0.0, 1.0],
            )
        except ValueError:
            alpha = math.nan
        ratings = pd.DataFrame({"reference": reference, "candidate": candidate})
        gwet = CAC(ratings, categories=[0, 1], digits=15).gwet()["est"]
        precision, recall, f1, _ = precision_recall_fscore_support(
            reference, candidate, average="binary", pos_label=1, zero_division=0
        )
    # irrCAC's percent agreement must be the plain share of agreeing units.
    assert abs(gwet["pa"] - percent) < 1e-12, (gwet["pa"], percent)
    return {
        "percent_agreement": nan_to_none(percent),
        "cohen_kappa": nan_to_none(kappa),
        "krippendorff_alpha": nan_to_none(alpha),
        "gwet_ac1": nan_to_none(gwet["coefficient_value"]),
        "precision": nan_to_none(precision),
        "recall": nan_to_none(recall),
        "f1": nan_to_none(f1),
    }


def case(name: str, kind: str, reference: np.ndarray, candidate: np.ndarray) -> dict:
    tp, fp, fn, tn = table(reference, candidate)
    return {
        "name": name,
        "kind": kind,
        "true_positive": tp,
        "false_positive": fp,
        "false_negative": fn,
        "true_negative": tn,
        "expected": statistics(reference, candidate),
    }


def main() -> int:
    rng = np.random.default_rng(SEED)
    cases = []
    for i, (n, prevalence, flip, towards_one) in enumerate(RANDOM_SPECS):
        reference = (rng.random(n) < prevalence).astype(np.int64)
        flips = rng.random(n) < flip
        if towards_one is None:
            candidate = np.where(flips, 1 - reference, reference)
        else:
            # A biased candidate: a "flip" sets the code to 1 with probability towards_one,
            # else to 0, so the candidate over- or under-codes.
            forced = (rng.random(n) < towards_one).astype(np.int64)
            candidate = np.where(flips, forced, reference)
        name = f"random {i}: n={n} prevalence={prevalence} flip={flip} bias={towards_one}"
        cases.append(case(name, "random", reference, candidate))
    for name, counts in EDGE_TABLES.items():
        cases.append(case(name, "edge", *expand(*counts)))
    for name, counts in HAND_TABLES.items():
        cases.append(case(name, "hand", *expand(*counts)))

    out = {
        "generator": "scripts/agreement_reference.py",
        "seed": SEED,
        "versions": {
            "python": sys.version.split()[0],
            "numpy": version("numpy"),
            "pandas": version("pandas"),
            "scikit-learn": version("scikit-learn"),
            "krippendorff": version("krippendorff"),
            "irrcac": version("irrcac"),
        },
        "cases": cases,
    }
    OUT.write_text(json.dumps(out, indent=1, allow_nan=False) + "\n")
    undefined = sum(v is None for c in cases for v in c["expected"].values())
    print(f"wrote {OUT}: {len(cases)} cases, {undefined} undefined values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
