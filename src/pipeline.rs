//! Wiring for `discotag label`: the stages run concurrently on blocking threads joined by
//! bounded tokio channels, so memory stays flat however large the corpus or a single input, and
//! a slow stage (encoding) slows the ones before it instead of letting work pile up.
//!
//! ```text
//! read ──(chunks)──> segment + tokenise ──(chunks)──> batch + encode + classify ──(chunks)──> write
//! ```
//!
//! Each channel carries chunks of inputs ([`crate::input::stream`]): a few MB of one input at
//! most, never a whole large file. The read stage decides from the state database how each
//! input is labelled (new, continued from its last commit, replaced because it changed, or
//! skipped as done). A stage that fails stops the run (the stages after it see a closed
//! channel); an input that fails is data, recorded in the errors file. SIGINT or SIGTERM
//! ([`StopSignal`]) stops reading; the writer commits what it has and the run ends.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::error::{Error, InputError, Result};
use crate::input::stream::{self, Chunk, End, InputStream};
use crate::input::{self, DiscoveredInput, Format, InputSource, ReadOptions, Shard};
use crate::model::{Classifier, LoadOptions};
use crate::output::state::{State, StoredStatus};
use crate::output::{
    ChunkOutcome, Dataset, DatasetIdentity, InputPlan, Row, RunRecord, SkippedFile,
};
use crate::segment::{self, SegmentUnit};

/// Chunks read and parsed ahead of segmentation.
pub const READ_CHANNEL_CAPACITY: usize = 4;
/// Chunks segmented and tokenised ahead of the encoder.
pub const PREPARED_CHANNEL_CAPACITY: usize = 4;
/// Labelled chunks waiting for the writer.
pub const LABELLED_CHANNEL_CAPACITY: usize = 4;
/// Segments gathered from consecutive chunks before sorting them by length into batches (fewer
/// when no more chunks are waiting, so a live stream is not held back).
pub const BUCKET_WINDOW_SEGMENTS: usize = 2048;
/// How often a waiting writer wakes to commit on time and to notice a stop.
const WRITER_TICK: Duration = Duration::from_millis(200);

/// Set by SIGINT or SIGTERM (see the CLI): the run stops reading, commits what is done and
/// ends; `signal` says which signal it was.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    pub stop: Arc<AtomicBool>,
    pub signal: Arc<AtomicUsize>,
}

