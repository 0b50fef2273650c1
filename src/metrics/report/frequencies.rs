//! "Where the codes occur": code counts of both coders by speaker or by a metadata field.

use maud::{Markup, html};

use super::{
    CANDIDATE_COLOUR, FrequencyRow, FrequencyTable, MAX_FREQUENCY_ROWS, Page, REFERENCE_COLOUR,
    count, d1, section, share, swatch_bar,
};

pub(super) fn frequencies(page: &Page) -> Markup {
    let input = page.input;
    if input.frequencies.is_empty() {
        return html! {};
    }
    let body = html! {
        p {
            "How often each coder applied each code, broken down by speaker or by a field of the transcripts’ metadata. The top bar is the reference ("
            (page.coder_tag(true)) "), the bottom bar the candidate (" (page.coder_tag(false))
            "); a full-width bar would mean every unit of that row carries the code. Numbers are unit counts."
        }
        "\n"
        div class="legend" {
            span { (swatch_bar(REFERENCE_COLOUR)) (page.coder_tag(true)) }
            span { (swatch_bar(CANDIDATE_COLOUR)) (page.coder_tag(false)) }
        }
        @for table in &input.frequencies {
            (frequency_table(page, table))
        }
    };
    section("frequencies", "Where the codes occur", body)
}

/// How a row of a frequency table is labelled.
enum Label<'a> {
    Value(&'a str),
    Other(usize),
    All,
}

fn frequency_table(page: &Page, table: &FrequencyTable) -> Markup {
    let k = page.input.codes.len().max(
        table
            .rows
            .iter()
            .map(|r| r.reference.len().max(r.candidate.len()))
            .max()
            .unwrap_or(0),
    );
    if table.rows.is_empty() {
        return html! {
            h3 { "By " (table.by) }
            p class="muted" { "No units." }
        };
    }
    let mut rows: Vec<&FrequencyRow> = table.rows.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.n_units));
    let folded = rows.len().saturating_sub(MAX_FREQUENCY_ROWS);
    let shown = &rows[..rows.len().min(MAX_FREQUENCY_ROWS)];
    let sum = |rs: &[&FrequencyRow]| {
        let mut total = FrequencyRow {
            value: String::new(),
            n_units: 0,
            reference: vec![0; k],
            candidate: vec![0; k],
        };
        for r in rs {
            total.n_units += r.n_units;
            for c in 0..k {
                total.reference[c] += r.reference.get(c).copied().unwrap_or(0);
                total.candidate[c] += r.candidate.get(c).copied().unwrap_or(0);
            }
        }
        total
    };
    html! {
        h3 { "By " (table.by) }
        div class="scroll" {
            table class="freq" {
                @if folded > 0 {
                    caption { "The " (MAX_FREQUENCY_ROWS) " values with the most units; the other " (folded) " are folded into the last row." }
                }
                thead {
                    tr {
                        th scope="col" { (table.by) }
                        th scope="col" { "Units" }
                        @for c in 0..k {
                            th scope="col" class="bars-col" { span class="code" { (page.code_name(c)) } }
                        }
                    }
                }
                tbody {
                    @for row in shown {
                        (frequency_row(page, Label::Value(&row.value), row, k))
                    }
                    @if folded > 0 {
                        (frequency_row(page, Label::Other(folded), &sum(&rows[MAX_FREQUENCY_ROWS..]), k))
                    }
                }
                tfoot { (frequency_row(page, Label::All, &sum(&rows), k)) }
            }
        }
    }
}

fn frequency_row(page: &Page, label: Label, row: &FrequencyRow, k: usize) -> Markup {
    let reference_name = &page.input.reference_name;
    let candidate_name = &page.input.candidate_name;
    // Shorter bars when there are many codes, so that the table fits the page.
    let bar_len: f64 = if k <= 4 { 90.0 } else { 56.0 };
    let svg_w = bar_len + 54.0;
    let num_x = bar_len + 6.0;
    let bar = |n: u64| {
        if row.n_units == 0 {
            0.0
        } else {
            (n as f64 / row.n_units as f64).min(1.0) * bar_len
        }
    };
    html! {
        tr {
            th scope="row" {
                @match label {
                    Label::Value(v) => { (v) }
                    Label::Other(n) => { em { "other (" (n) " value" @if n != 1 { "s" } ")" } }
                    Label::All => { "All" }
                }
            }
            td { (count(row.n_units)) }
            @for c in 0..k {
                @let r = row.reference.get(c).copied().unwrap_or(0);
                @let d = row.candidate.get(c).copied().unwrap_or(0);
                td class="bars" {
                    svg width=(svg_w) height="34" viewBox=(format!("0 0 {svg_w} 34")) role="img" {
                        title {
                            (page.code_name(c)) ": " (reference_name) " " (count(r)) " of " (count(row.n_units))
                            " units (" (share(r, row.n_units)) "); " (candidate_name) " " (count(d))
                            " (" (share(d, row.n_units)) ")"
                        }
                        rect x="0" y="3" width=(bar_len) height="12" fill="#eef1f4" {}
                        rect x="0" y="3" width=(d1(bar(r))) height="12" fill=(REFERENCE_COLOUR) {}
                        text x=(num_x) y="13" class="bar-num" { (count(r)) }
                        rect x="0" y="19" width=(bar_len) height="12" fill="#eef1f4" {}
                        rect x="0" y="19" width=(d1(bar(d))) height="12" fill=(CANDIDATE_COLOUR) {}
                        text x=(num_x) y="29" class="bar-num" { (count(d)) }
                    }
                }
            }
        }
    }
}
