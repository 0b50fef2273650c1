//! Reading an output dataset back into [`Row`]s, for `discotag agree` (the model's codes as a
//! coder) and `discotag qdpx export` (the model's codes written into a REFI-QDA project).
//!
//! The manifest is the source of truth: only the part files it lists are read, so the leftovers
//! of a crashed run never count. A folder of Parquet files without a manifest (copied out of
//! several shard outputs, say) is read whole. Columns are found by name from
//! [`schema`](super::schema), so files written by any version with the same column names read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, BooleanArray, Float32Array, Int32Array, Int64Array, ListArray, MapArray, RecordBatch,
    RecordBatchReader, StringArray,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::manifest::Manifest;
use super::parquet::SEGMENTS_DIR;
use super::schema::{self, Row};
use crate::error::{Error, Result};

/// A dataset read back: its codes (from the score columns, in order), its model and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRows {
    pub codes: Vec<String>,
    /// The `model_id` of the rows (the first one seen), if any row was read.
    pub model_id: Option<String>,
    /// Rows in file order, and within a file in written order.
    pub rows: Vec<Row>,
}

/// Whether `path` looks like a discotag output directory (a manifest or a `segments` folder).
pub fn is_dataset(path: &Path) -> bool {
    path.is_dir()
        && (path.join(super::manifest::MANIFEST_FILE).is_file() || path.join(SEGMENTS_DIR).is_dir())
}

/// The part files of a dataset: those its manifest lists, else every `.parquet` file under
/// `segments/` (or under `dir` itself), sorted.
///
/// # Errors
/// When the manifest is unreadable or no Parquet file is found.
pub fn part_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if let Some(manifest) = Manifest::load(dir)? {
        return Ok(manifest.files.iter().map(|f| dir.join(&f.path)).collect());
    }
    let folder = if dir.join(SEGMENTS_DIR).is_dir() {
        dir.join(SEGMENTS_DIR)
    } else {
        dir.to_path_buf()
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map_err(|e| Error::io(format!("listing {}", folder.display()), e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            reason: "no manifest.json and no .parquet files: not a discotag output dataset".into(),
        });
    }
    Ok(files)
}

