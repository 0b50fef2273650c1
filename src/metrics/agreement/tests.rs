//! Tests of the agreement statistics: reference values from scikit-learn, krippendorff and
//! irrCAC (`tests/fixtures/agreement_reference.json`), hand-computed values, invariants, and the
//! bootstrap.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Deserialize;

use super::*;

fn table(tp: u64, fp: u64, fn_: u64, tn: u64) -> Confusion {
    Confusion {
        true_positive: tp,
        false_positive: fp,
        false_negative: fn_,
        true_negative: tn,
    }
}

fn swapped(c: &Confusion) -> Confusion {
    table(
        c.true_positive,
        c.false_negative,
        c.false_positive,
        c.true_negative,
    )
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= tolerance
}

// ---- reference values ----

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    true_positive: u64,
    false_positive: u64,
    false_negative: u64,
    true_negative: u64,
    expected: BTreeMap<String, Option<f64>>,
}

#[test]
fn matches_sklearn_krippendorff_and_irrcac() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/agreement_reference.json"
    );
    let text = std::fs::read_to_string(path).expect("the fixture is committed");
    let fixture: Fixture = serde_json::from_str(&text).expect("the fixture parses");
    assert!(fixture.cases.len() >= 40, "{} cases", fixture.cases.len());
    let mut checked = 0;
    let mut undefined = 0;
    for case in &fixture.cases {
        let c = table(
            case.true_positive,
            case.false_positive,
            case.false_negative,
            case.true_negative,
        );
        let agreement = CodeAgreement::from_confusion(&c);
        assert_eq!(case.expected.len(), Statistic::ALL.len(), "{}", case.name);
        for statistic in Statistic::ALL {
            let expected = case.expected[statistic.name()];
            let got = agreement.get(statistic);
            match expected {
                None => {
                    assert!(
                        got.is_nan(),
                        "{}: {} = {got}, expected null",
                        case.name,
                        statistic.name()
                    );
                    undefined += 1;
                }
                Some(e) => assert!(
                    (got - e).abs() < 1e-6,
                    "{}: {} = {got}, expected {e}",
                    case.name,
                    statistic.name()
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, fixture.cases.len() * 7);
    assert!(undefined >= 4, "the fixture covers undefined values");
}

// ---- hand-computed values ----

#[test]
fn hand_computed_small_table() {
    // a = 3 both, b = 1 candidate only, c = 2 reference only, d = 4 neither; n = 10.
    let c = table(3, 1, 2, 4);
    let s = CodeAgreement::from_confusion(&c);
    assert_eq!(s.n, 10);
    assert_eq!(s.support_reference, 5);
    assert_eq!(s.support_candidate, 4);
    // p_o = 7/10.
    assert!(close(s.percent_agreement, 0.7, 1e-15));
    // p_e = (4*5 + 6*5) / 100 = 0.5; kappa = 0.2 / 0.5 = 0.4.
    assert!(close(s.cohen_kappa, 0.4, 1e-15));
    // Values: coded n_1 = 2*3 + 3 = 9, not coded n_0 = 2*4 + 3 = 11, disagreeing pairs 3:
    // alpha = 1 - 19 * 3 / 99 = 42/99.
    assert!(close(s.krippendorff_alpha, 42.0 / 99.0, 1e-15));
    // pi = 9/20, p_e = 2 * 0.45 * 0.55 = 0.495; AC1 = 0.205 / 0.505.
    assert!(close(s.gwet_ac1, 0.205 / 0.505, 1e-15));
    assert!(close(s.precision, 0.75, 1e-15));
    assert!(close(s.recall, 0.6, 1e-15));
    assert!(close(s.f1, 2.0 / 3.0, 1e-15));
}

#[test]
fn undefined_values() {
    // Empty table: everything undefined except P/R/F1, which are 0.
    let empty = CodeAgreement::from_confusion(&Confusion::default());
    for s in [
        Statistic::PercentAgreement,
        Statistic::CohenKappa,
        Statistic::KrippendorffAlpha,
        Statistic::GwetAc1,
    ] {
        assert!(empty.get(s).is_nan(), "{}", s.name());
    }
    assert_eq!((empty.precision, empty.recall, empty.f1), (0.0, 0.0, 0.0));
    // Neither coder ever codes: kappa and alpha undefined, AC1 and percent agreement 1.
    let never = CodeAgreement::from_confusion(&table(0, 0, 0, 40));
    assert!(never.cohen_kappa.is_nan() && never.krippendorff_alpha.is_nan());
    assert_eq!((never.percent_agreement, never.gwet_ac1), (1.0, 1.0));
    assert_eq!((never.precision, never.recall, never.f1), (0.0, 0.0, 0.0));
    // Both always code: likewise, with P = R = F1 = 1.
    let always = CodeAgreement::from_confusion(&table(40, 0, 0, 0));
    assert!(always.cohen_kappa.is_nan() && always.krippendorff_alpha.is_nan());
    assert_eq!((always.gwet_ac1, always.f1), (1.0, 1.0));
    // Constant but opposite coders: kappa 0, alpha defined and negative, AC1 -1.
    let opposite = CodeAgreement::from_confusion(&table(0, 10, 0, 0));
    assert_eq!(opposite.cohen_kappa, 0.0);
    assert!(close(opposite.krippendorff_alpha, -0.9, 1e-15));
    assert_eq!(opposite.gwet_ac1, -1.0);
    // One unit on which the coders disagree.
    assert_eq!(krippendorff_alpha(&table(0, 1, 0, 0)), 0.0);
}

#[test]
fn character_counts_in_the_billions_are_exact() {
    // Products of these counts overflow u64; kappa and AC1 are scale-invariant.
    let small = table(31, 4, 6, 79);
    let k = 100_000_000;
    let large = table(31 * k, 4 * k, 6 * k, 79 * k);
    for s in [
        Statistic::PercentAgreement,
        Statistic::CohenKappa,
        Statistic::GwetAc1,
        Statistic::Precision,
        Statistic::Recall,
        Statistic::F1,
    ] {
        assert!(close(s.of(&small), s.of(&large), 1e-14), "{}", s.name());
    }
    // Alpha tends to 1 - 2n(b + c) / (n_0 n_1) as n grows.
    let n = 120.0 * k as f64;
    let limit = 1.0
        - 2.0 * n * 10.0 * k as f64 / ((2.0 * 79.0 + 10.0) * (2.0 * 31.0 + 10.0) * (k * k) as f64);
    assert!(close(krippendorff_alpha(&large), limit, 1e-9));
}

#[test]
fn macro_average_skips_undefined_codes() {
    let per_code: Vec<CodeAgreement> = [table(3, 1, 2, 4), table(0, 0, 0, 10), table(5, 0, 0, 5)]
        .iter()
        .map(CodeAgreement::from_confusion)
        .collect();
    let m = macro_average(&per_code);
    assert_eq!(m.codes, 3);
    assert_eq!(m.codes_averaged.cohen_kappa, 2);
    assert_eq!(m.codes_averaged.krippendorff_alpha, 2);
    assert_eq!(m.codes_averaged.gwet_ac1, 3);
    assert_eq!(m.codes_averaged.f1, 3);
    assert!(close(m.cohen_kappa, (0.4 + 1.0) / 2.0, 1e-15));
    assert!(close(m.percent_agreement, (0.7 + 1.0 + 1.0) / 3.0, 1e-15));
    // The never-used code counts as F1 0, as sklearn's macro average with zero_division=0.
    assert!(close(m.f1, (2.0 / 3.0 + 0.0 + 1.0) / 3.0, 1e-15));
    // No code defined: NaN, averaged over 0.
    let none = macro_average(&per_code[1..2]);
    assert!(none.cohen_kappa.is_nan());
    assert_eq!(none.codes_averaged.cohen_kappa, 0);
    let empty = macro_average(&[]);
    assert!(empty.f1.is_nan() && empty.codes == 0);
}

// ---- JSON ----

#[test]
fn json_field_names_and_nan_as_null() {
    let agreement = CodeAgreement::from_confusion(&table(0, 0, 0, 25));
    let value = serde_json::to_value(agreement).expect("serialises");
    let keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "n",
        "percent_agreement",
        "cohen_kappa",
        "krippendorff_alpha",
        "gwet_ac1",
        "precision",
        "recall",
        "f1",
        "support_reference",
        "support_candidate",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert!(value["cohen_kappa"].is_null());
    assert!(value["krippendorff_alpha"].is_null());
    assert_eq!(value["gwet_ac1"], 1.0);
    let back: CodeAgreement = serde_json::from_value(value).expect("reads back");
    assert!(back.cohen_kappa.is_nan());
    assert_eq!(back.percent_agreement, 1.0);

    let m = macro_average(&[agreement]);
    let value = serde_json::to_value(m).expect("serialises");
    assert!(value["cohen_kappa"].is_null());
    assert_eq!(value["codes_averaged"]["cohen_kappa"], 0);
    assert_eq!(value["codes_averaged"]["gwet_ac1"], 1);
    let back: MacroAgreement = serde_json::from_value(value).expect("reads back");
    assert!(back.cohen_kappa.is_nan());
}

#[test]
fn interval_json() {
    let i = Interval {
        lower: 0.25,
        upper: 0.5,
    };
    assert_eq!(serde_json::to_string(&i).expect("serialises"), "[0.25,0.5]");
    assert_eq!(
        serde_json::to_string(&Interval::UNDEFINED).expect("serialises"),
        "[null,null]"
    );
    let back: Interval = serde_json::from_str("[null,0.5]").expect("reads");
    assert!(back.lower.is_nan() && back.upper == 0.5);
}

// ---- invariants ----

fn any_table() -> impl Strategy<Value = Confusion> {
    prop_oneof![
        (0u64..6, 0u64..6, 0u64..6, 0u64..6),
        (0u64..2000, 0u64..2000, 0u64..2000, 0u64..2000),
        (
            0u64..5_000_000_000,
            0u64..5_000_000_000,
            0u64..5_000_000_000,
            0u64..5_000_000_000
        ),
    ]
    .prop_map(|(a, b, c, d)| table(a, b, c, d))
}

proptest! {
    #[test]
    fn swapping_coders_keeps_agreement_and_swaps_precision_and_recall(c in any_table()) {
        let s = CodeAgreement::from_confusion(&c);
        let t = CodeAgreement::from_confusion(&swapped(&c));
        for statistic in [Statistic::PercentAgreement, Statistic::CohenKappa,
                          Statistic::KrippendorffAlpha, Statistic::GwetAc1, Statistic::F1] {
            prop_assert!(close(s.get(statistic), t.get(statistic), 1e-12), "{}", statistic.name());
        }
        prop_assert_eq!(s.precision, t.recall);
        prop_assert_eq!(s.recall, t.precision);
        prop_assert_eq!(s.support_reference, t.support_candidate);
    }

    #[test]
    fn values_lie_in_their_ranges_and_are_undefined_exactly_when_documented(c in any_table()) {
        let s = CodeAgreement::from_confusion(&c);
        let n = s.n;
        let one_cell = c.true_positive == n || c.true_negative == n;
        for (statistic, low) in [(Statistic::PercentAgreement, 0.0), (Statistic::CohenKappa, -1.0),
                                 (Statistic::KrippendorffAlpha, -1.0), (Statistic::GwetAc1, -1.0),
                                 (Statistic::Precision, 0.0), (Statistic::Recall, 0.0),
                                 (Statistic::F1, 0.0)] {
            let v = s.get(statistic);
            let undefined = match statistic {
                Statistic::CohenKappa | Statistic::KrippendorffAlpha => one_cell,
                Statistic::PercentAgreement | Statistic::GwetAc1 => n == 0,
                _ => false,
            };
            prop_assert_eq!(v.is_nan(), undefined, "{} = {}", statistic.name(), v);
            if !undefined {
                prop_assert!((low - 1e-12..=1.0 + 1e-12).contains(&v), "{} = {}", statistic.name(), v);
            }
        }
        // For two coders alpha stays above -1: its minimum is -(n - 1) / n.
        if n > 0 && !one_cell {
            prop_assert!(s.krippendorff_alpha > -1.0);
        }
    }

    #[test]
    fn kappa_matches_its_textbook_form(a in 0u64..500, b in 0u64..500, c in 0u64..500, d in 0u64..500) {
        let t = table(a, b, c, d);
        let n = (a + b + c + d) as f64;
        prop_assume!(n > 0.0);
        let po = (a + d) as f64 / n;
        let pe = ((a + b) as f64 * (a + c) as f64 + (c + d) as f64 * (b + d) as f64) / (n * n);
        let textbook = if pe == 1.0 { f64::NAN } else { (po - pe) / (1.0 - pe) };
        prop_assert!(close(cohen_kappa(&t), textbook, 1e-12));
    }
}

// ---- bootstrap ----

/// Units of `codes` codes: the reference codes with probability `prevalence[k]`, the candidate
/// flips the reference's decision with probability `flip`.
fn simulated_units(units: usize, prevalence: &[f32], flip: f32, seed: u64) -> Vec<Vec<Confusion>> {
    let mut rng = SplitMix::new(seed);
    (0..units)
        .map(|_| {
            let reference: Vec<bool> = prevalence.iter().map(|&p| rng.next_f32() < p).collect();
            let candidate: Vec<bool> = reference
                .iter()
                .map(|&r| if rng.next_f32() < flip { !r } else { r })
                .collect();
            unit_tables(&reference, &candidate).expect("same length")
        })
        .collect()
}

fn point_estimates(units: &[Vec<Confusion>]) -> (Vec<CodeAgreement>, MacroAgreement) {
    let per_code: Vec<CodeAgreement> = sum_units(units)
        .expect("rectangular")
        .iter()
        .map(CodeAgreement::from_confusion)
        .collect();
    let m = macro_average(&per_code);
    (per_code, m)
}

#[test]
fn bootstrap_is_deterministic_for_a_seed() {
    let units = simulated_units(300, &[0.3, 0.05, 0.6], 0.1, 1);
    let json =
        |seed| serde_json::to_string(&bootstrap(&units, 300, seed).expect("valid")).expect("json");
    assert_eq!(json(42), json(42));
    assert_ne!(json(42), json(43));
}

#[test]
fn bootstrap_interval_contains_the_point_estimate() {
    let units = simulated_units(800, &[0.3, 0.1, 0.6], 0.1, 2);
    let (per_code, m) = point_estimates(&units);
    let b = bootstrap(&units, 1000, 9).expect("valid");
    assert_eq!(b.per_code.len(), 3);
    assert_eq!(b.replicates, 1000);
    for (code, (intervals, point)) in b.per_code.iter().zip(&per_code).enumerate() {
        assert!(intervals.undefined_replicates.is_empty());
        for (statistic, interval) in intervals.bounds.iter() {
            let p = point.get(statistic);
            assert!(
                interval.contains(p),
                "code {code} {}: {p} not in {interval:?}",
                statistic.name()
            );
            assert!(interval.width() > 0.0);
        }
    }
    for (statistic, interval) in b.macro_average.bounds.iter() {
        assert!(
            interval.contains(m.get(statistic)),
            "macro {}",
            statistic.name()
        );
    }
}

#[test]
fn bootstrap_intervals_narrow_as_n_grows() {
    let small = simulated_units(150, &[0.3, 0.5], 0.15, 3);
    let large = simulated_units(6000, &[0.3, 0.5], 0.15, 4);
    let bs = bootstrap(&small, 500, 5).expect("valid");
    let bl = bootstrap(&large, 500, 5).expect("valid");
    for statistic in Statistic::ALL {
        for code in 0..2 {
            let (ws, wl) = (
                bs.per_code[code].bounds[statistic].width(),
                bl.per_code[code].bounds[statistic].width(),
            );
            // sqrt(6000 / 150) ≈ 6.3 times narrower in theory.
            assert!(
                wl * 3.0 < ws,
                "code {code} {}: {wl} vs {ws}",
                statistic.name()
            );
        }
        let (ws, wl) = (
            bs.macro_average.bounds[statistic].width(),
            bl.macro_average.bounds[statistic].width(),
        );
        assert!(wl * 3.0 < ws, "macro {}: {wl} vs {ws}", statistic.name());
    }
}

/// Segments of 20 to 200 characters, each coded as a whole by each coder (as a human codes a
/// passage): the characters of one segment share their cell.
fn segments(count: usize, seed: u64) -> (Vec<Vec<Confusion>>, Vec<Vec<Confusion>>) {
    let units = simulated_units(count, &[0.3], 0.15, seed);
    let mut rng = SplitMix::new(seed ^ 0xABCD);
    let mut blocks = Vec::new();
    let mut characters = Vec::new();
    for unit in &units {
        let length = 20 + rng.next_u64() % 181;
        let c = unit[0];
        blocks.push(vec![table(
            c.true_positive * length,
            c.false_positive * length,
            c.false_negative * length,
            c.true_negative * length,
        )]);
        for _ in 0..length {
            characters.push(unit.clone());
        }
    }
    (blocks, characters)
}

#[test]
fn block_bootstrap_of_character_counts() {
    let (blocks, characters) = segments(300, 6);
    let block = bootstrap(&blocks, 800, 11).expect("valid");
    let (per_code, _) = point_estimates(&blocks);
    let (per_character, _) = point_estimates(&characters);
    // The same characters give the same point estimates either way.
    for statistic in Statistic::ALL {
        assert!(close(
            per_code[0].get(statistic),
            per_character[0].get(statistic),
            1e-12
        ));
        assert!(block.per_code[0].bounds[statistic].contains(per_code[0].get(statistic)));
    }
    // Treating ~33,000 dependent characters as independent units understates the uncertainty:
    // the block bootstrap, which resamples whole segments, is several times wider.
    let naive = bootstrap(&characters, 800, 11).expect("valid");
    for statistic in [
        Statistic::CohenKappa,
        Statistic::KrippendorffAlpha,
        Statistic::F1,
    ] {
        let (wb, wn) = (
            block.per_code[0].bounds[statistic].width(),
            naive.per_code[0].bounds[statistic].width(),
        );
        assert!(
            wb > 3.0 * wn,
            "{}: block {wb} vs characters {wn}",
            statistic.name()
        );
    }
}

#[test]
fn equal_length_blocks_resample_like_their_units() {
    // Segments of 50 characters each: the draws are the same and kappa, AC1, percent
    // agreement, P/R/F1 are scale-invariant, so the intervals are identical.
    let units = simulated_units(200, &[0.4, 0.1], 0.2, 7);
    let blocks: Vec<Vec<Confusion>> = units
        .iter()
        .map(|u| {
            u.iter()
                .map(|c| {
                    table(
                        50 * c.true_positive,
                        50 * c.false_positive,
                        50 * c.false_negative,
                        50 * c.true_negative,
                    )
                })
                .collect()
        })
        .collect();
    let a = bootstrap(&units, 400, 8).expect("valid");
    let b = bootstrap(&blocks, 400, 8).expect("valid");
    for code in 0..2 {
        for statistic in Statistic::ALL {
            if statistic == Statistic::KrippendorffAlpha {
                continue;
            }
            let (x, y) = (
                a.per_code[code].bounds[statistic],
                b.per_code[code].bounds[statistic],
            );
            assert!(
                close(x.lower, y.lower, 1e-12) && close(x.upper, y.upper, 1e-12),
                "{}",
                statistic.name()
            );
        }
    }
}

#[test]
fn bootstrap_reports_undefined_replicates() {
    // Code 0: one unit of 30 coded by both, so about a third of the resamples miss it and
    // leave kappa and alpha undefined. Code 1: nobody ever codes it.
    let mut units = vec![unit_tables(&[false, false], &[false, false]).expect("same length"); 29];
    units.push(unit_tables(&[true, false], &[true, false]).expect("same length"));
    let b = bootstrap(&units, 1000, 12).expect("valid");
    let code0 = &b.per_code[0];
    let missing = code0.undefined_replicates[&Statistic::CohenKappa];
    assert!((250..=480).contains(&missing), "{missing}");
    assert_eq!(
        code0.undefined_replicates[&Statistic::KrippendorffAlpha],
        missing
    );
    assert!(!code0.undefined_replicates.contains_key(&Statistic::GwetAc1));
    assert_eq!(code0.bounds.cohen_kappa.upper, 1.0);
    let code1 = &b.per_code[1];
    assert_eq!(code1.undefined_replicates[&Statistic::CohenKappa], 1000);
    assert!(code1.bounds.cohen_kappa.lower.is_nan());
    // The macro kappa is defined whenever code 0's is.
    assert_eq!(
        b.macro_average.undefined_replicates[&Statistic::CohenKappa],
        missing
    );
    let json = serde_json::to_value(&b).expect("serialises");
    assert!(json["per_code"][1]["cohen_kappa"][0].is_null());
    assert_eq!(
        json["per_code"][1]["undefined_replicates"]["cohen_kappa"],
        1000
    );
    assert_eq!(json["macro"]["gwet_ac1"].as_array().map(Vec::len), Some(2));
    assert!(json["macro"].get("undefined_replicates").is_some());
    assert!(json["per_code"][0].get("undefined_replicates").is_some());
}

#[test]
fn bootstrap_rejects_bad_input() {
    let none: Vec<Vec<Confusion>> = Vec::new();
    assert_eq!(bootstrap(&none, 10, 1), Err(AgreementError::NoUnits));
    let units = simulated_units(5, &[0.5, 0.5], 0.1, 1);
    assert_eq!(bootstrap(&units, 0, 1), Err(AgreementError::NoReplicates));
    let mut ragged = units.clone();
    ragged[3].pop();
    assert_eq!(
        bootstrap(&ragged, 10, 1),
        Err(AgreementError::CodeCountMismatch {
            unit: 3,
            expected: 2,
            found: 1
        })
    );
    assert!(sum_units(&ragged).is_err());
    assert_eq!(
        unit_tables(&[true], &[true, false]),
        Err(AgreementError::CoderLengthMismatch {
            reference: 1,
            candidate: 2
        })
    );
}

#[test]
fn quantiles_interpolate_like_numpy() {
    // numpy.percentile([1, 2, 3, 4], [2.5, 97.5]) == [1.075, 3.925].
    let sorted = [1.0, 2.0, 3.0, 4.0];
    assert!(close(quantile(&sorted, 0.025), 1.075, 1e-12));
    assert!(close(quantile(&sorted, 0.975), 3.925, 1e-12));
    assert_eq!(quantile(&[5.0], 0.975), 5.0);
    let mut values = [f64::NAN, 4.0, 1.0, 3.0, f64::NAN, 2.0];
    let (interval, undefined) = percentile_interval(&mut values);
    assert_eq!(undefined, 2);
    assert!(close(interval.lower, 1.075, 1e-12) && close(interval.upper, 3.925, 1e-12));
}

/// The scale the brief asks for: 10,000 units, 10 codes, 2,000 replicates. Run by hand:
/// `cargo test --release --lib metrics::agreement -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand"]
fn bootstrap_at_scale() {
    let prevalence = [0.3, 0.05, 0.6, 0.2, 0.01, 0.5, 0.15, 0.4, 0.08, 0.25];
    let units = simulated_units(10_000, &prevalence, 0.1, 13);
    let started = std::time::Instant::now();
    let b = bootstrap(&units, 2000, 1).expect("valid");
    println!("unit level, 10,000 x 10 x 2,000: {:?}", started.elapsed());
    assert_eq!(b.per_code.len(), 10);
    // Character level: every segment distinct.
    let blocks: Vec<Vec<Confusion>> = units
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let length = 20 + (i as u64 % 997);
            u.iter()
                .map(|c| {
                    table(
                        length * c.true_positive,
                        length * c.false_positive,
                        length * c.false_negative,
                        length * c.true_negative,
                    )
                })
                .collect()
        })
        .collect();
    let started = std::time::Instant::now();
    bootstrap(&blocks, 2000, 1).expect("valid");
    println!(
        "character level, 10,000 x 10 x 2,000: {:?}",
        started.elapsed()
    );
}
