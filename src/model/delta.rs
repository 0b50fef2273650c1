//! The fine-tuning delta file (`encoder_delta.safetensors`): the change to the encoder's
//! weights that a fine-tuned model carries instead of a copy of third-party weights.
//!
//! Entries, each in f16:
//! - `<tensor>`: the whole change to that tensor;
//! - `<table>.rows` (u32) and `<table>.values`: the changed rows of the word-embedding table;
//! - `<tensor>.up` (out × r) and `<tensor>.down` (r × in): a rank-r change `up · down`, written by
//!   [`compress`] so that a large encoder's delta fits in a repository (all-mpnet-base-v2's whole
//!   delta is 182 MB; at rank 64 it is about a fifth of that).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::{WORD_EMBEDDINGS, encoder, read_weights};
use crate::error::{Error, Result};
use crate::rng::SplitMix;

const UP: &str = ".up";
const DOWN: &str = ".down";
const ROWS: &str = ".rows";
const VALUES: &str = ".values";
/// Rounds of subspace iteration in [`low_rank`]: enough for the slowly decaying spectra of
/// fine-tuning deltas to give nearly the truncated SVD's subspace.
const SUBSPACE_ROUNDS: usize = 4;

/// Adds the delta file at `delta_path` to the encoder's `tensors`.
///
/// # Errors
/// When the file cannot be read, or an entry names a tensor the encoder lacks or does not fit it.
pub(super) fn apply(tensors: &mut HashMap<String, Tensor>, delta_path: &Path) -> Result<()> {
    let bad = |reason: String| Error::Model {
        path: delta_path.to_path_buf(),
        reason,
    };
    let delta = candle_core::safetensors::load(delta_path, &Device::Cpu)?;
    for (name, change) in &delta {
        if name.ends_with(VALUES) || name.ends_with(DOWN) {
            continue;
        }
        let (target, updated) = if let Some(table) = name.strip_suffix(ROWS) {
            let values = delta
                .get(&format!("{table}{VALUES}"))
                .ok_or_else(|| bad(format!("{name} without {table}{VALUES}")))?;
            let base = tensors
                .get(table)
                .ok_or_else(|| bad(format!("the encoder has no tensor {table:?}")))?;
            let updated = base
                .index_add(change, &values.to_dtype(base.dtype())?, 0)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            (table, updated)
        } else {
            let (target, change) = match name.strip_suffix(UP) {
                Some(target) => {
                    let down = delta
                        .get(&format!("{target}{DOWN}"))
                        .ok_or_else(|| bad(format!("{name} without {target}{DOWN}")))?;
                    let product = change
                        .to_dtype(DType::F32)?
                        .matmul(&down.to_dtype(DType::F32)?)
                        .map_err(|e| bad(format!("{name}: {e}")))?;
                    (target, product)
                }
                None => (name.as_str(), change.clone()),
            };
            let base = tensors
                .get(target)
                .ok_or_else(|| bad(format!("the encoder has no tensor {target:?}")))?;
            let updated =
                (base + change.to_dtype(base.dtype())?).map_err(|e| bad(format!("{name}: {e}")))?;
            (target, updated)
        };
        tensors.insert(target.to_string(), updated);
    }
    Ok(())
}

/// Writes the difference between fine-tuned weights and the encoder's own, in f16: each
/// changed tensor whole, except the word-embedding table, of which only changed rows are kept.
/// Tensors that did not change (frozen layers) are left out.
///
/// # Errors
/// On tensor or write failures.
pub fn save(encoder_dir: &Path, tuned: &[(String, Tensor)], path: &Path) -> Result<()> {
    let base = read_weights(&encoder_dir.join("model.safetensors"))?;
    let mut out: HashMap<String, Tensor> = HashMap::new();
    for (name, tensor) in tuned {
        let original = base.get(name).ok_or_else(|| Error::Model {
            path: encoder_dir.to_path_buf(),
            reason: format!("the encoder has no tensor {name:?}"),
        })?;
        let change = (tensor - original.to_dtype(encoder::DTYPE)?)?;
        if name == WORD_EMBEDDINGS {
            let moved = change.abs()?.max(1)?.to_vec1::<f32>()?;
            let rows: Vec<u32> = (0..moved.len() as u32)
                .filter(|&r| moved[r as usize] > 0.0)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let index = Tensor::from_vec(rows.clone(), rows.len(), &Device::Cpu)?;
            out.insert(format!("{name}{ROWS}"), index.clone());
            out.insert(
                format!("{name}{VALUES}"),
                change.index_select(&index, 0)?.to_dtype(DType::F16)?,
            );
        } else if change.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()? > 0.0 {
            out.insert(name.clone(), change.to_dtype(DType::F16)?);
        }
    }
    candle_core::safetensors::save(&out, path)?;
    Ok(())
}

