//! Stage "write": the output dataset. Rows go to Parquet part files ([`parquet`]) in the schema
//! of [`schema`]; [`manifest`] records inputs, files and runs; errors go to `errors.jsonl`; a
//! [`lock`] keeps one run per output directory.
//!
//! Exactly-once: all rows of an input go to one part file; an input is recorded as done only
//! after that file has been renamed into place and the manifest rewritten. Part files the
//! manifest does not list (a crash between the two) are removed when a run starts, so
//! `--resume` redoes their inputs without duplicating rows.

pub mod lock;
pub mod manifest;
pub mod parquet;
pub mod read;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, InputError, Result};
pub use manifest::{DatasetIdentity, InputRecord, InputStatus, Manifest, RunRecord, SkippedFile};
pub use schema::Row;

pub const ERRORS_FILE: &str = "errors.jsonl";
/// A part file is committed at the next input boundary once it holds this many rows ...
pub const PART_TARGET_ROWS: u64 = 1_000_000;
/// ... or has been open this long (the default of `--commit-every`), so that a killed run loses
/// little work.
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(30);

/// One line of `errors.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub run_id: String,
    #[serde(flatten)]
    pub error: InputError,
}

/// What the pipeline hands the writer for one input.
#[derive(Debug)]
pub struct InputOutcome {
    pub path: String,
    pub sha256: String,
    pub format: Option<String>,
    pub documents: u64,
    pub rows: Vec<Row>,
    pub errors: Vec<InputError>,
}

/// An output directory being written.
pub struct Dataset {
    out_dir: PathBuf,
    schema: SchemaRef,
    manifest: Manifest,
    errors: Vec<ErrorRecord>,
    parts: parquet::PartWriter,
    /// Inputs whose rows are in the open part file, recorded once it is committed.
    pending: Vec<InputRecord>,
    commit_interval: Duration,
    pub run: RunRecord,
    _lock: lock::OutputLock,
}

impl Dataset {
    /// Opens (creating) an output directory for a run: takes the lock, checks an existing
    /// manifest against `identity`, removes leftovers of a crashed run.
    ///
    /// # Errors
    /// When the directory is locked, not writable, holds a dataset and `resume` is off, or
    /// holds a dataset made with another model or settings.
    pub fn open(
        out_dir: &Path,
        identity: DatasetIdentity,
        resume: bool,
        run: RunRecord,
    ) -> Result<Self> {
        std::fs::create_dir_all(out_dir).map_err(|e| {
            Error::io(
                format!("creating output directory {}", out_dir.display()),
                e,
            )
        })?;
        let lock = lock::OutputLock::acquire(out_dir)?;
        let existing = Manifest::load(out_dir)?;
        let manifest = match existing {
            Some(m) if !resume => {
                return Err(Error::Output {
                    path: out_dir.to_path_buf(),
                    reason: format!(
                        "already holds a dataset ({} inputs); add --resume to continue it, or choose an empty --out",
                        m.inputs.len()
                    ),
                });
            }
            Some(m) if m.identity != identity => {
                return Err(Error::Output {
                    path: out_dir.to_path_buf(),
                    reason: format!(
                        "holds a dataset made with other settings (model {}, unit {}, max tokens {}, precision {}); resume it with the same ones or choose another --out",
                        m.identity.model_id,
                        m.identity.unit,
                        m.identity.max_tokens,
                        m.identity.precision
                    ),
                });
            }
            Some(m) => m,
            None => Manifest::new(identity),
        };
        remove_unlisted_parts(out_dir, &manifest)?;
        let errors = read_errors(out_dir)?;
        let schema = schema::segment_schema(&manifest.identity.codes);
        Ok(Dataset {
            parts: parquet::PartWriter::new(out_dir, schema.clone(), &run.run_id)?,
            out_dir: out_dir.to_path_buf(),
            schema,
            manifest,
            errors,
            pending: Vec::new(),
            commit_interval: DEFAULT_COMMIT_INTERVAL,
            run,
            _lock: lock,
        })
    }

    /// Commits a part file at the first input boundary after it has been open this long.
    pub fn set_commit_interval(&mut self, interval: Duration) {
        self.commit_interval = interval;
    }

    /// Content hashes of inputs already labelled in this dataset.
    pub fn done_hashes(&self) -> std::collections::HashSet<String> {
        self.manifest.done_hashes()
    }

