//! A deterministic dev split stratified by label combination: within each combination, items
//! are ordered by a seeded hash of their id and every k-th goes to dev. The same data and seed
//! give the same split on every machine; adding items moves few others.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::labelled::Labelled;

/// Indices of (train, dev) items; `dev_fraction` of each label combination (at least one item
/// of a combination with two or more) goes to dev.
pub fn stratified(items: &[Labelled], dev_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut groups: BTreeMap<Vec<bool>, Vec<(Vec<u8>, usize)>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let mut hasher = Sha256::new();
        hasher.update(seed.to_le_bytes());
        hasher.update(item.id.as_bytes());
        groups
            .entry(item.labels.clone())
            .or_default()
            .push((hasher.finalize().to_vec(), i));
    }
    let (mut train, mut dev) = (Vec::new(), Vec::new());
    for (_, mut members) in groups {
        members.sort();
        let n_dev = if members.len() < 2 {
            0
        } else {
            ((members.len() as f64 * dev_fraction).round() as usize).max(1)
        };
        for (k, (_, i)) in members.into_iter().enumerate() {
            if k < n_dev {
                dev.push(i)
            } else {
                train.push(i)
            }
        }
    }
    train.sort_unstable();
    dev.sort_unstable();
    (train, dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Labelled> {
        (0..n)
            .map(|i| Labelled {
                id: format!("u{i}"),
                text: String::new(),
                labels: vec![i % 3 == 0, i % 5 == 0],
            })
            .collect()
    }

    #[test]
    fn deterministic_disjoint_and_stratified() {
        let data = items(200);
        let (train, dev) = stratified(&data, 0.2, 7);
        assert_eq!((train.clone(), dev.clone()), stratified(&data, 0.2, 7));
        assert_eq!(train.len() + dev.len(), 200);
        assert!(train.iter().all(|i| !dev.contains(i)));
        let share = |idx: &[usize], pred: fn(&Labelled) -> bool| {
            idx.iter().filter(|&&i| pred(&data[i])).count() as f64 / idx.len() as f64
        };
        let both = |l: &Labelled| l.labels[0] && l.labels[1];
        assert!((share(&train, both) - share(&dev, both)).abs() < 0.05);
        assert_ne!(
            stratified(&data, 0.2, 8).1,
            dev,
            "the seed changes the split"
        );
    }
}
