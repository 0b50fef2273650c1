//! "Agreement by code" for one level: a chart of the chance-corrected statistics with their
//! 95% intervals, and a table of every statistic.

use maud::{Markup, html};

use super::{
    Chance, CodeStats, GRID, INK, LevelSection, MUTED, Page, bracketed, clip, count, d1, marker,
    section, swatch_marker, tick_label, ticks,
};

const PLOT_X0: f64 = 200.0;
const VALUE_X: f64 = 664.0;

pub(super) fn level(page: &Page, index: usize, level: &LevelSection) -> Markup {
    let any_interval = level
        .per_code
        .iter()
        .chain([&level.macro_stats])
        .any(|s| Chance::ALL.iter().any(|c| c.interval(s).is_some()));
    let body = html! {
        @if !level.description.is_empty() {
            p { (level.description) }
        }
        p class="muted" { (count(level.n_units)) " units compared." }
        @if level.per_code.is_empty() {
            p { "No code was compared at this level." }
        } @else {
            figure class="chart" {
                div class="legend" {
                    @for c in Chance::ALL {
                        span { (swatch_marker(c.shape(), c.colour())) (c.name()) " (" (c.symbol()) ")" }
                    }
                    @if any_interval {
                        span {
                            svg class="swatch" width="30" height="16" viewBox="0 0 30 16" aria-hidden="true" {
                                path d="M3 4v8M3 8h24M27 4v8" stroke=(MUTED) stroke-width="1.5" fill="none" {}
                            }
                            "95% interval"
                        }
                    }
                }
                (agreement_chart(page, level))
                figcaption {
                    "Each code’s chance-corrected agreement: a marker is the estimate"
                    @if any_interval {
                        ", the whiskers its 95% interval"
                    } @else {
                        " (no intervals were computed at this level)"
                    }
                    ". The solid line is chance (0); the dashed line is 0.8. The values are repeated on the right."
                }
            }
            (stats_table(page, level))
        }
    };
    section(
        &format!("level-{}", index + 1),
        &format!("Agreement by code: {}", level.name),
        body,
    )
}

fn agreement_chart(page: &Page, level: &LevelSection) -> Markup {
    const WIDTH: f64 = 1000.0;
    const LABEL_X: f64 = 8.0;
    const PLOT_X1: f64 = 640.0;
    const TOP: f64 = 30.0;
    const ROW: f64 = 19.0;
    const GAP: f64 = 12.0;
    const SEPARATOR: f64 = 14.0;
    const BOTTOM: f64 = 44.0;

    let mut rows: Vec<(&CodeStats, bool)> = level.per_code.iter().map(|s| (s, false)).collect();
    rows.push((&level.macro_stats, true));

    // Axis: 0..1 when nothing is negative, else -1..1.
    let negative = rows.iter().any(|(s, _)| {
        Chance::ALL.iter().any(|c| {
            let v = c.value(s);
            (v.is_finite() && v < 0.0) || c.interval(s).is_some_and(|i| i[0] < 0.0)
        })
    });
    let (lo, hi, step) = if negative {
        (-1.0, 1.0, 0.5)
    } else {
        (0.0, 1.0, 0.2)
    };
    let x = |v: f64| PLOT_X0 + (v.clamp(lo, hi) - lo) / (hi - lo) * (PLOT_X1 - PLOT_X0);

    let group = 3.0 * ROW + GAP;
    let plot_bottom = TOP + group * rows.len() as f64 + SEPARATOR;
    let height = format!("{:.0}", plot_bottom + BOTTOM);

    // Each row starts at `y`, after the separator above the average.
    let mut tops = Vec::with_capacity(rows.len());
    let mut y = TOP;
    for (_, is_macro) in &rows {
        if *is_macro {
            y += SEPARATOR;
        }
        tops.push(y);
        y += group;
    }

    let zero = x(0.0);
    let good = x(0.8);
    html! {
        svg class="agreement" width=(WIDTH) height=(height) viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(format!("Chance-corrected agreement by code, {}", level.name)) {
            // Grid and ticks.
            @for t in ticks(lo, hi, step) {
                line x1=(d1(x(t))) y1=(d1(TOP - 4.0)) x2=(d1(x(t))) y2=(d1(plot_bottom)) stroke=(GRID) {}
                text x=(d1(x(t))) y=(d1(plot_bottom + 16.0)) text-anchor="middle" class="tick" { (tick_label(t)) }
            }
            text x=(d1((PLOT_X0 + PLOT_X1) / 2.0)) y=(d1(plot_bottom + 36.0)) text-anchor="middle" class="axis-title" {
                "agreement beyond chance (1 = perfect, 0 = chance)"
            }
            // Rows.
            @for (i, ((stats, is_macro), y)) in rows.iter().zip(&tops).enumerate() {
                @let y = *y;
                @if *is_macro {
                    line x1=(LABEL_X) y1=(d1(y - SEPARATOR / 2.0)) x2=(d1(WIDTH - 8.0)) y2=(d1(y - SEPARATOR / 2.0)) stroke=(INK) stroke-width="1" {}
                } @else if i % 2 == 0 {
                    rect x="0" y=(d1(y)) width=(WIDTH) height=(d1(group)) fill="#f6f8fa" {}
                }
                @let label = if *is_macro { "Average of codes".to_string() } else { stats.code.clone() };
                @let (short, clipped) = clip(&label, 24);
                text x=(LABEL_X) y=(d1(y + group / 2.0)) class=(if *is_macro { "row-label macro" } else { "row-label" }) {
                    @if clipped { title { (label) } }
                    (short)
                }
                @for (k, c) in Chance::ALL.iter().enumerate() {
                    (statistic(page, *c, stats, &label, y + GAP / 2.0 + ROW * (k as f64 + 0.5), &x))
                }
            }
            // Reference lines on top of the rows' backgrounds.
            line x1=(d1(zero)) y1=(d1(TOP - 10.0)) x2=(d1(zero)) y2=(d1(plot_bottom)) stroke=(INK) stroke-width="1.5" {}
            text x=(d1(zero)) y=(d1(TOP - 14.0)) text-anchor=(if negative { "middle" } else { "start" }) class="ref-label" { "chance" }
            line x1=(d1(good)) y1=(d1(TOP - 10.0)) x2=(d1(good)) y2=(d1(plot_bottom)) stroke=(INK) stroke-width="1.2" stroke-dasharray="5 4" {}
            text x=(d1(good)) y=(d1(TOP - 14.0)) text-anchor="middle" class="ref-label" { "0.8" }
        }
    }
}