    pub fn record_skipped(&mut self, skipped: Vec<SkippedFile>) {
        for s in skipped {
            if !self.manifest.skipped.contains(&s) {
                self.manifest.skipped.push(s);
            }
        }
    }

    /// Records errors not tied to a readable input (a folder that cannot be listed).
    pub fn record_errors(&mut self, errors: Vec<InputError>) {
        self.run.errors += errors.len() as u64;
        let run_id = self.run.run_id.clone();
        self.errors
            .extend(errors.into_iter().map(|error| ErrorRecord {
                run_id: run_id.clone(),
                error,
            }));
    }

    /// Writes one input's rows and records its outcome; commits the part file when it is big
    /// or old enough.
    ///
    /// # Errors
    /// On write failures (fatal).
    pub fn write_input(&mut self, outcome: InputOutcome, model_id: &str) -> Result<()> {
        let failed = outcome.rows.is_empty() && !outcome.errors.is_empty();
        let record = InputRecord {
            path: outcome.path,
            sha256: outcome.sha256,
            format: outcome.format,
            status: if failed {
                InputStatus::Failed
            } else {
                InputStatus::Done
            },
            documents: outcome.documents,
            segments: outcome.rows.len() as u64,
            errors: outcome.errors.len() as u64,
            file: None,
            run_id: self.run.run_id.clone(),
        };
        if failed {
            self.run.inputs_failed += 1;
        } else {
            self.run.inputs_done += 1;
        }
        self.run.segments += outcome.rows.len() as u64;
        self.record_errors(outcome.errors);
        for chunk in outcome.rows.chunks(parquet::ROW_GROUP_ROWS) {
            let batch = schema::to_record_batch(&self.schema, &self.run.run_id, model_id, chunk)?;
            self.parts.write(&batch)?;
        }
        self.pending.push(record);
        if let Some((rows, age)) = self.parts.open_part()
            && (rows >= PART_TARGET_ROWS || age >= self.commit_interval)
        {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits the open part file and records the pending inputs in the manifest.
    ///
    /// # Errors
    /// On write failures.
    pub fn commit(&mut self) -> Result<()> {
        let file = self.parts.commit()?;
        for mut record in self.pending.drain(..) {
            if record.status == InputStatus::Done && record.segments > 0 {
                record.file = file.as_ref().map(|f| f.path.clone());
            }
            self.manifest
                .inputs
                .retain(|i| !(i.sha256 == record.sha256 && i.path == record.path));
            self.manifest.inputs.push(record);
        }
        self.manifest.files.extend(file);
        self.save()
    }

    fn save(&mut self) -> Result<()> {
        let mut runs = self.manifest.runs.clone();
        match runs.iter_mut().find(|r| r.run_id == self.run.run_id) {
            Some(r) => *r = self.run.clone(),
            None => runs.push(self.run.clone()),
        }
        self.manifest.runs = runs;
        manifest::write_atomically_with(&self.out_dir.join(ERRORS_FILE), |w| {
            for e in &self.errors {
                serde_json::to_writer(&mut *w, e).map_err(std::io::Error::other)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        self.manifest.save(&self.out_dir)
    }

    /// Commits what is left and writes the final manifest.
    ///
    /// # Errors
    /// On write failures.
    pub fn finish(mut self) -> Result<RunRecord> {
        self.commit()?;
        self.run.finished = Some(crate::telemetry::now_rfc3339());
        self.save()?;
        Ok(self.run.clone())
    }
}

fn remove_unlisted_parts(out_dir: &Path, manifest: &Manifest) -> Result<()> {
    let dir = out_dir.join(parquet::SEGMENTS_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{}/{name}", parquet::SEGMENTS_DIR);
        let listed = manifest.files.iter().any(|f| f.path == relative);
        let ours = name.ends_with(".parquet.tmp")
            || (name.starts_with("part-") && name.ends_with(".parquet"));
        if ours && !listed {
            tracing::warn!(file = %entry.path().display(), "removing a part file left by an interrupted run; its inputs are labelled again");
            std::fs::remove_file(entry.path())
                .map_err(|e| Error::io(format!("removing {}", entry.path().display()), e))?;
        }
    }
    Ok(())
}

fn read_errors(out_dir: &Path) -> Result<Vec<ErrorRecord>> {
    let path = out_dir.join(ERRORS_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Error::Output {
                path: path.clone(),
                reason: format!("unreadable errors file: {e}"),
            })
        })
        .collect()
}
