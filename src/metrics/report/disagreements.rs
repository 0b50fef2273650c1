//! "Where the coders disagree": the caller's top units, with their text and codes.

use maud::{Markup, html};

use super::{
    CANDIDATE_COLOUR, DisagreementRow, EXCERPT_CHARS, INK, Page, count, d1, excerpt, section,
};

pub(super) fn disagreements(page: &Page) -> Markup {
    let input = page.input;
    if input.disagreements.is_empty() {
        return html! {};
    }
    let shown = count(input.disagreements.len() as u64);
    let of_total = match input.disagreements_total {
        Some(total) if total > input.disagreements.len() as u64 => {
            format!(
                "These are {shown} of the {} units on which the coders disagree, ",
                count(total)
            )
        }
        _ => format!("These are {shown} units on which the coders disagree, "),
    };
    let scored = input.disagreements.iter().any(|d| d.scores.is_some());
    let body = html! {
        p {
            (of_total)
            @if scored {
                "starting with those on which the model was most confident. Scores run from 0 to 1; the tick on each score bar is the model’s threshold for that code"
            } @else {
                "in the order given"
            }
            ". Rows marked " span class="diff-mark" { "≠" } " are the codes on which they differ. Reading these passages is the quickest way to see whether a disagreement is the model’s error, a human slip, or a genuinely ambiguous passage that the codebook could define better."
        }
        @for (i, d) in input.disagreements.iter().enumerate() {
            (disagreement(page, i, d))
        }
    };
    section("disagreements", "Where the coders disagree", body)
}

fn code_list(codes: &[&String]) -> Markup {
    html! {
        @for (i, c) in codes.iter().enumerate() {
            @if i > 0 { " " }
            span class="code" { (c) }
        }
    }
}

fn mark(yes: bool) -> Markup {
    html! {
        @if yes {
            span class="yes" { "✓ " span class="sr" { "coded" } }
        } @else {
            span class="no" { "–" span class="sr" { " not coded" } }
        }
    }
}

fn disagreement(page: &Page, index: usize, d: &DisagreementRow) -> Markup {
    let input = page.input;
    // Codebook codes first, then any other code either coder used, in order of appearance.
    let mut codes: Vec<(&String, Option<usize>)> = input
        .codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c, Some(i)))
        .collect();
    for c in d.reference.iter().chain(&d.candidate) {
        if !codes.iter().any(|(name, _)| *name == c) {
            codes.push((c, None));
        }
    }
    let only_reference: Vec<&String> = d
        .reference
        .iter()
        .filter(|c| !d.candidate.contains(c))
        .collect();
    let only_candidate: Vec<&String> = d
        .candidate
        .iter()
        .filter(|c| !d.reference.contains(c))
        .collect();
    html! {
        article class="dis" {
            h3 { span class="rank" { (index + 1) } " " (d.unit) }
            div class="dis-body" {
                div class="dis-text" {
                    @match excerpt(&d.text, EXCERPT_CHARS) {
                        Some(short) => {
                            blockquote class="text" { (short) }
                            details {
                                summary { "Show the full text (" (count(d.text.chars().count() as u64)) " characters)" }
                                blockquote class="text full" { (d.text) }
                            }
                            p class="print-only muted" { "Shortened: the full text is in the HTML file." }
                        }
                        None => {
                            blockquote class="text" { (d.text) }
                        }
                    }
                }
                div class="dis-codes" {
                    @if !only_reference.is_empty() || !only_candidate.is_empty() {
                        p class="dis-summary" {
                            @if !only_reference.is_empty() {
                                "Only " (page.coder_tag(true)) ": " (code_list(&only_reference))
                            }
                            @if !only_reference.is_empty() && !only_candidate.is_empty() {
                                br;
                            }
                            @if !only_candidate.is_empty() {
                                "Only " (page.coder_tag(false)) ": " (code_list(&only_candidate))
                            }
                        }
                    }
                    table class="dis-table" {
                        thead {
                            tr {
                                th scope="col" { "Code" }
                                th scope="col" { "Reference" }
                                th scope="col" { "Candidate" }
                                @if d.scores.is_some() { th scope="col" { "Score" } }
                            }
                        }
                        tbody {
                            @for (name, index) in &codes {
                                @let in_reference = d.reference.contains(name);
                                @let in_candidate = d.candidate.contains(name);
                                @let differs = in_reference != in_candidate;
                                tr class=[differs.then_some("diff")] {
                                    th scope="row" {
                                        @if differs {
                                            span class="diff-mark" title="The coders differ on this code" { "≠" }
                                        } @else {
                                            span class="diff-mark blank" aria-hidden="true" { "≠" }
                                        }
                                        "\u{a0}" (name)
                                    }
                                    td { (mark(in_reference)) }
                                    td { (mark(in_candidate)) }
                                    @if let Some(scores) = &d.scores {
                                        @let score = index.and_then(|i| scores.get(i)).copied();
                                        @let threshold = input
                                            .threshold_curves
                                            .iter()
                                            .find(|c| &c.code == *name)
                                            .map(|c| c.current_threshold);
                                        td { (score_cell(page, score, threshold)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn score_cell(page: &Page, score: Option<f32>, threshold: Option<f32>) -> Markup {
    const WIDTH: f64 = 50.0;
    let Some(score) = score else {
        return html! { span class="muted" { "–" } };
    };
    if !score.is_finite() {
        return page.na();
    }
    let s = f64::from(score).clamp(0.0, 1.0);
    html! {
        span class="score" {
            (format!("{score:.2}"))
            svg width="52" height="12" viewBox="0 0 52 12" aria-hidden="true" {
                rect x="0" y="2" width=(WIDTH) height="8" fill="#eef1f4" {}
                rect x="0" y="2" width=(d1(s * WIDTH)) height="8" fill=(CANDIDATE_COLOUR) {}
                @if let Some(t) = threshold.filter(|t| t.is_finite()) {
                    @let tx = d1(f64::from(t).clamp(0.0, 1.0) * WIDTH);
                    line x1=(tx) y1="0" x2=(tx) y2="12" stroke=(INK) stroke-width="1.5" {}
                }
            }
        }
    }
}
