//! The agreement report: the page `discotag agree --report FILE.html` writes.
//!
//! [`render`] turns plain data ([`ReportInput`], computed by the agreement statistics and the
//! `agree` command) into ONE self-contained HTML file for qualitative researchers: inline CSS,
//! inline SVG charts drawn here, no JavaScript, no fonts, images or anything else loaded from
//! anywhere, so the file can be opened offline, shared and printed. A Content-Security-Policy
//! in the page forbids scripts and remote loads as a second line of defence.
//!
//! Sections, each omitted when it has no data: at a glance (average agreement per level), what
//! the statistics mean, agreement by code per level (chart with 95% intervals and a table),
//! codes used together (one co-occurrence heatmap per coder), where codes occur (counts by
//! speaker or a metadata field), where the coders disagree (the caller's top units, with the
//! text), how the model's threshold changes agreement (kappa and F1 curves), notes.
//!
//! The markup is written with maud's `html!` templates, one module per section. Every string
//! that comes from data (transcript text, code names, speakers, metadata values, coder names)
//! is escaped for HTML and SVG by maud; control characters are first replaced by U+FFFD
//! (`sanitised`). Only the constant CSS is spliced in unescaped. Undefined statistics (NaN) are shown as "n/a"
//! with an explanation, never as "NaN". The output depends only on the input: the same input
//! gives the same bytes.
//!
//! Colours come from the Okabe–Ito palette (safe for the common colour-vision deficiencies),
//! and every colour is paired with a shape, a dash pattern, a position or a label, so the page
//! also reads in greyscale print.

use serde::Serialize;

/// Most values shown in one frequency table; the rest are folded into one "other" row.
pub const MAX_FREQUENCY_ROWS: usize = 15;

/// Characters of a disagreement's text shown before the full text is folded away.
pub const EXCERPT_CHARS: usize = 320;

/// Everything the report shows. Plain data: build it, then call [`render`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportInput {
    /// Page title, e.g. "Agreement: discotag model vs coder A".
    pub title: String,
    /// When the comparison was made, as the caller wants it printed (the report never reads
    /// the clock, so that the same input gives the same file).
    pub generated_at: String,
    /// The reference coder (usually a human), e.g. "Coder A" or a file name.
    pub reference_name: String,
    /// The candidate coder (the model, or a second human).
    pub candidate_name: String,
    /// The codebook's codes, in codebook order: the order of co-occurrence rows and columns,
    /// frequency columns and disagreement scores.
    pub codes: Vec<String>,
    /// One section per level of comparison (segment level, character level...).
    pub levels: Vec<LevelSection>,
    /// One co-occurrence matrix per coder.
    pub cooccurrence: Vec<Cooccurrence>,
    /// Code counts broken down by speaker or by a metadata field, one table each.
    pub frequencies: Vec<FrequencyTable>,
    /// The units shown as disagreements, in the order to show them (most confident first).
    pub disagreements: Vec<DisagreementRow>,
    /// How many units the coders disagree on in total, if known (to say "10 of 57").
    pub disagreements_total: Option<u64>,
    /// Kappa and F1 against the candidate's threshold, one curve per code; empty when the
    /// candidate has no scores.
    pub threshold_curves: Vec<ThresholdCurve>,
    /// The learning curve of the model, when it was trained from the compared project.
    pub learning_curve: Option<LearningCurveSection>,
    /// Free-text notes printed at the end (data caveats, unmatched units, options used).
    pub notes: Vec<String>,
}

/// A model's learning curve on the project it was trained from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningCurveSection {
    /// The model and the project, as shown, e.g. "models/study, trained from study.qdpx".
    pub model: String,
    pub curve: crate::train::curve::Curve,
}

/// Agreement at one level of comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LevelSection {
    /// Short name used in headings, e.g. "segment level" or "character level (NVivo)".
    pub name: String,
    /// One or two sentences saying what a unit is at this level.
    pub description: String,
    /// Number of units compared.
    pub n_units: u64,
    /// Statistics per code, in the order to show them (normally codebook order).
    pub per_code: Vec<CodeStats>,
    /// The mean over codes of each statistic (each code counts equally); `code` is its label.
    pub macro_stats: CodeStats,
}