impl StopSignal {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Everything `discotag label` needs, validated.
#[derive(Debug, Clone)]
pub struct LabelConfig {
    pub inputs: Vec<PathBuf>,
    pub out_dir: PathBuf,
    pub model_dir: PathBuf,
    pub stdin_format: Option<Format>,
    /// The format of stdin when `stdin_format` is not given ([`input::detect_stdin_format`]).
    pub detected_stdin_format: Option<Format>,
    pub unit: SegmentUnit,
    pub max_tokens: usize,
    pub batch_size: usize,
    pub shard: Shard,
    pub resume: bool,
    /// Remove the rows of inputs in the dataset that this run is not given.
    pub prune: bool,
    pub offline: bool,
    /// The encoder's number format.
    pub precision: crate::model::precision::Request,
    pub read: ReadOptions,
    pub progress: bool,
    /// How long rows wait before they are committed (how much a killed run loses).
    pub commit_interval: Duration,
    pub stop: StopSignal,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct LabelSummary {
    pub run: RunRecord,
    pub out_dir: PathBuf,
}

impl LabelSummary {
    /// Whether any input or record failed (exit code 3).
    pub fn had_errors(&self) -> bool {
        self.run.errors > 0 || self.run.inputs_failed > 0
    }
}

/// A chunk as the read stage hands it on.
struct ReadChunk {
    plan: Arc<InputPlan>,
    chunk: Chunk,
    /// Segment counters of an input continued from a commit (on its first chunk).
    seeds: Option<HashMap<String, i32>>,
}

struct PreparedChunk {
    plan: Arc<InputPlan>,
    bytes: u64,
    rows: Vec<Row>,
    ids: Vec<Vec<u32>>,
    errors: Vec<InputError>,
    cursor: Option<input::Cursor>,
    doc_segments: Vec<(String, i32)>,
    end: Option<End>,
}

/// Seconds each stage spent working (not waiting).
#[derive(Default)]
struct StageTime(Duration);

/// The precision to load with: `auto` on `--resume` keeps the precision the dataset was
/// started in (which another machine's `auto` could choose differently), so that its rows stay
/// comparable and the dataset's identity matches.
fn resumed_precision(config: &LabelConfig) -> Result<crate::model::precision::Request> {
    use crate::model::precision::Request;
    if config.precision != Request::Auto || !config.resume {
        return Ok(config.precision);
    }
    let recorded = crate::output::manifest::Manifest::load(&config.out_dir)?
        .and_then(|m| crate::model::Precision::from_name(&m.identity.precision));
    Ok(recorded.map_or(Request::Auto, Request::Exactly))
}

/// Runs `label` end to end.
///
/// # Errors
/// Fatal errors only: model unusable, output not writable, a stage failing. Problems with
/// inputs are counted in the summary and written to the errors file.
pub fn run_label(config: LabelConfig) -> Result<LabelSummary> {
    let started = Instant::now();
    let classifier = Arc::new(Classifier::load(
        &config.model_dir,
        &LoadOptions {
            max_tokens: config.max_tokens,
            offline: config.offline,
            precision: resumed_precision(&config)?,
        },
    )?);
    // First walk: count and size the inputs, and collect what is skipped or unlistable; the
    // read stage walks again, so the inputs themselves are never held in memory.
    let (mut inputs, mut total_bytes) = (0u64, 0u64);
    let (mut skipped, mut listing_errors) = (Vec::new(), Vec::new());
    for found in input::walk(&config.inputs, config.stdin_format, config.shard) {
        match found {
            input::Found::Input(input) => {
                inputs += 1;
                if let InputSource::File(p) = &input.source {
                    total_bytes += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                }
            }
            input::Found::Skipped(path, reason) => skipped.push(SkippedFile { path, reason }),
            input::Found::Error(error) => listing_errors.push(error),
        }
    }
    let run = RunRecord {
        run_id: crate::telemetry::new_run_id(),
        started: crate::telemetry::now_rfc3339(),
        shard: format!("{}/{}", config.shard.index, config.shard.count),
        resumed: config.resume,
        kernel: classifier.engine().kernel().name().into(),
        precision_reason: classifier.precision().reason.clone(),
        ..RunRecord::default()
    };
    let identity = DatasetIdentity {
        model_id: classifier.model.model_id.clone(),
        codebook: classifier.model.codebook.identity(),
        codes: classifier.model.codebook.code_names(),
        encoder: classifier.model.encoder.identity(),
        unit: format!("{:?}", config.unit).to_lowercase(),
        max_tokens: config.max_tokens,
        precision: classifier.precision().precision.name().into(),
    };
    let mut dataset = Dataset::open(&config.out_dir, identity, config.resume, run)?;
    dataset.set_commit_interval(config.commit_interval);
    let run_id = dataset.run.run_id.clone();
    tracing::info!(run_id = %run_id, inputs, out = %config.out_dir.display(), model = %classifier.model.model_id, kernel = classifier.engine().kernel().name(), "labelling");
    for file in &skipped {
        tracing::debug!(run_id = %run_id, path = %file.path, reason = %file.reason, "skipped");
    }
    if !skipped.is_empty() {
        tracing::info!(run_id = %run_id, files = skipped.len(), "skipped files that are not transcripts (listed in the manifest)");
    }
    dataset.record_skipped(skipped);
    for error in &listing_errors {
        tracing::warn!(run_id = %run_id, error = %error, "input error");
    }
    dataset.record_errors(listing_errors);

    let progress = crate::telemetry::label_progress(total_bytes, config.progress);
    let lookups = dataset.state_reader()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the tokio runtime", e))?;
    let outcome = runtime.block_on(run_stages(
        config.clone(),
        classifier.clone(),
        lookups,
        dataset,
        progress.clone(),
    ));
    // A stopped run does not wait for a reader blocked on a live stream.
    runtime.shutdown_background();
    let (dataset, times, skipped_done) = outcome?;
    crate::telemetry::finish_progress(&progress);

    let mut dataset = dataset;
    dataset.run.inputs_skipped_as_done = skipped_done;
    dataset.run.interrupted = config.stop.stopped();
    dataset.run.seconds = started.elapsed().as_secs_f64();
    dataset.run.stage_seconds = times;
    let run = dataset.finish(config.prune)?;
    tracing::info!(
        run_id = %run.run_id,
        inputs_done = run.inputs_done,
        inputs_failed = run.inputs_failed,
        skipped_as_done = run.inputs_skipped_as_done,
        replaced = run.inputs_replaced,
        missing = run.inputs_missing,
        segments = run.segments,
        errors = run.errors,
        interrupted = run.interrupted,
        seconds = run.seconds,
        "finished"
    );
    Ok(LabelSummary {
        run,
        out_dir: config.out_dir,
    })
}

type StageResult<T> = std::result::Result<T, Error>;

/// A stage's result, with a panic in the stage turned into a fatal error.
fn joined<T>(
    result: std::result::Result<StageResult<T>, tokio::task::JoinError>,
    stage: &'static str,
) -> StageResult<T> {
    result.map_err(|e| Error::Stage {
        stage,
        reason: e.to_string(),
    })?
}

async fn run_stages(
    config: LabelConfig,
    classifier: Arc<Classifier>,
    lookups: State,
    dataset: Dataset,
    progress: indicatif::ProgressBar,
) -> Result<(Dataset, BTreeMap<String, f64>, u64)> {
    let (read_tx, read_rx) = mpsc::channel::<ReadChunk>(READ_CHANNEL_CAPACITY);
    let (prepared_tx, prepared_rx) = mpsc::channel::<PreparedChunk>(PREPARED_CHANNEL_CAPACITY);
    let (labelled_tx, labelled_rx) =
        mpsc::channel::<(PreparedChunk, Vec<Vec<f32>>)>(LABELLED_CHANNEL_CAPACITY);

    let read_options = config.read.clone();
    let read_progress = progress.clone();
    let read_stop = config.stop.clone();
    let run_id = dataset.run.run_id.clone();
    let read_config = config.clone();
    let read = tokio::task::spawn_blocking(move || {
        let reader = Reader {
            options: &read_options,
            state: &lookups,
            run_id: &run_id,
            stop: &read_stop,
            progress: &read_progress,
        };
        let inputs = input::walk(
            &read_config.inputs,
            read_config.stdin_format,
            read_config.shard,
        )
        .filter_map(|found| match found {
            input::Found::Input(mut input) => {
                if let (InputSource::Stdin, Err(_), Some(format)) = (
                    &input.source,
                    &input.format,
                    read_config.detected_stdin_format,
                ) {
                    input.format = Ok(format);
                }
                Some(input)
            }
            _ => None,
        });
        reader.run(inputs, read_tx)
    });
    let prep_classifier = classifier.clone();
    let prepare = tokio::task::spawn_blocking(move || {
        prepare_stage(
            &prep_classifier,
            config.unit,
            config.max_tokens,
            read_rx,
            prepared_tx,
        )
    });
    let enc_classifier = classifier.clone();
    let encode = tokio::task::spawn_blocking(move || {
        encode_stage(&enc_classifier, config.batch_size, prepared_rx, labelled_tx)
    });
    let write_stop = config.stop.clone();
    let write = tokio::task::spawn_blocking(move || {
        write_stage(&classifier, dataset, labelled_rx, progress, &write_stop)
    });

    let (mut dataset, write_time) = joined(write.await, "write")?;
    if config.stop.stopped() {
        // Stopped: what the writer committed is the run; the other stages are abandoned.
        return Ok((dataset, BTreeMap::new(), 0));
    }
    let (read, prepare, encode) = tokio::join!(read, prepare, encode);
    let (read_time, skipped) = joined(read, "read")?;
    let prepare_time = joined(prepare, "segment")?;
    let (encode_time, real, padded) = joined(encode, "encode")?;
    dataset.run.tokens = real;
    dataset.run.padded_tokens = padded;
    let times = [
        ("read", read_time),
        ("segment_tokenise", prepare_time),
        ("encode_classify", encode_time),
        ("write", write_time),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.0.as_secs_f64()))
    .collect();
    Ok((dataset, times, skipped))
}

/// The read stage: decides how each input is labelled, then streams it in chunks.
struct Reader<'a> {
    options: &'a ReadOptions,
    state: &'a State,
    run_id: &'a str,
    stop: &'a StopSignal,
    progress: &'a indicatif::ProgressBar,
}

