//! Importing a REFI-QDA codebook (a `.qdc` file, namespace `urn:QDA-XML:codebook:1.0`, or the
//! `CodeBook` of a `.qdpx` project) as a discotag [`Codebook`].
//!
//! discotag's codebook is flat and its code names become column names, so:
//!
//! - every **codable** code (`isCodable="true"`) becomes one discotag code, parents included
//!   when they are codable themselves (MAXQDA's are); categories (`isCodable="false"`) only
//!   name their children;
//! - a top-level code keeps its name, a nested one gets its path: names joined by `__`
//!   (`Discourses__Prevention`), so two `Other` codes under different parents stay apart;
//!   characters other than letters, digits, `_` and `-` become `_` ([`discotag_name`]); a
//!   name still taken gets `_2`, `_3`, ...;
//! - the definition is the code's `Description`, on one line; a code without one gets a
//!   placeholder that says so, and [`CodebookImport::placeholders`] lists those codes, because
//!   a model trained on an empty definition learns nothing from it.

use super::read::{codes_of, parse_xml, read_project};
use super::{Code, RefiError};
use crate::codebook::{self, Codebook};
use crate::error::InputError;

/// A codebook made from REFI-QDA codes.
#[derive(Debug, Clone, PartialEq)]
pub struct CodebookImport {
    pub codebook: Codebook,
    /// Names (in the codebook) of the codes whose definition is a placeholder.
    pub placeholders: Vec<String>,
    /// `(REFI-QDA path, discotag name)` of every code imported.
    pub names: Vec<(String, String)>,
}

impl CodebookImport {
    /// The codebook as TOML that [`Codebook::parse`] reads, with a comment saying where it
    /// came from and which definitions are placeholders.
    ///
    /// # Errors
    /// When the codebook cannot be serialised (it always can).
    pub fn to_toml(&self) -> Result<String, RefiError> {
        let body = toml::to_string_pretty(&self.codebook).map_err(|e| RefiError::Invalid {
            path: self.codebook.name.clone(),
            reason: e.to_string(),
        })?;
        let mut header =
            String::from("# Imported by `discotag qdpx codebook` from a REFI-QDA codebook.\n");
        for (path, name) in &self.names {
            if path != name {
                header.push_str(&format!("# {name:?} is the REFI-QDA code {path:?}.\n"));
            }
        }
        if !self.placeholders.is_empty() {
            header.push_str(&format!(
                "# Write a definition for: {} (the codebook had none).\n",
                self.placeholders.join(", ")
            ));
        }
        Ok(format!("{header}\n{body}"))
    }
}

/// Reads the codes of a REFI-QDA codebook: a `.qdc`, a `.qdpx` (its `CodeBook`), or a bare
/// `project.qde`; `path` names it in errors. Also returns the producing tool (`origin`).
///
/// # Errors
/// When the file is not a readable zip or well-formed XML, or holds no codebook.
pub fn read_codebook(bytes: &[u8], path: &str) -> Result<(Vec<Code>, Option<String>), InputError> {
    if bytes.starts_with(b"PK") {
        let project = read_project(bytes, path)?;
        return Ok((project.codes, project.origin));
    }
    let root = parse_xml(bytes, path, "codebook")?;
    let origin = root.attr_nonblank("origin").map(str::to_string);
    let codes = match root.name.as_str() {
        "CodeBook" => codes_of(&root),
        "Project" => root.child("CodeBook").map(codes_of).unwrap_or_default(),
        other => {
            return Err(InputError::file(
                path,
                format!("the root element is <{other}>, not a REFI-QDA <CodeBook>"),
            ));
        }
    };
    Ok((codes, origin))
}

/// The discotag name of a code: its path with each name made of letters, digits, `_` and `-`,
/// joined by `__`.
pub fn discotag_name(code: &Code) -> String {
    fn clean(name: &str) -> String {
        let mut out = String::new();
        for c in name.trim().chars() {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                out.push(c);
            } else if !out.ends_with('_') {
                out.push('_');
            }
        }
        let out = out.trim_matches('_').to_string();
        if out.is_empty() { "code".into() } else { out }
    }
    code.parents
        .iter()
        .chain(std::iter::once(&code.name))
        .map(|n| clean(n))
        .collect::<Vec<_>>()
        .join("__")
}

/// Builds a discotag codebook named `name` from REFI-QDA codes (see the module documentation);
/// `source` names the file in the description and placeholders.
///
/// # Errors
/// When no code is codable, or the result fails [`Codebook::validate`].
pub fn to_codebook(codes: &[Code], name: &str, source: &str) -> Result<CodebookImport, RefiError> {
    let mut out = Vec::new();
    let mut placeholders = Vec::new();
    let mut names = Vec::new();
    for code in codes.iter().filter(|c| c.is_codable) {
        let base = discotag_name(code);
        let mut unique = base.clone();
        let mut n = 2;
        while out.iter().any(|c: &codebook::Code| c.name == unique) {
            unique = format!("{base}_{n}");
            n += 1;
        }
        let definition = match &code.description {
            Some(d) => d.split_whitespace().collect::<Vec<_>>().join(" "),
            None => {
                placeholders.push(unique.clone());
                format!(
                    "PLACEHOLDER: the REFI-QDA codebook {source} gives no description for code {:?}; write its definition here.",
                    code.path()
                )
            }
        };
        names.push((code.path(), unique.clone()));
        out.push(codebook::Code {
            name: unique,
            definition,
            include: Vec::new(),
            exclude: Vec::new(),
        });
    }
    if out.is_empty() {
        return Err(RefiError::Invalid {
            path: source.to_string(),
            reason: "the codebook has no codable code (isCodable=\"true\")".into(),
        });
    }
    let codebook = Codebook {
        name: name.to_string(),
        version: "1".into(),
        description: Some(format!("Imported from the REFI-QDA codebook {source}.")),
        codes: out,
    };
    codebook.validate().map_err(|reason| RefiError::Invalid {
        path: source.to_string(),
        reason,
    })?;
    Ok(CodebookImport {
        codebook,
        placeholders,
        names,
    })
}
