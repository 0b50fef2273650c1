//! The review queue (`agree --disagreements FILE.parquet`): every unit on which the coders
//! differ, with both codings and the model's scores, most confident disagreements first, so a
//! researcher reviews the cases where the model is surest it is right (or most wrong) first.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::RecordBatch;
use arrow_array::builder::{Float32Builder, Int64Builder, ListBuilder, StringBuilder};
use parquet::arrow::ArrowWriter;

use super::{Agreement, ComparedUnit};
use crate::error::Result;
use crate::output::manifest::write_atomically;
use crate::output::parquet::default_writer_properties;
use crate::output::schema;

/// A unit the coders disagree on.
#[derive(Debug, Clone, PartialEq)]
pub struct Disagreement<'a> {
    pub unit: &'a ComparedUnit,
    /// Codes on which the coders differ, in code-list order.
    pub codes: Vec<usize>,
    /// How sure the candidate was of its side of the disagreement: over the differing codes,
    /// the highest of its score (where it coded) or one minus its score (where it did not).
    /// `None` without scores.
    pub confidence: Option<f32>,
}

/// Every disagreement, most confident first; without scores, most differing codes first; ties
/// keep the units' order.
pub fn ranked(agreement: &Agreement) -> Vec<Disagreement<'_>> {
    let mut out: Vec<Disagreement<'_>> = agreement
        .units
        .iter()
        .filter_map(|unit| {
            let codes: Vec<usize> = (0..unit.reference.len())
                .filter(|&c| unit.reference[c] != unit.candidate[c])
                .collect();
            if codes.is_empty() {
                return None;
            }
            let confidence = unit.scores.as_ref().map(|scores| {
                codes
                    .iter()
                    .map(|&c| {
                        if unit.candidate[c] {
                            scores[c]
                        } else {
                            1.0 - scores[c]
                        }
                    })
                    .fold(0.0f32, f32::max)
            });
            Some(Disagreement {
                unit,
                codes,
                confidence,
            })
        })
        .collect();
    out.sort_by(|a, b| match (a.confidence, b.confidence) {
        (Some(x), Some(y)) => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
        _ => b.codes.len().cmp(&a.codes.len()),
    });
    out
}

fn list_of(values: &[Vec<&str>]) -> ArrayRef {
    let mut builder =
        ListBuilder::new(StringBuilder::new()).with_field(Arc::new(schema::list_item_field()));
    for row in values {
        for v in row {
            builder.values().append_value(v);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

/// The disagreements as a record batch in [`schema::disagreement_schema`].
///
/// # Errors
/// When the columns do not fit the schema (a bug).
pub fn to_record_batch(agreement: &Agreement) -> Result<RecordBatch> {
    let rows = ranked(agreement);
    let codes = &agreement.codes;
    let strings = |f: &dyn Fn(&Disagreement) -> Option<String>| -> ArrayRef {
        let mut b = StringBuilder::new();
        rows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let ints = |f: &dyn Fn(&Disagreement) -> Option<i64>| -> ArrayRef {
        let mut b = Int64Builder::new();
        rows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let floats = |f: &dyn Fn(&Disagreement) -> Option<f32>| -> ArrayRef {
        let mut b = Float32Builder::new();
        rows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let mut columns: Vec<ArrayRef> = vec![
        strings(&|r| Some(r.unit.key.clone())),
        strings(&|r| r.unit.place.as_ref().map(|p| p.0.clone())),
        ints(&|r| r.unit.place.as_ref().map(|p| p.1 as i64)),
        ints(&|r| r.unit.place.as_ref().map(|p| p.2 as i64)),
        strings(&|r| r.unit.speaker.clone()),
        strings(&|r| Some(r.unit.text.clone())),
        list_of(
            &rows
                .iter()
                .map(|r| super::code_names(codes, &r.unit.reference))
                .collect::<Vec<_>>(),
        ),
        list_of(
            &rows
                .iter()
                .map(|r| super::code_names(codes, &r.unit.candidate))
                .collect::<Vec<_>>(),
        ),
        list_of(
            &rows
                .iter()
                .map(|r| r.codes.iter().map(|&c| codes[c].as_str()).collect())
                .collect::<Vec<_>>(),
        ),
        floats(&|r| r.confidence),
    ];
    for c in 0..codes.len() {
        columns.push(floats(&|r| r.unit.scores.as_ref().map(|s| s[c])));
    }
    Ok(RecordBatch::try_new(
        schema::disagreement_schema(codes),
        columns,
    )?)
}

/// Writes the review queue to a Parquet file (atomically: temporary name, then rename).
///
/// # Errors
/// When the file cannot be written.
pub fn write(agreement: &Agreement, path: &std::path::Path) -> Result<()> {
    let batch = to_record_batch(agreement)?;
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(
        &mut bytes,
        batch.schema(),
        Some(default_writer_properties()),
    )?;
    writer.write(&batch)?;
    writer.close()?;
    write_atomically(path, &bytes)
}
