//! "Which codes are used together": one heatmap per coder and a table of the commonest pairs.

use maud::{Markup, html};

use super::{
    BLUES, Cooccurrence, MAX_FREQUENCY_ROWS, Page, blues, clip, count, d1, section, share,
};

pub(super) fn cooccurrence(page: &Page) -> Markup {
    let input = page.input;
    if input.cooccurrence.is_empty() {
        return html! {};
    }
    let body = html! {
        p { "Passages often combine discourses. Each grid shows, for one coder, how many units carry two codes at once. Read it across a row: a cell gives the number of units with the row’s code that also carry the column’s code, and that number as a share of all units with the row’s code. The darker the cell, the larger the share. The diagonal gives the number of units with each code and their share of all units." }
        @if let Some(example) = example(page) {
            p class="example" { (example) }
        }
        (legend(page))
        div class="heatmaps" {
            @for co in &input.cooccurrence {
                figure class="heatmap" {
                    figcaption { strong { (co.coder) } " · " (count(co.n_units)) " units" }
                    (heatmap(page, co))
                }
            }
        }
        (pairs_table(page))
    };
    section("cooccurrence", "Which codes are used together", body)
}

/// A sentence reading one cell of the first grid aloud, as a worked example.
fn example(page: &Page) -> Option<Markup> {
    let co = page.input.cooccurrence.first()?;
    let mut best: Option<(usize, usize, u64)> = None;
    for (i, row) in co.counts.iter().enumerate() {
        for (j, &n) in row.iter().enumerate() {
            if i != j && n > 0 && best.is_none_or(|(_, _, b)| n > b) {
                best = Some((i, j, n));
            }
        }
    }
    let (i, j, n) = best?;
    let total = co.counts.get(i)?.get(i).copied()?;
    Some(html! {
        "For example, " (co.coder) " coded " (count(total)) " units as "
        span class="code" { (page.code_name(i)) } "; " (count(n)) " of them (" (share(n, total))
        ") were also coded " span class="code" { (page.code_name(j)) } "."
    })
}

fn legend(page: &Page) -> Markup {
    let id = page.id("blues");
    html! {
        div class="legend" {
            svg width="262" height="40" viewBox="0 0 262 40" role="img" aria-label="Colour scale: share of the row code's units, from 0% (light) to 100% (dark)" {
                defs {
                    linearGradient id=(id) {
                        @for k in 0..BLUES.len() {
                            @let t = k as f64 / (BLUES.len() - 1) as f64;
                            stop offset=(format!("{:.0}%", t * 100.0)) stop-color=(blues(t)) {}
                        }
                    }
                }
                rect x="10" y="4" width="240" height="14" fill=(format!("url(#{id})")) stroke="#8c959f" stroke-width="0.5" {}
                text x="10" y="33" class="tick" { "0%" }
                text x="130" y="33" text-anchor="middle" class="tick" { "50%" }
                text x="250" y="33" text-anchor="end" class="tick" { "100%" }
            }
            span { "share of the row code’s units that also carry the column code" }
        }
    }
}

fn get(co: &Cooccurrence, i: usize, j: usize) -> u64 {
    co.counts
        .get(i)
        .and_then(|r| r.get(j))
        .copied()
        .unwrap_or(0)
}

fn heatmap(page: &Page, co: &Cooccurrence) -> Markup {
    // Row labels are bold 14px, at most about 9.4px a character, clipped to ROW_LABEL_CHARS.
    const ROW_LABEL_CHARS: usize = 22;
    let k = co.counts.len();
    if k == 0 {
        return html! { p class="muted" { "No counts." } };
    }
    let cell = if k <= 4 {
        110.0
    } else {
        (500.0 / k as f64).max(40.0)
    };
    // Bold 13px labels are about 8.2px a character.
    let label_chars = ((cell - 10.0) / 8.2).floor().max(3.0) as usize;
    let rotate = (0..k).any(|j| page.code_name(j).chars().count() > label_chars);
    let longest = (0..k)
        .map(|i| page.code_name(i).chars().count().min(ROW_LABEL_CHARS))
        .max()
        .unwrap_or(0);
    let left = (longest as f64 * 9.4 + 20.0).max(110.0);
    let top = if rotate { 128.0 } else { 34.0 };
    let width = format!("{:.0}", left + cell * k as f64 + 12.0);
    let height = format!("{:.0}", top + cell * k as f64 + 8.0);
    html! {
        svg width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) role="img" aria-label=(format!("Co-occurrence of codes for {}", co.coder)) {
            text x=(d1(left - 10.0)) y=(d1(top - 10.0)) text-anchor="end" class="hint" { "also coded →" }
            // Column labels.
            @for j in 0..k {
                @let name = page.code_name(j);
                @let cx = left + cell * (j as f64 + 0.5);
                @if rotate {
                    text transform=(format!("translate({cx:.1} {:.1}) rotate(-40)", top - 8.0)) class="col-label" {
                        title { (name) } (clip(&name, 20).0)
                    }
                } @else {
                    text x=(d1(cx)) y=(d1(top - 10.0)) text-anchor="middle" class="col-label" { (name) }
                }
            }
            @for i in 0..k {
                @let name = page.code_name(i);
                @let cy = top + cell * (i as f64 + 0.5);
                text x=(d1(left - 10.0)) y=(d1(cy + 5.0)) text-anchor="end" class="row-label" {
                    title { (name) } (clip(&name, ROW_LABEL_CHARS).0)
                }
                @for j in 0..k {
                    (heatmap_cell(page, co, i, j, &name, [left, top, cell]))
                }
            }
        }
    }
}