/// Reads every row of a dataset.
///
/// # Errors
/// When a part file cannot be read, lacks a column of the schema or has score columns other
/// than the first file's.
pub fn read_dataset(dir: &Path) -> Result<DatasetRows> {
    let mut rows = Vec::new();
    let (codes, model_id) = for_each_row(dir, |_, row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(DatasetRows {
        codes,
        model_id,
        rows,
    })
}

/// Streams the rows of a dataset to `visit` (with the dataset's codes, the score columns in
/// order), one record batch in memory at a time, and returns the codes and the `model_id` of
/// the first row.
///
/// # Errors
/// As [`read_dataset`], and whatever `visit` returns.
pub fn for_each_row(
    dir: &Path,
    mut visit: impl FnMut(&[String], Row) -> Result<()>,
) -> Result<(Vec<String>, Option<String>)> {
    let mut all_codes: Vec<String> = Vec::new();
    let mut model_id = None;
    for (i, file) in part_files(dir)?.iter().enumerate() {
        let bad = |reason: String| Error::Data {
            path: file.clone(),
            reason,
        };
        let handle = std::fs::File::open(file)
            .map_err(|e| Error::io(format!("opening {}", file.display()), e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(handle)?.build()?;
        let codes: Vec<String> = reader
            .schema()
            .fields()
            .iter()
            .filter_map(|f| f.name().strip_prefix(schema::SCORE_PREFIX))
            .map(str::to_string)
            .collect();
        if i == 0 {
            all_codes = codes;
        } else if codes != all_codes {
            return Err(bad(format!(
                "score columns for codes [{}] differ from the first file's [{}]",
                codes.join(", "),
                all_codes.join(", ")
            )));
        }
        for batch in reader {
            let batch = batch?;
            let mut rows = Vec::with_capacity(batch.num_rows());
            append_rows(&batch, &all_codes, &mut rows, &mut model_id).map_err(bad)?;
            for row in rows {
                visit(&all_codes, row)?;
            }
        }
    }
    Ok((all_codes, model_id))
}

fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column {name:?}"))?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("column {name:?} has an unexpected type"))
}

fn append_rows(
    batch: &RecordBatch,
    codes: &[String],
    rows: &mut Vec<Row>,
    model_id: &mut Option<String>,
) -> Result<(), String> {
    let source_path = column::<StringArray>(batch, schema::SOURCE_PATH)?;
    let doc_id = column::<StringArray>(batch, schema::DOC_ID)?;
    let record_index = column::<Int64Array>(batch, schema::RECORD_INDEX)?;
    let record_id = column::<StringArray>(batch, schema::RECORD_ID)?;
    let segment_index = column::<Int32Array>(batch, schema::SEGMENT_INDEX)?;
    let speaker = column::<StringArray>(batch, schema::SPEAKER)?;
    let char_start = column::<Int64Array>(batch, schema::CHAR_START)?;
    let char_end = column::<Int64Array>(batch, schema::CHAR_END)?;
    let cue_start = column::<Int64Array>(batch, schema::CUE_START_MS)?;
    let cue_end = column::<Int64Array>(batch, schema::CUE_END_MS)?;
    let text = column::<StringArray>(batch, schema::TEXT)?;
    let token_count = column::<Int32Array>(batch, schema::TOKEN_COUNT)?;
    let truncated = column::<BooleanArray>(batch, schema::TRUNCATED)?;
    let labels = column::<ListArray>(batch, schema::LABELS)?;
    let models = column::<StringArray>(batch, schema::MODEL_ID)?;
    let metadata = column::<MapArray>(batch, schema::METADATA)?;
    let scores = codes
        .iter()
        .map(|c| column::<Float32Array>(batch, &schema::score_column(c)))
        .collect::<Result<Vec<_>, _>>()?;
    let opt_string = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
    let opt_int = |a: &Int64Array, i: usize| a.is_valid(i).then(|| a.value(i));
    for i in 0..batch.num_rows() {
        if model_id.is_none() && models.is_valid(i) {
            *model_id = Some(models.value(i).to_string());
        }
        let label_values = labels.value(i);
        let label_values = label_values
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("labels are not strings")?;
        let entries = metadata.value(i);
        let keys = entries
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("metadata keys are not strings")?;
        let values = entries
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("metadata values are not strings")?;
        let meta: BTreeMap<String, String> = (0..keys.len())
            .map(|j| {
                (
                    keys.value(j).to_string(),
                    opt_string(values, j).unwrap_or_default(),
                )
            })
            .collect();
        rows.push(Row {
            source_path: Arc::from(source_path.value(i)),
            doc_id: Arc::from(doc_id.value(i)),
            record_index: opt_int(record_index, i),
            record_id: opt_string(record_id, i),
            segment_index: segment_index.value(i),
            speaker: opt_string(speaker, i),
            char_start: char_start.value(i),
            char_end: char_end.value(i),
            cue_start_ms: opt_int(cue_start, i),
            cue_end_ms: opt_int(cue_end, i),
            text: text.value(i).to_string(),
            token_count: token_count.value(i),
            truncated: truncated.value(i),
            labels: (0..label_values.len())
                .map(|j| label_values.value(j).to_string())
                .collect(),
            scores: scores.iter().map(|s| s.value(i)).collect(),
            metadata: Arc::new(meta),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::parquet::default_writer_properties;
    use parquet::arrow::ArrowWriter;

    fn row(text: &str, labels: &[&str], scores: Vec<f32>) -> Row {
        Row {
            source_path: "in/a.txt".into(),
            doc_id: "a".into(),
            record_index: Some(2),
            record_id: None,
            segment_index: 1,
            speaker: Some("GP".into()),
            char_start: 10,
            char_end: 10 + text.chars().count() as i64,
            cue_start_ms: None,
            cue_end_ms: Some(900),
            text: text.into(),
            token_count: 4,
            truncated: false,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            scores,
            metadata: Arc::new([("site".to_string(), "Leeds".to_string())].into()),
        }
    }

    #[test]
    fn rows_written_read_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let codes = vec!["prevention".to_string(), "efficiency".to_string()];
        let schema = schema::segment_schema(&codes);
        let rows = vec![
            row("we pooled 🙂 budgets", &["efficiency"], vec![0.1, 0.8]),
            row("early help", &["prevention", "efficiency"], vec![0.9, 0.7]),
        ];
        let batch = schema::to_record_batch(&schema, "run", "m@1", &rows).unwrap();
        std::fs::create_dir(dir.path().join(SEGMENTS_DIR)).unwrap();
        let file = std::fs::File::create(dir.path().join("segments/part-0.parquet")).unwrap();
        let mut writer =
            ArrowWriter::try_new(file, schema.clone(), Some(default_writer_properties())).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        assert!(is_dataset(dir.path()));
        let read = read_dataset(dir.path()).unwrap();
        assert_eq!(read.codes, codes);
        assert_eq!(read.model_id.as_deref(), Some("m@1"));
        assert_eq!(read.rows, rows);
    }

    #[test]
    fn a_folder_without_parquet_is_not_a_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_dataset(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a discotag output dataset"), "{err}");
    }
}
