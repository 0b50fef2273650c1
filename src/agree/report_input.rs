//! From an [`Agreement`] to the plain data the HTML report renders: statistics with intervals,
//! code co-occurrence per coder, code frequency by speaker and by a metadata field, the top
//! disagreements and the threshold curves.

use std::collections::BTreeMap;

use super::{Agreement, ComparedUnit, LevelAgreement};
use crate::metrics::agreement::{Interval, StatisticIntervals};
use crate::metrics::report::{
    CodeStats, Cooccurrence, DisagreementRow, FrequencyRow, FrequencyTable, Intervals,
    LevelSection, ReportInput, ThresholdCurve, ThresholdPoint,
};

/// The metadata field the report counts codes by when none is named, if units carry it.
pub const DEFAULT_BREAKDOWN_FIELD: &str = "site";

fn bounds(interval: &Interval) -> Option<[f64; 2]> {
    (!interval.lower.is_nan() && !interval.upper.is_nan())
        .then_some([interval.lower, interval.upper])
}

fn intervals(from: &StatisticIntervals) -> Intervals {
    let b = &from.bounds;
    Intervals {
        percent_agreement: bounds(&b.percent_agreement),
        cohen_kappa: bounds(&b.cohen_kappa),
        krippendorff_alpha: bounds(&b.krippendorff_alpha),
        gwet_ac1: bounds(&b.gwet_ac1),
        precision: bounds(&b.precision),
        recall: bounds(&b.recall),
        f1: bounds(&b.f1),
    }
}

fn section(codes: &[String], level: &LevelAgreement, description: &str) -> LevelSection {
    let per_code = codes
        .iter()
        .filter_map(|code| level.per_code.get_key_value(code))
        .map(|(code, s)| CodeStats {
            code: code.clone(),
            percent_agreement: s.percent_agreement,
            cohen_kappa: s.cohen_kappa,
            krippendorff_alpha: s.krippendorff_alpha,
            gwet_ac1: s.gwet_ac1,
            precision: s.precision,
            recall: s.recall,
            f1: s.f1,
            support_reference: s.support_reference,
            support_candidate: s.support_candidate,
            intervals: level
                .intervals
                .as_ref()
                .and_then(|i| i.per_code.get(code))
                .map(intervals),
        })
        .collect();
    let m = &level.macro_average;
    LevelSection {
        name: level.level.clone(),
        description: description.to_string(),
        n_units: level.n_units,
        per_code,
        macro_stats: CodeStats {
            code: "average of codes".into(),
            percent_agreement: m.percent_agreement,
            cohen_kappa: m.cohen_kappa,
            krippendorff_alpha: m.krippendorff_alpha,
            gwet_ac1: m.gwet_ac1,
            precision: m.precision,
            recall: m.recall,
            f1: m.f1,
            support_reference: 0,
            support_candidate: 0,
            intervals: level
                .intervals
                .as_ref()
                .map(|i| intervals(&i.macro_average)),
        },
    }
}

/// Code × code counts of units carrying both codes, for one coder's side of the units.
pub fn cooccurrence(
    units: &[ComparedUnit],
    codes: usize,
    side: impl Fn(&ComparedUnit) -> &[bool],
) -> Vec<Vec<u64>> {
    let mut counts = vec![vec![0u64; codes]; codes];
    for unit in units {
        let flags = side(unit);
        for i in (0..codes).filter(|&i| flags[i]) {
            for j in (0..codes).filter(|&j| flags[j]) {
                counts[i][j] += 1;
            }
        }
    }
    counts
}

/// Per value of `key` (units without one are left out): units, and per-code counts of each
/// coder.
pub fn frequency(
    by: &str,
    units: &[ComparedUnit],
    codes: usize,
    key: impl Fn(&ComparedUnit) -> Option<String>,
) -> FrequencyTable {
    let mut rows: BTreeMap<String, FrequencyRow> = BTreeMap::new();
    for unit in units {
        let Some(value) = key(unit) else { continue };
        let row = rows.entry(value.clone()).or_insert_with(|| FrequencyRow {
            value,
            n_units: 0,
            reference: vec![0; codes],
            candidate: vec![0; codes],
        });
        row.n_units += 1;
        for c in 0..codes {
            row.reference[c] += u64::from(unit.reference[c]);
            row.candidate[c] += u64::from(unit.candidate[c]);
        }
    }
    FrequencyTable {
        by: by.to_string(),
        rows: rows.into_values().collect(),
    }
}

