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

/// Indices of (train, dev) items with whole groups (a project's sources) on one side, so that
/// no source has segments on both: groups in a seeded hash order go to dev until it holds
/// `dev_fraction` of the items. With a single group, falls back to [`stratified`].
pub fn by_group(
    items: &[Labelled],
    groups: &[String],
    dev_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, group) in groups.iter().enumerate() {
        members.entry(group.as_str()).or_default().push(i);
    }
    if members.len() < 2 {
        tracing::warn!(
            "the data comes from one source, so the dev split cannot keep sources apart; segments of that source are split instead (pass --dev for an honest dev score)"
        );
        return stratified(items, dev_fraction, seed);
    }
    let mut order: Vec<(Vec<u8>, &str)> = members
        .keys()
        .map(|&g| {
            let mut hasher = Sha256::new();
            hasher.update(seed.to_le_bytes());
            hasher.update(g.as_bytes());
            (hasher.finalize().to_vec(), g)
        })
        .collect();
    order.sort();
    let wanted = (items.len() as f64 * dev_fraction).round() as usize;
    let (mut train, mut dev) = (Vec::new(), Vec::new());
    for (k, (_, group)) in order.iter().enumerate() {
        let last = k + 1 == order.len();
        if (dev.is_empty() || dev.len() < wanted) && !(last && train.is_empty()) {
            dev.extend(&members[group]);
        } else {
            train.extend(&members[group]);
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

    #[test]
    fn groups_stay_on_one_side() {
        let data = items(120);
        let groups: Vec<String> = (0..120).map(|i| format!("source-{}", i / 10)).collect();
        let (train, dev) = by_group(&data, &groups, 0.2, 3);
        assert_eq!(train.len() + dev.len(), 120);
        assert!(!train.is_empty() && !dev.is_empty());
        for i in &dev {
            assert!(
                train.iter().all(|t| groups[*t] != groups[*i]),
                "a source is split"
            );
        }
        assert!((20..=30).contains(&dev.len()), "{}", dev.len());
        assert_eq!((train, dev), by_group(&data, &groups, 0.2, 3));
        // two sources: one each side, whatever the fraction
        let two: Vec<String> = (0..120).map(|i| format!("s{}", i % 2)).collect();
        let (train, dev) = by_group(&data, &two, 0.9, 1);
        assert_eq!((train.len(), dev.len()), (60, 60));
    }
}
