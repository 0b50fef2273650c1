//! Which number format the encoder runs in: the checks a model carries for each precision
//! (`precisions.json`, written by `train --test` and `discotag model check-precision`), the
//! speed of each precision's matrix products on this CPU (measured once and cached), and the
//! choice `--precision auto` makes from the two.
//!
//! `auto` takes the fastest precision that the model's checks validate and that this CPU runs
//! clearly faster than fp32; anything else is fp32. An explicit precision is used as asked, with
//! a warning when the checks do not validate it or this CPU runs it slower than fp32.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::engine::gemm::{self, Epilogue, PackedLinear, Scratch};
use super::engine::{Isa, Kernel, Precision};
use crate::error::{Error, Result};

/// The model file holding the precision checks.
pub const PRECISIONS_FILE: &str = "precisions.json";
/// The most macro-F1 a precision may lose against fp32 on every checked file and still be
/// offered by `auto`.
pub const MAX_MACRO_F1_LOSS: f64 = 0.01;
/// How much faster than fp32 (time ratio) a precision's products must run for `auto` to take
/// it: a margin for the parts of the forward pass that are not products, and for noise.
const AUTO_MIN_SPEEDUP: f64 = 1.1;
/// The heading of the model card's section on the checks.
pub const PRECISION_HEADING: &str = "### Precision";
/// The cache file of measured speeds, under the cache root.
const SPEED_CACHE_FILE: &str = "precision-speed.json";

/// What `--precision` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Request {
    /// The fastest validated precision this CPU runs faster than fp32.
    #[default]
    Auto,
    Exactly(Precision),
}

impl From<Precision> for Request {
    fn from(p: Precision) -> Self {
        Request::Exactly(p)
    }
}

/// The precision in use and why, for the log and the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub precision: Precision,
    pub reason: String,
    /// Whether the user asked for a precision that is unvalidated or slow here.
    pub warn: bool,
}

impl Decision {
    /// A decision that needs no warning.
    fn quiet(precision: Precision, reason: impl Into<String>) -> Decision {
        Decision {
            precision,
            reason: reason.into(),
            warn: false,
        }
    }
}

/// One precision scored on one labelled file against fp32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub precision: String,
    /// The labelled file scored.
    pub data: String,
    pub n: usize,
    pub macro_f1: f64,
    pub fp32_macro_f1: f64,
    /// Share of (segment, code) decisions that differ from fp32's.
    pub decisions_changed: f64,
    /// The smallest cosine between a segment's embedding and its fp32 embedding.
    pub min_cosine: f64,
}

impl Check {
    /// The macro-F1 change against fp32 (negative: a loss).
    pub fn change(&self) -> f64 {
        self.macro_f1 - self.fp32_macro_f1
    }

    pub fn passes(&self) -> bool {
        self.change() >= -MAX_MACRO_F1_LOSS
    }
}

/// A model's precision checks, as `precisions.json` holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// The largest macro-F1 loss a precision may have on every file.
    pub max_macro_f1_loss: f64,
    pub checks: Vec<Check>,
}

impl Checks {
    /// The checks of a model folder; none when it has no `precisions.json`.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn load(model_dir: &Path) -> Result<Checks> {
        let path = model_dir.join(PRECISIONS_FILE);
        if !path.exists() {
            return Ok(Checks::default());
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        serde_json::from_str(&text).map_err(|e| Error::Model {
            path,
            reason: e.to_string(),
        })
    }

    /// Whether the checks validate a precision: fp32 always; another only when it was checked
    /// and passed on every file.
    pub fn validates(&self, precision: Precision) -> bool {
        if precision == Precision::F32 {
            return true;
        }
        let mut of = self
            .checks
            .iter()
            .filter(|c| c.precision == precision.name())
            .peekable();
        of.peek().is_some() && of.all(Check::passes)
    }

    /// A line on a precision's checks, for logs: the worst change and the files.
    pub fn summary(&self, precision: Precision) -> String {
        let of: Vec<&Check> = self
            .checks
            .iter()
            .filter(|c| c.precision == precision.name())
            .collect();
        if of.is_empty() {
            return format!("{} was never checked for this model", precision.name());
        }
        let worst = of.iter().map(|c| c.change()).fold(f64::INFINITY, f64::min);
        let files: Vec<&str> = of.iter().map(|c| c.data.as_str()).collect();
        format!(
            "{} macro-F1 change {worst:+.3} against fp32 on {}",
            precision.name(),
            files.join(", ")
        )
    }