/// Agreement statistics for one code (or their average). Any value may be NaN when it is
/// undefined (for example kappa when both coders never use the code); it is shown as "n/a".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CodeStats {
    /// The code name (or a label such as "average of codes" for the macro row).
    pub code: String,
    /// Proportion of units on which both coders made the same decision, from 0 to 1.
    pub percent_agreement: f64,
    /// Cohen's kappa.
    pub cohen_kappa: f64,
    /// Krippendorff's alpha (nominal).
    pub krippendorff_alpha: f64,
    /// Gwet's AC1.
    pub gwet_ac1: f64,
    /// Precision of the candidate against the reference.
    pub precision: f64,
    /// Recall of the candidate against the reference.
    pub recall: f64,
    /// F1 of the candidate against the reference.
    pub f1: f64,
    /// Units the reference coder gave this code.
    pub support_reference: u64,
    /// Units the candidate coder gave this code.
    pub support_candidate: u64,
    /// 95% intervals (bootstrap over units), when computed.
    pub intervals: Option<Intervals>,
}

/// 95% intervals `[low, high]` for the statistics of a [`CodeStats`]; `None` where not
/// computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Intervals {
    pub percent_agreement: Option<[f64; 2]>,
    pub cohen_kappa: Option<[f64; 2]>,
    pub krippendorff_alpha: Option<[f64; 2]>,
    pub gwet_ac1: Option<[f64; 2]>,
    pub precision: Option<[f64; 2]>,
    pub recall: Option<[f64; 2]>,
    pub f1: Option<[f64; 2]>,
}

/// Which codes one coder applies together.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cooccurrence {
    /// The coder's name.
    pub coder: String,
    /// Code × code counts in codebook order: `counts[i][j]` is the number of units carrying
    /// both code i and code j; the diagonal is the number of units carrying code i.
    pub counts: Vec<Vec<u64>>,
    /// Number of units coded (with or without codes).
    pub n_units: u64,
}

/// Code counts of both coders broken down by one variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FrequencyTable {
    /// The variable: "speaker", or a metadata field such as "site".
    pub by: String,
    /// One row per value of the variable, in any order (the report sorts by `n_units`).
    pub rows: Vec<FrequencyRow>,
}

/// Code counts for one value of a [`FrequencyTable`]'s variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FrequencyRow {
    /// The value, e.g. a speaker's name or a site.
    pub value: String,
    /// Units with this value.
    pub n_units: u64,
    /// Per code (codebook order): units the reference coder gave the code.
    pub reference: Vec<u64>,
    /// Per code (codebook order): units the candidate coder gave the code.
    pub candidate: Vec<u64>,
}

/// One unit on which the coders disagree.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DisagreementRow {
    /// Where the unit is: its id, or source and offsets.
    pub unit: String,
    /// The unit's text.
    pub text: String,
    /// Codes the reference coder gave.
    pub reference: Vec<String>,
    /// Codes the candidate coder gave.
    pub candidate: Vec<String>,
    /// The candidate's score per code, in codebook order, when it has scores.
    pub scores: Option<Vec<f32>>,
}

/// Agreement of one code as the candidate's threshold varies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ThresholdCurve {
    /// The code.
    pub code: String,
    /// Points of the curve, in any order.
    pub points: Vec<ThresholdPoint>,
    /// The threshold the model uses (calibrated on dev data).
    pub current_threshold: f32,
}

/// One point of a [`ThresholdCurve`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ThresholdPoint {
    pub threshold: f32,
    pub cohen_kappa: f64,
    pub f1: f64,
}

mod about;
mod cooccurrence;
mod disagreements;
mod frequencies;
mod header;
mod learning_curve;
mod level;
mod notes;
mod summary;
mod thresholds;

#[cfg(test)]
mod tests;

