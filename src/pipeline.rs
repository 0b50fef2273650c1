//! Wiring for `discotag label`: the stages run concurrently on blocking threads joined by
//! bounded tokio channels, so memory stays flat however large the corpus, and a slow stage
//! (encoding) slows the ones before it instead of letting work pile up.
//!
//! ```text
//! read ──(inputs)──> segment + tokenise ──(inputs)──> batch + encode + classify ──(inputs)──> write
//! ```
//!
//! Each channel carries whole inputs (files), never single segments. A stage that fails stops
//! the run (the stages after it see a closed channel); an input that fails is data, recorded in
//! the errors file.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::error::{Error, InputError, Result};
use crate::input::{self, DiscoveredInput, Format, InputSource, Parsed, ReadOptions, Shard};
use crate::model::{Classifier, LoadOptions};
use crate::output::{Dataset, DatasetIdentity, InputOutcome, Row, RunRecord, SkippedFile};
use crate::segment::{self, SegmentUnit};

/// Inputs read and parsed ahead of segmentation.
pub const READ_CHANNEL_CAPACITY: usize = 4;
/// Inputs segmented and tokenised ahead of the encoder.
pub const PREPARED_CHANNEL_CAPACITY: usize = 4;
/// Labelled inputs waiting for the writer.
pub const LABELLED_CHANNEL_CAPACITY: usize = 4;
/// Segments gathered from consecutive inputs before sorting them by length into batches.
pub const BUCKET_WINDOW_SEGMENTS: usize = 2048;