    /// The model card's section on the checks.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "{PRECISION_HEADING}\n\n`--precision auto` (the default of `label` and `eval`) uses a precision other than fp32 only when it loses at most {:.2} macro-F1 against fp32 on every file below, and only on CPUs that run it faster than fp32 (measured once per machine). Checked by `train --test` or `discotag model check-precision`.\n\n| precision | file | segments | macro-F1 | fp32 macro-F1 | change | decisions changed | lowest cosine to fp32 | offered by auto |\n|---|---|---|---|---|---|---|---|---|\n",
            self.max_macro_f1_loss
        );
        for c in &self.checks {
            out.push_str(&format!(
                "| {} | `{}` | {} | {:.3} | {:.3} | {:+.3} | {:.2}% | {:.4} | {} |\n",
                c.precision,
                c.data,
                c.n,
                c.macro_f1,
                c.fp32_macro_f1,
                c.change(),
                100.0 * c.decisions_changed,
                c.min_cosine,
                if c.passes() { "yes" } else { "no" }
            ));
        }
        out.push('\n');
        out
    }

    /// A model card with its precision section replaced by this one's (or added before the
    /// dev scores when it has none).
    pub fn into_card(&self, card: &str) -> String {
        let section = self.markdown();
        if let Some(start) = card.find(&format!("\n{PRECISION_HEADING}\n")) {
            let body = start + 1 + PRECISION_HEADING.len();
            let end = card[body..]
                .find("\n### ")
                .or_else(|| card[body..].find("\n## "))
                .map_or(card.len(), |i| body + i + 1);
            return format!("{}{section}{}", &card[..start + 1], &card[end..]);
        }
        match card.find("\n### Dev").or_else(|| card.find("\n## Limits")) {
            Some(at) => format!("{}{section}{}", &card[..at + 1], &card[at + 1..]),
            None => format!("{}\n{section}", card.trim_end()),
        }
    }

    /// Writes `precisions.json` into a model folder.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, model_dir: &Path) -> Result<()> {
        super::write_json(&model_dir.join(PRECISIONS_FILE), self)
    }
}

/// Seconds per pass of each precision's products at an encoder's shapes on this CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speeds {
    /// What the measurement is valid for: CPU, instruction sets, shapes, discotag version.
    pub key: String,
    /// Precision name to seconds (the fastest of several passes) and kernel.
    pub seconds: BTreeMap<String, f64>,
    pub kernels: BTreeMap<String, String>,
}

impl Speeds {
    /// How many times faster than fp32 a precision's products run here.
    pub fn speedup(&self, precision: Precision) -> Option<f64> {
        let fp32 = self.seconds.get(Precision::F32.name())?;
        let other = self.seconds.get(precision.name())?;
        Some(fp32 / other)
    }
}

/// What identifies a CPU for the speed cache.
fn cpu_key(isa: Isa, hidden: usize, intermediate: usize) -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let kernels: Vec<&str> = [Precision::F32, Precision::Bf16, Precision::Int8]
        .iter()
        .map(|&p| Kernel::choose(p, isa).name())
        .collect();
    format!(
        "{model}; {}; hidden {hidden}, intermediate {intermediate}; discotag {}",
        kernels.join(" "),
        env!("CARGO_PKG_VERSION")
    )
}

/// Rows of the measurement's products: a batch of a few dozen segments.
const MEASURE_ROWS: usize = 192;
/// Passes per precision; the fastest counts.
const MEASURE_PASSES: usize = 5;