use std::cell::Cell;

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Renders the report as one self-contained HTML document.
pub fn render(input: &ReportInput) -> String {
    let input = sanitised(input);
    let page = Page {
        input: &input,
        na_used: Cell::new(false),
        next_id: Cell::new(0),
    };
    let mut out = page.document().into_string();
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

/// `s` with control characters other than tab and line breaks replaced by U+FFFD (they are
/// not allowed in XML, so not in inline SVG). maud escapes the result for HTML.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' | '\r' => c,
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn clean_all(v: &[String]) -> Vec<String> {
    v.iter().map(|s| clean(s)).collect()
}

/// A copy of the input with every string passed through [`clean`], so that no template can
/// forget it.
fn sanitised(input: &ReportInput) -> ReportInput {
    let stats = |s: &CodeStats| CodeStats {
        code: clean(&s.code),
        ..s.clone()
    };
    ReportInput {
        title: clean(&input.title),
        generated_at: clean(&input.generated_at),
        reference_name: clean(&input.reference_name),
        candidate_name: clean(&input.candidate_name),
        codes: clean_all(&input.codes),
        levels: input
            .levels
            .iter()
            .map(|l| LevelSection {
                name: clean(&l.name),
                description: clean(&l.description),
                n_units: l.n_units,
                per_code: l.per_code.iter().map(stats).collect(),
                macro_stats: stats(&l.macro_stats),
            })
            .collect(),
        cooccurrence: input
            .cooccurrence
            .iter()
            .map(|c| Cooccurrence {
                coder: clean(&c.coder),
                ..c.clone()
            })
            .collect(),
        frequencies: input
            .frequencies
            .iter()
            .map(|t| FrequencyTable {
                by: clean(&t.by),
                rows: t
                    .rows
                    .iter()
                    .map(|r| FrequencyRow {
                        value: clean(&r.value),
                        ..r.clone()
                    })
                    .collect(),
            })
            .collect(),
        disagreements: input
            .disagreements
            .iter()
            .map(|d| DisagreementRow {
                unit: clean(&d.unit),
                text: clean(&d.text),
                reference: clean_all(&d.reference),
                candidate: clean_all(&d.candidate),
                scores: d.scores.clone(),
            })
            .collect(),
        disagreements_total: input.disagreements_total,
        threshold_curves: input
            .threshold_curves
            .iter()
            .map(|c| ThresholdCurve {
                code: clean(&c.code),
                ..c.clone()
            })
            .collect(),
        learning_curve: input.learning_curve.as_ref().map(|s| {
            let mut s = s.clone();
            s.model = clean(&s.model);
            s.curve.verdict = clean(&s.curve.verdict);
            s
        }),
        notes: clean_all(&input.notes),
    }
}

/// A number with one decimal, as SVG coordinates are written.
fn d1(x: f64) -> String {
    format!("{x:.1}")
}

/// A statistic with two decimals, or `None` when undefined.
fn fixed2(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let s = format!("{x:.2}");
    Some(if s == "-0.00" { "0.00".to_string() } else { s })
}

/// A defined statistic with two decimals and a typographic minus; empty when undefined.
fn signed2(x: f64) -> String {
    fixed2(x).unwrap_or_default().replace('-', "−")
}

/// A 95% interval as "[low, high]" with typographic minus signs.
fn bracketed([a, b]: [f64; 2]) -> String {
    format!("[{}, {}]", signed2(a), signed2(b))
}

/// A proportion as a percentage with one decimal, or `None` when undefined.
fn percent(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let s = format!("{:.1}%", x * 100.0);
    Some(if s == "-0.0%" { "0.0%".to_string() } else { s })
}

/// A share `part / whole` as a whole percentage ("35%"), or "–" when `whole` is 0.
fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_string()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

/// A count with thousands separators.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The first `max` characters of `s` with an ellipsis, and whether it was cut.
fn clip(s: &str, max: usize) -> (String, bool) {
    if s.chars().count() <= max {
        (s.to_string(), false)
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        (format!("{}…", cut.trim_end()), true)
    }
}

/// The opening of a long text, cut at a word boundary, or `None` when the text is short.
fn excerpt(text: &str, max: usize) -> Option<String> {
    if text.chars().count() <= max {
        return None;
    }
    let cut: String = text.chars().take(max).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(i) if i > cut.len() / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    Some(format!("{} …", at_word.trim_end()))
}

/// `lo, lo + step, ..., hi` without accumulating rounding errors.
fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let n = ((hi - lo) / step).round().max(0.0) as usize;
    (0..=n).map(|i| lo + step * i as f64).collect()
}

