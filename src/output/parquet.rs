//! Parquet part files: zstd, bounded row groups, opened on the first batch (no empty files),
//! written under a hidden temporary name and renamed into place only when complete, so a crash
//! never leaves a half-written `.parquet` file in the dataset.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Rows per Parquet row group: large enough for good compression and fast scans, small enough
/// that the writer's buffered row group stays a few tens of MB.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The folder inside an output directory that holds the Parquet files.
pub const SEGMENTS_DIR: &str = "segments";

/// Writer properties for every part file.
pub fn default_writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("3 is a valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("discotag {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A finished part file, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommittedFile {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

struct OpenPart {
    temp_path: PathBuf,
    final_name: String,
    writer: ArrowWriter<File>,
    rows: u64,
    opened: Instant,
}

/// Writes a sequence of part files `segments/part-<run>-<n>.parquet`.
pub struct PartWriter {
    out_dir: PathBuf,
    schema: SchemaRef,
    run_id: String,
    next_part: u32,
    open: Option<OpenPart>,
}

impl PartWriter {
    /// # Errors
    /// When the segments folder cannot be created.
    pub fn new(out_dir: &Path, schema: SchemaRef, run_id: &str) -> Result<Self> {
        let dir = out_dir.join(SEGMENTS_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(PartWriter {
            out_dir: out_dir.to_path_buf(),
            schema,
            run_id: run_id.to_string(),
            next_part: 0,
            open: None,
        })
    }

    /// Appends a batch to the open part, opening one if needed.
    ///
    /// # Errors
    /// On a schema mismatch or a write failure.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema() != self.schema {
            return Err(Error::Output {
                path: self.out_dir.clone(),
                reason: "internal error: a batch does not match the dataset schema".into(),
            });
        }
        if self.open.is_none() {
            let final_name = format!("part-{}-{:05}.parquet", self.run_id, self.next_part);
            self.next_part += 1;
            let temp_path = self
                .out_dir
                .join(SEGMENTS_DIR)
                .join(format!(".{final_name}.tmp"));
            let file = File::create(&temp_path)
                .map_err(|e| Error::io(format!("creating {}", temp_path.display()), e))?;
            let writer =
                ArrowWriter::try_new(file, self.schema.clone(), Some(default_writer_properties()))?;
            self.open = Some(OpenPart {
                temp_path,
                final_name,
                writer,
                rows: 0,
                opened: Instant::now(),
            });
        }
        let part = self.open.as_mut().expect("opened above");
        part.writer.write(batch)?;
        part.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Writes a copy of the committed part file `relative` without the rows of `source_path`,
    /// as a new part file renamed into place; `None` (and no file) when no row would remain.
    ///
    /// # Errors
    /// When the file cannot be read or the copy written.
    pub fn rewrite_without(
        &mut self,
        relative: &str,
        source_path: &str,
    ) -> Result<Option<CommittedFile>> {
        use arrow_array::{Array, BooleanArray, StringArray};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let old = self.out_dir.join(relative);
        let file =
            File::open(&old).map_err(|e| Error::io(format!("opening {}", old.display()), e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::Output {
                path: old.clone(),
                reason: format!("unreadable part file: {e}"),
            })?;
            let keep: BooleanArray = match batch
                .column_by_name(super::schema::SOURCE_PATH)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            {
                Some(sources) => (0..sources.len())
                    .map(|i| Some(sources.is_null(i) || sources.value(i) != source_path))
                    .collect(),
                None => {
                    return Err(Error::Output {
                        path: old.clone(),
                        reason: "part file without a source_path column".into(),
                    });
                }
            };
            let kept = arrow_select::filter::filter_record_batch(&batch, &keep)?;
            if kept.num_rows() > 0 {
                let kept = RecordBatch::try_new(self.schema.clone(), kept.columns().to_vec())?;
                self.write(&kept)?;
            }
        }
        self.commit()
    }

    /// Rows in the open part and how long it has been open.
    pub fn open_part(&self) -> Option<(u64, std::time::Duration)> {
        self.open.as_ref().map(|p| (p.rows, p.opened.elapsed()))
    }

    /// Finishes the open part: footer, fsync, rename into place. `None` if no part is open.
    ///
    /// # Errors
    /// On write, sync or rename failures.
    pub fn commit(&mut self) -> Result<Option<CommittedFile>> {
        let Some(part) = self.open.take() else {
            return Ok(None);
        };
        let file = part.writer.into_inner()?;
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", part.temp_path.display()), e))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        drop(file);
        let relative = format!("{SEGMENTS_DIR}/{}", part.final_name);
        let final_path = self.out_dir.join(&relative);
        std::fs::rename(&part.temp_path, &final_path).map_err(|e| {
            Error::io(
                format!("renaming {} into place", part.temp_path.display()),
                e,
            )
        })?;
        Ok(Some(CommittedFile {
            path: relative,
            rows: part.rows,
            bytes,
        }))
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        // An unfinished part is never renamed; remove its temporary file.
        if let Some(part) = self.open.take() {
            let _ = std::fs::remove_file(&part.temp_path);
        }
    }
}
