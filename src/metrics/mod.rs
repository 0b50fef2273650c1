//! Scores for a model's predictions against reference labels.

pub mod classification;
pub mod report;