/// A tick label: "0", "0.5", "-1", "0.25".
fn tick_label(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.replace('-', "−")
    }
}

// ---------------------------------------------------------------------------------------------
// Palette and markers
// ---------------------------------------------------------------------------------------------

const INK: &str = "#1f2328";
const MUTED: &str = "#59636e";
const GRID: &str = "#e1e4e8";
const REFERENCE_COLOUR: &str = "#3d3d3d";
const CANDIDATE_COLOUR: &str = "#e69f00";
const F1_COLOUR: &str = "#cc79a7";
/// Sequential blues (ColorBrewer "Blues"), light to dark, for the co-occurrence heatmaps.
const BLUES: [[u8; 3]; 5] = [
    [0xf7, 0xfb, 0xff],
    [0xc6, 0xdb, 0xef],
    [0x6b, 0xae, 0xd6],
    [0x21, 0x71, 0xb5],
    [0x08, 0x30, 0x6b],
];

/// A colour of the blues scale for `t` in 0..=1.
fn blues(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (BLUES.len() - 1) as f64;
    let i = (pos.floor() as usize).min(BLUES.len() - 2);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a[0], b[0]),
        mix(a[1], b[1]),
        mix(a[2], b[2])
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Circle,
    Square,
    Diamond,
    Triangle,
}

/// An SVG marker centred on (x, y). SVG elements are closed explicitly (`<circle></circle>`):
/// the HTML parser does not treat them as void.
fn marker(shape: Shape, x: f64, y: f64, colour: &str) -> Markup {
    let points = |p: &[(f64, f64)]| {
        p.iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        @match shape {
            Shape::Circle => {
                circle cx=(d1(x)) cy=(d1(y)) r="5" fill=(colour) stroke="#fff" stroke-width="1" {}
            }
            Shape::Square => {
                rect x=(d1(x - 4.5)) y=(d1(y - 4.5)) width="9" height="9" fill=(colour) stroke="#fff" stroke-width="1" {}
            }
            Shape::Diamond => {
                polygon points=(points(&[(x, y - 6.5), (x + 6.5, y), (x, y + 6.5), (x - 6.5, y)])) fill=(colour) stroke="#fff" stroke-width="1" {}
            }
            Shape::Triangle => {
                polygon points=(points(&[(x, y - 6.0), (x + 6.0, y + 4.5), (x - 6.0, y + 4.5)])) fill=(colour) stroke="#fff" stroke-width="1" {}
            }
        }
    }
}

/// A marker alone in a small inline SVG, for legends.
fn swatch_marker(shape: Shape, colour: &str) -> Markup {
    html! {
        svg class="swatch" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" {
            (marker(shape, 8.0, 8.0, colour))
        }
    }
}

/// A line sample in a small inline SVG, for legends.
fn swatch_line(colour: &str, dash: Option<&str>, shape: Option<Shape>) -> Markup {
    html! {
        svg class="swatch" width="30" height="16" viewBox="0 0 30 16" aria-hidden="true" {
            line x1="2" y1="8" x2="28" y2="8" stroke=(colour) stroke-width="2.5" stroke-dasharray=[dash] {}
            @if let Some(s) = shape {
                (marker(s, 15.0, 8.0, colour))
            }
        }
    }
}

