//! Finding inputs: files, folders (recursively, in a stable order) and stdin; this shard's share
//! of them; content hashes for the manifest and `--resume`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Format;
use crate::error::InputError;

/// Where an input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    File(PathBuf),
    Stdin,
}

/// An input found on the command line or in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredInput {
    pub source: InputSource,
    /// The path as shown in rows and errors (`-` for stdin).
    pub display: String,
    /// What `--shard` hashes: the path relative to the folder named on the command line (or
    /// the path as given for a file), so that `label /mnt/corpus` and `label corpus` on two
    /// machines split the inputs the same way.
    pub shard_key: String,
    /// The format, or an error explaining why none applies.
    pub format: Result<Format, String>,
}

/// `--shard K/N`: this process takes the inputs whose stable hash is K modulo N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard {s:?} must be K/N, for example 0/4"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("shard index {k:?} is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count {n:?} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {s}: K must be between 0 and N-1 and N at least 1"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether this shard takes the input with this key ([`DiscoveredInput::shard_key`]).
    pub fn takes(&self, display: &str) -> bool {
        if self.count == 1 {
            return true;
        }
        let digest = Sha256::digest(display.as_bytes());
        let value = u64::from_be_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"));
        value % u64::from(self.count) == u64::from(self.index)
    }
}

/// Everything found: inputs to read, files passed over in folders, and inputs that could not be
/// listed at all.
#[derive(Debug, Default)]
pub struct Discovery {
    pub inputs: Vec<DiscoveredInput>,
    /// Files in folders that are not transcripts (with the reason), reported in the manifest.
    pub skipped: Vec<(String, String)>,
    pub errors: Vec<InputError>,
}

fn format_for(path: &Path, forced: Option<Format>) -> Result<Format, String> {
    if let Some(format) = Format::from_path(path) {
        return Ok(format);
    }
    forced.ok_or_else(|| {
        "unknown file type: name its format with --format (text, jsonl, csv, vtt, srt, docx, qdpx)"
            .into()
    })
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') || n.starts_with("~$"))
}

/// One thing found while walking the inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Input(DiscoveredInput),
    /// A file in a folder that is not a transcript, with the reason.
    Skipped(String, String),
    /// Something that could not be listed (a folder loop, an unreadable folder).
    Error(InputError),
}

/// Lists the inputs named on the command line: files as given, folders recursively (following
/// symbolic links, with loops reported as errors) in sorted order, `-` as stdin. Only this
/// shard's inputs (and errors) are kept. Nothing is held: a folder of a million files is
/// walked as it is read, so the walk can be made twice (once to count, once to label) in
/// flat memory.
pub fn walk(
    args: &[PathBuf],
    stdin_format: Option<Format>,
    shard: Shard,
) -> impl Iterator<Item = Found> + '_ {
    args.iter()
        .flat_map(move |arg| -> Box<dyn Iterator<Item = Found> + '_> {
            if arg.as_os_str() == "-" {
                return Box::new(std::iter::once(Found::Input(DiscoveredInput {
                    source: InputSource::Stdin,
                    display: "-".into(),
                    shard_key: "-".into(),
                    format: stdin_format.ok_or_else(|| "reading stdin needs --format".to_string()),
                })));
            }
            if !arg.is_dir() {
                return Box::new(std::iter::once(Found::Input(DiscoveredInput {
                    source: InputSource::File(arg.clone()),
                    display: super::display_path(arg),
                    shard_key: super::display_path(arg),
                    format: format_for(arg, stdin_format),
                })));
            }
            let walker = walkdir::WalkDir::new(arg)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| e.depth() == 0 || !is_hidden(e.path()));
            Box::new(walker.filter_map(move |entry| found_in_folder(arg, entry)))
        })
        .filter(move |found| match found {
            Found::Input(input) => shard.takes(&input.shard_key),
            Found::Error(e) => shard.takes(&e.path),
            Found::Skipped(..) => true,
        })
}

