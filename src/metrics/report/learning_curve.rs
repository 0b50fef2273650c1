//! "How much coding is enough": the learning curve of a model trained from the project.

use maud::{Markup, html};

use super::{Page, count, fixed2, section};

pub(super) fn learning_curve(page: &Page) -> Markup {
    let Some(learning) = &page.input.learning_curve else {
        return html! {};
    };
    let curve = &learning.curve;
    let cell = |x: f64| fixed2(x).unwrap_or_else(|| "–".into());
    let body = html! {
        p {
            "How the model’s agreement with this project’s coding grew with the number of coded units it learnt from ("
            (learning.model) "). Each row trains on that many units and scores " (count(curve.held_out as u64))
            " units held out, over " (curve.repeats) " repeats; ranges are the 2.5th to 97.5th percentiles over repeats."
        }
        "\n"
        table {
            thead { tr { th { "coded units" } th { "macro-F1" } th { "range" } th { "macro κ" } th { "range" } } }
            tbody {
                @for p in &curve.points {
                    tr {
                        td { (count(p.n_train as u64)) }
                        td { (cell(p.macro_f1)) }
                        td { (cell(p.f1_interval[0])) " to " (cell(p.f1_interval[1])) }
                        td { (cell(p.macro_kappa)) }
                        td { (cell(p.kappa_interval[0])) " to " (cell(p.kappa_interval[1])) }
                    }
                }
            }
        }
        p { "Estimate: " (curve.verdict) "." }
    };
    section("learning-curve", "How much coding is enough", body)
}
