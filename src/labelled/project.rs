//! Labelled units from a coded REFI-QDA project (`train`/`eval --data project.qdpx`).
//!
//! Each text source is cut into the segments `discotag label` gives it
//! ([`crate::input::source_segments`]); a segment carries a code when one of the coder's
//! codings of that code covers it by the overlap rule `agree` uses
//! ([`align::segment_carries`], `--min-overlap`). Only sources the coder coded at all count:
//! their uncoded segments are negatives; sources the coder never touched are left out and
//! counted. With several coders, [`Combine::Union`] gives a segment every code any of them gave
//! it, and [`Combine::Adjudicated`] keeps only segments on which all of them agree, in sources
//! all of them coded.
//!
//! Project codes map onto the codebook by their discotag name (`Parent__Child`, as
//! `qdpx codebook` names them), else as `agree` maps them: by name ignoring case, then by the
//! last part of a hierarchical name, then by an enclosing code. Codings of other codes are
//! ignored and counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::agree::CodeList;
use crate::agree::align::{self, Span};
use crate::agree::coders::choose_user;
use crate::codebook::Codebook;
use crate::error::{Error, Result};
use crate::refi::{self, guid_key};
use crate::segment::{SegmentUnit, TokenBudget};

use super::Labelled;

/// How several coders' codings become one label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Combine {
    /// A segment carries every code any of the coders gave it.
    #[default]
    Union,
    /// Only segments on which every coder agrees (same codes), in sources all of them coded.
    Adjudicated,
}

/// Which coders of a project, and how their spans become segment labels.
#[derive(Debug, Clone)]
pub struct ProjectOptions {
    /// Coders by name (ignoring case) or GUID; empty: the project's only coder.
    pub coders: Vec<String>,
    pub combine: Combine,
    /// Share of the shorter of segment and coding that must overlap.
    pub min_overlap: f64,
    pub unit: SegmentUnit,
}

impl Default for ProjectOptions {
    fn default() -> Self {
        ProjectOptions {
            coders: Vec::new(),
            combine: Combine::Union,
            min_overlap: crate::agree::DEFAULT_MIN_OVERLAP,
            unit: SegmentUnit::Window,
        }
    }
}

/// A project's segments as labelled units.
#[derive(Debug, Clone)]
pub struct ProjectData {
    pub items: Vec<Labelled>,
    /// The source GUID of each item, so that splits keep a source's segments together.
    pub sources: Vec<String>,
    /// What was read and left out, in one paragraph for the log and the model card.
    pub description: String,
}

/// One coder's spans of each codebook code, by (source key, code index).
struct CoderSpans {
    name: String,
    touched: HashSet<String>,
    spans: HashMap<(String, usize), Vec<Span>>,
}