/// What the state says to do with an input (made once per input, so its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Decision {
    /// Done and unchanged.
    Skip,
    Label {
        plan: Box<InputPlan>,
        stream: Option<InputStream>,
        seeds: Option<HashMap<String, i32>>,
    },
}

impl Reader<'_> {
    fn run(
        &self,
        inputs: impl Iterator<Item = DiscoveredInput>,
        tx: mpsc::Sender<ReadChunk>,
    ) -> StageResult<(StageTime, u64)> {
        let mut time = StageTime::default();
        let mut skipped = 0;
        for (seq, input) in inputs.enumerate() {
            if self.stop.stopped() {
                break;
            }
            let start = Instant::now();
            let doc_id = match &input.source {
                InputSource::File(p) => input::default_doc_id(p),
                InputSource::Stdin => "stdin".into(),
            };
            let (plan, mut stream, mut seeds) = match self.decide(&input, seq as u64, &doc_id)? {
                Decision::Skip => {
                    skipped += 1;
                    tracing::debug!(path = %input.display, "already labelled in this dataset and unchanged; skipped");
                    continue;
                }
                Decision::Label {
                    plan,
                    stream,
                    seeds,
                } => (Arc::new(*plan), stream, seeds),
            };
            time.0 += start.elapsed();
            loop {
                let start = Instant::now();
                let chunk = match stream.as_mut() {
                    Some(s) => s.next_chunk(),
                    None => None,
                };
                let Some(chunk) =
                    chunk.or_else(|| stream.is_none().then(|| opening_failed(&input)))
                else {
                    break;
                };
                time.0 += start.elapsed();
                let last = chunk.end.is_some();
                let message = ReadChunk {
                    plan: plan.clone(),
                    chunk,
                    seeds: seeds.take(),
                };
                if tx.blocking_send(message).is_err() {
                    return Ok((time, skipped)); // a later stage stopped; its error is reported
                }
                if last || stream.is_none() || self.stop.stopped() {
                    break;
                }
            }
        }
        Ok((time, skipped))
    }

    fn open_stream(
        &self,
        input: &DiscoveredInput,
        format: Format,
        doc_id: &str,
    ) -> std::io::Result<InputStream> {
        let (reader, live) = stream::open(&input.source)?;
        Ok(InputStream::new(
            reader,
            live,
            format,
            &input.display,
            doc_id,
            self.options,
        ))
    }

    fn decide(&self, input: &DiscoveredInput, seq: u64, doc_id: &str) -> StageResult<Decision> {
        let stored = self.state.input(&input.display)?;
        if stored.is_some() {
            self.state.mark_seen(&input.display, self.run_id)?;
        }
        let fresh = |generation: i64, staged: bool| InputPlan {
            path: input.display.clone(),
            format: input.format.as_ref().ok().map(|f| f.name().to_string()),
            generation,
            staged,
            resumed: None,
            keep_existing: false,
            seq,
        };
        let Ok(format) = input.format.clone() else {
            let generation = stored.as_ref().map_or(0, |s| s.generation + 1);
            let staged = stored.as_ref().is_some_and(|s| s.segments > 0);
            return Ok(Decision::Label {
                plan: Box::new(fresh(generation, staged)),
                stream: None,
                seeds: None,
            });
        };
        let open = |me: &Self| me.open_stream(input, format, doc_id).ok();
        let Some(stored) = stored else {
            return Ok(Decision::Label {
                plan: Box::new(fresh(0, false)),
                stream: open(self),
                seeds: None,
            });
        };
        let replace = |me: &Self| Decision::Label {
            plan: Box::new(fresh(stored.generation + 1, stored.segments > 0)),
            stream: open(me),
            seeds: None,
        };
        // An input labelled before that cannot be read now keeps its rows: the error is
        // recorded, and the next run that can read it carries on.
        let unreadable = || Decision::Label {
            plan: Box::new(InputPlan {
                keep_existing: true,
                ..fresh(stored.generation, false)
            }),
            stream: None,
            seeds: None,
        };
        let stdin = input.source == InputSource::Stdin;
        match (stored.status, &stored.cursor) {
            (StoredStatus::Failed, _) => Ok(replace(self)),
            (StoredStatus::Done, _) if !stdin => {
                let InputSource::File(path) = &input.source else {
                    unreachable!()
                };
                match stream::hash_file(path) {
                    Ok((sha256, bytes)) if Some(&sha256) == stored.sha256.as_ref() => {
                        self.progress.inc(bytes);
                        Ok(Decision::Skip)
                    }
                    Ok(_) => {
                        tracing::info!(path = %input.display, "changed since it was labelled: its rows are replaced");
                        Ok(replace(self))
                    }
                    Err(_) => Ok(unreadable()),
                }
            }
            (_, Some(cursor)) => {
                let Some(mut stream) = open(self) else {
                    return Ok(unreadable());
                };
                match stream.skip_prefix(cursor) {
                    Ok(true) => {
                        self.progress.inc(cursor.bytes);
                        let seeds = self.state.doc_segments(&input.display)?;
                        let plan = InputPlan {
                            staged: stored.status == StoredStatus::Replacing,
                            resumed: Some(stored.clone()),
                            generation: stored.generation,
                            ..fresh(stored.generation, false)
                        };
                        Ok(Decision::Label {
                            plan: Box::new(plan),
                            stream: Some(stream),
                            seeds: Some(seeds),
                        })
                    }
                    _ if stdin => Err(Error::Usage(format!(
                        "stdin does not begin with the {} bytes of the stream labelled into this dataset before: resume with the same stream, or label this one into another --out",
                        cursor.bytes
                    ))),
                    _ => {
                        tracing::info!(path = %input.display, "changed since its last commit: labelled again from its start, its old rows replaced");
                        Ok(replace(self))
                    }
                }
            }
            // Done without a cursor (imported from an older manifest) on stdin, or partial
            // without one: label again.
            _ => Ok(replace(self)),
        }
    }
}

