//! The bundled labelled data: every split reads against its codebook, the splits are disjoint
//! (by id and by text, so no test utterance leaks into training), and the sizes and label mix
//! the data README promises hold.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use discotag::codebook::Codebook;
use discotag::labelled::{self, Labelled};

use crate::util::repo;

fn splits(folder: &Path, codebook: &Codebook) -> Vec<(&'static str, Vec<Labelled>)> {
    ["train", "dev", "test"]
        .into_iter()
        .map(|s| {
            let items = labelled::read(&folder.join(format!("{s}.jsonl")), codebook).unwrap();
            (s, items)
        })
        .collect()
}

fn check(codebook: &str, folder: &str, at_least: usize) {
    let repo = repo();
    let codebook = Codebook::load(&repo.join(codebook)).unwrap();
    let splits = splits(&repo.join(folder), &codebook);
    let (mut ids, mut texts) = (HashSet::new(), HashSet::new());
    let mut all = Vec::new();
    for (name, items) in &splits {
        for item in items {
            assert!(
                ids.insert(item.id.clone()),
                "{name}: id {} in two splits",
                item.id
            );
            let normalised: String = item
                .text
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                texts.insert(normalised),
                "{name}: text of {} appears twice",
                item.id
            );
            all.push(item);
        }
    }
    assert!(all.len() >= at_least, "{} utterances", all.len());
    let uncoded = all.iter().filter(|l| !l.labels.contains(&true)).count();
    assert!(
        uncoded * 10 >= all.len() * 3,
        "{uncoded} of {} uncoded",
        all.len()
    );
    let codes = codebook.codes.len();
    for (c, code) in codebook.codes.iter().enumerate() {
        for (name, items) in &splits {
            assert!(
                items.iter().any(|l| l.labels[c]),
                "{name} has no example of {}",
                code.name
            );
        }
    }
    let mut combinations: BTreeMap<Vec<bool>, usize> = BTreeMap::new();
    for item in &all {
        *combinations.entry(item.labels.clone()).or_default() += 1;
    }
    if codes <= 3 {
        assert_eq!(
            combinations.len(),
            1 << codes,
            "every combination of codes occurs"
        );
    }
}

#[test]
fn default_codebook_data_is_disjoint_and_as_described() {
    check(
        "data/codebooks/joint_commissioning.toml",
        "data/labelled",
        1200,
    );
}

#[test]
fn second_codebook_data_is_disjoint_and_as_described() {
    check(
        "data/codebooks/policy_imperatives.toml",
        "data/labelled/policy_imperatives",
        400,
    );
}