/// Everything `discotag label` needs, validated.
#[derive(Debug, Clone)]
pub struct LabelConfig {
    pub inputs: Vec<PathBuf>,
    pub out_dir: PathBuf,
    pub model_dir: PathBuf,
    pub stdin_format: Option<Format>,
    pub unit: SegmentUnit,
    pub max_tokens: usize,
    pub batch_size: usize,
    pub shard: Shard,
    pub resume: bool,
    pub offline: bool,
    /// The encoder's number format.
    pub precision: crate::model::Precision,
    pub read: ReadOptions,
    pub progress: bool,
    /// How long a part file stays open before it is committed (how much a killed run loses).
    pub commit_interval: Duration,
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

struct ReadInput {
    path: String,
    sha256: String,
    format: Option<Format>,
    bytes: u64,
    parsed: std::result::Result<Parsed, InputError>,
}

struct PreparedInput {
    path: String,
    sha256: String,
    format: Option<Format>,
    bytes: u64,
    documents: u64,
    rows: Vec<Row>,
    ids: Vec<Vec<u32>>,
    errors: Vec<InputError>,
}

/// Seconds each stage spent working (not waiting).
#[derive(Default)]
struct StageTime(Duration);

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
            precision: config.precision,
        },
    )?);
    let discovery = input::discover(&config.inputs, config.stdin_format, config.shard);
    let run = RunRecord {
        run_id: crate::telemetry::new_run_id(),
        started: crate::telemetry::now_rfc3339(),
        shard: format!("{}/{}", config.shard.index, config.shard.count),
        resumed: config.resume,
        kernel: classifier.engine().kernel().name().into(),
        ..RunRecord::default()
    };
    let identity = DatasetIdentity {
        model_id: classifier.model.model_id.clone(),
        codebook: classifier.model.codebook.identity(),
        codes: classifier.model.codebook.code_names(),
        encoder: classifier.model.encoder.identity(),
        unit: format!("{:?}", config.unit).to_lowercase(),
        max_tokens: config.max_tokens,
        precision: config.precision.name().into(),
    };
    let mut dataset = Dataset::open(&config.out_dir, identity, config.resume, run)?;
    dataset.set_commit_interval(config.commit_interval);
    let run_id = dataset.run.run_id.clone();
    tracing::info!(run_id = %run_id, inputs = discovery.inputs.len(), out = %config.out_dir.display(), model = %classifier.model.model_id, kernel = classifier.engine().kernel().name(), "labelling");
    dataset.record_skipped(
        discovery
            .skipped
            .iter()
            .map(|(path, reason)| SkippedFile {
                path: path.clone(),
                reason: reason.clone(),
            })
            .collect(),
    );
    for (path, reason) in &discovery.skipped {
        tracing::debug!(run_id = %run_id, path = %path, reason = %reason, "skipped");
    }
    if !discovery.skipped.is_empty() {
        tracing::info!(run_id = %run_id, files = discovery.skipped.len(), "skipped files that are not transcripts (listed in the manifest)");
    }
    for error in &discovery.errors {
        tracing::warn!(run_id = %run_id, error = %error, "input error");
    }
    dataset.record_errors(discovery.errors);

    let total_bytes = discovery
        .inputs
        .iter()
        .map(|i| match &i.source {
            InputSource::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            InputSource::Stdin => 0,
        })
        .sum();
    let progress = crate::telemetry::label_progress(total_bytes, config.progress);
    let done = dataset.done_hashes();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the tokio runtime", e))?;
    let (dataset, times, skipped_done) = runtime.block_on(run_stages(
        config.clone(),
        classifier.clone(),
        discovery.inputs,
        done,
        dataset,
        progress.clone(),
    ))?;
    crate::telemetry::finish_progress(&progress);

    let mut dataset = dataset;
    dataset.run.inputs_skipped_as_done = skipped_done;
    dataset.run.seconds = started.elapsed().as_secs_f64();
    dataset.run.stage_seconds = times;
    let run = dataset.finish()?;
    tracing::info!(
        run_id = %run.run_id,
        inputs_done = run.inputs_done,
        inputs_failed = run.inputs_failed,
        skipped_as_done = run.inputs_skipped_as_done,
        segments = run.segments,
        errors = run.errors,
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
    inputs: Vec<DiscoveredInput>,
    done: HashSet<String>,
    dataset: Dataset,
    progress: indicatif::ProgressBar,
) -> Result<(Dataset, BTreeMap<String, f64>, u64)> {
    let (read_tx, read_rx) = mpsc::channel::<ReadInput>(READ_CHANNEL_CAPACITY);
    let (prepared_tx, prepared_rx) = mpsc::channel::<PreparedInput>(PREPARED_CHANNEL_CAPACITY);
    let (labelled_tx, labelled_rx) =
        mpsc::channel::<(PreparedInput, Vec<Vec<f32>>)>(LABELLED_CHANNEL_CAPACITY);

    let read_options = config.read.clone();
    let read_progress = progress.clone();
    let read = tokio::task::spawn_blocking(move || {
        read_stage(inputs, done, &read_options, read_tx, read_progress)
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
    let write = tokio::task::spawn_blocking(move || {
        write_stage(&classifier, dataset, labelled_rx, progress)
    });

    let (read, prepare, encode, write) = tokio::join!(read, prepare, encode, write);
    let (read_time, skipped) = joined(read, "read")?;
    let prepare_time = joined(prepare, "segment")?;
    let (encode_time, real, padded) = joined(encode, "encode")?;
    let (mut dataset, write_time) = joined(write, "write")?;
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

fn read_stage(
    inputs: Vec<DiscoveredInput>,
    done: HashSet<String>,
    options: &ReadOptions,
    tx: mpsc::Sender<ReadInput>,
    progress: indicatif::ProgressBar,
) -> StageResult<(StageTime, u64)> {
    let mut time = StageTime::default();
    let mut skipped = 0;
    for input in inputs {
        let start = Instant::now();
        let (sha256, size, parsed) = match read_input(&input.source) {
            Err(reason) => (
                String::new(),
                0,
                Err(InputError::file(&input.display, reason)),
            ),
            Ok(bytes) => {
                let sha256 = input::sha256_hex(&bytes);
                if done.contains(&sha256) {
                    skipped += 1;
                    progress.inc(bytes.len() as u64);
                    tracing::debug!(path = %input.display, "already labelled in this dataset; skipped");
                    continue;
                }
                let parsed = match &input.format {
                    Ok(format) => {
                        let doc_id = match &input.source {
                            InputSource::File(p) => input::default_doc_id(p),
                            InputSource::Stdin => "stdin".into(),
                        };
                        input::parse(&bytes, *format, &input.display, &doc_id, options)
                    }
                    Err(reason) => Err(InputError::file(&input.display, reason.clone())),
                };
                (sha256, bytes.len() as u64, parsed)
            }
        };
        time.0 += start.elapsed();
        let message = ReadInput {
            path: input.display,
            sha256,
            format: input.format.ok(),
            bytes: size,
            parsed,
        };
        if tx.blocking_send(message).is_err() {
            break; // a later stage stopped; its error is reported
        }
    }
    Ok((time, skipped))
}

/// Reads an input whole, refusing inputs over [`input::MAX_INPUT_BYTES`].
fn read_input(source: &InputSource) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let limit = input::MAX_INPUT_BYTES + 1;
    let mut buf = Vec::new();
    let read = match source {
        InputSource::File(path) => {
            std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut buf))
        }
        InputSource::Stdin => std::io::stdin().lock().take(limit).read_to_end(&mut buf),
    };
    match read {
        Err(e) => Err(format!("cannot read: {e}")),
        Ok(n) if n as u64 >= limit => Err(format!(
            "larger than {} MB: split it into several files (for example `split -l 100000` for JSONL)",
            input::MAX_INPUT_BYTES / (1024 * 1024)
        )),
        Ok(_) => Ok(buf),
    }
}