/// Measures the products of one encoder layer (query/key/value, attention output, the two
/// feed-forward layers) in each precision on this CPU, with random weights: the products are
/// most of the forward pass and the rest is the same in every precision.
pub fn measure(isa: Isa, hidden: usize, intermediate: usize) -> Speeds {
    let mut rng = crate::rng::SplitMix::new(7);
    let mut values = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.next_f32() - 0.5).collect() };
    let shapes = [
        (3 * hidden, hidden),
        (hidden, hidden),
        (intermediate, hidden),
        (hidden, intermediate),
    ];
    let weights: Vec<Vec<f32>> = shapes.iter().map(|&(o, i)| values(o * i)).collect();
    let input = values(MEASURE_ROWS * intermediate);
    let widest = 3 * hidden.max(intermediate);
    let mut out = vec![0f32; MEASURE_ROWS * widest];
    let precisions = [Precision::F32, Precision::Bf16, Precision::Int8];
    let packed: Vec<(Precision, Vec<PackedLinear>)> = precisions
        .iter()
        .map(|&p| {
            let kernel = Kernel::choose(p, isa);
            let layers = shapes
                .iter()
                .zip(&weights)
                .map(|(&(o, i), w)| PackedLinear::new(w, o, i, &vec![0.0; o], p, kernel))
                .collect();
            (p, layers)
        })
        .collect();
    let mut best = vec![f64::INFINITY; precisions.len()];
    let mut scratch = Scratch::default();
    // Interleaved passes, so a burst of load elsewhere slows every precision alike.
    for _ in 0..MEASURE_PASSES {
        for ((_, layers), best) in packed.iter().zip(best.iter_mut()) {
            let started = Instant::now();
            for layer in layers {
                gemm::linear(
                    &input,
                    MEASURE_ROWS,
                    layer,
                    &mut out,
                    Epilogue::Bias,
                    &mut scratch,
                );
            }
            *best = best.min(started.elapsed().as_secs_f64());
        }
    }
    Speeds {
        key: cpu_key(isa, hidden, intermediate),
        seconds: precisions
            .iter()
            .zip(&best)
            .map(|(p, &s)| (p.name().to_string(), s))
            .collect(),
        kernels: precisions
            .iter()
            .map(|&p| {
                (
                    p.name().to_string(),
                    Kernel::choose(p, isa).name().to_string(),
                )
            })
            .collect(),
    }
}

/// The cached speeds for this CPU and shapes, measured and cached when missing. A cache that
/// cannot be written is not an error: the speeds are measured again next time.
pub fn speeds(isa: Isa, hidden: usize, intermediate: usize) -> Speeds {
    let path = speed_cache_path();
    let key = cpu_key(isa, hidden, intermediate);
    let mut cached: Vec<Speeds> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if let Some(found) = cached.iter().find(|s| s.key == key) {
        return found.clone();
    }
    let measured = measure(isa, hidden, intermediate);
    tracing::debug!(key = %measured.key, seconds = ?measured.seconds, "measured the speed of each precision");
    cached.push(measured.clone());
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let text = serde_json::to_string_pretty(&cached).expect("speeds serialise");
    let partial = path.with_extension("json.partial");
    if std::fs::write(&partial, text).is_ok() {
        let _ = std::fs::rename(&partial, &path);
    }
    measured
}

fn speed_cache_path() -> PathBuf {
    super::weights::cache_root().join(SPEED_CACHE_FILE)
}

