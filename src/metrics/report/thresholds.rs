//! "How the model's threshold changes agreement": one small chart of kappa and F1 against the
//! threshold per code.

use std::fmt::Write as _;

use maud::{Markup, html};

use super::{
    Chance, F1_COLOUR, GRID, INK, Page, Shape, ThresholdCurve, ThresholdPoint, d1, marker, section,
    swatch_line, tick_label, ticks,
};

const HEADING: &str = "How the model’s threshold changes agreement";

pub(super) fn thresholds(page: &Page) -> Markup {
    let input = page.input;
    if input.threshold_curves.is_empty() {
        let body = html! {
            p { "Not shown: these curves need the candidate’s scores, and this candidate has none (a human coder, or codes imported without scores)." }
        };
        return section("thresholds", HEADING, body);
    }
    // One vertical scale for all charts, so that they can be compared at a glance.
    let lowest = input
        .threshold_curves
        .iter()
        .flat_map(|c| &c.points)
        .flat_map(|p| [p.cohen_kappa, p.f1])
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::min);
    let y_lo = ((lowest * 4.0).floor() / 4.0).max(-1.0);
    let body = html! {
        p { "The model gives each unit a score from 0 to 1 for each code and applies the code when the score reaches a threshold. A lower threshold applies the code more often, a higher one more sparingly. Each chart shows how agreement with the reference would change with the threshold; the vertical line is the threshold the model uses, chosen on held-out development data, not on these units." }
        "\n"
        div class="legend" {
            span { (swatch_line(Chance::Kappa.colour(), None, Some(Shape::Circle))) "Cohen’s κ" }
            span { (swatch_line(F1_COLOUR, Some("7 4"), Some(Shape::Triangle))) "F1" }
            span { (swatch_line(INK, Some("2 3"), None)) "the model’s threshold, with κ and F1 there" }
        }
        div class="curves" {
            @for curve in &input.threshold_curves {
                (chart(page, curve, y_lo))
            }
        }
    };
    section("thresholds", HEADING, body)
}

