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

/// A zip archive held in memory, read under the limits above.
pub struct LimitedZip<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    path: String,
    inflated_total: u64,
}

impl<'a> LimitedZip<'a> {
    /// Opens a container; `path` names it in errors.
    ///
    /// # Errors
    /// When the bytes are not a readable zip archive or list too many entries.
    pub fn open(bytes: &'a [u8], path: &str) -> Result<Self, InputError> {
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            InputError::file(
                path,
                format!("not a readable zip container (truncated or damaged?): {e}"),
            )
        })?;
        if archive.len() > MAX_ZIP_ENTRIES {
            return Err(InputError::file(
                path,
                format!(
                    "the zip container lists {} entries, more than the limit of {MAX_ZIP_ENTRIES}",
                    archive.len()
                ),
            ));
        }
        Ok(LimitedZip {
            archive,
            path: path.to_string(),
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
        let compressed = file.compressed_size();
        let budget = MAX_ZIP_ENTRY_BYTES.min(MAX_ZIP_TOTAL_BYTES - self.inflated_total);
        let mut out = Vec::with_capacity(file.size().min(budget).min(16 * 1024 * 1024) as usize);
        (&mut file)
            .take(budget + 1)
            .read_to_end(&mut out)
            .map_err(|e| entry_error(format!("damaged entry (truncated or bad checksum): {e}")))?;
        let inflated = out.len() as u64;
        if inflated > budget {
            return Err(entry_error(if budget == MAX_ZIP_ENTRY_BYTES {
                format!("entry inflates to more than {MAX_ZIP_ENTRY_BYTES} bytes")
            } else {
                format!("the container inflates to more than {MAX_ZIP_TOTAL_BYTES} bytes in all")
            }));
        }
        if inflated >= RATIO_CHECK_MIN_BYTES && inflated > compressed.max(1) * MAX_ZIP_RATIO {
            return Err(entry_error(format!(
                "entry inflates {inflated} bytes from {compressed}, a ratio over {MAX_ZIP_RATIO}: refusing a likely zip bomb"
            )));
        }
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
}
