//! The dataset's state on disk, `state.sqlite`: the source of truth for `--resume`.
//!
//! One SQLite database (the bundled build, in WAL mode) holds, per input, how far it has been
//! committed (a [`Cursor`]: byte offset, line and record counts and the sha256 of the bytes read
//! so far), its status and counts, which part files hold its rows, the next segment index of
//! each of its documents, its errors, and the run records. Every commit of a part file is one
//! SQLite transaction, so a kill at any point leaves either the state before the commit or the
//! state after it. Nothing here is held in memory between commits: memory stays flat with a
//! million inputs. `manifest.json` and `errors.jsonl` are readable summaries written from this
//! database (see [`super::Dataset`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::manifest::{DatasetIdentity, RunRecord, SkippedFile};
use super::parquet::CommittedFile;
use crate::error::{Error, Result};
pub use crate::input::{Carry, Cursor};

pub const STATE_FILE: &str = "state.sqlite";
const SCHEMA_VERSION: i64 = 1;

/// An input's status in the state database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredStatus {
    /// Some rows committed, the rest still to read (`cursor` says where it stopped).
    Partial,
    /// A new version of an input already in the dataset is being labelled; its rows are in
    /// staged part files, invisible until the whole input is done, when they replace the old.
    Replacing,
    /// Every record committed.
    Done,
    /// Nothing could be labelled.
    Failed,
}

impl StoredStatus {
    fn as_str(self) -> &'static str {
        match self {
            StoredStatus::Partial => "partial",
            StoredStatus::Replacing => "replacing",
            StoredStatus::Done => "done",
            StoredStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoredStatus {
        match s {
            "partial" => StoredStatus::Partial,
            "replacing" => StoredStatus::Replacing,
            "failed" => StoredStatus::Failed,
            _ => StoredStatus::Done,
        }
    }
}

/// One input as the database has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInput {
    pub path: String,
    pub status: StoredStatus,
    /// sha256 of the whole input, once done.
    pub sha256: Option<String>,
    pub format: Option<String>,
    pub bytes: u64,
    pub documents: u64,
    pub segments: u64,
    pub errors: u64,
    pub cursor: Option<Cursor>,
    /// Incremented each time the input is labelled again from its start; files and errors of
    /// older generations are removed when the new one is done.
    pub generation: i64,
    pub run_id: String,
}

/// Where a committed part file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Listed in `manifest.json`: readers read it.
    Live,
    /// Holds rows of an input being replaced; becomes live when that input is done.
    Staged,
}

impl FileState {
    fn as_str(self) -> &'static str {
        match self {
            FileState::Live => "live",
            FileState::Staged => "staged",
        }
    }
}

/// The state database of one output directory.
pub struct State {
    conn: Connection,
    path: PathBuf,
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{DiskFull, SystemIoFailure};
    let hint = match e.sqlite_error_code() {
        Some(DiskFull | SystemIoFailure) => {
            " (is the disk full, or the file size limited?); once there is space, run again with --resume"
        }
        _ => "",
    };
    Error::Output {
        path: path.to_path_buf(),
        reason: format!("state database: {e}{hint}"),
    }
}

impl State {
    /// Whether an output directory has a state database.
    pub fn exists(out_dir: &Path) -> bool {
        out_dir.join(STATE_FILE).is_file()
    }

    /// Opens (creating) the database of `out_dir`.
    ///
    /// # Errors
    /// When it cannot be opened or was written by a newer discotag.
    pub fn open(out_dir: &Path) -> Result<Self> {
        let path = out_dir.join(STATE_FILE);
        let conn = Connection::open(&path).map_err(|e| db_error(&path, e))?;
        let state = State { conn, path };
        state.init()?;
        Ok(state)
    }

    /// A second connection for the read stage's look-ups. Its only writes (which inputs this
    /// run has seen) are not synced one by one: losing the last of them in a power cut only
    /// delays a "missing input" report, and syncing each would cost a disk flush per input.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub fn open_for_lookups(out_dir: &Path) -> Result<Self> {
        let state = State::open(out_dir)?;
        state
            .conn
            .execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(|e| state.err(e))?;
        Ok(state)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    /// Every row of a query, mapped by `row`.
    fn collect<T, C: FromIterator<T>>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<C> {
        let mut statement = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = statement.query_map(params, row).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<C, _>>()
            .map_err(|e| self.err(e))
    }