/// Decides the precision for a model from what was asked, its checks and this CPU's speeds.
pub fn decide(request: Request, checks: &Checks, speeds: impl FnOnce() -> Speeds) -> Decision {
    match request {
        Request::Exactly(Precision::F32) => Decision::quiet(Precision::F32, "fp32 as asked"),
        Request::Exactly(precision) => {
            let speeds = speeds();
            let mut notes = Vec::new();
            if !checks.validates(precision) {
                notes.push(format!(
                    "the model's checks do not validate it ({})",
                    checks.summary(precision)
                ));
            }
            if let Some(x) = speeds.speedup(precision)
                && x < 1.0
            {
                notes.push(format!(
                    "on this CPU its products run {x:.2} times as fast as fp32's ({}), so it is slower",
                    speeds.kernels[precision.name()]
                ));
            }
            let reason = if notes.is_empty() {
                format!("{} as asked", precision.name())
            } else {
                format!("{} as asked, but {}", precision.name(), notes.join("; "))
            };
            Decision {
                precision,
                reason,
                warn: !notes.is_empty(),
            }
        }
        Request::Auto => {
            let validated: Vec<Precision> = [Precision::Int8, Precision::Bf16]
                .into_iter()
                .filter(|&p| checks.validates(p))
                .collect();
            if validated.is_empty() {
                return Decision::quiet(
                    Precision::F32,
                    "auto: fp32, the only precision this model's checks validate",
                );
            }
            let speeds = speeds();
            let fastest = validated
                .iter()
                .filter_map(|&p| speeds.speedup(p).map(|x| (p, x)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match fastest {
                Some((p, x)) if x >= AUTO_MIN_SPEEDUP => Decision::quiet(
                    p,
                    format!(
                        "auto: {} ({}; its products run {x:.2} times as fast as fp32's on this CPU, {})",
                        p.name(),
                        checks.summary(p),
                        speeds.kernels[p.name()]
                    ),
                ),
                _ => Decision::quiet(
                    Precision::F32,
                    format!(
                        "auto: fp32 (no validated precision runs at least {AUTO_MIN_SPEEDUP:.1} times as fast on this CPU: {})",
                        validated
                            .iter()
                            .map(|&p| format!(
                                "{} {:.2}x",
                                p.name(),
                                speeds.speedup(p).unwrap_or(0.0)
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(precision: &str, macro_f1: f64) -> Check {
        Check {
            precision: precision.into(),
            data: "data/real/test.jsonl".into(),
            n: 300,
            macro_f1,
            fp32_macro_f1: 0.70,
            decisions_changed: 0.01,
            min_cosine: 0.99,
        }
    }

    fn speeds(bf16: f64, int8: f64) -> Speeds {
        Speeds {
            key: "test".into(),
            seconds: [("fp32", 1.0), ("bf16", bf16), ("int8", int8)]
                .map(|(p, s)| (p.to_string(), s))
                .into(),
            kernels: [("fp32", "k"), ("bf16", "k"), ("int8", "k")]
                .map(|(p, k)| (p.to_string(), k.to_string()))
                .into(),
        }
    }

    fn checks(list: Vec<Check>) -> Checks {
        Checks {
            max_macro_f1_loss: MAX_MACRO_F1_LOSS,
            checks: list,
        }
    }

    #[test]
    fn a_precision_is_validated_only_when_every_file_passes() {
        let c = checks(vec![check("int8", 0.695), check("int8", 0.68)]);
        assert!(!c.validates(Precision::Int8), "the second file loses 0.02");
        assert!(checks(vec![check("int8", 0.695)]).validates(Precision::Int8));
        assert!(!c.validates(Precision::Bf16), "never checked");
        assert!(Checks::default().validates(Precision::F32));
    }

    #[test]
    fn auto_takes_the_fastest_validated_precision_that_beats_fp32() {
        let both = checks(vec![check("int8", 0.70), check("bf16", 0.70)]);
        let d = decide(Request::Auto, &both, || speeds(0.7, 0.4));
        assert_eq!(d.precision, Precision::Int8, "{}", d.reason);
        let d = decide(Request::Auto, &both, || speeds(0.7, 1.3));
        assert_eq!(d.precision, Precision::Bf16, "{}", d.reason);
        // Slower or barely faster than fp32: fp32.
        let d = decide(Request::Auto, &both, || speeds(1.4, 0.97));
        assert_eq!(d.precision, Precision::F32, "{}", d.reason);
        // Fast but not validated: fp32, without measuring.
        let d = decide(Request::Auto, &checks(vec![check("int8", 0.6)]), || {
            panic!("no need to measure")
        });
        assert_eq!(d.precision, Precision::F32);
    }

    #[test]
    fn an_explicit_precision_is_kept_and_its_problems_named() {
        let d = decide(
            Request::Exactly(Precision::Bf16),
            &Checks::default(),
            || speeds(1.4, 0.5),
        );
        assert_eq!(d.precision, Precision::Bf16);
        assert!(d.reason.contains("do not validate"), "{}", d.reason);
        assert!(d.reason.contains("slower"), "{}", d.reason);
        let d = decide(
            Request::Exactly(Precision::Int8),
            &checks(vec![check("int8", 0.70)]),
            || speeds(1.4, 0.5),
        );
        assert_eq!(d.reason, "int8 as asked");
    }

    #[test]
    fn the_measurement_names_every_precision_and_its_kernel() {
        let s = measure(Isa::cpu(), 32, 64);
        for p in ["fp32", "bf16", "int8"] {
            assert!(s.seconds[p] > 0.0 && s.seconds[p].is_finite());
            assert!(!s.kernels[p].is_empty());
        }
        assert_eq!(s.key, cpu_key(Isa::cpu(), 32, 64));
    }
}
