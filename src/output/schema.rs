//! THE output schema: one row per segment. Every column name and type is defined here and
//! nowhere else; docs/SCHEMA.md documents it and a test keeps the two in step.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float32Builder, Int32Builder, Int64Builder, ListBuilder, MapBuilder,
    StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

pub const RUN_ID: &str = "run_id";
pub const SOURCE_PATH: &str = "source_path";
pub const DOC_ID: &str = "doc_id";
pub const RECORD_INDEX: &str = "record_index";
pub const RECORD_ID: &str = "record_id";
pub const SEGMENT_INDEX: &str = "segment_index";
pub const SPEAKER: &str = "speaker";
pub const CHAR_START: &str = "char_start";
pub const CHAR_END: &str = "char_end";
pub const CUE_START_MS: &str = "cue_start_ms";
pub const CUE_END_MS: &str = "cue_end_ms";
pub const TEXT: &str = "text";
pub const TOKEN_COUNT: &str = "token_count";
pub const TRUNCATED: &str = "truncated";
pub const LABELS: &str = "labels";
pub const MODEL_ID: &str = "model_id";
pub const METADATA: &str = "metadata";
/// Score columns are `score_<code>`, one per code, in codebook order, after `labels`.
pub const SCORE_PREFIX: &str = "score_";

/// The name of a code's score column.
pub fn score_column(code: &str) -> String {
    format!("{SCORE_PREFIX}{code}")
}

/// The item field of every list-of-code-names column.
pub fn list_item_field() -> Field {
    Field::new("item", DataType::Utf8, false)
}

fn metadata_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, true),
            ]
            .into(),
        ),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// The schema of the segments dataset for a codebook's codes.
pub fn segment_schema(codes: &[String]) -> SchemaRef {
    let mut fields = vec![
        Field::new(RUN_ID, DataType::Utf8, false),
        Field::new(SOURCE_PATH, DataType::Utf8, false),
        Field::new(DOC_ID, DataType::Utf8, false),
        Field::new(RECORD_INDEX, DataType::Int64, true),
        Field::new(RECORD_ID, DataType::Utf8, true),
        Field::new(SEGMENT_INDEX, DataType::Int32, false),
        Field::new(SPEAKER, DataType::Utf8, true),
        Field::new(CHAR_START, DataType::Int64, false),
        Field::new(CHAR_END, DataType::Int64, false),
        Field::new(CUE_START_MS, DataType::Int64, true),
        Field::new(CUE_END_MS, DataType::Int64, true),
        Field::new(TEXT, DataType::Utf8, false),
        Field::new(TOKEN_COUNT, DataType::Int32, false),
        Field::new(TRUNCATED, DataType::Boolean, false),
        Field::new(LABELS, DataType::List(Arc::new(list_item_field())), false),
    ];
    fields.extend(
        codes
            .iter()
            .map(|c| Field::new(score_column(c), DataType::Float32, false)),
    );
    fields.push(Field::new(MODEL_ID, DataType::Utf8, false));
    fields.push(Field::new(METADATA, metadata_type(), false));
    Arc::new(Schema::new(fields))
}

/// Columns of the review queue that `discotag agree --disagreements` writes.
pub const UNIT: &str = "unit";
pub const SOURCE: &str = "source";
pub const REFERENCE_CODES: &str = "reference_codes";
pub const CANDIDATE_CODES: &str = "candidate_codes";
pub const DISAGREEING_CODES: &str = "disagreeing_codes";
pub const CONFIDENCE: &str = "confidence";

/// The schema of the review queue (`agree --disagreements`), one row per unit the coders
/// disagree on; score columns are null when the candidate has no scores.
pub fn disagreement_schema(codes: &[String]) -> SchemaRef {
    let list = || DataType::List(Arc::new(list_item_field()));
    let mut fields = vec![
        Field::new(UNIT, DataType::Utf8, false),
        Field::new(SOURCE, DataType::Utf8, true),
        Field::new(CHAR_START, DataType::Int64, true),
        Field::new(CHAR_END, DataType::Int64, true),
        Field::new(SPEAKER, DataType::Utf8, true),
        Field::new(TEXT, DataType::Utf8, false),
        Field::new(REFERENCE_CODES, list(), false),
        Field::new(CANDIDATE_CODES, list(), false),
        Field::new(DISAGREEING_CODES, list(), false),
        Field::new(CONFIDENCE, DataType::Float32, true),
    ];
    fields.extend(
        codes
            .iter()
            .map(|c| Field::new(score_column(c), DataType::Float32, true)),
    );
    Arc::new(Schema::new(fields))
}

/// One labelled segment, as it becomes a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub source_path: Arc<str>,
    pub doc_id: Arc<str>,
    pub record_index: Option<i64>,
    pub record_id: Option<String>,
    pub segment_index: i32,
    pub speaker: Option<String>,
    pub char_start: i64,
    pub char_end: i64,
    pub cue_start_ms: Option<i64>,
    pub cue_end_ms: Option<i64>,
    pub text: String,
    pub token_count: i32,
    pub truncated: bool,
    pub labels: Vec<String>,
    /// One score per code, in codebook order.
    pub scores: Vec<f32>,
    pub metadata: Arc<BTreeMap<String, String>>,
}