/// The one chunk of an input that could not be opened or has no format.
fn opening_failed(input: &DiscoveredInput) -> Chunk {
    let reason = match (&input.format, &input.source) {
        (Err(reason), _) => reason.clone(),
        (Ok(_), InputSource::File(path)) => match std::fs::File::open(path) {
            Err(e) => format!("cannot read: {e}"),
            Ok(_) => "cannot read".to_string(),
        },
        (Ok(_), InputSource::Stdin) => "cannot read stdin".to_string(),
    };
    Chunk {
        parsed: input::Parsed {
            documents: Vec::new(),
            errors: vec![InputError::file(&input.display, reason)],
        },
        cursor: input::Cursor::default(),
        end: Some(End {
            sha256: None,
            bytes: 0,
        }),
    }
}

fn prepare_stage(
    classifier: &Classifier,
    unit: SegmentUnit,
    max_tokens: usize,
    mut rx: mpsc::Receiver<ReadChunk>,
    tx: mpsc::Sender<PreparedChunk>,
) -> StageResult<StageTime> {
    let mut time = StageTime::default();
    let tokenizer = classifier.tokenizer();
    // Next segment index of each document of the input being read.
    let mut counters: HashMap<String, i32> = HashMap::new();
    let mut current: Option<u64> = None;
    // How far into the input the chunks before have reached (for the progress bar).
    let mut read_to = 0u64;
    while let Some(read) = rx.blocking_recv() {
        let start = Instant::now();
        if current != Some(read.plan.seq) {
            current = Some(read.plan.seq);
            counters = read.seeds.unwrap_or_default();
            read_to = read
                .plan
                .resumed
                .as_ref()
                .and_then(|r| r.cursor.as_ref())
                .map_or(0, |c| c.bytes);
        }
        let chunk = read.chunk;
        let bytes = chunk.cursor.bytes.saturating_sub(read_to);
        read_to = read_to.max(chunk.cursor.bytes);
        let mut prepared = PreparedChunk {
            plan: read.plan.clone(),
            bytes,
            rows: Vec::new(),
            ids: Vec::new(),
            errors: chunk.parsed.errors,
            // An input that could not be opened has no position to record.
            cursor: (!chunk.cursor.prefix_sha256.is_empty()).then_some(chunk.cursor),
            doc_segments: Vec::new(),
            end: chunk.end,
        };
        let source: Arc<str> = prepared.plan.path.as_str().into();
        for document in chunk.parsed.documents {
            let next = counters.entry(document.doc_id.clone()).or_insert(0);
            let doc_id = document.doc_id.clone();
            *next = segment_document(
                document,
                &source,
                unit,
                max_tokens,
                tokenizer,
                *next,
                &mut prepared,
            );
            prepared.doc_segments.push((doc_id, *next));
        }
        time.0 += start.elapsed();
        if tx.blocking_send(prepared).is_err() {
            break;
        }
    }
    Ok(time)
}