fn prepare_stage(
    classifier: &Classifier,
    unit: SegmentUnit,
    max_tokens: usize,
    mut rx: mpsc::Receiver<ReadInput>,
    tx: mpsc::Sender<PreparedInput>,
) -> StageResult<StageTime> {
    let mut time = StageTime::default();
    let tokenizer = classifier.tokenizer();
    while let Some(read) = rx.blocking_recv() {
        let start = Instant::now();
        let mut prepared = PreparedInput {
            path: read.path,
            sha256: read.sha256,
            format: read.format,
            bytes: read.bytes,
            documents: 0,
            rows: Vec::new(),
            ids: Vec::new(),
            errors: Vec::new(),
        };
        match read.parsed {
            Err(e) => prepared.errors.push(e),
            Ok(parsed) => {
                prepared.errors = parsed.errors;
                prepared.documents = parsed.documents.len() as u64;
                let source: Arc<str> = prepared.path.as_str().into();
                for document in parsed.documents {
                    segment_document(
                        document,
                        &source,
                        unit,
                        max_tokens,
                        tokenizer,
                        &mut prepared,
                    );
                }
            }
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
    out: &mut PreparedInput,
) {
    let doc_id: Arc<str> = document.doc_id.as_str().into();
    let doc_metadata = Arc::new(document.metadata);
    let mut segment_index = 0i32;
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
}

fn encode_stage(
    classifier: &Classifier,
    batch_size: usize,
    mut rx: mpsc::Receiver<PreparedInput>,
    tx: mpsc::Sender<(PreparedInput, Vec<Vec<f32>>)>,
) -> StageResult<(StageTime, u64, u64)> {
    let mut time = StageTime::default();
    let (mut real_tokens, mut padded_tokens) = (0u64, 0u64);
    let mut window: Vec<PreparedInput> = Vec::new();
    let mut open = true;
    while open {
        let mut segments = 0;
        while segments < BUCKET_WINDOW_SEGMENTS {
            match rx.blocking_recv() {
                Some(input) => {
                    segments += input.ids.len();
                    window.push(input);
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
        for input in window.drain(..) {
            let input_scores: Vec<Vec<f32>> = scores.by_ref().take(input.ids.len()).collect();
            if tx.blocking_send((input, input_scores)).is_err() {
                return Ok((time, real_tokens, padded_tokens));
            }
        }
    }
    Ok((time, real_tokens, padded_tokens))
}

fn write_stage(
    classifier: &Classifier,
    mut dataset: Dataset,
    mut rx: mpsc::Receiver<(PreparedInput, Vec<Vec<f32>>)>,
    progress: indicatif::ProgressBar,
) -> StageResult<(Dataset, StageTime)> {
    let mut time = StageTime::default();
    let started = Instant::now();
    let model_id = classifier.model.model_id.clone();
    while let Some((mut input, scores)) = rx.blocking_recv() {
        let start = Instant::now();
        for (row, s) in input.rows.iter_mut().zip(scores) {
            row.labels = classifier.labels(&s);
            row.scores = s;
        }
        for error in &input.errors {
            tracing::warn!(run_id = %dataset.run.run_id, path = %error.path, position = %error.position, reason = %error.reason, "input error");
        }
        let bytes = input.bytes;
        dataset.write_input(
            InputOutcome {
                path: input.path,
                sha256: input.sha256,
                format: input.format.map(|f| f.name().to_string()),
                documents: input.documents,
                rows: input.rows,
                errors: input.errors,
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