/// Reads a project's segments labelled by the chosen coders (see the module documentation).
/// `budget` (token limit and tokenizer) is needed for `window` segments.
///
/// # Errors
/// When the project cannot be read, a named coder does not exist, the project has several
/// coders and none is named, `--adjudicated` has fewer than two coders, or nothing is left.
pub fn read_project(
    path: &Path,
    codebook: &Codebook,
    options: &ProjectOptions,
    budget: Option<(usize, &dyn TokenBudget)>,
) -> Result<ProjectData> {
    if !(0.0..=1.0).contains(&options.min_overlap) {
        return Err(Error::Usage(format!(
            "--min-overlap must be between 0 and 1, not {}",
            options.min_overlap
        )));
    }
    if options.combine == Combine::Adjudicated && options.coders.len() < 2 {
        return Err(Error::Usage(
            "--adjudicated keeps what several coders agree on; name at least two with --coder"
                .into(),
        ));
    }
    let display = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(format!("reading {display}"), e))?;
    let project = refi::read_project(&bytes, &display).map_err(|e| Error::Data {
        path: path.to_path_buf(),
        reason: format!("{}: {}", e.position, e.reason),
    })?;
    let users = if options.coders.is_empty() {
        vec![choose_user(path, &project, None)?]
    } else {
        let mut users = Vec::new();
        for name in &options.coders {
            let user = choose_user(path, &project, Some(name))?;
            if users.contains(&user) {
                return Err(Error::Usage(format!("coder {name:?} is named twice")));
            }
            users.push(user);
        }
        users
    };

    let code_list = CodeList {
        names: codebook.code_names(),
        fixed: true,
    };
    let code_of: HashMap<&str, Option<usize>> = project
        .codes
        .iter()
        .map(|code| {
            let index = codebook
                .index_of(&refi::discotag_name(code))
                .or_else(|| code_list.index_of(&code.path()));
            (code.guid.as_str(), index)
        })
        .collect();
    let code_path: HashMap<&str, String> = project
        .codes
        .iter()
        .map(|c| (c.guid.as_str(), c.path()))
        .collect();

    let mut ignored: BTreeMap<String, usize> = BTreeMap::new();
    let mut coders = Vec::new();
    for user in &users {
        let mut coder = CoderSpans {
            name: user.as_ref().map_or_else(
                || "codings without a coder".into(),
                |u| u.name.clone().unwrap_or_else(|| u.guid.clone()),
            ),
            touched: HashSet::new(),
            spans: HashMap::new(),
        };
        let mine = project
            .codings
            .iter()
            .filter(|c| match (&c.user_guid, user) {
                (Some(coder), Some(user)) => refi::same_guid(coder, &user.guid),
                (None, None) => true,
                _ => false,
            });
        for coding in mine {
            let source = guid_key(&coding.source_guid);
            coder.touched.insert(source.clone());
            match code_of.get(coding.code_guid.as_str()).copied().flatten() {
                Some(index) => coder
                    .spans
                    .entry((source, index))
                    .or_default()
                    .push((coding.start, coding.end)),
                None => {
                    let name = code_path
                        .get(coding.code_guid.as_str())
                        .cloned()
                        .unwrap_or_else(|| coding.code_guid.clone());
                    *ignored.entry(name).or_default() += 1;
                }
            }
        }
        if coder.touched.is_empty() {
            return Err(Error::Data {
                path: path.to_path_buf(),
                reason: format!("coder {:?} coded no text in the project", coder.name),
            });
        }
        coders.push(coder);
    }

    let mut items = Vec::new();
    let mut sources = Vec::new();
    let (mut used_sources, mut left_out, mut disagreements) = (0usize, 0usize, 0usize);
    let mut names_seen: HashMap<&str, usize> = HashMap::new();
    for source in &project.sources {
        *names_seen.entry(source.name.as_str()).or_default() += 1;
    }
    let codes = codebook.codes.len();
    for source in &project.sources {
        let key = guid_key(&source.guid);
        let coding: Vec<&CoderSpans> = coders.iter().filter(|c| c.touched.contains(&key)).collect();
        let usable = match options.combine {
            Combine::Union => !coding.is_empty(),
            Combine::Adjudicated => coding.len() == coders.len(),
        };
        if !usable {
            left_out += 1;
            continue;
        }
        used_sources += 1;
        let prefix = if names_seen[source.name.as_str()] > 1 {
            format!("{} ({})", source.name, source.guid)
        } else {
            source.name.clone()
        };
        let byte_at: Vec<usize> = source
            .plain_text
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(source.plain_text.len()))
            .collect();
        let segments =
            crate::input::source_segments(&source.plain_text, &source.name, options.unit, budget);
        for (k, segment) in segments.iter().enumerate() {
            let range = (segment.start, segment.end);
            let flags_of = |coder: &CoderSpans| -> Vec<bool> {
                (0..codes)
                    .map(|c| {
                        coder.spans.get(&(key.clone(), c)).is_some_and(|spans| {
                            align::segment_carries(range, spans, options.min_overlap)
                        })
                    })
                    .collect()
            };
            let each: Vec<Vec<bool>> = coding.iter().map(|c| flags_of(c)).collect();
            let labels = match options.combine {
                Combine::Union => (0..codes).map(|c| each.iter().any(|f| f[c])).collect(),
                Combine::Adjudicated => {
                    if each.iter().any(|f| f != &each[0]) {
                        disagreements += 1;
                        continue;
                    }
                    each[0].clone()
                }
            };
            let text =
                &source.plain_text[byte_at[segment.start as usize]..byte_at[segment.end as usize]];
            items.push(Labelled {
                id: format!("{prefix}#{k}"),
                text: text.to_string(),
                labels,
            });
            sources.push(key.clone());
        }
    }
    if items.is_empty() {
        return Err(Error::Data {
            path: path.to_path_buf(),
            reason: "no segment of a coded text source is left to learn from or score".into(),
        });
    }

    let names: Vec<&str> = coders.iter().map(|c| c.name.as_str()).collect();
    let mut description = format!(
        "{} segments ({} units) of {} coded text sources of the REFI-QDA project `{}`, labelled by {} (a segment carries a code when a coding covers at least {:.0}% of the shorter of the two)",
        items.len(),
        match options.unit {
            SegmentUnit::Turn => "turn",
            SegmentUnit::Sentence => "sentence",
            SegmentUnit::Window => "window",
        },
        used_sources,
        display,
        match (names.as_slice(), options.combine) {
            ([one], _) => format!("coder {one}"),
            (many, Combine::Union) => format!("the union of coders {}", many.join(", ")),
            (many, Combine::Adjudicated) => format!(
                "coders {} where they agree ({disagreements} segments where they disagree left out)",
                many.join(", ")
            ),
        },
        options.min_overlap * 100.0
    );
    if left_out > 0 {
        description.push_str(&format!(
            "; {left_out} text sources {} were left out",
            if options.combine == Combine::Adjudicated && coders.len() > 1 {
                "not coded by every one of them"
            } else {
                "the coder never coded"
            }
        ));
    }
    if !ignored.is_empty() {
        let total: usize = ignored.values().sum();
        let list: Vec<String> = ignored.keys().take(5).cloned().collect();
        description.push_str(&format!(
            "; {total} codings of codes outside the codebook ({}{}) were ignored",
            list.join(", "),
            if ignored.len() > 5 { ", ..." } else { "" }
        ));
    }
    let unread = project.source_errors.len() + project.coding_errors.len();
    if unread > 0 {
        let first = project
            .source_errors
            .iter()
            .chain(&project.coding_errors)
            .next()
            .map(ToString::to_string)
            .unwrap_or_default();
        description.push_str(&format!(
            "; {unread} sources or codings could not be read and were left out (first: {first})"
        ));
    }
    description.push('.');
    Ok(ProjectData {
        items,
        sources,
        description,
    })
}