/// Cell (i, j) of a heatmap whose grid starts at (`left`, `top`) with square cells of `cell`.
fn heatmap_cell(
    page: &Page,
    co: &Cooccurrence,
    i: usize,
    j: usize,
    name: &str,
    [left, top, cell]: [f64; 3],
) -> Markup {
    let row_total = get(co, i, i);
    let n = get(co, i, j);
    let (x0, y0) = (left + cell * j as f64, top + cell * i as f64);
    let (cx, cy) = (x0 + cell / 2.0, y0 + cell / 2.0);
    let (count_size, share_size) = if cell >= 70.0 { (17, 13) } else { (12, 10) };
    let diagonal = i == j;
    let (fill, ratio_text, tip) = if diagonal {
        (
            "#eceff2".to_string(),
            format!("{} of all", share(n, co.n_units)),
            format!(
                "{} units coded {} ({} of all units)",
                count(n),
                name,
                share(n, co.n_units)
            ),
        )
    } else if row_total == 0 {
        (
            "#ffffff".to_string(),
            "–".to_string(),
            format!("No unit coded {name}"),
        )
    } else {
        let r = n as f64 / row_total as f64;
        (
            blues(r),
            share(n, row_total),
            format!(
                "{} of the {} units coded {} ({}) are also coded {}",
                count(n),
                count(row_total),
                name,
                share(n, row_total),
                page.code_name(j)
            ),
        )
    };
    let dark = !diagonal && row_total > 0 && (n as f64 / row_total as f64) > 0.5;
    let text_class = if dark {
        "cell-text on-dark"
    } else {
        "cell-text"
    };
    let (stroke, dash) = if diagonal {
        ("#8c959f", Some("3 3"))
    } else {
        ("#ffffff", None)
    };
    html! {
        g {
            title { (tip) }
            rect x=(d1(x0)) y=(d1(y0)) width=(d1(cell)) height=(d1(cell)) fill=(fill) stroke=(stroke) stroke-dasharray=[dash] stroke-width="2" {}
            text x=(d1(cx)) y=(d1(cy - 2.0)) text-anchor="middle" class=(text_class) font-size=(count_size) font-weight="700" { (count(n)) }
            text x=(d1(cx)) y=(d1(cy + share_size as f64 + 3.0)) text-anchor="middle" class=(text_class) font-size=(share_size) { (ratio_text) }
        }
    }
}

/// Pairs of codes and how many units each coder gave both.
fn pairs_table(page: &Page) -> Markup {
    let input = page.input;
    let k = input
        .cooccurrence
        .iter()
        .map(|c| c.counts.len())
        .max()
        .unwrap_or(0);
    if k < 2 {
        return html! {};
    }
    let mut pairs: Vec<(usize, usize, u64)> = Vec::new();
    for i in 0..k {
        for j in i + 1..k {
            let most = input
                .cooccurrence
                .iter()
                .map(|co| get(co, i, j))
                .max()
                .unwrap_or(0);
            pairs.push((i, j, most));
        }
    }
    pairs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    html! {
        div class="scroll" {
            table class="pairs" {
                caption { "Pairs of codes, most frequent first: units carrying both codes, and their share of all units." }
                thead {
                    tr {
                        th scope="col" { "Codes used together" }
                        @for co in &input.cooccurrence { th scope="col" { (co.coder) } }
                    }
                }
                tbody {
                    @for &(i, j, _) in pairs.iter().take(MAX_FREQUENCY_ROWS) {
                        tr {
                            th scope="row" {
                                span class="code" { (page.code_name(i)) } " + " span class="code" { (page.code_name(j)) }
                            }
                            @for co in &input.cooccurrence {
                                @let n = get(co, i, j);
                                td { (count(n)) " " span class="ci-inline" { "(" (share(n, co.n_units)) ")" } }
                            }
                        }
                    }
                }
            }
        }
        @if pairs.len() > MAX_FREQUENCY_ROWS {
            p class="muted" { (pairs.len() - MAX_FREQUENCY_ROWS) " less frequent pairs are not listed." }
        }
    }
}
