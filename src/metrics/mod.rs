//! Scores for a model's predictions against reference labels, agreement between coders, and
//! the HTML report of that agreement.

pub mod agreement;
pub mod classification;
pub mod report;
