//! Stage "batch": groups segments of similar token length so that little compute goes to
//! padding. Segments are gathered from a window of inputs, sorted by length, cut into batches;
//! results are put back in their original slots, so the output order within a document is the
//! input order whatever the batch size.

/// Index lists, one per batch: segment indices sorted by (length, index), `batch_size` at a time.
pub fn plan(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// Real and padded token counts of a batch plan: padded counts every position computed,
/// real only the tokens of the segments.
pub fn padding(lengths: &[usize], batches: &[Vec<usize>]) -> (u64, u64) {
    let real = lengths.iter().map(|&l| l as u64).sum();
    let computed = batches
        .iter()
        .map(|b| b.iter().map(|&i| lengths[i]).max().unwrap_or(0) as u64 * b.len() as u64)
        .sum();
    (real, computed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorting_by_length_cuts_padding() {
        let lengths = [10, 100, 12, 98, 11, 99];
        let batches = plan(&lengths, 3);
        assert_eq!(batches, vec![vec![0, 4, 2], vec![3, 5, 1]]);
        let (real, computed) = padding(&lengths, &batches);
        assert_eq!(real, 330);
        assert_eq!(computed, 3 * 12 + 3 * 100);
        let in_order: Vec<Vec<usize>> = vec![vec![0, 1, 2], vec![3, 4, 5]];
        assert!(padding(&lengths, &in_order).1 > computed);
    }

    proptest! {
        #[test]
        fn every_segment_in_exactly_one_batch(lengths in proptest::collection::vec(1usize..300, 0..200), size in 1usize..40) {
            let batches = plan(&lengths, size);
            let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
            prop_assert!(batches.iter().all(|b| b.len() <= size && !b.is_empty()));
        }
    }
}