/// A filled bar sample in a small inline SVG, for legends.
fn swatch_bar(colour: &str) -> Markup {
    html! {
        svg class="swatch" width="22" height="16" viewBox="0 0 22 16" aria-hidden="true" {
            rect x="1" y="4" width="20" height="9" fill=(colour) {}
        }
    }
}

/// The chance-corrected statistics drawn in the per-code chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chance {
    Kappa,
    Alpha,
    Ac1,
}

impl Chance {
    const ALL: [Chance; 3] = [Chance::Kappa, Chance::Alpha, Chance::Ac1];

    fn value(self, s: &CodeStats) -> f64 {
        match self {
            Chance::Kappa => s.cohen_kappa,
            Chance::Alpha => s.krippendorff_alpha,
            Chance::Ac1 => s.gwet_ac1,
        }
    }

    fn interval(self, s: &CodeStats) -> Option<[f64; 2]> {
        let i = s.intervals.as_ref()?;
        let v = match self {
            Chance::Kappa => i.cohen_kappa,
            Chance::Alpha => i.krippendorff_alpha,
            Chance::Ac1 => i.gwet_ac1,
        }?;
        (v[0].is_finite() && v[1].is_finite()).then_some(v)
    }

    fn name(self) -> &'static str {
        match self {
            Chance::Kappa => "Cohen’s kappa",
            Chance::Alpha => "Krippendorff’s alpha",
            Chance::Ac1 => "Gwet’s AC1",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Chance::Kappa => "κ",
            Chance::Alpha => "α",
            Chance::Ac1 => "AC1",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Chance::Kappa => "#0072b2",
            Chance::Alpha => "#d55e00",
            Chance::Ac1 => "#009e73",
        }
    }

    fn shape(self) -> Shape {
        match self {
            Chance::Kappa => Shape::Circle,
            Chance::Alpha => Shape::Square,
            Chance::Ac1 => Shape::Diamond,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

/// The input being rendered and the little state the sections share.
struct Page<'a> {
    input: &'a ReportInput,
    /// Whether any "n/a" was printed, so that the explanation is added at the end.
    na_used: Cell<bool>,
    /// Counter for ids that must be unique in the document (SVG gradients, anchors).
    next_id: Cell<usize>,
}

const NA_TITLE: &str = "Not defined for this code: see “n/a” in the notes at the end.";

/// One section of the page: its anchor (`id`, the target of the contents), its heading and
/// its body, then a line break.
fn section(id: &str, heading: &str, body: Markup) -> Markup {
    html! {
        section id=(id) {
            h2 { (heading) } "\n"
            (body)
        }
        "\n"
    }
}

impl Page<'_> {
    fn id(&self, prefix: &str) -> String {
        self.next_id.set(self.next_id.get() + 1);
        format!("{prefix}-{}", self.next_id.get())
    }

    /// A statistic for HTML: two decimals, or "n/a" with an explanation.
    fn stat(&self, x: f64) -> Markup {
        match fixed2(x) {
            Some(s) => html! { (s.replace('-', "−")) },
            None => self.na(),
        }
    }

    fn pct(&self, x: f64) -> Markup {
        match percent(x) {
            Some(s) => html! { (s) },
            None => self.na(),
        }
    }

    fn na(&self) -> Markup {
        self.na_used.set(true);
        html! { abbr class="na" title=(NA_TITLE) { "n/a" } }
    }

    /// Plain-text statistic (for SVG titles and captions).
    fn stat_text(&self, x: f64) -> String {
        match fixed2(x) {
            Some(s) => s.replace('-', "−"),
            None => {
                self.na_used.set(true);
                "n/a".to_string()
            }
        }
    }

    fn code_name(&self, i: usize) -> String {
        self.input
            .codes
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("code {}", i + 1))
    }

    /// A coder's name with the colour used for that coder in bar charts.
    fn coder_tag(&self, reference: bool) -> Markup {
        let (name, class) = if reference {
            (&self.input.reference_name, "coder ref")
        } else {
            (&self.input.candidate_name, "coder cand")
        };
        let fallback = if reference { "reference" } else { "candidate" };
        let name = if name.trim().is_empty() {
            fallback
        } else {
            name
        };
        html! { span class=(class) { (name) } }
    }

    /// Whether any statistic is undefined (so the notes section will exist).
    fn input_has_nan(&self) -> bool {
        let bad = |s: &CodeStats| {
            [
                s.percent_agreement,
                s.cohen_kappa,
                s.krippendorff_alpha,
                s.gwet_ac1,
                s.precision,
                s.recall,
                s.f1,
            ]
            .iter()
            .any(|x| !x.is_finite())
        };
        self.input
            .levels
            .iter()
            .any(|l| bad(&l.macro_stats) || l.per_code.iter().any(bad))
            || self.input.threshold_curves.iter().any(|c| {
                c.points
                    .iter()
                    .any(|p| !p.cohen_kappa.is_finite() || !p.f1.is_finite())
            })
    }

    /// The whole document; the sections are rendered in page order, so that the notes at the
    /// end know whether an "n/a" was printed.
    fn document(&self) -> Markup {
        let input = self.input;
        let title = if input.title.trim().is_empty() {
            "Agreement report"
        } else {
            input.title.as_str()
        };
        let version = env!("CARGO_PKG_VERSION");
        html! {
            (DOCTYPE) "\n"
            html lang="en" {
                "\n"
                head {
                    "\n"
                    meta charset="utf-8"; "\n"
                    meta name="viewport" content="width=device-width, initial-scale=1"; "\n"
                    meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"; "\n"
                    meta name="generator" content=(format!("discotag {version}")); "\n"
                    title { (title) } "\n"
                    style { (PreEscaped(CSS)) } "\n"
                }
                "\n"
                body {
                    "\n"
                    main {
                        "\n"
                        (header::header(self, title)) "\n"
                        (header::contents(self)) "\n"
                        (summary::summary(self))
                        (about::about())
                        @for (i, level) in input.levels.iter().enumerate() {
                            (level::level(self, i, level))
                        }
                        (cooccurrence::cooccurrence(self))
                        (frequencies::frequencies(self))
                        (disagreements::disagreements(self))
                        (thresholds::thresholds(self))
                        (learning_curve::learning_curve(self))
                        (notes::notes(self))
                        footer {
                            p { "Made by discotag " (version) ". This file is self-contained: it loads nothing from the network and can be shared, archived or printed as it is." }
                        }
                        "\n"
                    }
                    "\n"
                }
                "\n"
            }
        }
    }
}