fn constant(value: &str, n: usize) -> ArrayRef {
    Arc::new(arrow_array::StringArray::from(vec![value; n]))
}

/// Builds a record batch of `rows` in `schema` (from [`segment_schema`]).
///
/// # Errors
/// When the rows do not fit the schema (a score count differing from the codes).
pub fn to_record_batch(
    schema: &SchemaRef,
    run_id: &str,
    model_id: &str,
    rows: &[Row],
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let codes = schema
        .fields()
        .iter()
        .filter(|f| f.name().starts_with(SCORE_PREFIX))
        .count();
    if let Some(bad) = rows.iter().find(|r| r.scores.len() != codes) {
        return Err(ArrowError::InvalidArgumentError(format!(
            "row has {} scores but the schema has {codes} score columns",
            bad.scores.len()
        )));
    }
    let strings = |f: &dyn Fn(&Row) -> &str| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 16);
        rows.iter().for_each(|r| b.append_value(f(r)));
        Arc::new(b.finish())
    };
    let opt_strings = |f: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 8);
        rows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let ints = |f: &dyn Fn(&Row) -> Option<i64>| -> ArrayRef {
        let mut b = Int64Builder::with_capacity(n);
        rows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let int32s = |f: &dyn Fn(&Row) -> i32| -> ArrayRef {
        let mut b = Int32Builder::with_capacity(n);
        rows.iter().for_each(|r| b.append_value(f(r)));
        Arc::new(b.finish())
    };
    let mut truncated = BooleanBuilder::with_capacity(n);
    rows.iter()
        .for_each(|r| truncated.append_value(r.truncated));
    let mut labels = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(list_item_field()));
    for row in rows {
        for label in &row.labels {
            labels.values().append_value(label);
        }
        labels.append(true);
    }
    let mut metadata = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for row in rows {
        for (k, v) in row.metadata.iter() {
            metadata.keys().append_value(k);
            metadata.values().append_value(v);
        }
        metadata.append(true)?;
    }

    let mut columns: Vec<ArrayRef> = vec![
        constant(run_id, n),
        strings(&|r| &r.source_path),
        strings(&|r| &r.doc_id),
        ints(&|r| r.record_index),
        opt_strings(&|r| r.record_id.as_deref()),
        int32s(&|r| r.segment_index),
        opt_strings(&|r| r.speaker.as_deref()),
        ints(&|r| Some(r.char_start)),
        ints(&|r| Some(r.char_end)),
        ints(&|r| r.cue_start_ms),
        ints(&|r| r.cue_end_ms),
        strings(&|r| &r.text),
        int32s(&|r| r.token_count),
        Arc::new(truncated.finish()),
        Arc::new(labels.finish()),
    ];
    for code in 0..codes {
        let mut b = Float32Builder::with_capacity(n);
        rows.iter().for_each(|r| b.append_value(r.scores[code]));
        columns.push(Arc::new(b.finish()));
    }
    columns.push(constant(model_id, n));
    columns.push(Arc::new(metadata.finish()));
    RecordBatch::try_new(schema.clone(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column names of the first table after `heading` in docs/SCHEMA.md.
    fn documented_columns(heading: &str) -> Vec<String> {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/SCHEMA.md"))
            .unwrap();
        let section = doc.split_once(heading).expect("heading in SCHEMA.md").1;
        section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_string()))
            .collect()
    }

    /// The documented names of a schema's fields, score columns as one `score_<code>` line.
    fn expected_columns(schema: &SchemaRef) -> Vec<String> {
        let mut expected: Vec<String> = Vec::new();
        for field in schema.fields() {
            let name = field.name();
            if name.starts_with(SCORE_PREFIX) {
                if !expected.contains(&"score_<code>".to_string()) {
                    expected.push("score_<code>".into());
                }
            } else {
                expected.push(name.clone());
            }
        }
        expected
    }

    /// docs/SCHEMA.md lists every column of both schemas, in order.
    #[test]
    fn schema_doc_matches_code() {
        let codes = ["prevention".to_string(), "empowerment".to_string()];
        assert_eq!(
            documented_columns("## Segments"),
            expected_columns(&segment_schema(&codes)),
            "docs/SCHEMA.md is out of step with output/schema.rs"
        );
        assert_eq!(
            documented_columns("## Disagreements"),
            expected_columns(&disagreement_schema(&codes)),
            "docs/SCHEMA.md is out of step with output/schema.rs"
        );
    }

    #[test]
    fn rows_become_a_batch() {
        let schema = segment_schema(&["a".into(), "b".into()]);
        let row = Row {
            source_path: "x.txt".into(),
            doc_id: "x".into(),
            record_index: None,
            record_id: None,
            segment_index: 0,
            speaker: Some("GP".into()),
            char_start: 3,
            char_end: 9,
            cue_start_ms: None,
            cue_end_ms: None,
            text: "pooled".into(),
            token_count: 3,
            truncated: false,
            labels: vec!["b".into()],
            scores: vec![0.1, 0.9],
            metadata: Arc::new([("site".to_string(), "A".to_string())].into()),
        };
        let batch = to_record_batch(&schema, "run", "model", &[row.clone(), row]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.num_columns(), schema.fields().len());
    }
}
