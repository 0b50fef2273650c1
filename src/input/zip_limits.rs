//! Reading zip containers (DOCX, REFI-QDA .qdpx) safely: a bounded number of entries, a
//! bounded size per entry read and in all, and a bounded compression ratio, so that a truncated,
//! hostile or "zip bomb" file becomes an [`InputError`] naming the file and entry instead of
//! exhausting memory. Sizes are checked on the bytes actually inflated, not on the sizes the
//! archive declares (which an attacker controls).

use std::io::{Cursor, Read};

use crate::error::{InputError, Position};

/// Most entries a container may list. A DOCX has a dozen or two; a large .qdpx project one per
/// source plus a few.
pub const MAX_ZIP_ENTRIES: usize = 20_000;

/// Most bytes one entry may inflate to. A 60-minute interview's `document.xml` is about 1 MB.
pub const MAX_ZIP_ENTRY_BYTES: u64 = 128 * 1024 * 1024;

/// Most bytes all entries read from one container may inflate to.
pub const MAX_ZIP_TOTAL_BYTES: u64 = 512 * 1024 * 1024;

/// Highest inflated-to-compressed ratio accepted for an entry over [`RATIO_CHECK_MIN_BYTES`].
/// Office XML compresses 5 to 30 times; zip bombs thousands of times.
pub const MAX_ZIP_RATIO: u64 = 200;

/// Entries smaller than this are not ratio-checked: tiny repetitive files compress well.
pub const RATIO_CHECK_MIN_BYTES: u64 = 1024 * 1024;

/// The limits one container is read under; [`ZipLimits::default`] holds the constants above.
/// Tests and callers with other needs may tighten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    pub max_entries: usize,
    pub max_entry_bytes: u64,
    pub max_total_bytes: u64,
    pub max_ratio: u64,
    pub ratio_check_min_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entries: MAX_ZIP_ENTRIES,
            max_entry_bytes: MAX_ZIP_ENTRY_BYTES,
            max_total_bytes: MAX_ZIP_TOTAL_BYTES,
            max_ratio: MAX_ZIP_RATIO,
            ratio_check_min_bytes: RATIO_CHECK_MIN_BYTES,
        }
    }
}

/// Bytes inflated per read call; the size and ratio limits are checked after each chunk, so a
/// zip bomb is stopped soon after it crosses a limit instead of at the entry size limit.
const INFLATE_CHUNK_BYTES: usize = 64 * 1024;

/// A zip archive held in memory, read under [`ZipLimits`].
pub struct LimitedZip<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    path: String,
    limits: ZipLimits,
    /// Size of the whole container: no entry can have more compressed bytes than this, whatever
    /// its header claims.
    container_bytes: u64,
    inflated_total: u64,
}

impl<'a> LimitedZip<'a> {
    /// Opens a container under the default limits; `path` names it in errors.
    ///
    /// # Errors
    /// When the bytes are not a readable zip archive or list too many entries.
    pub fn open(bytes: &'a [u8], path: &str) -> Result<Self, InputError> {
        Self::open_with_limits(bytes, path, ZipLimits::default())
    }