const CSS: &str = r#"
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --rule: #d0d7de; --soft: #f6f8fa; --diff: #fff4d6; --ref: #3d3d3d; --cand: #e69f00; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--ink); font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", "Helvetica Neue", Arial, sans-serif; font-size: 16px; line-height: 1.55; }
main { max-width: 1080px; margin: 0 auto; padding: 36px 32px 56px; }
h1 { font-size: 2rem; line-height: 1.2; margin: 0.1rem 0 0.6rem; }
h2 { font-size: 1.45rem; line-height: 1.25; margin: 2.8rem 0 0.7rem; padding-top: 0.9rem; border-top: 3px solid var(--ink); }
h3 { font-size: 1.1rem; margin: 1.8rem 0 0.5rem; }
p { margin: 0.5rem 0 0.8rem; max-width: 76ch; }
a { color: #0b5cad; }
strong { font-weight: 650; }
.kicker { text-transform: uppercase; letter-spacing: 0.08em; font-size: 0.8rem; font-weight: 600; color: var(--muted); margin: 0; }
.lead { font-size: 1.1rem; color: #353c44; }
.muted { color: var(--muted); }
.meta { display: flex; flex-wrap: wrap; gap: 0.4rem 2rem; margin: 1rem 0; font-size: 0.95rem; }
.meta dt { font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); font-weight: 600; }
.meta dd { margin: 0; }
.code { display: inline-block; padding: 0 0.45em; border: 1px solid #b7c0ca; border-radius: 0.3em; background: #fff; font-weight: 600; font-size: 0.92em; line-height: 1.5; overflow-wrap: break-word; max-width: 100%; }
.coder { font-weight: 650; border-bottom: 3px solid var(--ref); }
.coder.cand { border-bottom-color: var(--cand); }
.caution { border-left: 4px solid #d55e00; background: #fdf1ea; padding: 0.5rem 0.9rem; font-size: 0.95rem; }
.toc { margin: 1.5rem 0; padding: 0.6rem 1.2rem 0.8rem; background: var(--soft); border-radius: 8px; }
.toc h2 { font-size: 1rem; border: 0; margin: 0.3rem 0; padding: 0; }
.toc ol { margin: 0; padding-left: 1.4rem; columns: 2 22rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 18px; }
.card { border: 1px solid var(--rule); border-radius: 10px; padding: 0.3rem 1.2rem 0.6rem; background: var(--soft); }
.card h3 { margin: 0.8rem 0 0; }
.card h3::first-letter { text-transform: uppercase; }
.card .muted { margin: 0 0 0.6rem; font-size: 0.9rem; }
.big { display: grid; grid-template-columns: repeat(5, auto); gap: 0.2rem 1.2rem; margin: 0.3rem 0 0.6rem; }
.big dt { font-size: 0.78rem; color: var(--muted); line-height: 1.2; }
.big dd { margin: 0; font-size: 1.45rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.extremes { font-size: 0.92rem; margin: 0.3rem 0; }
.glossary { display: grid; grid-template-columns: repeat(auto-fit, minmax(400px, 1fr)); gap: 0 2.2rem; }
.glossary div { margin: 0.6rem 0; }
.glossary dt { font-weight: 650; }
.glossary dd { margin: 0.1rem 0 0; max-width: 76ch; }
figure { margin: 1rem 0 1.4rem; }
figcaption { font-size: 0.92rem; color: var(--muted); max-width: 76ch; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem 1.4rem; font-size: 0.92rem; color: #353c44; margin: 0.6rem 0; }
.legend span { display: inline-flex; align-items: center; gap: 0.4rem; }
svg { display: block; max-width: 100%; height: auto; overflow: visible; }
svg.swatch { display: inline-block; vertical-align: middle; }
svg text { fill: var(--ink); font-family: inherit; }
svg .tick { font-size: 12px; fill: var(--muted); }
svg .axis-title { font-size: 12.5px; fill: var(--muted); }
svg .row-label { font-size: 14px; font-weight: 600; }
svg .row-label.macro { font-style: italic; }
svg .col-label { font-size: 13px; font-weight: 600; }
svg .hint { font-size: 12px; font-style: italic; fill: var(--muted); }
svg .value { font-size: 13px; font-variant-numeric: tabular-nums; }
svg .value .sym { font-weight: 600; }
svg .value .ci { fill: var(--muted); }
svg .na-mark { font-size: 12px; font-style: italic; fill: var(--muted); }
svg .ref-label { font-size: 12px; fill: var(--ink); }
svg .cell-text { fill: var(--ink); font-variant-numeric: tabular-nums; }
svg .cell-text.on-dark { fill: #fff; }
svg .bar-num { font-size: 12px; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; margin: 0.8rem 0 1rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.93rem; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 0.9rem; padding-bottom: 0.4rem; max-width: 76ch; }
th, td { padding: 0.4rem 0.65rem; border-bottom: 1px solid var(--rule); text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { font-size: 0.8rem; line-height: 1.25; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--ink); vertical-align: bottom; }
tbody th, tfoot th { font-weight: 600; overflow-wrap: break-word; max-width: 16rem; }
tfoot th, tfoot td { font-weight: 650; border-top: 2px solid var(--ink); border-bottom: 0; }
tfoot th { font-style: italic; }
.ci { display: block; font-size: 0.75rem; font-weight: 400; color: var(--muted); white-space: nowrap; }
.ci-inline { color: var(--muted); font-size: 0.85em; }
abbr.na { text-decoration: underline dotted; cursor: help; color: var(--muted); font-style: italic; }
table.stats { width: 100%; }
table.stats td { min-width: 4.6rem; }
table.pairs tbody th { white-space: nowrap; max-width: none; }
table.freq td.bars, table.freq th.bars-col { text-align: left; }
table.freq td { vertical-align: middle; }
table.freq td.bars svg { max-width: none; }
.example { background: var(--soft); border-radius: 6px; padding: 0.5rem 0.9rem; }
.heatmaps { display: flex; flex-wrap: wrap; gap: 12px 36px; align-items: flex-start; }
.heatmap figcaption { color: var(--ink); margin-bottom: 0.3rem; }
.dis { border: 1px solid var(--rule); border-radius: 10px; padding: 0.2rem 1.2rem 0.8rem; margin: 1rem 0; break-inside: avoid; }
.dis h3 { margin: 0.8rem 0 0.6rem; font-size: 1rem; font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-weight: 600; overflow-wrap: anywhere; }
.dis .rank { display: inline-block; min-width: 1.8em; padding: 0 0.4em; margin-right: 0.4em; border-radius: 1em; background: var(--ink); color: #fff; text-align: center; font-family: system-ui, sans-serif; font-size: 0.85rem; }
.dis-body { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 24px; align-items: start; }
.text { margin: 0; padding: 0.6rem 0.9rem; background: var(--soft); border-left: 4px solid #b7c0ca; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.95rem; line-height: 1.6; }
details { margin-top: 0.5rem; }
summary { cursor: pointer; color: #0b5cad; font-size: 0.9rem; }
details .text { margin-top: 0.5rem; }
.dis-summary { font-size: 0.92rem; margin: 0 0 0.6rem; }
.dis-table { width: 100%; font-size: 0.9rem; }
.dis-table th, .dis-table td { padding: 0.25rem 0.5rem; text-align: left; vertical-align: middle; }
.dis-table tbody th { overflow-wrap: break-word; max-width: 12rem; padding-left: calc(0.5rem + 1.1em); text-indent: -1.1em; }
.dis-table td { white-space: nowrap; }
.dis-table tr.diff th, .dis-table tr.diff td { background: var(--diff); }
.diff-mark { font-weight: 700; color: #b35000; }
.diff-mark.blank { visibility: hidden; }
.yes { font-weight: 700; }
.no { color: var(--muted); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.score { display: inline-flex; align-items: center; gap: 0.4rem; font-variant-numeric: tabular-nums; }
.curves { display: grid; grid-template-columns: repeat(auto-fill, minmax(310px, 1fr)); gap: 10px 24px; }
.curve { margin: 0.5rem 0; break-inside: avoid; }
.curve-title { color: var(--ink); margin-bottom: 0.2rem; }
.curve-note { font-size: 0.88rem; color: #353c44; margin: 0.2rem 0 0; }
.notes li { margin: 0.3rem 0; max-width: 76ch; }
footer { margin-top: 3rem; padding-top: 0.8rem; border-top: 1px solid var(--rule); color: var(--muted); font-size: 0.88rem; }
.print-only { display: none; }
@media (max-width: 760px) { main { padding: 20px 16px; } .dis-body { grid-template-columns: 1fr; } .big { grid-template-columns: repeat(3, auto); } }
@media print {
  @page { margin: 14mm; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .toc, details { display: none; }
  .print-only { display: block; }
  h2 { break-after: avoid; }
  h3 { break-after: avoid; }
  figure, .card, tr, .dis, .curve { break-inside: avoid; }
  .scroll { overflow: visible; }
  table { font-size: 8.5pt; }
  th, td { padding: 0.2rem 0.3rem; }
  table.stats td { min-width: 0; }
  table.stats .ci { font-size: 7pt; }
  .ci { white-space: normal; }
  table.freq td.bars svg { width: 112px; height: auto; }
  .dis-table td { white-space: normal; }
  a { color: inherit; text-decoration: none; }
}
"#;
