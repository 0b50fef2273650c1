//! `discotag curve`: how scores grow with the number of coded units.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use discotag::model::EncoderRef;
use discotag::train::curve::{self, CurveConfig, CurveSettings};

use super::exit;

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Example:\n  discotag curve --codebook data/codebooks/joint_commissioning.toml --data data/labelled/train.jsonl\n  discotag curve --data study.qdpx --coder \"Ruth Okonjo\" --json\n\nThe curve is measured in head mode on cached frozen-encoder features, so it takes seconds to\nminutes; a fine-tuned model usually does somewhat better than the head at the same size."
)]
pub struct Args {
    /// Codebook TOML; may be left out when --data is a .qdpx project, whose codes then become the codebook. Example: `--codebook data/codebooks/joint_commissioning.toml`
    #[arg(long, value_name = "FILE")]
    codebook: Option<PathBuf>,

    /// Labelled utterances (JSONL) or a coded REFI-QDA project (.qdpx). Example: `--data data/labelled/train.jsonl`
    #[arg(long, value_name = "JSONL|QDPX")]
    data: PathBuf,

    #[command(flatten)]
    project: super::ProjectArgs,

    /// Print one JSON object: {"points": [{"n_train", "macro_f1", "macro_kappa", "f1_interval", "kappa_interval", "repeats"}], "target_kappa", "estimated_n_for_target", "extrapolated", "fit", "held_out", "repeats", "verdict"}. Example: `--json`
    #[arg(long)]
    json: bool,

    /// The macro kappa the estimate aims at. Example: `--target-kappa 0.8`
    #[arg(long, default_value_t = curve::DEFAULT_TARGET_KAPPA, value_name = "K")]
    target_kappa: f64,

    /// Hold-outs to repeat the curve over (more: narrower ranges, longer run). Example: `--repeats 10`
    #[arg(long, default_value_t = 5, value_name = "N")]
    repeats: usize,

    /// Training sizes to measure, comma-separated; default 25, 50, 100, ... and all units not held out. Example: `--sizes 20,40,80`
    #[arg(long, value_delimiter = ',', value_name = "N,N,..")]
    sizes: Option<Vec<usize>>,

    /// The encoder instead of the default all-MiniLM-L6-v2, as in `train --encoder`: a local BERT or MPNet folder, or an encoder reference file. Example: `--encoder models/encoders/all-mpnet-base-v2.toml`
    #[arg(long, value_name = "DIR|FILE")]
    encoder: Option<PathBuf>,

    /// Never fetch the encoder. Example: `--offline`
    #[arg(long)]
    offline: bool,

    /// Token limit per unit. Example: `--max-tokens 256`
    #[arg(long, default_value_t = 128, value_name = "N")]
    max_tokens: usize,

    /// Seed for hold-outs, samples and training. Example: `--seed 7`
    #[arg(long, default_value_t = 13)]
    seed: u64,

    /// Compute threads. Example: `--threads 2`
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    super::set_threads(args.threads);
    discotag::telemetry::init(args.json);
    if !(0.0..1.0).contains(&args.target_kappa) {
        return Err(discotag::Error::Usage(format!(
            "--target-kappa must be in [0, 1), not {}",
            args.target_kappa
        ))
        .into());
    }
    let encoder = match &args.encoder {
        Some(path) => EncoderRef::from_argument(path)?,
        None => EncoderRef::default_minilm(),
    };
    let mut settings = CurveSettings::new(args.repeats, args.target_kappa, args.seed);
    settings.sizes = args.sizes;
    let config = CurveConfig {
        codebook: args.codebook,
        data: args.data,
        encoder,
        offline: args.offline,
        max_tokens: args.max_tokens,
        project: args.project.options(),
        settings,
    };
    let (codebook, measured) = curve::run(&config)
        .with_context(|| format!("measuring a learning curve on {}", config.data.display()))?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut stdout, &measured)?;
        writeln!(stdout)?;
    } else {
        writeln!(
            stdout,
            "Learning curve of {} on {}\n\n{}",
            codebook.identity(),
            config.data.display(),
            measured.markdown()
        )?;
    }
    stdout.flush().context("writing the curve")?;
    Ok(exit::SUCCESS)
}
