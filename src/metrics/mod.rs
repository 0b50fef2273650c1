//! Scores for a model's predictions against reference labels, and agreement between coders.

pub mod agreement;
pub mod classification;
