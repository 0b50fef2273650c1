//! `discotag train`: fit a model for a codebook from labelled utterances.

use std::path::PathBuf;

use anyhow::Context;
use discotag::model::EncoderRef;
use discotag::train::{self, TrainConfig};

use super::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Frozen encoder, trained head (fast; the default).
    Head,
    /// Fine-tune every encoder weight (not available yet).
    Finetune,
}

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Example:\n  discotag train --codebook data/codebooks/joint_commissioning.toml \\\n    --data data/labelled/train.jsonl --dev data/labelled/dev.jsonl \\\n    --test data/labelled/test.jsonl --out models/default"
)]
pub struct Args {
    /// Codebook TOML. Example: `--codebook data/codebooks/joint_commissioning.toml`
    #[arg(long, value_name = "FILE")]
    codebook: PathBuf,

    /// Labelled utterances (JSONL with id, text, labels). Example: `--data data/labelled/train.jsonl`
    #[arg(long, value_name = "JSONL")]
    data: PathBuf,

    /// Dev data for early stopping and thresholds; default: a stratified --dev-fraction of --data. Example: `--dev data/labelled/dev.jsonl`
    #[arg(long, value_name = "JSONL")]
    dev: Option<PathBuf>,

    /// Held-out test data, scored once for the model card and never used for a choice. Example: `--test data/labelled/test.jsonl`
    #[arg(long, value_name = "JSONL")]
    test: Option<PathBuf>,

    /// Folder to write the model to. Example: `--out models/my-codebook`
    #[arg(long, value_name = "MODEL_DIR")]
    out: PathBuf,

    /// `head` trains a head on the frozen encoder. Example: `--mode head`
    #[arg(long, value_enum, default_value_t = Mode::Head)]
    mode: Mode,

    /// A local BERT-family encoder folder (config.json, tokenizer.json, model.safetensors) instead of the default all-MiniLM-L6-v2. Example: `--encoder ~/encoders/bge-small`
    #[arg(long, value_name = "DIR")]
    encoder: Option<PathBuf>,

    /// Never fetch the encoder. Example: `--offline`
    #[arg(long)]
    offline: bool,

    /// Token limit per utterance. Example: `--max-tokens 128`
    #[arg(long, default_value_t = 128, value_name = "N")]
    max_tokens: usize,

    /// Share of --data held out as dev when --dev is not given. Example: `--dev-fraction 0.2`
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    dev_fraction: f64,

    /// Seed for the dev split and shuffling; same data and seed give the same model. Example: `--seed 7`
    #[arg(long, default_value_t = 13)]
    seed: u64,

    /// Maximum epochs. Example: `--epochs 300`
    #[arg(long, default_value_t = 400)]
    epochs: usize,

    /// Stop after this many epochs without a better dev macro-F1. Example: `--patience 40`
    #[arg(long, default_value_t = 60)]
    patience: usize,

    /// AdamW learning rate. Example: `--learning-rate 0.01`
    #[arg(long, default_value_t = 0.01)]
    learning_rate: f64,

    /// AdamW weight decay. Example: `--weight-decay 0.0001`
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,

    /// Training examples per step. Example: `--batch-size 32`
    #[arg(long, default_value_t = 32)]
    batch_size: usize,

    /// What the training data is and how it was made, quoted in the model card. Example: `--data-description "400 passages coded by two researchers"`
    #[arg(long, value_name = "TEXT")]
    data_description: Option<String>,

    /// Compute threads. Example: `--threads 2`
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    super::set_threads(args.threads);
    discotag::telemetry::init(false);
    if args.mode == Mode::Finetune {
        return Err(discotag::Error::Usage(
            "--mode finetune is not available in this version; use --mode head".into(),
        )
        .into());
    }
    let encoder = match &args.encoder {
        Some(dir) => EncoderRef::for_local_dir(dir, &dir.to_string_lossy())?,
        None => EncoderRef::default_minilm(),
    };
    let config = TrainConfig {
        codebook: args.codebook,
        data: args.data,
        dev: args.dev,
        test: args.test,
        out: args.out,
        encoder,
        offline: args.offline,
        max_tokens: args.max_tokens,
        dev_fraction: args.dev_fraction,
        seed: args.seed,
        epochs: args.epochs,
        patience: args.patience,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        batch_size: args.batch_size,
        data_description: args.data_description,
        command: std::iter::once("discotag".to_string())
            .chain(std::env::args().skip(1))
            .map(|a| if a.contains(' ') { format!("{a:?}") } else { a })
            .collect::<Vec<_>>()
            .join(" "),
    };
    let summary =
        train::run(&config).with_context(|| format!("training into {}", config.out.display()))?;
    eprintln!(
        "discotag: trained on {} utterances (dev {}), best epoch {}, dev macro-F1 {:.3}{} in {:.1}s -> {}",
        summary.train_size,
        summary.dev_size,
        summary.best_epoch,
        summary.dev.macro_f1,
        summary
            .test
            .as_ref()
            .map(|t| format!(", test macro-F1 {:.3}", t.macro_f1))
            .unwrap_or_default(),
        summary.seconds,
        config.out.display()
    );
    Ok(exit::SUCCESS)
}
