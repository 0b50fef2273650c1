//! Stage "write": the output dataset. Rows go to Parquet part files ([`parquet`]) in the schema
//! of [`schema`]; [`state`] (SQLite) records how far each input is committed, which files hold
//! its rows, its errors and the runs; [`manifest`] and `errors.jsonl` are readable summaries
//! written from it; a [`lock`] keeps one run per output directory.
//!
//! Exactly once, per record: rows are written in chunks of an input as they are read, and a
//! commit (every `--commit-every` seconds) renames the part file into place and then records,
//! in one database transaction, the file and each input's [`Cursor`](state::Cursor). A kill
//! before the transaction loses only the uncommitted chunks, which `--resume` reads again; part
//! files the database does not know are leftovers and are removed when a run starts.
//!
//! One version of each input: when an input's content changed since it was labelled, its new
//! rows go to *staged* part files that `manifest.json` does not list; when the input is done,
//! one transaction makes them live and drops the old rows (files holding only them are
//! removed, files shared with other inputs are rewritten without them), so a reader of the
//! manifest sees the old version or the new, never both and never neither.

pub mod lock;
pub mod manifest;
pub mod parquet;
pub mod read;
pub mod schema;
pub mod state;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, InputError, Result};
use crate::input::stream::End;
pub use manifest::{DatasetIdentity, Manifest, ManifestInput, RunRecord, SkippedFile};
pub use schema::Row;
use state::{Cursor, FileState, State, StoredInput, StoredStatus};

pub const ERRORS_FILE: &str = "errors.jsonl";
/// A part file is committed at the next chunk boundary once it holds this many rows ...
pub const PART_TARGET_ROWS: u64 = 1_000_000;
/// ... or has been open this long (the default of `--commit-every`), so that a killed run loses
/// little work.
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(30);
/// ... or once this many inputs wait for a commit (a folder of many small files), so that what
/// a commit holds in memory stays bounded.
pub const PENDING_INPUTS_LIMIT: usize = 10_000;
/// The summaries (`manifest.json`, `errors.jsonl`) are rewritten after a commit only when at
/// least this many times the last rewrite's duration has passed, so that with a million inputs
/// they cost at most about 5% of the run; they are always written at the end.
const SUMMARY_THROTTLE: u32 = 20;

/// One line of `errors.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub run_id: String,
    #[serde(flatten)]
    pub error: InputError,
}

/// How one input is labelled in this run (decided by the read stage from the state).
#[derive(Debug, Clone)]
pub struct InputPlan {
    pub path: String,
    pub format: Option<String>,
    /// Rows of older generations are removed when this one is done.
    pub generation: i64,
    /// Rows of an earlier version stay visible until this one is done: write to staged files.
    pub staged: bool,
    /// The record this run continues from (its cursor was checked), if any.
    pub resumed: Option<StoredInput>,
    /// The input is in the dataset but cannot be read now: record its error, keep its rows
    /// and its record as they are.
    pub keep_existing: bool,
    /// Position in the run, to tell inputs apart.
    pub seq: u64,
}

/// What the pipeline hands the writer for one chunk of an input.
#[derive(Debug)]
pub struct ChunkOutcome {
    pub input: Arc<InputPlan>,
    pub rows: Vec<Row>,
    pub errors: Vec<InputError>,
    /// How far the input has been read after this chunk (`None` if it could not be opened).
    pub cursor: Option<Cursor>,
    /// The next segment index of each document this chunk touched.
    pub doc_segments: Vec<(String, i32)>,
    /// Set on the input's last chunk.
    pub end: Option<End>,
}

/// The input the writer is in, with its record as it will be committed.
struct OpenInput {
    plan: Arc<InputPlan>,
    record: StoredInput,
    docs: HashMap<String, i32>,
    ended: bool,
    /// Forget the document counters of older generations at the next commit.
    reset_docs: bool,
}