/// One small chart; `y_lo` is the bottom of the vertical axis (at most 0).
fn chart(page: &Page, curve: &ThresholdCurve, y_lo: f64) -> Markup {
    const WIDTH: f64 = 320.0;
    const HEIGHT: f64 = 214.0;
    const X0: f64 = 42.0;
    const X1: f64 = 306.0;
    const Y0: f64 = 26.0;
    const Y1: f64 = 172.0;
    let mut points: Vec<ThresholdPoint> = curve
        .points
        .iter()
        .copied()
        .filter(|p| p.threshold.is_finite())
        .collect();
    points.sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
    let y_step = if y_lo < -0.5 { 0.5 } else { 0.25 };
    let t_lo = points
        .first()
        .map_or(0.0, |p| f64::from(p.threshold))
        .min(0.0);
    let t_hi = points
        .last()
        .map_or(1.0, |p| f64::from(p.threshold))
        .max(1.0);
    let x = |t: f64| X0 + (t - t_lo) / (t_hi - t_lo) * (X1 - X0);
    let y = |v: f64| Y1 - (v.clamp(y_lo, 1.0) - y_lo) / (1.0 - y_lo) * (Y1 - Y0);

    let path = |get: fn(&ThresholdPoint) -> f64| {
        let mut d = String::new();
        let mut pen_down = false;
        for p in &points {
            let v = get(p);
            if v.is_finite() {
                let _ = write!(
                    d,
                    "{}{:.1} {:.1}",
                    if pen_down { "L" } else { "M" },
                    x(f64::from(p.threshold)),
                    y(v)
                );
                pen_down = true;
            } else {
                pen_down = false;
            }
        }
        d
    };
    let kappa_path = path(|p| p.cohen_kappa);
    let f1_path = path(|p| p.f1);

    // The model's threshold and the values there.
    let current = f64::from(curve.current_threshold);
    let at = interpolate(&points, current);
    let shown_current = current.is_finite() && current >= t_lo && current <= t_hi;
    let cx = x(current);
    let anchor = if cx > (X0 + X1) / 2.0 { "end" } else { "start" };
    let label_x = if anchor == "end" { cx - 4.0 } else { cx + 4.0 };

    let mut caption = String::new();
    if let Some((k, f)) = at {
        let _ = write!(
            caption,
            "At the model’s threshold ({:.2}): κ {}, F1 {}.",
            curve.current_threshold,
            page.stat_text(k),
            page.stat_text(f)
        );
    }
    let best = points.iter().filter(|p| p.cohen_kappa.is_finite()).fold(
        None::<&ThresholdPoint>,
        |best, p| match best {
            Some(b) if b.cohen_kappa >= p.cohen_kappa => Some(b),
            _ => Some(p),
        },
    );
    if let Some(b) = best {
        let _ = write!(
            caption,
            " Highest κ: {} at {:.2}.",
            page.stat_text(b.cohen_kappa),
            b.threshold
        );
    }
    if points.is_empty() {
        caption.push_str("No points.");
    }

    html! {
        figure class="curve" {
            figcaption class="curve-title" { span class="code" { (curve.code) } }
            svg width=(WIDTH) height=(HEIGHT) viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(format!("Kappa and F1 against the threshold for {}", curve.code)) {
                @for v in ticks(y_lo, 1.0, y_step) {
                    @let yy = d1(y(v));
                    line x1=(X0) y1=(yy) x2=(X1) y2=(yy) stroke=(if v == 0.0 { "#8c959f" } else { GRID }) {}
                    text x=(d1(X0 - 6.0)) y=(d1(y(v) + 4.0)) text-anchor="end" class="tick" { (tick_label(v)) }
                }
                @for t in ticks(t_lo, t_hi, (t_hi - t_lo) / 4.0) {
                    @let xx = d1(x(t));
                    line x1=(xx) y1=(Y1) x2=(xx) y2=(d1(Y1 + 4.0)) stroke="#8c959f" {}
                    text x=(xx) y=(d1(Y1 + 17.0)) text-anchor="middle" class="tick" { (tick_label(t)) }
                }
                text x=(d1((X0 + X1) / 2.0)) y=(d1(HEIGHT - 6.0)) text-anchor="middle" class="axis-title" { "threshold" }
                @if !f1_path.is_empty() {
                    path d=(f1_path) fill="none" stroke=(F1_COLOUR) stroke-width="2.5" stroke-dasharray="7 4" stroke-linejoin="round" {}
                }
                @if !kappa_path.is_empty() {
                    path d=(kappa_path) fill="none" stroke=(Chance::Kappa.colour()) stroke-width="2.5" stroke-linejoin="round" {}
                }
                @if shown_current {
                    line x1=(d1(cx)) y1=(d1(Y0 - 10.0)) x2=(d1(cx)) y2=(Y1) stroke=(INK) stroke-width="1.5" stroke-dasharray="2 3" {}
                    text x=(d1(label_x)) y=(d1(Y0 - 12.0)) text-anchor=(anchor) class="ref-label" { "model: " (format!("{:.2}", curve.current_threshold)) }
                    @if let Some((k, f)) = at {
                        @if f.is_finite() { (marker(Shape::Triangle, cx, y(f), F1_COLOUR)) }
                        @if k.is_finite() { (marker(Shape::Circle, cx, y(k), Chance::Kappa.colour())) }
                    }
                }
            }
            p class="curve-note" { (caption.trim()) }
        }
    }
}

/// Kappa and F1 at threshold `t`, interpolated linearly between the nearest points.
pub(super) fn interpolate(points: &[ThresholdPoint], t: f64) -> Option<(f64, f64)> {
    if !t.is_finite() || points.is_empty() {
        return None;
    }
    let after = points.iter().position(|p| f64::from(p.threshold) >= t);
    match after {
        Some(0) => points.first().map(|p| (p.cohen_kappa, p.f1)),
        None => points.last().map(|p| (p.cohen_kappa, p.f1)),
        Some(i) => {
            let (a, b) = (points.get(i - 1)?, points.get(i)?);
            let (ta, tb) = (f64::from(a.threshold), f64::from(b.threshold));
            let w = if tb > ta { (t - ta) / (tb - ta) } else { 0.0 };
            Some((
                a.cohen_kappa + (b.cohen_kappa - a.cohen_kappa) * w,
                a.f1 + (b.f1 - a.f1) * w,
            ))
        }
    }
}