fn owned(names: Vec<&str>) -> Vec<String> {
    names.into_iter().map(str::to_string).collect()
}

/// Builds the report's input: `by` names the metadata field to count codes by (default
/// [`DEFAULT_BREAKDOWN_FIELD`] when units carry it), `top` the number of disagreements shown.
pub fn report_input(agreement: &Agreement, by: Option<&str>, top: usize) -> ReportInput {
    let codes = &agreement.codes;
    let n = codes.len();
    let mut levels = vec![section(
        codes,
        &agreement.segment,
        "Each unit is coded or not coded with each code by each coder; units are compared one by one.",
    )];
    if let Some(character) = &agreement.character {
        levels.push(section(
            codes,
            character,
            "Every character of the source texts is a unit, as NVivo's coding comparison counts: characters neither coder coded count as agreement, so high figures can hide poor agreement on what was coded. Intervals resample whole segments.",
        ));
    }
    let units = &agreement.units;
    let cooccurrence = vec![
        Cooccurrence {
            coder: agreement.reference_name.clone(),
            counts: cooccurrence(units, n, |u| &u.reference),
            n_units: units.len() as u64,
        },
        Cooccurrence {
            coder: agreement.candidate_name.clone(),
            counts: cooccurrence(units, n, |u| &u.candidate),
            n_units: units.len() as u64,
        },
    ];
    let mut frequencies = Vec::new();
    if units.iter().any(|u| u.speaker.is_some()) {
        frequencies.push(frequency("speaker", units, n, |u| u.speaker.clone()));
    }
    let field = by.unwrap_or(DEFAULT_BREAKDOWN_FIELD);
    if units.iter().any(|u| u.metadata.contains_key(field)) {
        frequencies.push(frequency(field, units, n, |u| {
            u.metadata.get(field).cloned()
        }));
    }
    let ranked = super::disagreements::ranked(agreement);
    let disagreements = ranked
        .iter()
        .take(top)
        .map(|d| DisagreementRow {
            unit: match &d.unit.place {
                Some((source, start, end)) => format!("{source} [{start}, {end})"),
                None => d.unit.key.clone(),
            },
            text: d.unit.text.clone(),
            reference: owned(super::code_names(codes, &d.unit.reference)),
            candidate: owned(super::code_names(codes, &d.unit.candidate)),
            scores: d.unit.scores.clone(),
        })
        .collect();
    let threshold_curves = codes
        .iter()
        .filter_map(|code| agreement.curves.get_key_value(code))
        .map(|(code, points)| ThresholdCurve {
            code: code.clone(),
            points: points
                .iter()
                .map(|p| ThresholdPoint {
                    threshold: p.threshold,
                    cohen_kappa: p.cohen_kappa,
                    f1: p.f1,
                })
                .collect(),
            current_threshold: agreement
                .thresholds
                .as_ref()
                .and_then(|t| t.get(code).copied())
                .unwrap_or(f32::NAN),
        })
        .collect();
    let mut notes = agreement.notes.clone();
    if agreement.unmatched_reference + agreement.unmatched_candidate > 0 {
        notes.push(format!(
            "Not compared: {} reference and {} candidate units without a counterpart.",
            agreement.unmatched_reference, agreement.unmatched_candidate
        ));
    }
    if let Some(share) = agreement.min_overlap {
        notes.push(format!(
            "A segment carries a span coder's code when one of its spans of that code overlaps the segment by at least {:.0}% of the shorter of the two.",
            share * 100.0
        ));
    }
    ReportInput {
        title: "Agreement between coders".into(),
        generated_at: crate::telemetry::now_rfc3339(),
        reference_name: agreement.reference_name.clone(),
        candidate_name: agreement.candidate_name.clone(),
        codes: codes.clone(),
        levels,
        cooccurrence,
        frequencies,
        disagreements,
        disagreements_total: Some(ranked.len() as u64),
        threshold_curves,
        learning_curve: None,
        notes,
    }
}