    fn init(&self) -> Result<()> {
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 10000;
                 CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS inputs (
                     path TEXT PRIMARY KEY, status TEXT NOT NULL, sha256 TEXT, format TEXT,
                     bytes INTEGER NOT NULL, documents INTEGER NOT NULL, segments INTEGER NOT NULL,
                     errors INTEGER NOT NULL, cursor TEXT, generation INTEGER NOT NULL,
                     run_id TEXT NOT NULL, seen_run TEXT);
                 CREATE TABLE IF NOT EXISTS files (
                     path TEXT PRIMARY KEY, rows INTEGER NOT NULL, bytes INTEGER NOT NULL,
                     state TEXT NOT NULL, seq INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS input_files (
                     input TEXT NOT NULL, file TEXT NOT NULL, generation INTEGER NOT NULL,
                     PRIMARY KEY (input, file));
                 CREATE INDEX IF NOT EXISTS input_files_by_file ON input_files (file);
                 CREATE TABLE IF NOT EXISTS doc_segments (
                     input TEXT NOT NULL, doc_id TEXT NOT NULL, next_index INTEGER NOT NULL,
                     PRIMARY KEY (input, doc_id));
                 CREATE TABLE IF NOT EXISTS errors (
                     seq INTEGER PRIMARY KEY AUTOINCREMENT, input TEXT, generation INTEGER,
                     record TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS errors_by_input ON errors (input);
                 CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, record TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL);",
            )
            .map_err(|e| self.err(e))?;
        let version: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match version.and_then(|v| v.parse::<i64>().ok()) {
            None => {
                self.conn
                    .execute(
                        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?1)",
                        [SCHEMA_VERSION.to_string()],
                    )
                    .map_err(|e| self.err(e))?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(Error::Output {
                    path: self.path.clone(),
                    reason: format!(
                        "written by a newer discotag (state schema {v}); use that version to resume it"
                    ),
                });
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The identity recorded for the dataset, if any.
    ///
    /// # Errors
    /// On database errors.
    pub fn identity(&self) -> Result<Option<DatasetIdentity>> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'identity'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// # Errors
    /// On database errors.
    pub fn set_identity(&self, identity: &DatasetIdentity) -> Result<()> {
        let text = serde_json::to_string(identity).expect("identity serialises");
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta VALUES ('identity', ?1)",
                [text],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Number of inputs recorded.
    ///
    /// # Errors
    /// On database errors.
    pub fn input_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM inputs", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// One input's record.
    ///
    /// # Errors
    /// On database errors.
    pub fn input(&self, path: &str) -> Result<Option<StoredInput>> {
        self.conn
            .query_row(
                "SELECT path, status, sha256, format, bytes, documents, segments, errors, cursor, generation, run_id FROM inputs WHERE path = ?1",
                [path],
                stored_input,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every input, in path order, handed to `each` one at a time (memory stays flat).
    ///
    /// # Errors
    /// On database errors, or the first error of `each`.
    pub fn each_input(
        &self,
        mut each: impl FnMut(StoredInput) -> std::io::Result<()>,
    ) -> Result<()> {
        let mut statement = self
            .conn
            .prepare("SELECT path, status, sha256, format, bytes, documents, segments, errors, cursor, generation, run_id FROM inputs ORDER BY path")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], stored_input)
            .map_err(|e| self.err(e))?;
        for row in rows {
            each(row.map_err(|e| self.err(e))?)
                .map_err(|e| Error::io(format!("writing from {}", self.path.display()), e))?;
        }
        Ok(())
    }

    /// The next segment index of each document of an input already seen.
    ///
    /// # Errors
    /// On database errors.
    pub fn doc_segments(&self, input: &str) -> Result<HashMap<String, i32>> {
        self.collect(
            "SELECT doc_id, next_index FROM doc_segments WHERE input = ?1",
            [input],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?)),
        )
    }

    /// Live part files in commit order (what `manifest.json` lists and readers read).
    ///
    /// # Errors
    /// On database errors.
    pub fn live_files(&self) -> Result<Vec<CommittedFile>> {
        self.files_where("state = 'live'")
    }

    /// Every part file the database knows (live and staged).
    ///
    /// # Errors
    /// On database errors.
    pub fn known_files(&self) -> Result<Vec<CommittedFile>> {
        self.files_where("1 = 1")
    }

    fn files_where(&self, condition: &str) -> Result<Vec<CommittedFile>> {
        self.collect(
            &format!("SELECT path, rows, bytes FROM files WHERE {condition} ORDER BY seq"),
            [],
            |r| {
                Ok(CommittedFile {
                    path: r.get(0)?,
                    rows: r.get::<_, i64>(1)? as u64,
                    bytes: r.get::<_, i64>(2)? as u64,
                })
            },
        )
    }

    /// Part files holding rows of `input` from generations before `generation`, with whether
    /// each holds rows of other inputs too.
    ///
    /// # Errors
    /// On database errors.
    pub fn files_of_older_generations(
        &self,
        input: &str,
        generation: i64,
    ) -> Result<Vec<(String, bool)>> {
        self.collect("SELECT f.file, (SELECT COUNT(*) FROM input_files o WHERE o.file = f.file AND o.input <> f.input) > 0
                 FROM input_files f WHERE f.input = ?1 AND f.generation < ?2", params![input, generation], |r| Ok((r.get(0)?, r.get(1)?)))
    }

    /// Inputs in the dataset that this run has not seen (deleted, renamed or not named).
    ///
    /// # Errors
    /// On database errors.
    pub fn unseen_inputs(&self, run_id: &str) -> Result<Vec<String>> {
        self.collect(
            "SELECT path FROM inputs WHERE seen_run IS NOT ?1 ORDER BY path",
            [run_id],
            |r| r.get(0),
        )
    }

    /// Marks an input as named by this run (so it is not reported as deleted).
    ///
    /// # Errors
    /// On database errors.
    pub fn mark_seen(&self, path: &str, run_id: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE inputs SET seen_run = ?2 WHERE path = ?1",
                params![path, run_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every error record (JSON), in the order recorded.
    ///
    /// # Errors
    /// On database errors, or the first error of `each`.
    pub fn each_error(&self, mut each: impl FnMut(&str) -> std::io::Result<()>) -> Result<()> {
        let mut statement = self
            .conn
            .prepare("SELECT record FROM errors ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let mut rows = statement.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let record: String = row.get(0).map_err(|e| self.err(e))?;
            each(&record)
                .map_err(|e| Error::io(format!("writing from {}", self.path.display()), e))?;
        }
        Ok(())
    }

    /// Every run, oldest first.
    ///
    /// # Errors
    /// On database errors.
    pub fn runs(&self) -> Result<Vec<RunRecord>> {
        let mut statement = self
            .conn
            .prepare("SELECT record FROM runs ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            if let Ok(run) = serde_json::from_str(&row.map_err(|e| self.err(e))?) {
                out.push(run);
            }
        }
        Ok(out)
    }

    /// Files passed over in folders.
    ///
    /// # Errors
    /// On database errors.
    pub fn skipped(&self) -> Result<Vec<SkippedFile>> {
        self.collect("SELECT path, reason FROM skipped ORDER BY path", [], |r| {
            Ok(SkippedFile {
                path: r.get(0)?,
                reason: r.get(1)?,
            })
        })
    }

    /// Starts a commit: everything done through the returned transaction becomes visible at
    /// once when it is committed, or not at all.
    ///
    /// # Errors
    /// On database errors.
    pub fn begin(&mut self) -> Result<Commit<'_>> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| db_error(&path, e))?;
        Ok(Commit { tx, path })
    }
}

fn stored_input(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredInput> {
    let cursor: Option<String> = r.get(8)?;
    Ok(StoredInput {
        path: r.get(0)?,
        status: StoredStatus::parse(&r.get::<_, String>(1)?),
        sha256: r.get(2)?,
        format: r.get(3)?,
        bytes: r.get::<_, i64>(4)? as u64,
        documents: r.get::<_, i64>(5)? as u64,
        segments: r.get::<_, i64>(6)? as u64,
        errors: r.get::<_, i64>(7)? as u64,
        cursor: cursor.and_then(|c| serde_json::from_str(&c).ok()),
        generation: r.get(9)?,
        run_id: r.get(10)?,
    })
}

/// One atomic commit of the state.
pub struct Commit<'a> {
    tx: rusqlite::Transaction<'a>,
    path: PathBuf,
}

impl Commit<'_> {
    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    /// Runs one statement of the transaction.
    fn run(&self, sql: &str, params: impl rusqlite::Params) -> Result<()> {
        self.tx.execute(sql, params).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a part file and the inputs (with their generations) whose rows it holds.
    ///
    /// # Errors
    /// On database errors.
    pub fn add_file(
        &self,
        file: &CommittedFile,
        state: FileState,
        inputs: &[(String, i64)],
    ) -> Result<()> {
        self.run("INSERT OR REPLACE INTO files VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM files))", params![file.path, file.rows as i64, file.bytes as i64, state.as_str()])?;
        for (input, generation) in inputs {
            self.run(
                "INSERT OR REPLACE INTO input_files VALUES (?1, ?2, ?3)",
                params![input, file.path, generation],
            )?;
        }
        Ok(())
    }

    /// Makes the staged files of `input` live.
    ///
    /// # Errors
    /// On database errors.
    pub fn publish_staged(&self, input: &str) -> Result<()> {
        self.run("UPDATE files SET state = 'live' WHERE state = 'staged' AND path IN (SELECT file FROM input_files WHERE input = ?1)", [input])?;
        Ok(())
    }

    /// Forgets a part file (its rows are gone from the dataset once this commits).
    ///
    /// # Errors
    /// On database errors.
    pub fn remove_file(&self, file: &str) -> Result<()> {
        self.run("DELETE FROM files WHERE path = ?1", [file])?;
        self.run("DELETE FROM input_files WHERE file = ?1", [file])?;
        Ok(())
    }

    /// A part file rewritten without one input's rows replaces the old one for every other
    /// input it held.
    ///
    /// # Errors
    /// On database errors.
    pub fn replace_file(&self, old: &str, new: &CommittedFile, without: &str) -> Result<()> {
        self.run(
            "INSERT INTO files SELECT ?2, ?3, ?4, state, seq FROM files WHERE path = ?1",
            params![old, new.path, new.rows as i64, new.bytes as i64],
        )?;
        self.run("INSERT OR REPLACE INTO input_files SELECT input, ?2, generation FROM input_files WHERE file = ?1 AND input <> ?3", params![old, new.path, without])?;
        self.remove_file(old)
    }

    /// Writes an input's record (insert or replace).
    ///
    /// # Errors
    /// On database errors.
    pub fn put_input(&self, input: &StoredInput, seen_run: &str) -> Result<()> {
        let cursor = input
            .cursor
            .as_ref()
            .map(|c| serde_json::to_string(c).expect("cursor serialises"));
        self.run("INSERT OR REPLACE INTO inputs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    input.path,
                    input.status.as_str(),
                    input.sha256,
                    input.format,
                    input.bytes as i64,
                    input.documents as i64,
                    input.segments as i64,
                    input.errors as i64,
                    cursor,
                    input.generation,
                    input.run_id,
                    seen_run
                ],
            )
    }

    /// Removes an input and everything recorded for it (not its rows: remove its files first).
    ///
    /// # Errors
    /// On database errors.
    pub fn delete_input(&self, input: &str) -> Result<()> {
        for table in [
            "inputs WHERE path",
            "doc_segments WHERE input",
            "errors WHERE input",
            "input_files WHERE input",
        ] {
            self.run(&format!("DELETE FROM {table} = ?1"), [input])?;
        }
        Ok(())
    }

    /// Sets the next segment index of documents of an input.
    ///
    /// # Errors
    /// On database errors.
    pub fn put_doc_segments<'s>(
        &self,
        input: &str,
        docs: impl IntoIterator<Item = (&'s String, &'s i32)>,
    ) -> Result<()> {
        let mut statement = self
            .tx
            .prepare_cached("INSERT OR REPLACE INTO doc_segments VALUES (?1, ?2, ?3)")
            .map_err(|e| self.err(e))?;
        for (doc, next) in docs {
            statement
                .execute(params![input, doc, next])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Forgets the document counters of an input (it is labelled again from its start).
    ///
    /// # Errors
    /// On database errors.
    pub fn reset_doc_segments(&self, input: &str) -> Result<()> {
        self.run("DELETE FROM doc_segments WHERE input = ?1", [input])?;
        Ok(())
    }

    /// Number of documents seen in an input.
    ///
    /// # Errors
    /// On database errors.
    pub fn documents(&self, input: &str) -> Result<u64> {
        self.tx
            .query_row(
                "SELECT COUNT(*) FROM doc_segments WHERE input = ?1",
                [input],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Appends an error record (JSON) of an input's generation (`None` for errors of no input).
    ///
    /// # Errors
    /// On database errors.
    pub fn add_error(&self, input: Option<(&str, i64)>, record: &str) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO errors (input, generation, record) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![input.map(|i| i.0), input.map(|i| i.1), record]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Drops the errors of an input's generations before `generation`.
    ///
    /// # Errors
    /// On database errors.
    pub fn drop_older_errors(&self, input: &str, generation: i64) -> Result<()> {
        self.run(
            "DELETE FROM errors WHERE input = ?1 AND generation < ?2",
            params![input, generation],
        )
    }

    /// Records (or updates) a run.
    ///
    /// # Errors
    /// On database errors.
    pub fn put_run(&self, run: &RunRecord) -> Result<()> {
        let record = serde_json::to_string(run).expect("run record serialises");
        self.run(
            "INSERT INTO runs VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), ?2)
                 ON CONFLICT (run_id) DO UPDATE SET record = excluded.record",
            params![run.run_id, record],
        )?;
        Ok(())
    }

    /// # Errors
    /// On database errors.
    pub fn add_skipped(&self, skipped: &SkippedFile) -> Result<()> {
        self.run(
            "INSERT OR REPLACE INTO skipped VALUES (?1, ?2)",
            params![skipped.path, skipped.reason],
        )?;
        Ok(())
    }

    /// Makes everything in this commit durable and visible at once.
    ///
    /// # Errors
    /// On database errors.
    pub fn commit(self) -> Result<()> {
        let path = self.path.clone();
        self.tx.commit().map_err(|e| db_error(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(path: &str, status: StoredStatus, generation: i64) -> StoredInput {
        StoredInput {
            path: path.into(),
            status,
            sha256: None,
            format: Some("jsonl".into()),
            bytes: 10,
            documents: 1,
            segments: 2,
            errors: 0,
            cursor: Some(Cursor {
                bytes: 5,
                prefix_sha256: "ab".into(),
                ..Cursor::default()
            }),
            generation,
            run_id: "r1".into(),
        }
    }

    fn file(path: &str) -> CommittedFile {
        CommittedFile {
            path: path.into(),
            rows: 3,
            bytes: 100,
        }
    }

    #[test]
    fn a_commit_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(dir.path()).unwrap();
        let record_a = |commit: &Commit<'_>| {
            commit
                .put_input(&input("a", StoredStatus::Partial, 0), "r1")
                .unwrap();
            commit
                .add_file(&file("segments/p0"), FileState::Live, &[("a".into(), 0)])
                .unwrap();
        };
        // Dropped without commit: rolled back.
        record_a(&state.begin().unwrap());
        assert!(state.input("a").unwrap().is_none());
        assert!(state.live_files().unwrap().is_empty());
        let commit = state.begin().unwrap();
        record_a(&commit);
        commit
            .put_doc_segments("a", [(&"d1".to_string(), &4)])
            .unwrap();
        commit.commit().unwrap();
        drop(state);
        let state = State::open(dir.path()).unwrap();
        assert_eq!(state.input("a").unwrap().unwrap().cursor.unwrap().bytes, 5);
        assert_eq!(state.live_files().unwrap(), vec![file("segments/p0")]);
        assert_eq!(state.doc_segments("a").unwrap()["d1"], 4);
    }

    #[test]
    fn staged_files_go_live_and_old_generations_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(dir.path()).unwrap();
        let commit = state.begin().unwrap();
        commit
            .add_file(
                &file("segments/shared"),
                FileState::Live,
                &[("a".into(), 0), ("b".into(), 0)],
            )
            .unwrap();
        commit
            .add_file(&file("segments/own"), FileState::Live, &[("a".into(), 0)])
            .unwrap();
        commit
            .add_file(&file("segments/new"), FileState::Staged, &[("a".into(), 1)])
            .unwrap();
        commit.commit().unwrap();
        assert_eq!(state.live_files().unwrap().len(), 2);
        let mut old = state.files_of_older_generations("a", 1).unwrap();
        old.sort();
        assert_eq!(
            old,
            vec![
                ("segments/own".into(), false),
                ("segments/shared".into(), true)
            ]
        );
        let commit = state.begin().unwrap();
        commit.publish_staged("a").unwrap();
        commit
            .replace_file("segments/shared", &file("segments/shared2"), "a")
            .unwrap();
        commit.remove_file("segments/own").unwrap();
        commit.commit().unwrap();
        let live: Vec<String> = state
            .live_files()
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(live, vec!["segments/shared2", "segments/new"]);
        assert!(state.files_of_older_generations("a", 1).unwrap().is_empty());
        assert!(state.files_of_older_generations("b", 1).unwrap()[0].0 == "segments/shared2");
    }
}