/// What [`compress`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Compression {
    pub factored: usize,
    pub kept_whole: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The largest share of a factored tensor's change (Frobenius norm) that the rank leaves out.
    pub worst_residual: f64,
}

/// Rewrites the delta file at `path` with every weight-matrix change replaced by a rank-`rank`
/// approximation (`.up`, `.down`), where that is less than half the matrix's size. Embedding
/// tables, vectors and small matrices are kept whole. Deterministic: the same file and rank give
/// the same bytes.
///
/// # Errors
/// When the file cannot be read or written, or `rank` is 0.
pub fn compress(path: &Path, rank: usize) -> Result<Compression> {
    if rank == 0 {
        return Err(Error::Usage("--rank must be at least 1".into()));
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let bytes_before = size(path);
    let delta = candle_core::safetensors::load(path, &Device::Cpu)?;
    let mut out = HashMap::new();
    let (mut factored, mut kept_whole, mut worst_residual) = (0, 0, 0.0f64);
    let mut names: Vec<&String> = delta.keys().collect();
    names.sort();
    for (index, name) in names.into_iter().enumerate() {
        let change = &delta[name];
        let eligible = match change.dims() {
            [rows, cols] => {
                !name.contains("embeddings")
                    && !name.ends_with(UP)
                    && !name.ends_with(DOWN)
                    && rank * (rows + cols) * 2 < rows * cols
            }
            _ => false,
        };
        if !eligible {
            out.insert(name.clone(), change.clone());
            kept_whole += 1;
            continue;
        }
        let full = change.to_dtype(DType::F32)?;
        let (up, down) = low_rank(&full, rank, index as u64)?;
        let residual = (&full - up.matmul(&down)?)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f32>()?;
        let total = full.sqr()?.sum_all()?.to_scalar::<f32>()?;
        if total > 0.0 {
            worst_residual = worst_residual.max(f64::from(residual / total).sqrt());
        }
        out.insert(format!("{name}{UP}"), up.to_dtype(DType::F16)?);
        out.insert(format!("{name}{DOWN}"), down.to_dtype(DType::F16)?);
        factored += 1;
    }
    let partial = path.with_extension("safetensors.partial");
    candle_core::safetensors::save(&out, &partial)?;
    if let Ok(original) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&partial, original.permissions());
    }
    std::fs::rename(&partial, path)
        .map_err(|e| Error::io(format!("replacing {}", path.display()), e))?;
    Ok(Compression {
        factored,
        kept_whole,
        bytes_before,
        bytes_after: size(path),
        worst_residual,
    })
}

/// A rank-`rank` approximation `up · down` of the f32 matrix `m` (rows × cols): `up` spans the
/// dominant left subspace found by subspace iteration from a seeded random start, `down` is
/// `upᵀ · m`, so the product is `m` projected onto that subspace.
fn low_rank(m: &Tensor, rank: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let (_, cols) = m.dims2()?;
    let rank = rank.min(cols);
    let mut rng = SplitMix::derive(seed, 0x10_4A4E);
    let start: Vec<f32> = (0..cols * rank).map(|_| rng.next_f32() - 0.5).collect();
    let start = Tensor::from_vec(start, (cols, rank), &Device::Cpu)?;
    let mut up = orthonormal_columns(&m.matmul(&start)?)?;
    let transposed = m.t()?.contiguous()?;
    for _ in 0..SUBSPACE_ROUNDS {
        let right = orthonormal_columns(&transposed.matmul(&up)?)?;
        up = orthonormal_columns(&m.matmul(&right)?)?;
    }
    let down = up.t()?.matmul(m)?;
    Ok((up, down))
}

