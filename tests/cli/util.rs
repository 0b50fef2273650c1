//! Shared helpers: a fresh work folder per test, the `discotag` command, a tiny encoder with
//! seeded random weights and a model trained on it, and reading Parquet output back.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow_array::{Array, RecordBatch};
use assert_cmd::Command;
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary folder for one test.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating folders) and returns its path.
    pub fn create(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// `discotag <args>` run in this folder with the tiny model and an isolated cache.
    pub fn command(&self, args: &[&str]) -> Command {
        Command::from_std(self.std_command(args))
    }

    /// As [`Workdir::command`], as a plain `std::process::Command` (to spawn and kill).
    pub fn std_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_discotag"));
        cmd.current_dir(self.path())
            .env("DISCOTAG_MODEL", tiny_model())
            .env("DISCOTAG_CACHE_DIR", self.path().join(".cache"))
            .env_remove("RUST_LOG")
            .args(args);
        cmd
    }
}

/// A BERT encoder folder with the tiny tokenizer fixture and random weights, made once per
/// test process.
pub fn tiny_encoder() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("discotag-tiny-encoder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fixtures = repo().join("tests/fixtures/tiny_encoder");
        for file in ["config.json", "tokenizer.json"] {
            std::fs::copy(fixtures.join(file), dir.join(file)).unwrap();
        }
        let config: discotag::model::Config =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        let varmap = VarMap::new();
        discotag::model::Encoder::load(
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
            &config,
        )
        .unwrap();
        seed_weights(&varmap);
        varmap.save(dir.join("model.safetensors")).unwrap();
        dir
    })
}

/// Replaces candle's unseeded random initialisation with seeded values of the same mean and
/// spread (constant tensors, such as layer-norm weights, are kept), so that every test process
/// gets the same tiny encoder and results that depend on it do not vary between runs.
fn seed_weights(varmap: &VarMap) {
    let data = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = discotag::rng::SplitMix::new(0x7E57);
    for name in names {
        let var = &data[name];
        let values = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let n = values.len() as f32;
        let mean = values.iter().sum::<f32>() / n;
        let spread = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        if spread == 0.0 {
            continue;
        }
        let seeded: Vec<f32> = (0..values.len())
            .map(|_| mean + spread * 12f32.sqrt() * (rng.next_f32() - 0.5))
            .collect();
        let tensor =
            candle_core::Tensor::from_vec(seeded, var.as_tensor().shape(), &Device::Cpu).unwrap();
        var.set(&tensor).unwrap();
    }
}

/// Copies the files of a model folder `from` into a new folder `to` (for tests that alter a copy).
pub fn copy_model(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A model for the default codebook trained with `discotag train` on the tiny encoder, made
/// once per test process.
pub fn tiny_model() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("discotag-tiny-model-{}", std::process::id()));
        let repo = repo();
        Command::cargo_bin("discotag")
            .unwrap()
            .args(["train", "--codebook"])
            .arg(repo.join("data/codebooks/joint_commissioning.toml"))
            .arg("--data")
            .arg(repo.join("data/labelled/train.jsonl"))
            .arg("--dev")
            .arg(repo.join("data/labelled/dev.jsonl"))
            .arg("--encoder")
            .arg(tiny_encoder())
            .args(["--epochs", "20", "--curve-repeats", "0", "--out"])
            .arg(&dir)
            .assert()
            .success();
        dir
    })
}

/// Every row of every Parquet file under `dir/segments`, in file order.
pub fn read_segments(out: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    files.iter().flat_map(|f| read_parquet(f)).collect()
}

/// Every batch of one Parquet file.
pub fn read_parquet(file: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// A column of one batch, as its concrete array type.
pub fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has another type"))
}

/// The `labels` of every row of all batches.
pub fn labels(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for batch in batches {
        let list = column::<arrow_array::ListArray>(batch, "labels");
        for i in 0..list.len() {
            let values = list.value(i);
            let values = values
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            out.push(
                (0..values.len())
                    .map(|j| values.value(j).to_string())
                    .collect(),
            );
        }
    }
    out
}

/// A string column of all batches, nulls as `None`.
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for batch in batches {
        let array = batch
            .column_by_name(column)
            .unwrap_or_else(|| panic!("no column {column}"));
        let array = array
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        out.extend((0..array.len()).map(|i| array.is_valid(i).then(|| array.value(i).to_string())));
    }
    out
}

/// An Int64 column of all batches.
pub fn ints(batches: &[RecordBatch], column: &str) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for batch in batches {
        let array = batch.column_by_name(column).unwrap();
        let array = array
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        out.extend((0..array.len()).map(|i| array.is_valid(i).then(|| array.value(i))));
    }
    out
}

/// A Float32 column of all batches.
pub fn floats(batches: &[RecordBatch], column: &str) -> Vec<f32> {
    let mut out = Vec::new();
    for batch in batches {
        let array = batch.column_by_name(column).unwrap();
        let array = array
            .as_any()
            .downcast_ref::<arrow_array::Float32Array>()
            .unwrap();
        out.extend(array.values().iter().copied());
    }
    out
}

/// The JSON lines of `errors.jsonl`.
pub fn errors(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("errors.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}