fn found_in_folder(arg: &Path, entry: walkdir::Result<walkdir::DirEntry>) -> Option<Found> {
    match entry {
        Ok(entry) if entry.file_type().is_file() => {
            let path = entry.path();
            let display = super::display_path(path);
            let shard_key = super::display_path(path.strip_prefix(arg).unwrap_or(path));
            match (Format::from_path(path), format_for(path, None)) {
                (Some(format), _) => Some(Found::Input(DiscoveredInput {
                    source: InputSource::File(path.to_path_buf()),
                    display,
                    shard_key,
                    format: Ok(format),
                })),
                // Formats we know but cannot read yet are errors, not silent skips.
                (None, Err(reason)) if reason.contains("not supported") => {
                    Some(Found::Input(DiscoveredInput {
                        source: InputSource::File(path.to_path_buf()),
                        display,
                        shard_key,
                        format: Err(reason),
                    }))
                }
                (None, _) => Some(Found::Skipped(display, "not a transcript file type".into())),
            }
        }
        Ok(_) => None,
        Err(e) => {
            let path = e
                .path()
                .map(super::display_path)
                .unwrap_or_else(|| super::display_path(arg));
            Some(Found::Error(InputError::file(path, e.to_string())))
        }
    }
}

/// Everything [`walk`] finds, collected.
pub fn discover(args: &[PathBuf], stdin_format: Option<Format>, shard: Shard) -> Discovery {
    let mut discovery = Discovery::default();
    for found in walk(args, stdin_format, shard) {
        match found {
            Found::Input(input) => discovery.inputs.push(input),
            Found::Skipped(path, reason) => discovery.skipped.push((path, reason)),
            Found::Error(error) => discovery.errors.push(error),
        }
    }
    discovery
}

/// Lowercase hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parsing_and_partition() {
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert!("3/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        let names: Vec<String> = (0..200).map(|i| format!("dir/file{i}.txt")).collect();
        let mut total = 0;
        for k in 0..4 {
            let shard = Shard { index: k, count: 4 };
            let taken = names.iter().filter(|n| shard.takes(n)).count();
            assert!(taken > 20, "shard {k} took only {taken}");
            total += taken;
        }
        assert_eq!(total, names.len());
    }

    #[test]
    fn shards_do_not_depend_on_how_the_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(dir.path().join(format!("t{i}.txt")), "x").unwrap();
        }
        let other_name = dir.path().join(".").join("");
        let names = |root: &Path| -> Vec<String> {
            discover(&[root.to_path_buf()], None, Shard { index: 1, count: 3 })
                .inputs
                .iter()
                .map(|i| i.shard_key.clone())
                .collect()
        };
        let a = names(dir.path());
        assert!(!a.is_empty() && a.len() < 20);
        assert_eq!(a, names(&other_name));
    }

    #[test]
    fn folders_are_walked_sorted_and_unknown_files_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.txt"), "x").unwrap();
        std::fs::write(dir.path().join("a.jsonl"), "x").unwrap();
        std::fs::write(dir.path().join("sub/c.vtt"), "x").unwrap();
        std::fs::write(dir.path().join("notes.pdf"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden.txt"), "x").unwrap();
        std::fs::write(dir.path().join("project.qdpx"), "x").unwrap();
        std::fs::write(dir.path().join("word.docx"), "x").unwrap();
        let found = discover(&[dir.path().to_path_buf()], None, Shard::default());
        let names: Vec<_> = found
            .inputs
            .iter()
            .map(|i| {
                Path::new(&i.display)
                    .strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names,
            vec!["a.jsonl", "b.txt", "project.qdpx", "sub/c.vtt", "word.docx"]
        );
        assert_eq!(found.inputs[2].format, Ok(Format::Qdpx));
        assert_eq!(found.inputs[4].format, Ok(Format::Docx));
        assert_eq!(found.skipped.len(), 1);
    }
}
