//! "At a glance": the average agreement of each level, and its closest and weakest codes.

use maud::{Markup, html};

use super::{CodeStats, Page, count, section};

pub(super) fn summary(page: &Page) -> Markup {
    let input = page.input;
    if input.levels.is_empty() {
        return html! {};
    }
    let body = html! {
        p { "Averages over all codes, each code counting equally. The closer to 1, the closer the two coders; 0 means no more agreement than chance would give. The sections below break these down by code." } "\n"
        div class="cards" {
            @for level in &input.levels {
                (card(page, level))
            }
        }
    };
    section("summary", "At a glance", body)
}

fn card(page: &Page, level: &super::LevelSection) -> Markup {
    let m = &level.macro_stats;
    let cells = [
        ("Cohen’s κ", page.stat(m.cohen_kappa)),
        ("Krippendorff’s α", page.stat(m.krippendorff_alpha)),
        ("Gwet’s AC1", page.stat(m.gwet_ac1)),
        ("% agreement", page.pct(m.percent_agreement)),
        ("F1", page.stat(m.f1)),
    ];
    let finite: Vec<&CodeStats> = level
        .per_code
        .iter()
        .filter(|s| s.cohen_kappa.is_finite())
        .collect();
    let best = finite
        .iter()
        .copied()
        .reduce(|a, b| if b.cohen_kappa > a.cohen_kappa { b } else { a });
    let worst = finite
        .iter()
        .copied()
        .reduce(|a, b| if b.cohen_kappa < a.cohen_kappa { b } else { a });
    let extremes = match (best, worst) {
        (Some(best), Some(worst)) if finite.len() > 1 => Some((best, worst)),
        _ => None,
    };
    html! {
        div class="card" {
            h3 { (level.name) }
            p class="muted" { (count(level.n_units)) " units · " (level.per_code.len()) " codes" }
            dl class="big" {
                @for (label, value) in cells {
                    div { dt { (label) } dd { (value) } }
                }
            }
            @if let Some((best, worst)) = extremes {
                p class="extremes" {
                    "Closest agreement: " span class="code" { (best.code) }
                    " (κ " (page.stat(best.cohen_kappa)) "). Weakest: "
                    span class="code" { (worst.code) }
                    " (κ " (page.stat(worst.cohen_kappa)) ")."
                }
            }
        }
    }
}