fn segment_document(
    document: input::Document,
    source: &Arc<str>,
    unit: SegmentUnit,
    max_tokens: usize,
    tokenizer: &crate::tokenize::TextTokenizer,
    first_segment: i32,
    out: &mut PreparedChunk,
) -> i32 {
    let doc_id: Arc<str> = document.doc_id.as_str().into();
    let doc_metadata = Arc::new(document.metadata);
    let mut segment_index = first_segment;
    for unit_data in document.units {
        let ranges = segment::split(&unit_data.text, unit, max_tokens, tokenizer);
        let char_ranges = segment::char_ranges(&unit_data.text, &ranges);
        let metadata = if unit_data.metadata.is_empty() {
            doc_metadata.clone()
        } else {
            let mut merged = (*doc_metadata).clone();
            merged.extend(unit_data.metadata.clone());
            Arc::new(merged)
        };
        for (bytes, chars) in ranges.into_iter().zip(char_ranges) {
            let text = &unit_data.text[bytes];
            let tokens = match tokenizer.encode(text) {
                Ok(t) => t,
                Err(e) => {
                    out.errors.push(InputError::new(
                        source.as_ref(),
                        crate::error::Position::Line {
                            line: unit_data.line,
                            column: None,
                        },
                        format!("tokenizer failed: {e}"),
                    ));
                    continue;
                }
            };
            out.rows.push(Row {
                source_path: source.clone(),
                doc_id: doc_id.clone(),
                record_index: unit_data.record_index.map(|i| i as i64),
                record_id: unit_data.record_id.clone(),
                segment_index,
                speaker: unit_data.speaker.clone(),
                char_start: (unit_data.char_start + chars.start) as i64,
                char_end: (unit_data.char_start + chars.end) as i64,
                cue_start_ms: unit_data.cue_start_ms,
                cue_end_ms: unit_data.cue_end_ms,
                text: text.to_string(),
                token_count: tokens.ids.len() as i32,
                truncated: tokens.truncated,
                labels: Vec::new(),
                scores: Vec::new(),
                metadata: metadata.clone(),
            });
            out.ids.push(tokens.ids);
            segment_index += 1;
        }
    }
    segment_index
}