/// The name a REFI-QDA project gives itself (its `name` attribute).
///
/// # Errors
/// When the project cannot be read.
pub fn project_name(path: &Path) -> Result<String> {
    let display = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(format!("reading {display}"), e))?;
    let project = refi::read_project(&bytes, &display).map_err(|e| Error::Data {
        path: path.to_path_buf(),
        reason: format!("{}: {}", e.position, e.reason),
    })?;
    Ok(project.name)
}

/// A discotag codebook made from a project's codes, as `qdpx codebook` makes it.
///
/// # Errors
/// When the project cannot be read or has no codable code.
pub fn project_codebook(path: &Path) -> Result<refi::CodebookImport> {
    let display = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::io(format!("reading {display}"), e))?;
    let (codes, _) = refi::read_codebook(&bytes, &display).map_err(|e| Error::Data {
        path: path.to_path_buf(),
        reason: format!("{}: {}", e.position, e.reason),
    })?;
    let name = path
        .file_stem()
        .map_or_else(|| "project".into(), |s| s.to_string_lossy().into_owned());
    refi::to_codebook(&codes, &name, &display).map_err(|e| Error::Data {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const A: &str = "11111111-1111-4111-8111-111111111111";
    const B: &str = "22222222-2222-4222-8222-222222222222";
    const CODE_A: &str = "AAAAAAAA-0000-4000-8000-00000000000A";
    const CODE_B: &str = "BBBBBBBB-0000-4000-8000-00000000000B";
    const OTHER: &str = "CCCCCCCC-0000-4000-8000-00000000000C";
    const TEXT: &str = "Respondent: First point here.\n\nRespondent: Second point there.\n";

    fn selection(n: usize, user: &str, code: &str, start: u64, end: u64) -> String {
        format!(
            r#"<PlainTextSelection guid="00000000-0000-4000-8000-{n:012}" startPosition="{start}" endPosition="{end}" creatingUser="{user}"><Coding guid="00000000-0000-4000-9000-{n:012}" creatingUser="{user}"><CodeRef targetGUID="{code}"/></Coding></PlainTextSelection>"#
        )
    }

    fn source(n: usize, selections: &[String]) -> String {
        format!(
            r#"<TextSource guid="00000000-0000-4000-a000-{n:012}" name="interview {n}"><PlainTextContent>{TEXT}</PlainTextContent>{}</TextSource>"#,
            selections.concat()
        )
    }

    /// Source 1 coded by both coders (they agree on the first turn, not the second), source 2
    /// by coder A only, source 3 by nobody; one coding of a code outside the codebook.
    fn project(dir: &Path) -> std::path::PathBuf {
        // turn texts start at 12 and 43 (code points), each 17 and 18 long
        let first = (12, 29);
        let second = (43, 61);
        let qde = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="p">
<Users><User guid="{A}" name="Ann"/><User guid="{B}" name="Bo"/></Users>
<CodeBook><Codes><Code guid="{CODE_A}" name="Alpha" isCodable="true"/><Code guid="{CODE_B}" name="Group/beta" isCodable="true"/><Code guid="{OTHER}" name="Quote" isCodable="true"/></Codes></CodeBook>
<Sources>{}{}{}</Sources></Project>"#,
            source(
                1,
                &[
                    selection(1, A, CODE_A, first.0, first.1),
                    selection(2, B, CODE_A, first.0, first.1 - 3),
                    selection(3, B, CODE_B, second.0, second.1),
                    selection(4, A, OTHER, second.0, second.1),
                ]
            ),
            source(2, &[selection(5, A, CODE_B, second.0 + 2, second.1)]),
            source(3, &[]),
        );
        let path = dir.join("p.qdpx");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file("project.qde", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(qde.as_bytes()).unwrap();
        zip.finish().unwrap();
        path
    }

    fn codebook() -> Codebook {
        Codebook::parse("name='t'\nversion='1'\n[[codes]]\nname='alpha'\ndefinition='A'\n[[codes]]\nname='beta'\ndefinition='B'\n").unwrap()
    }

    fn read(path: &Path, coders: &[&str], combine: Combine) -> Result<ProjectData> {
        let options = ProjectOptions {
            coders: coders.iter().map(|c| c.to_string()).collect(),
            combine,
            unit: SegmentUnit::Turn,
            ..ProjectOptions::default()
        };
        read_project(path, &codebook(), &options, None)
    }

    fn labelled(data: &ProjectData) -> Vec<(String, String, Vec<bool>)> {
        data.items
            .iter()
            .map(|l| (l.id.clone(), l.text.clone(), l.labels.clone()))
            .collect()
    }

    #[test]
    fn one_coder_labels_the_segments_of_the_sources_they_coded() {
        let dir = tempfile::tempdir().unwrap();
        let path = project(dir.path());
        let data = read(&path, &["ann"], Combine::Union).unwrap();
        assert_eq!(
            labelled(&data),
            vec![
                (
                    "interview 1#0".into(),
                    "First point here.".into(),
                    vec![true, false]
                ),
                (
                    "interview 1#1".into(),
                    "Second point there.".into(),
                    vec![false, false]
                ),
                (
                    "interview 2#0".into(),
                    "First point here.".into(),
                    vec![false, false]
                ),
                // 16 of the turn's 18 code points are coded: over half of the shorter
                (
                    "interview 2#1".into(),
                    "Second point there.".into(),
                    vec![false, true]
                ),
            ]
        );
        assert_eq!(data.sources[0], data.sources[1]);
        assert_ne!(data.sources[1], data.sources[2]);
        let d = &data.description;
        assert!(
            d.contains("4 segments") && d.contains("2 coded text sources"),
            "{d}"
        );
        assert!(
            d.contains("1 text sources the coder never coded were left out"),
            "{d}"
        );
        assert!(
            d.contains("1 codings of codes outside the codebook (Quote)"),
            "{d}"
        );
    }

    #[test]
    fn several_coders_give_a_union_or_what_they_agree_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = project(dir.path());
        let union = read(&path, &["Ann", "Bo"], Combine::Union).unwrap();
        assert_eq!(
            union
                .items
                .iter()
                .map(|l| l.labels.clone())
                .collect::<Vec<_>>(),
            vec![
                vec![true, false],
                vec![false, true],
                vec![false, false],
                vec![false, true]
            ]
        );
        let agreed = read(&path, &["Ann", "Bo"], Combine::Adjudicated).unwrap();
        assert_eq!(
            labelled(&agreed),
            vec![(
                "interview 1#0".into(),
                "First point here.".into(),
                vec![true, false]
            )]
        );
        assert!(
            agreed
                .description
                .contains("1 segments where they disagree left out")
                && agreed
                    .description
                    .contains("2 text sources not coded by every one of them"),
            "{}",
            agreed.description
        );
    }

    #[test]
    fn coders_must_be_named_when_there_are_several_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let path = project(dir.path());
        let several = read(&path, &[], Combine::Union).unwrap_err().to_string();
        assert!(
            several.contains("several coders") && several.contains("--coder"),
            "{several}"
        );
        let unknown = read(&path, &["Cy"], Combine::Union)
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("no coder \"Cy\"") && unknown.contains("Ann"),
            "{unknown}"
        );
        let alone = read(&path, &["Ann"], Combine::Adjudicated)
            .unwrap_err()
            .to_string();
        assert!(alone.contains("at least two"), "{alone}");
    }
}