    /// Opens a container under the given limits.
    ///
    /// # Errors
    /// As [`LimitedZip::open`].
    pub fn open_with_limits(
        bytes: &'a [u8],
        path: &str,
        limits: ZipLimits,
    ) -> Result<Self, InputError> {
        let too_many = |count: u64| {
            InputError::file(
                path,
                format!(
                    "the zip container lists {count} entries, more than the limit of {}",
                    limits.max_entries
                ),
            )
        };
        // Checked before the central directory is parsed: parsing millions of entries would
        // itself exhaust memory.
        if let Some(count) = declared_entry_count(bytes)
            && count > limits.max_entries as u64
        {
            return Err(too_many(count));
        }
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            InputError::file(
                path,
                format!("not a readable zip container (truncated or damaged?): {e}"),
            )
        })?;
        if archive.len() > limits.max_entries {
            return Err(too_many(archive.len() as u64));
        }
        Ok(LimitedZip {
            archive,
            path: path.to_string(),
            limits,
            container_bytes: bytes.len() as u64,
            inflated_total: 0,
        })
    }

    /// The names of all entries, in archive order (names that are not valid text are skipped).
    pub fn names(&self) -> Vec<String> {
        self.archive
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.to_string()))
            .collect()
    }

    /// The entry whose name equals `name` ignoring ASCII case and a leading `/` or `./`, if any.
    pub fn find(&self, name: &str) -> Option<String> {
        let wanted = normalise(name);
        self.names()
            .into_iter()
            .find(|n| normalise(n).eq_ignore_ascii_case(&wanted))
    }

    /// Reads one entry whole, within the limits.
    ///
    /// # Errors
    /// When the entry is missing, damaged (bad CRC, truncated data) or over a limit; the error
    /// names the container and the entry.
    pub fn read(&mut self, name: &str) -> Result<Vec<u8>, InputError> {
        let entry_error = |reason: String| {
            InputError::new(
                self.path.clone(),
                Position::Entry {
                    entry: name.to_string(),
                },
                reason,
            )
        };
        let mut file = match self.archive.by_name(name) {
            Ok(file) => file,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(entry_error("entry missing from the zip container".into()));
            }
            Err(e) => return Err(entry_error(format!("unreadable entry: {e}"))),
        };
        let limits = self.limits;
        let compressed = file.compressed_size().min(self.container_bytes).max(1);
        let budget = limits
            .max_entry_bytes
            .min(limits.max_total_bytes.saturating_sub(self.inflated_total));
        let mut out = Vec::with_capacity(file.size().min(budget).min(16 * 1024 * 1024) as usize);
        let mut chunk = vec![0u8; INFLATE_CHUNK_BYTES];
        loop {
            let read = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(entry_error(format!(
                        "damaged entry (truncated or bad checksum): {e}"
                    )));
                }
            };
            out.extend_from_slice(&chunk[..read]);
            let inflated = out.len() as u64;
            if inflated > budget {
                return Err(entry_error(if budget == limits.max_entry_bytes {
                    format!(
                        "entry inflates to more than {} bytes",
                        limits.max_entry_bytes
                    )
                } else {
                    format!(
                        "the container inflates to more than {} bytes in all",
                        limits.max_total_bytes
                    )
                }));
            }
            if inflated >= limits.ratio_check_min_bytes
                && inflated > compressed.saturating_mul(limits.max_ratio)
            {
                return Err(entry_error(format!(
                    "entry inflates to over {inflated} bytes from {compressed}, a ratio over {}: refusing a likely zip bomb",
                    limits.max_ratio
                )));
            }
        }
        let inflated = out.len() as u64;
        self.inflated_total += inflated;
        Ok(out)
    }

    /// Reads one entry as UTF-8 text (a UTF-8 byte-order mark is kept).
    ///
    /// # Errors
    /// As [`LimitedZip::read`], and when the entry is not valid UTF-8.
    pub fn read_text(&mut self, name: &str) -> Result<String, InputError> {
        let bytes = self.read(name)?;
        String::from_utf8(bytes).map_err(|e| {
            InputError::new(
                self.path.clone(),
                Position::Entry {
                    entry: name.to_string(),
                },
                format!(
                    "entry is not valid UTF-8 (at byte {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })
    }
}

/// The number of entries the end-of-central-directory record declares (the zip64 record's when
/// the classic one says 0xFFFF), or `None` when no such record is found (the zip reader then
/// reports the damage). Only this count is read; everything else is left to the zip crate.
fn declared_entry_count(bytes: &[u8]) -> Option<u64> {
    const END_RECORD: &[u8; 4] = b"PK\x05\x06";
    const END_RECORD_BYTES: usize = 22;
    const ZIP64_LOCATOR: &[u8; 4] = b"PK\x06\x07";
    const ZIP64_LOCATOR_BYTES: usize = 20;
    const ZIP64_END_RECORD: &[u8; 4] = b"PK\x06\x06";
    // The record ends the file, followed only by a comment of at most 65,535 bytes.
    let search_from = bytes
        .len()
        .saturating_sub(END_RECORD_BYTES + usize::from(u16::MAX));
    let end = (search_from..=bytes.len().checked_sub(END_RECORD_BYTES)?)
        .rev()
        .find(|&at| bytes[at..].starts_with(END_RECORD))?;
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let classic = u16_at(end + 10)?;
    if classic != u16::MAX {
        return Some(u64::from(classic));
    }
    let locator = end.checked_sub(ZIP64_LOCATOR_BYTES)?;
    if !bytes[locator..].starts_with(ZIP64_LOCATOR) {
        return Some(u64::from(classic));
    }
    let record = usize::try_from(u64_at(locator + 8)?).ok()?;
    if !bytes.get(record..)?.starts_with(ZIP64_END_RECORD) {
        return None;
    }
    u64_at(record + 32)
}

fn normalise(name: &str) -> String {
    name.trim_start_matches("./")
        .trim_start_matches('/')
        .replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_entries_and_finds_names_loosely() {
        let bytes = zip_of(&[("word/document.xml", b"<w/>"), ("a.txt", b"hi")]);
        let mut zip = LimitedZip::open(&bytes, "t.docx").unwrap();
        assert_eq!(
            zip.find("/Word/Document.xml").as_deref(),
            Some("word/document.xml")
        );
        assert_eq!(zip.read_text("a.txt").unwrap(), "hi");
        let err = zip.read("missing.xml").unwrap_err();
        assert_eq!(err.path, "t.docx");
        assert!(err.to_string().contains("missing.xml"), "{err}");
    }

    #[test]
    fn refuses_truncated_and_non_zip_bytes() {
        let bytes = zip_of(&[("a.txt", b"hello hello hello")]);
        for bad in [
            &bytes[..bytes.len() / 2],
            b"not a zip at all".as_slice(),
            b"",
        ] {
            let err = LimitedZip::open(bad, "t.qdpx").err().expect("refused");
            assert!(err.reason.contains("zip"), "{err}");
        }
    }

    #[test]
    fn refuses_a_zip_bomb_by_ratio() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let bytes = zip_of(&[("bomb.xml", &zeros)]);
        assert!(bytes.len() < 100_000, "deflate squeezes zeros hard");
        let mut zip = LimitedZip::open(&bytes, "bomb.docx").unwrap();
        let err = zip.read("bomb.xml").unwrap_err();
        assert!(err.reason.contains("zip bomb"), "{err}");
    }

    #[test]
    fn damaged_entry_data_is_an_error_not_a_panic() {
        let text: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut bytes = zip_of(&[("a.bin", &text)]);
        // Flip bytes in the middle of the compressed data (after the 30-byte local header).
        for b in &mut bytes[60..90] {
            *b ^= 0x5A;
        }
        if let Ok(mut zip) = LimitedZip::open(&bytes, "t.docx") {
            assert!(zip.read("a.bin").is_err());
        }
    }

    #[test]
    fn too_many_entries_are_refused_from_the_declared_count() {
        let names: Vec<String> = (0..5).map(|i| format!("e{i}.xml")).collect();
        let entries: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), &b"<e/>"[..])).collect();
        let bytes = zip_of(&entries);
        assert_eq!(declared_entry_count(&bytes), Some(5));
        let limits = ZipLimits {
            max_entries: 4,
            ..ZipLimits::default()
        };
        let err = LimitedZip::open_with_limits(&bytes, "t.docx", limits)
            .err()
            .expect("refused");
        assert!(err.reason.contains("lists 5 entries"), "{err}");
        assert!(LimitedZip::open(&bytes, "t.docx").is_ok());
        assert_eq!(declared_entry_count(b"PK\x05\x06 too short"), None);
    }

    #[test]
    fn entry_and_total_sizes_are_limited_on_inflated_bytes() {
        let noise: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let bytes = zip_of(&[("a.bin", &noise), ("b.bin", &noise[..30_000])]);
        let limits = ZipLimits {
            max_entry_bytes: 40_000,
            max_total_bytes: 60_000,
            ..ZipLimits::default()
        };
        let mut zip = LimitedZip::open_with_limits(&bytes, "t.qdpx", limits).unwrap();
        let err = zip.read("a.bin").unwrap_err();
        assert!(err.reason.contains("more than 40000 bytes"), "{err}");
        let limits = ZipLimits {
            max_total_bytes: 60_000,
            ..ZipLimits::default()
        };
        let mut zip = LimitedZip::open_with_limits(&bytes, "t.qdpx", limits).unwrap();
        assert_eq!(zip.read("a.bin").unwrap().len(), 50_000);
        let err = zip.read("b.bin").unwrap_err();
        assert!(err.reason.contains("in all"), "{err}");
    }
}