fn encode_stage(
    classifier: &Classifier,
    batch_size: usize,
    mut rx: mpsc::Receiver<PreparedChunk>,
    tx: mpsc::Sender<(PreparedChunk, Vec<Vec<f32>>)>,
) -> StageResult<(StageTime, u64, u64)> {
    let mut time = StageTime::default();
    let (mut real_tokens, mut padded_tokens) = (0u64, 0u64);
    let mut window: Vec<PreparedChunk> = Vec::new();
    let mut open = true;
    while open {
        let mut segments = 0;
        while segments < BUCKET_WINDOW_SEGMENTS {
            // Wait for the first chunk; then take only what is already waiting, so that a live
            // stream's rows are not held back for a full window.
            let next = if window.is_empty() {
                rx.blocking_recv()
            } else {
                match rx.try_recv() {
                    Ok(chunk) => Some(chunk),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            match next {
                Some(chunk) => {
                    segments += chunk.ids.len();
                    window.push(chunk);
                }
                None => {
                    open = false;
                    break;
                }
            }
        }
        if window.is_empty() {
            continue;
        }
        let start = Instant::now();
        let sequences: Vec<&[u32]> = window
            .iter()
            .flat_map(|i| i.ids.iter().map(Vec::as_slice))
            .collect();
        let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        let plan = crate::batch::plan(&lengths, batch_size);
        // The engine lays a batch's segments end to end: it computes every real token and no
        // padding, so the positions computed are the real tokens.
        let real: u64 = lengths.iter().map(|&l| l as u64).sum();
        real_tokens += real;
        padded_tokens += real;
        let scores = classifier.score_batches(&sequences, &plan)?;
        time.0 += start.elapsed();
        let mut scores = scores.into_iter();
        for mut chunk in window.drain(..) {
            let chunk_scores: Vec<Vec<f32>> = scores.by_ref().take(chunk.ids.len()).collect();
            chunk.ids = Vec::new();
            if tx.blocking_send((chunk, chunk_scores)).is_err() {
                return Ok((time, real_tokens, padded_tokens));
            }
        }
    }
    Ok((time, real_tokens, padded_tokens))
}

fn write_stage(
    classifier: &Classifier,
    mut dataset: Dataset,
    mut rx: mpsc::Receiver<(PreparedChunk, Vec<Vec<f32>>)>,
    progress: indicatif::ProgressBar,
    stop: &StopSignal,
) -> StageResult<(Dataset, StageTime)> {
    let mut time = StageTime::default();
    let started = Instant::now();
    let model_id = classifier.model.model_id.clone();
    let runtime = tokio::runtime::Handle::current();
    loop {
        if stop.stopped() {
            break;
        }
        let received = runtime.block_on(tokio::time::timeout(WRITER_TICK, rx.recv()));
        let start = Instant::now();
        let (mut chunk, scores) = match received {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_) => {
                dataset.tick()?;
                time.0 += start.elapsed();
                continue;
            }
        };
        for (row, s) in chunk.rows.iter_mut().zip(scores) {
            row.labels = classifier.labels(&s);
            row.scores = s;
        }
        let bytes = chunk.bytes;
        dataset.write_chunk(
            ChunkOutcome {
                input: chunk.plan,
                rows: chunk.rows,
                errors: chunk.errors,
                cursor: chunk.cursor,
                doc_segments: chunk.doc_segments,
                end: chunk.end,
            },
            &model_id,
        )?;
        time.0 += start.elapsed();
        progress.inc(bytes);
        let rate = dataset.run.segments as f64 / started.elapsed().as_secs_f64().max(1e-3);
        progress.set_message(format!(
            "{} segments, {rate:.0} segments/s",
            dataset.run.segments
        ));
    }
    Ok((dataset, time))
}