/// One statistic of one row of the chart: whiskers, marker and the value on the right.
fn statistic(
    page: &Page,
    c: Chance,
    stats: &CodeStats,
    label: &str,
    cy: f64,
    x: &dyn Fn(f64) -> f64,
) -> Markup {
    let v = c.value(stats);
    let interval = c.interval(stats);
    let value_text = page.stat_text(v);
    let interval_text = interval
        .map(|i| format!(" {}", bracketed(i)))
        .unwrap_or_default();
    html! {
        g {
            title {
                (c.name()) " for " (label) ": " (value_text)
                @if interval.is_some() { " (95% interval" (interval_text) ")" }
            }
            @if let Some([a, b]) = interval {
                @let (xa, xb) = (x(a), x(b));
                path d=(format!("M{xa:.1} {:.1}V{:.1}M{xa:.1} {cy:.1}H{xb:.1}M{xb:.1} {:.1}V{:.1}", cy - 4.0, cy + 4.0, cy - 4.0, cy + 4.0)) stroke=(c.colour()) stroke-width="1.6" fill="none" {}
            }
            @if v.is_finite() {
                (marker(c.shape(), x(v), cy, c.colour()))
            } @else {
                text x=(d1(PLOT_X0 + 6.0)) y=(d1(cy + 4.0)) class="na-mark" { "n/a" }
            }
            text x=(VALUE_X) y=(d1(cy + 4.5)) class="value" {
                tspan class="sym" { (c.symbol()) } " " (value_text) tspan class="ci" { (interval_text) }
            }
        }
    }
}

fn stats_table(page: &Page, level: &LevelSection) -> Markup {
    let intervals = level
        .per_code
        .iter()
        .chain([&level.macro_stats])
        .any(|s| s.intervals.is_some());
    let macro_label = if level.macro_stats.code.trim().is_empty() {
        "Average of codes"
    } else {
        level.macro_stats.code.as_str()
    };
    let columns = [
        "Code",
        "Units coded by reference",
        "Units coded by candidate",
        "% agreement",
        "Cohen’s κ",
        "Krippen\u{ad}dorff’s α",
        "Gwet’s AC1",
        "Precision",
        "Recall",
        "F1",
    ];
    html! {
        div class="scroll" {
            table class="stats" {
                caption {
                    "All statistics for " (level.name) "."
                    @if intervals { " Small grey ranges are 95% intervals." }
                    " Precision, recall and F1 treat the reference as correct."
                }
                "\n"
                thead { tr { @for c in columns { th scope="col" { (c) } } } }
                "\n"
                tbody {
                    @for s in &level.per_code {
                        (stats_row(page, s, &s.code, true))
                    }
                }
                // Supports do not average: the macro row leaves them blank.
                tfoot { (stats_row(page, &level.macro_stats, macro_label, false)) }
            }
        }
    }
}

fn stats_row(page: &Page, s: &CodeStats, label: &str, show_support: bool) -> Markup {
    let iv = s.intervals.unwrap_or_default();
    let ci = |i: Option<[f64; 2]>, as_percent: bool| -> Option<String> {
        match i {
            Some([a, b]) if a.is_finite() && b.is_finite() => Some(if as_percent {
                // Never negative: "88.8–91.2%".
                format!("{:.1}–{:.1}%", a * 100.0, b * 100.0)
            } else {
                bracketed([a, b])
            }),
            _ => None,
        }
    };
    let cells = [
        (
            page.pct(s.percent_agreement),
            ci(iv.percent_agreement, true),
        ),
        (page.stat(s.cohen_kappa), ci(iv.cohen_kappa, false)),
        (
            page.stat(s.krippendorff_alpha),
            ci(iv.krippendorff_alpha, false),
        ),
        (page.stat(s.gwet_ac1), ci(iv.gwet_ac1, false)),
        (page.stat(s.precision), ci(iv.precision, false)),
        (page.stat(s.recall), ci(iv.recall, false)),
        (page.stat(s.f1), ci(iv.f1, false)),
    ];
    html! {
        tr {
            th scope="row" { (label) }
            td { @if show_support { (count(s.support_reference)) } }
            td { @if show_support { (count(s.support_candidate)) } }
            @for (value, interval) in cells {
                td {
                    (value)
                    @if let Some(text) = interval { span class="ci" { (text) } }
                }
            }
        }
    }
}
