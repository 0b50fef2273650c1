//! "What the statistics mean": a fixed glossary.

use maud::{Markup, html};

use super::section;

pub(super) fn about() -> Markup {
    let glossary = [
        (
            "Percentage agreement",
            "The share of units on which both coders made the same decision. Easy to read, but flattering for rare codes: if a code is almost never used, two coders who both leave it out agree on nearly every unit without agreeing on the passages that matter.",
        ),
        (
            "Cohen’s kappa (κ)",
            "Agreement after removing the agreement expected by chance, given how often each coder uses the code. 1 is perfect agreement, 0 is no better than chance, below 0 is worse than chance. Kappa can be low for a rare code even when percentage agreement is high.",
        ),
        (
            "Krippendorff’s alpha (α)",
            "Also corrects for chance, using both coders’ pooled use of the code; it is the statistic most content-analysis guides ask for. Krippendorff suggests α of at least 0.8 before relying on a code, and at least 0.667 for tentative conclusions (the dashed line in the charts marks 0.8).",
        ),
        (
            "Gwet’s AC1",
            "Another chance-corrected statistic, less affected when a code is very rare or very common. When κ and α are low but AC1 is high, the code is probably rare: look at the counts and the disagreements below before concluding.",
        ),
        (
            "Precision, recall and F1",
            "These treat the reference coder as correct. Precision: of the units the candidate coded, the share the reference coded too. Recall: of the units the reference coded, the share the candidate also found. F1 combines the two (their harmonic mean).",
        ),
        (
            "95% intervals",
            "Where shown, the range of values compatible with the data, found by resampling the units many times (bootstrap). Wide intervals mean few examples: treat the point value with caution.",
        ),
    ];
    let body = html! {
        p { "Each code is compared on its own: for every unit, did each coder apply the code or not? The statistics summarise how often those yes/no decisions match." } "\n"
        dl class="glossary" {
            "\n"
            @for (term, meaning) in glossary {
                div { dt { (term) } dd { (meaning) } } "\n"
            }
        }
        "\n"
        p class="muted" { "Verbal labels such as “substantial agreement” for κ above 0.6 are conventions, not findings: report the values, the intervals and the number of units." } "\n"
    };
    section("about", "What the statistics mean", body)
}
