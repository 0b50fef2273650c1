//! The codebook: a TOML file naming the codes a model assigns, with definitions and guidance.
//! Its code order is the order of the head's logits, of the thresholds and of the
//! `score_<code>` output columns.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A codebook as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Codebook {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub codes: Vec<Code>,
}

/// One code of a codebook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    pub name: String,
    pub definition: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl Codebook {
    /// Reads and validates a codebook TOML file.
    ///
    /// # Errors
    /// When the file cannot be read, is not valid TOML of this shape, or fails [`Codebook::validate`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading codebook {}", path.display()), e))?;
        Self::parse(&text).map_err(|reason| Error::Codebook {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses and validates codebook TOML text.
    ///
    /// # Errors
    /// A sentence saying what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let codebook: Codebook = toml::from_str(text).map_err(|e| e.to_string())?;
        codebook.validate()?;
        Ok(codebook)
    }

    /// Checks that there is at least one code and that code names are unique, non-empty and
    /// usable as a column name suffix (letters, digits, `_` and `-`).
    ///
    /// # Errors
    /// A sentence naming the offending code.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.codes.is_empty() {
            return Err("the codebook has no [[codes]]".into());
        }
        let mut seen = HashSet::new();
        for code in &self.codes {
            if code.name.is_empty()
                || !code
                    .name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "code name {:?} must be non-empty and use only letters, digits, '_' or '-'",
                    code.name
                ));
            }
            if !seen.insert(code.name.as_str()) {
                return Err(format!("code {:?} appears twice", code.name));
            }
        }
        Ok(())
    }

    /// Code names in codebook order.
    pub fn code_names(&self) -> Vec<String> {
        self.codes.iter().map(|c| c.name.clone()).collect()
    }

    /// The index of a code by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.codes.iter().position(|c| c.name == name)
    }

    /// A short identity for manifests and model cards: `name@version`.
    pub fn identity(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Writes the codebook as TOML.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::Codebook {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, text)
            .map_err(|e| Error::io(format!("writing codebook {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CODES: &str = r#"
name = "t"
version = "1"
[[codes]]
name = "alpha"
definition = "A."
include = ["x"]
[[codes]]
name = "beta_2"
definition = "B."
"#;

    #[test]
    fn parses_codes_in_order() {
        let cb = Codebook::parse(TWO_CODES).unwrap();
        assert_eq!(cb.code_names(), vec!["alpha", "beta_2"]);
        assert_eq!(cb.index_of("beta_2"), Some(1));
        assert_eq!(cb.identity(), "t@1");
    }

    #[test]
    fn rejects_duplicates_bad_names_and_no_codes() {
        let dup = TWO_CODES.replace("beta_2", "alpha");
        assert!(Codebook::parse(&dup).unwrap_err().contains("twice"));
        let bad = TWO_CODES.replace("beta_2", "beta two");
        assert!(Codebook::parse(&bad).unwrap_err().contains("letters"));
        assert!(
            Codebook::parse("name='t'\nversion='1'\ncodes=[]")
                .unwrap_err()
                .contains("no [[codes]]")
        );
    }
}