/// Modified Gram-Schmidt on the columns of `a`, in f64; a column that depends on the ones before
/// it becomes zero.
fn orthonormal_columns(a: &Tensor) -> Result<Tensor> {
    let (rows, cols) = a.dims2()?;
    let values = a.t()?.contiguous()?.to_vec2::<f32>()?;
    let mut columns: Vec<Vec<f64>> = values
        .into_iter()
        .map(|c| c.into_iter().map(f64::from).collect())
        .collect();
    for j in 0..cols {
        let (done, rest) = columns.split_at_mut(j);
        let column = &mut rest[0];
        let scale = column.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        for q in done.iter() {
            let dot: f64 = q.iter().zip(column.iter()).map(|(a, b)| a * b).sum();
            column.iter_mut().zip(q).for_each(|(c, q)| *c -= dot * q);
        }
        let norm = column.iter().map(|x| x * x).sum::<f64>().sqrt();
        let keep = norm > 1e-6 * scale;
        column
            .iter_mut()
            .for_each(|c| *c = if keep { *c / norm } else { 0.0 });
    }
    let flat: Vec<f32> = (0..rows)
        .flat_map(|r| columns.iter().map(move |c| c[r] as f32))
        .collect();
    Ok(Tensor::from_vec(flat, (rows, cols), &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(rows: usize, cols: usize, seed: u64) -> Tensor {
        let mut rng = SplitMix::new(seed);
        let v: Vec<f32> = (0..rows * cols).map(|_| rng.next_f32() - 0.5).collect();
        Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
    }

    fn frobenius(t: &Tensor) -> f32 {
        t.sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .sqrt()
    }

    #[test]
    fn low_rank_recovers_a_matrix_of_that_rank() {
        let m = random(96, 5, 1).matmul(&random(5, 40, 2)).unwrap();
        let (up, down) = low_rank(&m, 5, 3).unwrap();
        assert_eq!(up.dims(), [96, 5]);
        assert_eq!(down.dims(), [5, 40]);
        let error = frobenius(&(&m - up.matmul(&down).unwrap()).unwrap());
        assert!(error < 1e-4 * frobenius(&m), "error {error}");
    }

    #[test]
    fn low_rank_keeps_the_dominant_part_of_a_noisy_matrix() {
        // A rank-4 signal ten times stronger than full-rank noise: rank 4 keeps the signal and
        // leaves out about the noise, as a truncated SVD would.
        let signal = (random(80, 4, 4).matmul(&random(4, 60, 5)).unwrap() * 10.0).unwrap();
        let noise = random(80, 60, 6);
        let m = (&signal + &noise).unwrap();
        let (up, down) = low_rank(&m, 4, 7).unwrap();
        let left_out = frobenius(&(&m - up.matmul(&down).unwrap()).unwrap());
        assert!(left_out < 1.05 * frobenius(&noise), "{left_out}");
        let ortho = up
            .t()
            .unwrap()
            .matmul(&up)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (i, row) in ortho.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-4, "({i},{j}) = {v}");
            }
        }
    }

    #[test]
    fn compressed_delta_applies_as_its_product_and_keeps_small_tensors_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("delta.safetensors");
        let weight = random(64, 48, 8).matmul(&random(48, 32, 9)).unwrap();
        let bias = random(1, 32, 10).squeeze(0).unwrap();
        let small = random(6, 4, 11);
        let delta: HashMap<String, Tensor> = [
            ("layer.dense.weight", &weight),
            ("layer.dense.bias", &bias),
            ("bias_table.weight", &small),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t.to_dtype(DType::F16).unwrap()))
        .collect();
        candle_core::safetensors::save(&delta, &path).unwrap();
        let summary = compress(&path, 4).unwrap();
        assert_eq!((summary.factored, summary.kept_whole), (1, 2));
        assert!(summary.bytes_after < summary.bytes_before);
        assert!(summary.worst_residual > 0.0 && summary.worst_residual < 1.0);
        let stored = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        let (up, down) = (
            stored["layer.dense.weight.up"]
                .to_dtype(DType::F32)
                .unwrap(),
            stored["layer.dense.weight.down"]
                .to_dtype(DType::F32)
                .unwrap(),
        );
        let zeros = |t: &Tensor| t.zeros_like().unwrap();
        let mut tensors: HashMap<String, Tensor> = [
            ("layer.dense.weight", zeros(&weight)),
            ("layer.dense.bias", zeros(&bias)),
            ("bias_table.weight", zeros(&small)),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
        apply(&mut tensors, &path).unwrap();
        let want = up.matmul(&down).unwrap();
        let got = &tensors["layer.dense.weight"];
        assert!(frobenius(&(got - &want).unwrap()) < 1e-6 * frobenius(&want));
        let small_back = tensors["bias_table.weight"].to_vec2::<f32>().unwrap();
        let small_f16 = small
            .to_dtype(DType::F16)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        assert_eq!(small_back, small_f16.to_vec2::<f32>().unwrap());
        // The same file and rank give the same bytes.
        let first = std::fs::read(&path).unwrap();
        candle_core::safetensors::save(&delta, &path).unwrap();
        compress(&path, 4).unwrap();
        assert_eq!(first, std::fs::read(&path).unwrap());
    }

    #[test]
    fn a_delta_naming_an_unknown_tensor_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("delta.safetensors");
        let delta = HashMap::from([("nowhere.weight".to_string(), random(2, 2, 12))]);
        candle_core::safetensors::save(&delta, &path).unwrap();
        let err = apply(&mut HashMap::new(), &path).unwrap_err().to_string();
        assert!(err.contains("nowhere.weight"), "{err}");
    }
}