/// An output directory being written.
pub struct Dataset {
    out_dir: PathBuf,
    schema: SchemaRef,
    state: State,
    parts: parquet::PartWriter,
    /// Inputs (and generations) with rows in the open part file.
    open_part_inputs: Vec<(String, i64)>,
    open_part_staged: bool,
    /// Inputs written since the last commit, in order (the last may still be open).
    pending: Vec<OpenInput>,
    pending_errors: Vec<(Option<(String, i64)>, String)>,
    pending_skipped: Vec<SkippedFile>,
    commit_interval: Duration,
    last_commit: Instant,
    summary_cost: Duration,
    summary_written: Instant,
    /// Files dropped from the state, deleted once a manifest no longer lists them.
    deferred_deletes: Vec<PathBuf>,
    pub run: RunRecord,
    _lock: lock::OutputLock,
}

impl Dataset {
    /// Opens (creating) an output directory for a run: takes the lock, checks an existing
    /// dataset's identity against `identity` (importing a dataset of manifest format 1), and
    /// removes part files a crashed run left behind.
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
        let had_state = State::exists(out_dir);
        let legacy = if had_state {
            None
        } else {
            Manifest::load(out_dir)?
        };
        if !resume && (had_state || legacy.is_some()) {
            let inputs = match &legacy {
                Some(m) => m.inputs.len() as u64,
                None => State::open(out_dir)?.input_count()?,
            };
            return Err(Error::Output {
                path: out_dir.to_path_buf(),
                reason: format!(
                    "already holds a dataset ({inputs} inputs); add --resume to continue it, or choose an empty --out"
                ),
            });
        }
        let mut state = State::open(out_dir)?;
        if let Some(manifest) = &legacy {
            check_identity(out_dir, &manifest.identity, &identity)?;
            import_format_1(&mut state, manifest, out_dir)?;
        }
        match state.identity()? {
            Some(existing) => check_identity(out_dir, &existing, &identity)?,
            None => state.set_identity(&identity)?,
        }
        remove_unknown_parts(out_dir, &state.known_files()?)?;
        let schema = schema::segment_schema(&identity.codes);
        let mut dataset = Dataset {
            parts: parquet::PartWriter::new(out_dir, schema.clone(), &run.run_id)?,
            out_dir: out_dir.to_path_buf(),
            schema,
            state,
            open_part_inputs: Vec::new(),
            open_part_staged: false,
            pending: Vec::new(),
            pending_errors: Vec::new(),
            pending_skipped: Vec::new(),
            commit_interval: DEFAULT_COMMIT_INTERVAL,
            last_commit: Instant::now(),
            summary_cost: Duration::ZERO,
            summary_written: Instant::now(),
            deferred_deletes: Vec::new(),
            run,
            _lock: lock,
        };
        dataset.commit()?;
        Ok(dataset)
    }

    /// Commits at the first chunk boundary after this long.
    pub fn set_commit_interval(&mut self, interval: Duration) {
        self.commit_interval = interval;
    }

    /// A second connection to the state database, for the read stage's look-ups.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub fn state_reader(&self) -> Result<State> {
        State::open_for_lookups(&self.out_dir)
    }

    pub fn record_skipped(&mut self, skipped: Vec<SkippedFile>) {
        self.pending_skipped.extend(skipped);
    }

    /// Records errors not tied to a readable input (a folder that cannot be listed).
    pub fn record_errors(&mut self, errors: Vec<InputError>) {
        for error in errors {
            self.push_error(None, error);
        }
    }

    fn push_error(&mut self, input: Option<(String, i64)>, error: InputError) {
        self.run.errors += 1;
        let record = ErrorRecord {
            run_id: self.run.run_id.clone(),
            error,
        };
        let json = serde_json::to_string(&record).expect("error records serialise");
        self.pending_errors.push((input, json));
    }

    /// Writes one chunk of an input; commits when the commit interval has passed, and at the
    /// end of an input that replaces an older version.
    ///
    /// # Errors
    /// On write failures (fatal).
    pub fn write_chunk(&mut self, chunk: ChunkOutcome, model_id: &str) -> Result<()> {
        let plan = chunk.input.clone();
        if plan.keep_existing {
            for error in chunk.errors {
                tracing::warn!(run_id = %self.run.run_id, path = %error.path, reason = %error.reason, "input error; its earlier rows are kept");
                self.push_error(Some((plan.path.clone(), plan.generation)), error);
            }
            self.run.inputs_failed += u64::from(chunk.end.is_some());
            return Ok(());
        }
        let starts = self.pending.last().is_none_or(|o| o.plan.seq != plan.seq);
        if starts {
            // A staged input's rows never share a part file with other inputs.
            if plan.staged || self.open_part_staged {
                self.commit()?;
            }
            let status = if plan.staged {
                StoredStatus::Replacing
            } else {
                StoredStatus::Partial
            };
            let record = match &plan.resumed {
                Some(resumed) => StoredInput {
                    status,
                    run_id: self.run.run_id.clone(),
                    ..resumed.clone()
                },
                None => StoredInput {
                    path: plan.path.clone(),
                    status,
                    sha256: None,
                    format: plan.format.clone(),
                    bytes: 0,
                    documents: 0,
                    segments: 0,
                    errors: 0,
                    cursor: None,
                    generation: plan.generation,
                    run_id: self.run.run_id.clone(),
                },
            };
            if plan.staged && plan.resumed.is_none() {
                self.run.inputs_replaced += 1;
            }
            self.pending.push(OpenInput {
                plan: plan.clone(),
                record,
                docs: HashMap::new(),
                ended: false,
                reset_docs: plan.resumed.is_none(),
            });
        }
        let generation = plan.generation;
        let errors = chunk.errors.len() as u64;
        for error in chunk.errors {
            tracing::warn!(run_id = %self.run.run_id, path = %error.path, position = %error.position, reason = %error.reason, "input error");
            self.push_error(Some((plan.path.clone(), generation)), error);
        }
        let open = self.pending.last_mut().expect("pushed above");
        open.record.errors += errors;
        open.record.segments += chunk.rows.len() as u64;
        if let Some(cursor) = chunk.cursor {
            open.record.cursor = Some(cursor);
        }
        open.docs.extend(chunk.doc_segments);
        self.run.segments += chunk.rows.len() as u64;
        if !chunk.rows.is_empty() {
            for rows in chunk.rows.chunks(parquet::ROW_GROUP_ROWS) {
                let batch =
                    schema::to_record_batch(&self.schema, &self.run.run_id, model_id, rows)?;
                self.parts.write(&batch)?;
            }
            let key = (plan.path.clone(), generation);
            if self.open_part_inputs.last() != Some(&key) {
                self.open_part_inputs.push(key);
            }
            self.open_part_staged = plan.staged;
        }
        if let Some(end) = chunk.end {
            let open = self.pending.last_mut().expect("pushed above");
            open.ended = true;
            let failed =
                open.record.segments == 0 && (open.record.errors > 0 || end.sha256.is_none());
            open.record.status = if failed {
                StoredStatus::Failed
            } else {
                StoredStatus::Done
            };
            open.record.sha256 = end.sha256;
            open.record.bytes = end.bytes;
            if failed {
                self.run.inputs_failed += 1;
            } else {
                self.run.inputs_done += 1;
            }
            if plan.staged {
                return self.commit();
            }
        }
        if self.commit_due() {
            self.commit()?;
        }
        Ok(())
    }

    fn commit_due(&self) -> bool {
        let something = !self.pending.is_empty()
            || self.parts.open_part().is_some()
            || !self.pending_errors.is_empty();
        something
            && (self.last_commit.elapsed() >= self.commit_interval
                || self.pending.len() >= PENDING_INPUTS_LIMIT
                || self
                    .parts
                    .open_part()
                    .is_some_and(|(rows, _)| rows >= PART_TARGET_ROWS))
    }

    /// Commits if the commit interval has passed (a writer waiting for input calls this).
    ///
    /// # Errors
    /// On write failures.
    pub fn tick(&mut self) -> Result<()> {
        if self.commit_due() {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits the open part file and everything recorded since the last commit, in one
    /// transaction.
    ///
    /// # Errors
    /// On write failures.
    pub fn commit(&mut self) -> Result<()> {
        let file = self.parts.commit()?;
        let mut dropped = DroppedRows::default();
        let ended: Vec<(String, i64)> = self
            .pending
            .iter()
            .filter(|o| o.ended)
            .map(|o| (o.record.path.clone(), o.record.generation))
            .collect();
        for (path, generation) in &ended {
            self.drop_rows(path, *generation, &mut dropped)?;
        }
        let run_id = self.run.run_id.clone();
        let tx = self.state.begin()?;
        if let Some(file) = &file {
            let state = if self.open_part_staged {
                FileState::Staged
            } else {
                FileState::Live
            };
            tx.add_file(file, state, &self.open_part_inputs)?;
        }
        for open in &mut self.pending {
            let path = open.record.path.clone();
            if open.reset_docs {
                // A new generation numbers its documents' segments from 0.
                tx.reset_doc_segments(&path)?;
                open.reset_docs = false;
            }
            tx.put_doc_segments(&path, open.docs.iter())?;
            open.docs.clear();
            open.record.documents = tx.documents(&path)?;
            if open.ended {
                tx.publish_staged(&path)?;
                tx.drop_older_errors(&path, open.record.generation)?;
            }
            tx.put_input(&open.record, &run_id)?;
        }
        dropped.record(&tx)?;
        for (input, record) in &self.pending_errors {
            tx.add_error(input.as_ref().map(|(p, g)| (p.as_str(), *g)), record)?;
        }
        for skipped in &self.pending_skipped {
            tx.add_skipped(skipped)?;
        }
        tx.put_run(&self.run)?;
        tx.commit()?;
        self.pending.retain(|o| !o.ended);
        self.pending_errors.clear();
        self.pending_skipped.clear();
        self.open_part_inputs.clear();
        self.open_part_staged = false;
        self.defer_deletes(dropped);
        self.last_commit = Instant::now();
        self.write_summaries(false)
    }

    /// Rewrites `manifest.json` and `errors.jsonl` from the state (unless throttled), then
    /// deletes files the state has dropped.
    fn write_summaries(&mut self, force: bool) -> Result<()> {
        if !force && self.summary_written.elapsed() < self.summary_cost * SUMMARY_THROTTLE {
            return Ok(());
        }
        let started = Instant::now();
        manifest::write_from_state(&self.out_dir, &self.state)?;
        let mut result = Ok(());
        manifest::write_atomically_with(&self.out_dir.join(ERRORS_FILE), |w| {
            result = self.state.each_error(|record| {
                w.write_all(record.as_bytes())?;
                w.write_all(b"\n")
            });
            Ok(())
        })?;
        result?;
        self.summary_cost = started.elapsed();
        self.summary_written = Instant::now();
        for path in self.deferred_deletes.drain(..) {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(format!("removing {}", path.display()), e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes every row of an input and its record.
    fn prune(&mut self, path: &str) -> Result<()> {
        let mut dropped = DroppedRows::default();
        self.drop_rows(path, i64::MAX, &mut dropped)?;
        let tx = self.state.begin()?;
        dropped.record(&tx)?;
        tx.delete_input(path)?;
        tx.commit()?;
        self.defer_deletes(dropped);
        Ok(())
    }

    /// Plans the removal of every row of `input` from generations before `generation`: part
    /// files holding only such rows are dropped, files shared with other inputs are rewritten
    /// without them (the copies are written now; the state changes in the caller's commit).
    fn drop_rows(&mut self, input: &str, generation: i64, into: &mut DroppedRows) -> Result<()> {
        for (old, shared) in self.state.files_of_older_generations(input, generation)? {
            let copy = if shared {
                self.parts.rewrite_without(&old, input)?
            } else {
                None
            };
            match copy {
                Some(new) => into.rewritten.push((old, new, input.to_string())),
                None => into.removed.push(old),
            }
        }
        Ok(())
    }

    /// Old part files are deleted from disk once a manifest no longer lists them.
    fn defer_deletes(&mut self, dropped: DroppedRows) {
        let old = dropped
            .removed
            .into_iter()
            .chain(dropped.rewritten.into_iter().map(|(old, _, _)| old));
        self.deferred_deletes
            .extend(old.map(|f| self.out_dir.join(f)));
    }

    /// Commits what is left, reports (and with `prune` removes) inputs of the dataset that
    /// this run was not given, and writes the final summaries. After an interrupted run the
    /// inputs not reached are not reported as missing.
    ///
    /// # Errors
    /// On write failures.
    pub fn finish(mut self, prune: bool) -> Result<RunRecord> {
        self.commit()?;
        if !self.run.interrupted {
            let missing = self.state.unseen_inputs(&self.run.run_id)?;
            self.run.inputs_missing = missing.len() as u64;
            if !missing.is_empty() {
                let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
                if prune {
                    tracing::info!(inputs = missing.len(), first = ?shown, "removing the rows of inputs this run was not given (--prune)");
                } else {
                    tracing::warn!(inputs = missing.len(), first = ?shown, "the dataset holds inputs this run was not given (deleted or renamed?); their rows stay; --prune removes them");
                }
            }
            if prune {
                for path in &missing {
                    self.prune(path)?;
                }
                self.run.inputs_pruned = missing.len() as u64;
            }
        }
        self.run.finished = Some(crate::telemetry::now_rfc3339());
        let tx = self.state.begin()?;
        tx.put_run(&self.run)?;
        tx.commit()?;
        self.write_summaries(true)?;
        Ok(self.run.clone())
    }
}

/// Part files a commit takes out of the dataset (see [`Dataset::drop_rows`]).
#[derive(Default)]
struct DroppedRows {
    /// (old file, its copy without the input's rows, the input).
    rewritten: Vec<(String, parquet::CommittedFile, String)>,
    removed: Vec<String>,
}

impl DroppedRows {
    fn record(&self, tx: &state::Commit<'_>) -> Result<()> {
        for (old, new, without) in &self.rewritten {
            tx.replace_file(old, new, without)?;
        }
        for old in &self.removed {
            tx.remove_file(old)?;
        }
        Ok(())
    }
}

fn check_identity(
    out_dir: &Path,
    existing: &DatasetIdentity,
    wanted: &DatasetIdentity,
) -> Result<()> {
    if existing == wanted {
        return Ok(());
    }
    Err(Error::Output {
        path: out_dir.to_path_buf(),
        reason: format!(
            "holds a dataset made with other settings (model {}, unit {}, max tokens {}, precision {}); resume it with the same ones or choose another --out",
            existing.model_id, existing.unit, existing.max_tokens, existing.precision
        ),
    })
}

/// Brings a dataset of manifest format 1 (no state database) into the state database: its
/// inputs as done, with the part file of each.
fn import_format_1(state: &mut State, manifest: &Manifest, out_dir: &Path) -> Result<()> {
    state.set_identity(&manifest.identity)?;
    let tx = state.begin()?;
    for file in &manifest.files {
        let inputs: Vec<(String, i64)> = manifest
            .inputs
            .iter()
            .filter(|i| i.file.as_deref() == Some(file.path.as_str()))
            .map(|i| (i.path.clone(), 0))
            .collect();
        tx.add_file(file, FileState::Live, &inputs)?;
    }
    for input in &manifest.inputs {
        let status = if input.status == "failed" {
            StoredStatus::Failed
        } else {
            StoredStatus::Done
        };
        let record = StoredInput {
            path: input.path.clone(),
            status,
            sha256: input.sha256.clone(),
            format: input.format.clone(),
            bytes: input.bytes,
            documents: input.documents,
            segments: input.segments,
            errors: input.errors,
            cursor: None,
            generation: 0,
            run_id: input.run_id.clone(),
        };
        tx.put_input(&record, "")?;
    }
    for skipped in &manifest.skipped {
        tx.add_skipped(skipped)?;
    }
    for run in &manifest.runs {
        tx.put_run(run)?;
    }
    if let Ok(text) = std::fs::read_to_string(out_dir.join(ERRORS_FILE)) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let input = serde_json::from_str::<ErrorRecord>(line)
                .ok()
                .map(|r| r.error.path);
            tx.add_error(input.as_deref().map(|p| (p, 0)), line)?;
        }
    }
    tx.commit()
}

/// Removes part files (and temporary files) that the state does not know: leftovers of a run
/// killed between writing a file and committing it.
fn remove_unknown_parts(out_dir: &Path, known: &[parquet::CommittedFile]) -> Result<()> {
    let dir = out_dir.join(parquet::SEGMENTS_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    let known: std::collections::HashSet<&str> = known.iter().map(|f| f.path.as_str()).collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{}/{name}", parquet::SEGMENTS_DIR);
        let ours = name.ends_with(".parquet.tmp")
            || (name.starts_with("part-") && name.ends_with(".parquet"));
        if ours && !known.contains(relative.as_str()) {
            tracing::warn!(file = %entry.path().display(), "removing a part file left by an interrupted run; its rows are labelled again");
            std::fs::remove_file(entry.path())
                .map_err(|e| Error::io(format!("removing {}", entry.path().display()), e))?;
        }
    }
    Ok(())
}
