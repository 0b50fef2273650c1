//! The page header (title, coders, codes, units) and the table of contents.

use maud::{Markup, html};

use super::{Page, count};

pub(super) fn header(page: &Page, title: &str) -> Markup {
    let input = page.input;
    html! {
        header {
            "\n"
            p class="kicker" { "Inter-coder agreement report" } "\n"
            h1 { (title) } "\n"
            p class="lead" {
                "How far the codes of the " strong { "candidate" } ", " (page.coder_tag(false))
                ", agree with those of the " strong { "reference" } ", " (page.coder_tag(true))
                ", code by code, with the statistics used to report agreement between human coders."
            }
            "\n"
            dl class="meta" {
                @if !input.generated_at.is_empty() {
                    div { dt { "Generated" } dd { (input.generated_at) } }
                }
                @if !input.codes.is_empty() {
                    div {
                        dt { "Codes (" (input.codes.len()) ")" }
                        dd {
                            @for (i, c) in input.codes.iter().enumerate() {
                                @if i > 0 { " " }
                                span class="code" { (c) }
                            }
                        }
                    }
                }
                @if !input.levels.is_empty() {
                    div {
                        dt { "Units compared" }
                        dd {
                            @for (i, l) in input.levels.iter().enumerate() {
                                @if i > 0 { "; " }
                                (count(l.n_units)) " at " (l.name)
                            }
                        }
                    }
                }
            }
            "\n"
            @if !input.disagreements.is_empty() {
                p class="caution" {
                    strong { "Confidential:" }
                    " this report quotes passages of the transcripts. Store and share it as you would the transcripts themselves."
                }
            }
        }
    }
}

pub(super) fn contents(page: &Page) -> Markup {
    let input = page.input;
    let mut items: Vec<(String, String)> = Vec::new();
    if !input.levels.is_empty() {
        items.push(("summary".into(), "At a glance".into()));
    }
    items.push(("about".into(), "What the statistics mean".into()));
    for (i, level) in input.levels.iter().enumerate() {
        items.push((
            format!("level-{}", i + 1),
            format!("Agreement by code: {}", level.name),
        ));
    }
    if !input.cooccurrence.is_empty() {
        items.push((
            "cooccurrence".into(),
            "Which codes are used together".into(),
        ));
    }
    if !input.frequencies.is_empty() {
        items.push(("frequencies".into(), "Where the codes occur".into()));
    }
    if !input.disagreements.is_empty() {
        items.push(("disagreements".into(), "Where the coders disagree".into()));
    }
    items.push((
        "thresholds".into(),
        "How the model’s threshold changes agreement".into(),
    ));
    if input.learning_curve.is_some() {
        items.push(("learning-curve".into(), "How much coding is enough".into()));
    }
    if !input.notes.is_empty() || page.input_has_nan() {
        items.push(("notes".into(), "Notes".into()));
    }
    html! {
        nav class="toc" aria-label="Contents" {
            h2 { "Contents" }
            ol {
                @for (id, label) in &items {
                    li { a href=(format!("#{id}")) { (label) } }
                }
            }
        }
    }
}
