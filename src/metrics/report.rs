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
//! Every string that comes from data (transcript text, code names, speakers, metadata values,
//! coder names) is escaped for HTML and SVG. Undefined statistics (NaN) are shown as "n/a"
//! with an explanation, never as "NaN". The output depends only on the input: the same input
//! gives the same bytes.
//!
//! Colours come from the Okabe–Ito palette (safe for the common colour-vision deficiencies),
//! and every colour is paired with a shape, a dash pattern, a position or a label, so the page
//! also reads in greyscale print.

use std::fmt::Write as _;

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

/// Renders the report as one self-contained HTML document.
pub fn render(input: &ReportInput) -> String {
    let mut page = Page {
        input,
        out: String::with_capacity(64 * 1024),
        na_used: false,
        next_id: 0,
    };
    page.document();
    page.out
}

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

/// Escapes text for HTML content, attribute values and inline SVG. Control characters other
/// than tab and line breaks become U+FFFD (they are not allowed in XML).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A statistic with two decimals, or `None` when undefined.
fn fixed2(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let s = format!("{x:.2}");
    Some(if s == "-0.00" { "0.00".to_string() } else { s })
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

/// An SVG marker centred on (x, y).
fn marker(shape: Shape, x: f64, y: f64, colour: &str) -> String {
    match shape {
        Shape::Circle => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{colour}" stroke="#fff" stroke-width="1"/>"##
        ),
        Shape::Square => format!(
            r##"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{colour}" stroke="#fff" stroke-width="1"/>"##,
            x - 4.5,
            y - 4.5
        ),
        Shape::Diamond => format!(
            r##"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{colour}" stroke="#fff" stroke-width="1"/>"##,
            y - 6.5,
            x + 6.5,
            y + 6.5,
            x - 6.5
        ),
        Shape::Triangle => format!(
            r##"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}" stroke="#fff" stroke-width="1"/>"##,
            y - 6.0,
            x + 6.0,
            y + 4.5,
            x - 6.0,
            y + 4.5
        ),
    }
}

/// A marker alone in a small inline SVG, for legends.
fn swatch_marker(shape: Shape, colour: &str) -> String {
    format!(
        r#"<svg class="swatch" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">{}</svg>"#,
        marker(shape, 8.0, 8.0, colour)
    )
}

/// A line sample in a small inline SVG, for legends.
fn swatch_line(colour: &str, dash: Option<&str>, shape: Option<Shape>) -> String {
    let dash = dash
        .map(|d| format!(r#" stroke-dasharray="{d}""#))
        .unwrap_or_default();
    let mark = shape
        .map(|s| marker(s, 15.0, 8.0, colour))
        .unwrap_or_default();
    format!(
        r#"<svg class="swatch" width="30" height="16" viewBox="0 0 30 16" aria-hidden="true"><line x1="2" y1="8" x2="28" y2="8" stroke="{colour}" stroke-width="2.5"{dash}/>{mark}</svg>"#
    )
}

/// A filled bar sample in a small inline SVG, for legends.
fn swatch_bar(colour: &str) -> String {
    format!(
        r#"<svg class="swatch" width="22" height="16" viewBox="0 0 22 16" aria-hidden="true"><rect x="1" y="4" width="20" height="9" fill="{colour}"/></svg>"#
    )
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

/// Appends formatted text to a `String` (writing to a `String` cannot fail).
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

struct Page<'a> {
    input: &'a ReportInput,
    out: String,
    /// Whether any "n/a" was printed, so that the explanation is added at the end.
    na_used: bool,
    /// Counter for ids that must be unique in the document (SVG gradients, anchors).
    next_id: usize,
}

const NA_TITLE: &str = "Not defined for this code: see “n/a” in the notes at the end.";

impl Page<'_> {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// A statistic for HTML: two decimals, or "n/a" with an explanation.
    fn stat(&mut self, x: f64) -> String {
        match fixed2(x) {
            Some(s) => s.replace('-', "−"),
            None => self.na(),
        }
    }

    fn pct(&mut self, x: f64) -> String {
        match percent(x) {
            Some(s) => s,
            None => self.na(),
        }
    }

    fn na(&mut self) -> String {
        self.na_used = true;
        format!(r#"<abbr class="na" title="{NA_TITLE}">n/a</abbr>"#)
    }

    /// Plain-text statistic (for SVG titles and captions).
    fn stat_text(&mut self, x: f64) -> String {
        match fixed2(x) {
            Some(s) => s.replace('-', "−"),
            None => {
                self.na_used = true;
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

    fn document(&mut self) {
        let title = if self.input.title.trim().is_empty() {
            "Agreement report".to_string()
        } else {
            self.input.title.clone()
        };
        put!(
            self.out,
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="discotag {version}">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
"#,
            version = env!("CARGO_PKG_VERSION"),
            title = esc(&title),
            css = CSS,
        );
        self.header(&title);
        self.contents();
        self.summary();
        self.about();
        for (i, level) in self.input.levels.iter().enumerate() {
            self.level(i, level);
        }
        self.cooccurrence();
        self.frequencies();
        self.disagreements();
        self.thresholds();
        self.learning_curve();
        self.notes();
        put!(
            self.out,
            r#"<footer><p>Made by discotag {version}. This file is self-contained: it loads nothing from the network and can be shared, archived or printed as it is.</p></footer>
</main>
</body>
</html>
"#,
            version = env!("CARGO_PKG_VERSION"),
        );
    }

    fn header(&mut self, title: &str) {
        let input = self.input;
        put!(
            self.out,
            r#"<header>
<p class="kicker">Inter-coder agreement report</p>
<h1>{}</h1>
<p class="lead">How far the codes of the <strong>candidate</strong>, {}, agree with those of the <strong>reference</strong>, {}, code by code, with the statistics used to report agreement between human coders.</p>
<dl class="meta">"#,
            esc(title),
            self.coder_tag(false),
            self.coder_tag(true),
        );
        if !input.generated_at.is_empty() {
            put!(
                self.out,
                "<div><dt>Generated</dt><dd>{}</dd></div>",
                esc(&input.generated_at)
            );
        }
        if !input.codes.is_empty() {
            let codes: Vec<String> = input
                .codes
                .iter()
                .map(|c| format!(r#"<span class="code">{}</span>"#, esc(c)))
                .collect();
            put!(
                self.out,
                "<div><dt>Codes ({})</dt><dd>{}</dd></div>",
                input.codes.len(),
                codes.join(" ")
            );
        }
        let units: Vec<String> = input
            .levels
            .iter()
            .map(|l| format!("{} at {}", count(l.n_units), esc(&l.name)))
            .collect();
        if !units.is_empty() {
            put!(
                self.out,
                "<div><dt>Units compared</dt><dd>{}</dd></div>",
                units.join("; ")
            );
        }
        self.out.push_str("</dl>\n");
        if !input.disagreements.is_empty() {
            self.out.push_str(
                r#"<p class="caution"><strong>Confidential:</strong> this report quotes passages of the transcripts. Store and share it as you would the transcripts themselves.</p>"#,
            );
        }
        self.out.push_str("</header>\n");
    }

    /// A coder's name with the colour used for that coder in bar charts.
    fn coder_tag(&self, reference: bool) -> String {
        let (name, class) = if reference {
            (&self.input.reference_name, "ref")
        } else {
            (&self.input.candidate_name, "cand")
        };
        let name = if name.trim().is_empty() {
            if reference { "reference" } else { "candidate" }.to_string()
        } else {
            name.clone()
        };
        format!(r#"<span class="coder {class}">{}</span>"#, esc(&name))
    }

    fn contents(&mut self) {
        let input = self.input;
        let mut items: Vec<(String, String)> = Vec::new();
        if !input.levels.is_empty() {
            items.push(("summary".into(), "At a glance".into()));
        }
        items.push(("about".into(), "What the statistics mean".into()));
        for (i, level) in input.levels.iter().enumerate() {
            items.push((
                format!("level-{}", i + 1),
                format!("Agreement by code: {}", esc(&level.name)),
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
        if !input.notes.is_empty() || self.input_has_nan() {
            items.push(("notes".into(), "Notes".into()));
        }
        self.out
            .push_str(r#"<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>"#);
        for (id, label) in items {
            put!(self.out, r##"<li><a href="#{id}">{label}</a></li>"##);
        }
        self.out.push_str("</ol></nav>\n");
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

    // --- At a glance -------------------------------------------------------------------------

    fn summary(&mut self) {
        let input = self.input;
        if input.levels.is_empty() {
            return;
        }
        self.out.push_str(
            r#"<section id="summary"><h2>At a glance</h2>
<p>Averages over all codes, each code counting equally. The closer to 1, the closer the two coders; 0 means no more agreement than chance would give. The sections below break these down by code.</p>
<div class="cards">"#,
        );
        for level in &input.levels {
            let m = &level.macro_stats;
            put!(
                self.out,
                r#"<div class="card"><h3>{}</h3><p class="muted">{} units · {} codes</p><dl class="big">"#,
                esc(&level.name),
                count(level.n_units),
                level.per_code.len()
            );
            let cells = [
                ("Cohen’s κ", self.stat(m.cohen_kappa)),
                ("Krippendorff’s α", self.stat(m.krippendorff_alpha)),
                ("Gwet’s AC1", self.stat(m.gwet_ac1)),
                ("% agreement", self.pct(m.percent_agreement)),
                ("F1", self.stat(m.f1)),
            ];
            for (label, value) in cells {
                put!(self.out, "<div><dt>{label}</dt><dd>{value}</dd></div>");
            }
            self.out.push_str("</dl>");
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
            if let (Some(best), Some(worst)) = (best, worst)
                && finite.len() > 1
            {
                let (hi, lo) = (self.stat(best.cohen_kappa), self.stat(worst.cohen_kappa));
                put!(
                    self.out,
                    r#"<p class="extremes">Closest agreement: <span class="code">{}</span> (κ {hi}). Weakest: <span class="code">{}</span> (κ {lo}).</p>"#,
                    esc(&best.code),
                    esc(&worst.code)
                );
            }
            self.out.push_str("</div>");
        }
        self.out.push_str("</div></section>\n");
    }

    // --- Explanations ------------------------------------------------------------------------

    fn about(&mut self) {
        self.out.push_str(
            r#"<section id="about"><h2>What the statistics mean</h2>
<p>Each code is compared on its own: for every unit, did each coder apply the code or not? The statistics summarise how often those yes/no decisions match.</p>
<dl class="glossary">
<div><dt>Percentage agreement</dt><dd>The share of units on which both coders made the same decision. Easy to read, but flattering for rare codes: if a code is almost never used, two coders who both leave it out agree on nearly every unit without agreeing on the passages that matter.</dd></div>
<div><dt>Cohen’s kappa (κ)</dt><dd>Agreement after removing the agreement expected by chance, given how often each coder uses the code. 1 is perfect agreement, 0 is no better than chance, below 0 is worse than chance. Kappa can be low for a rare code even when percentage agreement is high.</dd></div>
<div><dt>Krippendorff’s alpha (α)</dt><dd>Also corrects for chance, using both coders’ pooled use of the code; it is the statistic most content-analysis guides ask for. Krippendorff suggests α of at least 0.8 before relying on a code, and at least 0.667 for tentative conclusions (the dashed line in the charts marks 0.8).</dd></div>
<div><dt>Gwet’s AC1</dt><dd>Another chance-corrected statistic, less affected when a code is very rare or very common. When κ and α are low but AC1 is high, the code is probably rare: look at the counts and the disagreements below before concluding.</dd></div>
<div><dt>Precision, recall and F1</dt><dd>These treat the reference coder as correct. Precision: of the units the candidate coded, the share the reference coded too. Recall: of the units the reference coded, the share the candidate also found. F1 combines the two (their harmonic mean).</dd></div>
<div><dt>95% intervals</dt><dd>Where shown, the range of values compatible with the data, found by resampling the units many times (bootstrap). Wide intervals mean few examples: treat the point value with caution.</dd></div>
</dl>
<p class="muted">Verbal labels such as “substantial agreement” for κ above 0.6 are conventions, not findings: report the values, the intervals and the number of units.</p>
</section>
"#,
        );
    }

    // --- Agreement by code -------------------------------------------------------------------

    fn level(&mut self, index: usize, level: &LevelSection) {
        put!(
            self.out,
            r#"<section id="level-{}"><h2>Agreement by code: {}</h2>"#,
            index + 1,
            esc(&level.name)
        );
        if !level.description.is_empty() {
            put!(self.out, "<p>{}</p>", esc(&level.description));
        }
        put!(
            self.out,
            "<p class=\"muted\">{} units compared.</p>",
            count(level.n_units)
        );
        if level.per_code.is_empty() {
            self.out
                .push_str("<p>No code was compared at this level.</p></section>\n");
            return;
        }
        let chart = self.agreement_chart(level);
        self.out.push_str(r#"<figure class="chart">"#);
        self.out.push_str(r#"<div class="legend">"#);
        for c in Chance::ALL {
            put!(
                self.out,
                "<span>{}{} ({})</span>",
                swatch_marker(c.shape(), c.colour()),
                c.name(),
                c.symbol()
            );
        }
        let any_interval = level
            .per_code
            .iter()
            .chain([&level.macro_stats])
            .any(|s| Chance::ALL.iter().any(|c| c.interval(s).is_some()));
        if any_interval {
            put!(
                self.out,
                r#"<span><svg class="swatch" width="30" height="16" viewBox="0 0 30 16" aria-hidden="true"><path d="M3 4v8M3 8h24M27 4v8" stroke="{MUTED}" stroke-width="1.5" fill="none"/></svg>95% interval</span>"#
            );
        }
        self.out.push_str("</div>");
        self.out.push_str(&chart);
        put!(
            self.out,
            "<figcaption>Each code’s chance-corrected agreement: a marker is the estimate{}. The solid line is chance (0); the dashed line is 0.8. The values are repeated on the right.</figcaption></figure>",
            if any_interval {
                ", the whiskers its 95% interval"
            } else {
                " (no intervals were computed at this level)"
            }
        );
        self.stats_table(level);
        self.out.push_str("</section>\n");
    }

    fn agreement_chart(&mut self, level: &LevelSection) -> String {
        const WIDTH: f64 = 1000.0;
        const LABEL_X: f64 = 8.0;
        const PLOT_X0: f64 = 200.0;
        const PLOT_X1: f64 = 640.0;
        const VALUE_X: f64 = 664.0;
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
        let height = plot_bottom + BOTTOM;
        let mut svg = String::new();
        put!(
            svg,
            r#"<svg class="agreement" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="Chance-corrected agreement by code, {}">"#,
            esc(&level.name)
        );

        // Grid and ticks.
        for t in ticks(lo, hi, step) {
            let tx = x(t);
            put!(
                svg,
                r#"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{plot_bottom:.1}" stroke="{GRID}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
                TOP - 4.0,
                plot_bottom + 16.0,
                tick_label(t)
            );
        }
        put!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis-title">agreement beyond chance (1 = perfect, 0 = chance)</text>"#,
            (PLOT_X0 + PLOT_X1) / 2.0,
            plot_bottom + 36.0
        );

        // Rows.
        let mut y = TOP;
        for (i, (stats, is_macro)) in rows.iter().enumerate() {
            if *is_macro {
                put!(
                    svg,
                    r#"<line x1="{LABEL_X}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{INK}" stroke-width="1"/>"#,
                    y + SEPARATOR / 2.0,
                    WIDTH - 8.0,
                    y + SEPARATOR / 2.0
                );
                y += SEPARATOR;
            } else if i % 2 == 0 {
                put!(
                    svg,
                    r##"<rect x="0" y="{:.1}" width="{WIDTH}" height="{:.1}" fill="#f6f8fa"/>"##,
                    y,
                    group
                );
            }
            let label = if *is_macro {
                "Average of codes".to_string()
            } else {
                stats.code.clone()
            };
            let (short, clipped) = clip(&label, 24);
            let title = if clipped {
                format!("<title>{}</title>", esc(&label))
            } else {
                String::new()
            };
            put!(
                svg,
                r#"<text x="{LABEL_X}" y="{:.1}" class="{}">{title}{}</text>"#,
                y + group / 2.0,
                if *is_macro {
                    "row-label macro"
                } else {
                    "row-label"
                },
                esc(&short)
            );
            for (k, c) in Chance::ALL.iter().enumerate() {
                let cy = y + GAP / 2.0 + ROW * (k as f64 + 0.5);
                let v = c.value(stats);
                let interval = c.interval(stats);
                let value_text = self.stat_text(v);
                let interval_text = interval
                    .map(|[a, b]| {
                        format!(
                            " [{}, {}]",
                            fixed2(a).unwrap_or_default().replace('-', "−"),
                            fixed2(b).unwrap_or_default().replace('-', "−")
                        )
                    })
                    .unwrap_or_default();
                put!(
                    svg,
                    "<g><title>{} for {}: {}{}</title>",
                    c.name(),
                    esc(&label),
                    value_text,
                    if interval.is_some() {
                        format!(" (95% interval{})", interval_text)
                    } else {
                        String::new()
                    }
                );
                if let Some([a, b]) = interval {
                    let (xa, xb) = (x(a), x(b));
                    put!(
                        svg,
                        r#"<path d="M{xa:.1} {:.1}V{:.1}M{xa:.1} {cy:.1}H{xb:.1}M{xb:.1} {:.1}V{:.1}" stroke="{}" stroke-width="1.6" fill="none"/>"#,
                        cy - 4.0,
                        cy + 4.0,
                        cy - 4.0,
                        cy + 4.0,
                        c.colour()
                    );
                }
                if v.is_finite() {
                    svg.push_str(&marker(c.shape(), x(v), cy, c.colour()));
                } else {
                    put!(
                        svg,
                        r#"<text x="{:.1}" y="{:.1}" class="na-mark">n/a</text>"#,
                        PLOT_X0 + 6.0,
                        cy + 4.0
                    );
                }
                put!(
                    svg,
                    r#"<text x="{VALUE_X}" y="{:.1}" class="value"><tspan class="sym">{}</tspan> {value_text}<tspan class="ci">{interval_text}</tspan></text></g>"#,
                    cy + 4.5,
                    c.symbol()
                );
            }
            y += group;
        }

        // Reference lines on top of the rows' backgrounds.
        let zero = x(0.0);
        put!(
            svg,
            r#"<line x1="{zero:.1}" y1="{:.1}" x2="{zero:.1}" y2="{plot_bottom:.1}" stroke="{INK}" stroke-width="1.5"/><text x="{zero:.1}" y="{:.1}" text-anchor="{}" class="ref-label">chance</text>"#,
            TOP - 10.0,
            TOP - 14.0,
            if negative { "middle" } else { "start" }
        );
        let good = x(0.8);
        put!(
            svg,
            r#"<line x1="{good:.1}" y1="{:.1}" x2="{good:.1}" y2="{plot_bottom:.1}" stroke="{INK}" stroke-width="1.2" stroke-dasharray="5 4"/><text x="{good:.1}" y="{:.1}" text-anchor="middle" class="ref-label">0.8</text>"#,
            TOP - 10.0,
            TOP - 14.0
        );
        svg.push_str("</svg>");
        svg
    }

    fn stats_table(&mut self, level: &LevelSection) {
        put!(
            self.out,
            r#"<div class="scroll"><table class="stats"><caption>All statistics for {}.{} Precision, recall and F1 treat the reference as correct.</caption>
<thead><tr><th scope="col">Code</th><th scope="col">Units coded by reference</th><th scope="col">Units coded by candidate</th><th scope="col">% agreement</th><th scope="col">Cohen’s κ</th><th scope="col">Krippen&shy;dorff’s α</th><th scope="col">Gwet’s AC1</th><th scope="col">Precision</th><th scope="col">Recall</th><th scope="col">F1</th></tr></thead>
<tbody>"#,
            esc(&level.name),
            if level
                .per_code
                .iter()
                .chain([&level.macro_stats])
                .any(|s| s.intervals.is_some())
            {
                " Small grey ranges are 95% intervals."
            } else {
                ""
            }
        );
        for s in &level.per_code {
            let row = self.stats_row(s, &esc(&s.code), true);
            self.out.push_str(&row);
        }
        self.out.push_str("</tbody><tfoot>");
        let label = if level.macro_stats.code.trim().is_empty() {
            "Average of codes".to_string()
        } else {
            esc(&level.macro_stats.code)
        };
        // Supports do not average: the macro row leaves them blank.
        let row = self.stats_row(&level.macro_stats, &label, false);
        self.out.push_str(&row);
        self.out.push_str("</tfoot></table></div>");
    }

    fn stats_row(&mut self, s: &CodeStats, label_html: &str, show_support: bool) -> String {
        let iv = s.intervals.unwrap_or_default();
        let ci = |i: Option<[f64; 2]>, as_percent: bool| -> String {
            match i {
                Some([a, b]) if a.is_finite() && b.is_finite() => {
                    let text = if as_percent {
                        // Never negative: "88.8–91.2%".
                        format!("{:.1}–{:.1}%", a * 100.0, b * 100.0)
                    } else {
                        format!(
                            "[{}, {}]",
                            fixed2(a).unwrap_or_default().replace('-', "−"),
                            fixed2(b).unwrap_or_default().replace('-', "−")
                        )
                    };
                    format!(r#"<span class="ci">{text}</span>"#)
                }
                _ => String::new(),
            }
        };
        let cells = [
            (
                self.pct(s.percent_agreement),
                ci(iv.percent_agreement, true),
            ),
            (self.stat(s.cohen_kappa), ci(iv.cohen_kappa, false)),
            (
                self.stat(s.krippendorff_alpha),
                ci(iv.krippendorff_alpha, false),
            ),
            (self.stat(s.gwet_ac1), ci(iv.gwet_ac1, false)),
            (self.stat(s.precision), ci(iv.precision, false)),
            (self.stat(s.recall), ci(iv.recall, false)),
            (self.stat(s.f1), ci(iv.f1, false)),
        ];
        let support = |n: u64| {
            if show_support {
                count(n)
            } else {
                String::new()
            }
        };
        let mut row = format!(
            r#"<tr><th scope="row">{label_html}</th><td>{}</td><td>{}</td>"#,
            support(s.support_reference),
            support(s.support_candidate)
        );
        for (value, interval) in cells {
            put!(row, "<td>{value}{interval}</td>");
        }
        row.push_str("</tr>");
        row
    }

    // --- Co-occurrence -----------------------------------------------------------------------

    fn cooccurrence(&mut self) {
        let input = self.input;
        if input.cooccurrence.is_empty() {
            return;
        }
        self.out.push_str(
            r#"<section id="cooccurrence"><h2>Which codes are used together</h2>
<p>Passages often combine discourses. Each grid shows, for one coder, how many units carry two codes at once. Read it across a row: a cell gives the number of units with the row’s code that also carry the column’s code, and that number as a share of all units with the row’s code. The darker the cell, the larger the share. The diagonal gives the number of units with each code and their share of all units.</p>"#,
        );
        if let Some(example) = self.cooccurrence_example() {
            put!(self.out, r#"<p class="example">{example}</p>"#);
        }
        let legend = self.heatmap_legend();
        self.out.push_str(&legend);
        self.out.push_str(r#"<div class="heatmaps">"#);
        for co in &input.cooccurrence {
            let map = self.heatmap(co);
            put!(
                self.out,
                r#"<figure class="heatmap"><figcaption><strong>{}</strong> · {} units</figcaption>{map}</figure>"#,
                esc(&co.coder),
                count(co.n_units)
            );
        }
        self.out.push_str("</div>");
        self.pairs_table();
        self.out.push_str("</section>\n");
    }

    /// A sentence reading one cell of the first grid aloud, as a worked example.
    fn cooccurrence_example(&self) -> Option<String> {
        let co = self.input.cooccurrence.first()?;
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
        Some(format!(
            "For example, {} coded {} units as <span class=\"code\">{}</span>; {} of them ({}) were also coded <span class=\"code\">{}</span>.",
            esc(&co.coder),
            count(total),
            esc(&self.code_name(i)),
            count(n),
            share(n, total),
            esc(&self.code_name(j))
        ))
    }

    fn heatmap_legend(&mut self) -> String {
        let id = self.id("blues");
        let mut stops = String::new();
        for (k, _) in BLUES.iter().enumerate() {
            let t = k as f64 / (BLUES.len() - 1) as f64;
            put!(
                stops,
                r#"<stop offset="{:.0}%" stop-color="{}"/>"#,
                t * 100.0,
                blues(t)
            );
        }
        format!(
            r##"<div class="legend"><svg width="262" height="40" viewBox="0 0 262 40" role="img" aria-label="Colour scale: share of the row code's units, from 0% (light) to 100% (dark)"><defs><linearGradient id="{id}">{stops}</linearGradient></defs><rect x="10" y="4" width="240" height="14" fill="url(#{id})" stroke="#8c959f" stroke-width="0.5"/><text x="10" y="33" class="tick">0%</text><text x="130" y="33" text-anchor="middle" class="tick">50%</text><text x="250" y="33" text-anchor="end" class="tick">100%</text></svg><span>share of the row code’s units that also carry the column code</span></div>"##
        )
    }

    fn heatmap(&mut self, co: &Cooccurrence) -> String {
        let k = co.counts.len();
        if k == 0 {
            return "<p class=\"muted\">No counts.</p>".to_string();
        }
        let cell = if k <= 4 {
            110.0
        } else {
            (500.0 / k as f64).max(40.0)
        };
        // Bold 13px labels are about 8.2px a character.
        let label_chars = ((cell - 10.0) / 8.2).floor().max(3.0) as usize;
        let rotate = (0..k).any(|j| self.code_name(j).chars().count() > label_chars);
        // Row labels are bold 14px, at most about 9.4px a character, clipped to ROW_LABEL_CHARS.
        const ROW_LABEL_CHARS: usize = 22;
        let longest = (0..k)
            .map(|i| self.code_name(i).chars().count().min(ROW_LABEL_CHARS))
            .max()
            .unwrap_or(0);
        let left = (longest as f64 * 9.4 + 20.0).max(110.0);
        let top = if rotate { 128.0 } else { 34.0 };
        let width = left + cell * k as f64 + 12.0;
        let height = top + cell * k as f64 + 8.0;
        let (count_size, share_size) = if cell >= 70.0 { (17, 13) } else { (12, 10) };
        let mut svg = format!(
            r#"<svg width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="Co-occurrence of codes for {}">"#,
            esc(&co.coder)
        );
        put!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="hint">also coded →</text>"#,
            left - 10.0,
            top - 10.0
        );
        // Column labels.
        for j in 0..k {
            let name = self.code_name(j);
            let cx = left + cell * (j as f64 + 0.5);
            if rotate {
                let (short, _) = clip(&name, 20);
                put!(
                    svg,
                    r#"<text transform="translate({cx:.1} {:.1}) rotate(-40)" class="col-label"><title>{}</title>{}</text>"#,
                    top - 8.0,
                    esc(&name),
                    esc(&short)
                );
            } else {
                put!(
                    svg,
                    r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" class="col-label">{}</text>"#,
                    top - 10.0,
                    esc(&name)
                );
            }
        }
        for i in 0..k {
            let name = self.code_name(i);
            let (short, _) = clip(&name, ROW_LABEL_CHARS);
            let cy = top + cell * (i as f64 + 0.5);
            put!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="row-label"><title>{}</title>{}</text>"#,
                left - 10.0,
                cy + 5.0,
                esc(&name),
                esc(&short)
            );
            let row_total = co
                .counts
                .get(i)
                .and_then(|r| r.get(i))
                .copied()
                .unwrap_or(0);
            for j in 0..k {
                let n = co
                    .counts
                    .get(i)
                    .and_then(|r| r.get(j))
                    .copied()
                    .unwrap_or(0);
                let (x0, y0) = (left + cell * j as f64, top + cell * i as f64);
                let (cx, cy) = (x0 + cell / 2.0, y0 + cell / 2.0);
                let diagonal = i == j;
                let (fill, ratio_text, tip) = if diagonal {
                    (
                        "#eceff2".to_string(),
                        format!("{} of all", share(n, co.n_units)),
                        format!(
                            "{} units coded {} ({} of all units)",
                            count(n),
                            esc(&name),
                            share(n, co.n_units)
                        ),
                    )
                } else if row_total == 0 {
                    (
                        "#ffffff".to_string(),
                        "–".to_string(),
                        format!("No unit coded {}", esc(&name)),
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
                            esc(&name),
                            share(n, row_total),
                            esc(&self.code_name(j))
                        ),
                    )
                };
                let dark = !diagonal && row_total > 0 && (n as f64 / row_total as f64) > 0.5;
                let text_class = if dark {
                    "cell-text on-dark"
                } else {
                    "cell-text"
                };
                let stroke = if diagonal {
                    r##" stroke="#8c959f" stroke-dasharray="3 3""##
                } else {
                    r##" stroke="#ffffff""##
                };
                put!(
                    svg,
                    r#"<g><title>{tip}</title><rect x="{x0:.1}" y="{y0:.1}" width="{cell:.1}" height="{cell:.1}" fill="{fill}"{stroke} stroke-width="2"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle" class="{text_class}" font-size="{count_size}" font-weight="700">{}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle" class="{text_class}" font-size="{share_size}">{ratio_text}</text></g>"#,
                    cy - 2.0,
                    count(n),
                    cy + share_size as f64 + 3.0
                );
            }
        }
        svg.push_str("</svg>");
        svg
    }

    /// Pairs of codes and how many units each coder gave both.
    fn pairs_table(&mut self) {
        let input = self.input;
        let k = input
            .cooccurrence
            .iter()
            .map(|c| c.counts.len())
            .max()
            .unwrap_or(0);
        if k < 2 {
            return;
        }
        let get = |co: &Cooccurrence, i: usize, j: usize| {
            co.counts
                .get(i)
                .and_then(|r| r.get(j))
                .copied()
                .unwrap_or(0)
        };
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
        self.out.push_str(
            r#"<div class="scroll"><table class="pairs"><caption>Pairs of codes, most frequent first: units carrying both codes, and their share of all units.</caption><thead><tr><th scope="col">Codes used together</th>"#,
        );
        for co in &input.cooccurrence {
            put!(self.out, r#"<th scope="col">{}</th>"#, esc(&co.coder));
        }
        self.out.push_str("</tr></thead><tbody>");
        for (i, j, _) in pairs.iter().take(MAX_FREQUENCY_ROWS) {
            put!(
                self.out,
                r#"<tr><th scope="row"><span class="code">{}</span> + <span class="code">{}</span></th>"#,
                esc(&self.code_name(*i)),
                esc(&self.code_name(*j))
            );
            for co in &input.cooccurrence {
                let n = get(co, *i, *j);
                put!(
                    self.out,
                    r#"<td>{} <span class="ci-inline">({})</span></td>"#,
                    count(n),
                    share(n, co.n_units)
                );
            }
            self.out.push_str("</tr>");
        }
        self.out.push_str("</tbody></table></div>");
        if pairs.len() > MAX_FREQUENCY_ROWS {
            put!(
                self.out,
                r#"<p class="muted">{} less frequent pairs are not listed.</p>"#,
                pairs.len() - MAX_FREQUENCY_ROWS
            );
        }
    }

    // --- Frequencies -------------------------------------------------------------------------

    fn frequencies(&mut self) {
        let input = self.input;
        if input.frequencies.is_empty() {
            return;
        }
        put!(
            self.out,
            r#"<section id="frequencies"><h2>Where the codes occur</h2>
<p>How often each coder applied each code, broken down by speaker or by a field of the transcripts’ metadata. The top bar is the reference ({}), the bottom bar the candidate ({}); a full-width bar would mean every unit of that row carries the code. Numbers are unit counts.</p>
<div class="legend"><span>{}{}</span><span>{}{}</span></div>"#,
            self.coder_tag(true),
            self.coder_tag(false),
            swatch_bar(REFERENCE_COLOUR),
            self.coder_tag(true),
            swatch_bar(CANDIDATE_COLOUR),
            self.coder_tag(false),
        );
        for table in &input.frequencies {
            self.frequency_table(table);
        }
        self.out.push_str("</section>\n");
    }

    fn frequency_table(&mut self, table: &FrequencyTable) {
        let k = self.input.codes.len().max(
            table
                .rows
                .iter()
                .map(|r| r.reference.len().max(r.candidate.len()))
                .max()
                .unwrap_or(0),
        );
        put!(self.out, "<h3>By {}</h3>", esc(&table.by));
        if table.rows.is_empty() {
            self.out.push_str(r#"<p class="muted">No units.</p>"#);
            return;
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
        self.out
            .push_str(r#"<div class="scroll"><table class="freq">"#);
        if folded > 0 {
            put!(
                self.out,
                "<caption>The {} values with the most units; the other {} are folded into the last row.</caption>",
                MAX_FREQUENCY_ROWS,
                folded
            );
        }
        put!(
            self.out,
            r#"<thead><tr><th scope="col">{}</th><th scope="col">Units</th>"#,
            esc(&table.by)
        );
        for c in 0..k {
            put!(
                self.out,
                r#"<th scope="col" class="bars-col"><span class="code">{}</span></th>"#,
                esc(&self.code_name(c))
            );
        }
        self.out.push_str("</tr></thead><tbody>");
        for row in shown {
            let html = self.frequency_row(&esc(&row.value), row, k);
            self.out.push_str(&html);
        }
        if folded > 0 {
            let other = sum(&rows[MAX_FREQUENCY_ROWS..]);
            let label = format!(
                r#"<em>other ({} value{})</em>"#,
                folded,
                if folded == 1 { "" } else { "s" }
            );
            let html = self.frequency_row(&label, &other, k);
            self.out.push_str(&html);
        }
        self.out.push_str("</tbody><tfoot>");
        let total = sum(&rows);
        let html = self.frequency_row("All", &total, k);
        self.out.push_str(&html);
        self.out.push_str("</tfoot></table></div>");
    }

    fn frequency_row(&mut self, label_html: &str, row: &FrequencyRow, k: usize) -> String {
        let mut html = format!(
            r#"<tr><th scope="row">{label_html}</th><td>{}</td>"#,
            count(row.n_units)
        );
        let reference_name = esc(&self.input.reference_name);
        let candidate_name = esc(&self.input.candidate_name);
        // Shorter bars when there are many codes, so that the table fits the page.
        let bar_len: f64 = if k <= 4 { 90.0 } else { 56.0 };
        for c in 0..k {
            let r = row.reference.get(c).copied().unwrap_or(0);
            let d = row.candidate.get(c).copied().unwrap_or(0);
            let bar = |n: u64| {
                if row.n_units == 0 {
                    0.0
                } else {
                    (n as f64 / row.n_units as f64).min(1.0) * bar_len
                }
            };
            put!(
                html,
                r##"<td class="bars"><svg width="{svg_w}" height="34" viewBox="0 0 {svg_w} 34" role="img"><title>{code}: {reference_name} {rn} of {total} units ({rs}); {candidate_name} {dn} ({ds})</title><rect x="0" y="3" width="{bar_len}" height="12" fill="#eef1f4"/><rect x="0" y="3" width="{rw:.1}" height="12" fill="{REFERENCE_COLOUR}"/><text x="{num_x}" y="13" class="bar-num">{rn}</text><rect x="0" y="19" width="{bar_len}" height="12" fill="#eef1f4"/><rect x="0" y="19" width="{dw:.1}" height="12" fill="{CANDIDATE_COLOUR}"/><text x="{num_x}" y="29" class="bar-num">{dn}</text></svg></td>"##,
                svg_w = bar_len + 54.0,
                num_x = bar_len + 6.0,
                code = esc(&self.code_name(c)),
                rn = count(r),
                dn = count(d),
                total = count(row.n_units),
                rs = share(r, row.n_units),
                ds = share(d, row.n_units),
                rw = bar(r),
                dw = bar(d),
            );
        }
        html.push_str("</tr>");
        html
    }

    // --- Disagreements -----------------------------------------------------------------------

    fn disagreements(&mut self) {
        let input = self.input;
        if input.disagreements.is_empty() {
            return;
        }
        let of_total = match input.disagreements_total {
            Some(total) if total > input.disagreements.len() as u64 => {
                format!(
                    "These are {} of the {} units on which the coders disagree, ",
                    count(input.disagreements.len() as u64),
                    count(total)
                )
            }
            _ => format!(
                "These are {} units on which the coders disagree, ",
                count(input.disagreements.len() as u64)
            ),
        };
        let scored = input.disagreements.iter().any(|d| d.scores.is_some());
        put!(
            self.out,
            r#"<section id="disagreements"><h2>Where the coders disagree</h2>
<p>{of_total}{}. Rows marked <span class="diff-mark">≠</span> are the codes on which they differ. Reading these passages is the quickest way to see whether a disagreement is the model’s error, a human slip, or a genuinely ambiguous passage that the codebook could define better.</p>"#,
            if scored {
                "starting with those on which the model was most confident. Scores run from 0 to 1; the tick on each score bar is the model’s threshold for that code"
            } else {
                "in the order given"
            }
        );
        for (i, d) in input.disagreements.iter().enumerate() {
            self.disagreement(i, d);
        }
        self.out.push_str("</section>\n");
    }

    fn disagreement(&mut self, index: usize, d: &DisagreementRow) {
        let input = self.input;
        // Codebook codes first, then any other code either coder used, in order of appearance.
        let mut codes: Vec<(String, Option<usize>)> = input
            .codes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), Some(i)))
            .collect();
        for c in d.reference.iter().chain(&d.candidate) {
            if !codes.iter().any(|(name, _)| name == c) {
                codes.push((c.clone(), None));
            }
        }
        let only_reference: Vec<String> = d
            .reference
            .iter()
            .filter(|c| !d.candidate.contains(c))
            .map(|c| format!(r#"<span class="code">{}</span>"#, esc(c)))
            .collect();
        let only_candidate: Vec<String> = d
            .candidate
            .iter()
            .filter(|c| !d.reference.contains(c))
            .map(|c| format!(r#"<span class="code">{}</span>"#, esc(c)))
            .collect();
        put!(
            self.out,
            r#"<article class="dis"><h3><span class="rank">{}</span> {}</h3><div class="dis-body"><div class="dis-text">"#,
            index + 1,
            esc(&d.unit)
        );
        match excerpt(&d.text, EXCERPT_CHARS) {
            Some(short) => {
                put!(
                    self.out,
                    r#"<blockquote class="text">{}</blockquote><details><summary>Show the full text ({} characters)</summary><blockquote class="text full">{}</blockquote></details><p class="print-only muted">Shortened: the full text is in the HTML file.</p>"#,
                    esc(&short),
                    count(d.text.chars().count() as u64),
                    esc(&d.text)
                );
            }
            None => {
                put!(
                    self.out,
                    r#"<blockquote class="text">{}</blockquote>"#,
                    esc(&d.text)
                );
            }
        }
        self.out.push_str(r#"</div><div class="dis-codes">"#);
        let mut summary = Vec::new();
        if !only_reference.is_empty() {
            summary.push(format!(
                "Only {}: {}",
                self.coder_tag(true),
                only_reference.join(" ")
            ));
        }
        if !only_candidate.is_empty() {
            summary.push(format!(
                "Only {}: {}",
                self.coder_tag(false),
                only_candidate.join(" ")
            ));
        }
        if !summary.is_empty() {
            put!(
                self.out,
                r#"<p class="dis-summary">{}</p>"#,
                summary.join("<br>")
            );
        }
        let has_scores = d.scores.is_some();
        put!(
            self.out,
            r#"<table class="dis-table"><thead><tr><th scope="col">Code</th><th scope="col">Reference</th><th scope="col">Candidate</th>{}</tr></thead><tbody>"#,
            if has_scores {
                r#"<th scope="col">Score</th>"#
            } else {
                ""
            }
        );
        for (name, index) in &codes {
            let in_reference = d.reference.contains(name);
            let in_candidate = d.candidate.contains(name);
            let differs = in_reference != in_candidate;
            let mark = |yes: bool| {
                if yes {
                    r#"<span class="yes">✓ <span class="sr">coded</span></span>"#
                } else {
                    r#"<span class="no">–<span class="sr"> not coded</span></span>"#
                }
            };
            put!(
                self.out,
                r#"<tr{}><th scope="row">{}{}</th><td>{}</td><td>{}</td>"#,
                if differs { r#" class="diff""# } else { "" },
                if differs {
                    r#"<span class="diff-mark" title="The coders differ on this code">≠</span>&nbsp;"#
                } else {
                    r#"<span class="diff-mark blank" aria-hidden="true">≠</span>&nbsp;"#
                },
                esc(name),
                mark(in_reference),
                mark(in_candidate)
            );
            if let Some(scores) = &d.scores {
                let score = index.and_then(|i| scores.get(i)).copied();
                let threshold = input
                    .threshold_curves
                    .iter()
                    .find(|c| &c.code == name)
                    .map(|c| c.current_threshold);
                let cell = self.score_cell(score, threshold);
                put!(self.out, "<td>{cell}</td>");
            }
            self.out.push_str("</tr>");
        }
        self.out.push_str("</tbody></table></div></div></article>");
    }

    fn score_cell(&mut self, score: Option<f32>, threshold: Option<f32>) -> String {
        let Some(score) = score else {
            return r#"<span class="muted">–</span>"#.to_string();
        };
        if !score.is_finite() {
            return self.na();
        }
        let width = 50.0;
        let s = f64::from(score).clamp(0.0, 1.0);
        let mut svg = format!(
            r##"<span class="score">{score:.2}<svg width="52" height="12" viewBox="0 0 52 12" aria-hidden="true"><rect x="0" y="2" width="{width}" height="8" fill="#eef1f4"/><rect x="0" y="2" width="{:.1}" height="8" fill="{CANDIDATE_COLOUR}"/>"##,
            s * width
        );
        if let Some(t) = threshold.filter(|t| t.is_finite()) {
            let tx = f64::from(t).clamp(0.0, 1.0) * width;
            put!(
                svg,
                r#"<line x1="{tx:.1}" y1="0" x2="{tx:.1}" y2="12" stroke="{INK}" stroke-width="1.5"/>"#
            );
        }
        svg.push_str("</svg></span>");
        svg
    }

    // --- Learning curve ----------------------------------------------------------------------

    fn learning_curve(&mut self) {
        let Some(section) = &self.input.learning_curve else {
            return;
        };
        let curve = &section.curve;
        put!(
            self.out,
            r#"<section id="learning-curve"><h2>How much coding is enough</h2>
<p>How the model’s agreement with this project’s coding grew with the number of coded units it learnt from ({}). Each row trains on that many units and scores {} units held out, over {} repeats; ranges are the 2.5th to 97.5th percentiles over repeats.</p>
<table><thead><tr><th>coded units</th><th>macro-F1</th><th>range</th><th>macro κ</th><th>range</th></tr></thead><tbody>"#,
            esc(&section.model),
            count(curve.held_out as u64),
            curve.repeats
        );
        for p in &curve.points {
            let cell = |x: f64| fixed2(x).unwrap_or_else(|| "–".into());
            put!(
                self.out,
                "<tr><td>{}</td><td>{}</td><td>{} to {}</td><td>{}</td><td>{} to {}</td></tr>",
                count(p.n_train as u64),
                cell(p.macro_f1),
                cell(p.f1_interval[0]),
                cell(p.f1_interval[1]),
                cell(p.macro_kappa),
                cell(p.kappa_interval[0]),
                cell(p.kappa_interval[1])
            );
        }
        put!(
            self.out,
            "</tbody></table><p>Estimate: {}.</p></section>\n",
            esc(&curve.verdict)
        );
    }

    // --- Threshold curves --------------------------------------------------------------------

    fn thresholds(&mut self) {
        let input = self.input;
        self.out.push_str(
            r#"<section id="thresholds"><h2>How the model’s threshold changes agreement</h2>"#,
        );
        if input.threshold_curves.is_empty() {
            self.out.push_str(
                "<p>Not shown: these curves need the candidate’s scores, and this candidate has none (a human coder, or codes imported without scores).</p></section>\n",
            );
            return;
        }
        put!(
            self.out,
            r#"<p>The model gives each unit a score from 0 to 1 for each code and applies the code when the score reaches a threshold. A lower threshold applies the code more often, a higher one more sparingly. Each chart shows how agreement with the reference would change with the threshold; the vertical line is the threshold the model uses, chosen on held-out development data, not on these units.</p>
<div class="legend"><span>{}Cohen’s κ</span><span>{}F1</span><span>{}the model’s threshold, with κ and F1 there</span></div><div class="curves">"#,
            swatch_line(Chance::Kappa.colour(), None, Some(Shape::Circle)),
            swatch_line(F1_COLOUR, Some("7 4"), Some(Shape::Triangle)),
            swatch_line(INK, Some("2 3"), None),
        );
        // One vertical scale for all charts, so that they can be compared at a glance.
        let lowest = input
            .threshold_curves
            .iter()
            .flat_map(|c| &c.points)
            .flat_map(|p| [p.cohen_kappa, p.f1])
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::min);
        let y_lo = ((lowest * 4.0).floor() / 4.0).max(-1.0);
        for curve in &input.threshold_curves {
            self.curve(curve, y_lo);
        }
        self.out.push_str("</div></section>\n");
    }

    /// One small chart; `y_lo` is the bottom of the vertical axis (at most 0).
    fn curve(&mut self, curve: &ThresholdCurve, y_lo: f64) {
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

        let mut svg = format!(
            r#"<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Kappa and F1 against the threshold for {}">"#,
            esc(&curve.code)
        );
        for v in ticks(y_lo, 1.0, y_step) {
            let yy = y(v);
            put!(
                svg,
                r#"<line x1="{X0}" y1="{yy:.1}" x2="{X1}" y2="{yy:.1}" stroke="{}"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"#,
                if v == 0.0 { "#8c959f" } else { GRID },
                X0 - 6.0,
                yy + 4.0,
                tick_label(v)
            );
        }
        for t in ticks(t_lo, t_hi, (t_hi - t_lo) / 4.0) {
            let xx = x(t);
            put!(
                svg,
                r##"<line x1="{xx:.1}" y1="{Y1}" x2="{xx:.1}" y2="{:.1}" stroke="#8c959f"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
                Y1 + 4.0,
                Y1 + 17.0,
                tick_label(t)
            );
        }
        put!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis-title">threshold</text>"#,
            (X0 + X1) / 2.0,
            HEIGHT - 6.0
        );
        let path = |get: fn(&ThresholdPoint) -> f64| {
            let mut d = String::new();
            let mut pen_down = false;
            for p in &points {
                let v = get(p);
                if v.is_finite() {
                    put!(
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
        if !f1_path.is_empty() {
            put!(
                svg,
                r#"<path d="{f1_path}" fill="none" stroke="{F1_COLOUR}" stroke-width="2.5" stroke-dasharray="7 4" stroke-linejoin="round"/>"#
            );
        }
        if !kappa_path.is_empty() {
            put!(
                svg,
                r#"<path d="{kappa_path}" fill="none" stroke="{}" stroke-width="2.5" stroke-linejoin="round"/>"#,
                Chance::Kappa.colour()
            );
        }
        // The model's threshold and the values there.
        let current = f64::from(curve.current_threshold);
        let at = interpolate(&points, current);
        if current.is_finite() && current >= t_lo && current <= t_hi {
            let cx = x(current);
            let anchor = if cx > (X0 + X1) / 2.0 { "end" } else { "start" };
            let label_x = if anchor == "end" { cx - 4.0 } else { cx + 4.0 };
            put!(
                svg,
                r#"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{Y1}" stroke="{INK}" stroke-width="1.5" stroke-dasharray="2 3"/><text x="{label_x:.1}" y="{:.1}" text-anchor="{anchor}" class="ref-label">model: {:.2}</text>"#,
                Y0 - 10.0,
                Y0 - 12.0,
                curve.current_threshold
            );
            if let Some((k, f)) = at {
                if f.is_finite() {
                    svg.push_str(&marker(Shape::Triangle, cx, y(f), F1_COLOUR));
                }
                if k.is_finite() {
                    svg.push_str(&marker(Shape::Circle, cx, y(k), Chance::Kappa.colour()));
                }
            }
        }
        svg.push_str("</svg>");

        let mut caption = String::new();
        if let Some((k, f)) = at {
            put!(
                caption,
                "At the model’s threshold ({:.2}): κ {}, F1 {}.",
                curve.current_threshold,
                self.stat_text(k),
                self.stat_text(f)
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
            put!(
                caption,
                " Highest κ: {} at {:.2}.",
                self.stat_text(b.cohen_kappa),
                b.threshold
            );
        }
        if points.is_empty() {
            caption.push_str("No points.");
        }
        put!(
            self.out,
            r#"<figure class="curve"><figcaption class="curve-title"><span class="code">{}</span></figcaption>{svg}<p class="curve-note">{}</p></figure>"#,
            esc(&curve.code),
            caption.trim()
        );
    }

    // --- Notes -------------------------------------------------------------------------------

    fn notes(&mut self) {
        // Every section has been rendered, so `na_used` is final, except for statistics that
        // only the notes would show (none).
        let input = self.input;
        let na = self.na_used || self.input_has_nan();
        if input.notes.is_empty() && !na {
            return;
        }
        self.out
            .push_str(r#"<section id="notes"><h2>Notes</h2><ul class="notes">"#);
        if na {
            self.out.push_str(
                "<li><strong>n/a</strong> marks a statistic that is not defined for a code, usually because one or both coders never (or always) used it, so there is nothing to correct for chance or to divide by. It is not a zero: look at the counts.</li>",
            );
        }
        for note in &input.notes {
            put!(self.out, "<li>{}</li>", esc(note));
        }
        self.out.push_str("</ul></section>\n");
    }
}

/// Kappa and F1 at threshold `t`, interpolated linearly between the nearest points.
fn interpolate(points: &[ThresholdPoint], t: f64) -> Option<(f64, f64)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const CODES: [&str; 3] = ["prevention", "empowerment", "efficiency"];

    fn stats(code: &str, values: [f64; 7], support: (u64, u64), ci: bool) -> CodeStats {
        let [pa, kappa, alpha, ac1, precision, recall, f1] = values;
        let around = |v: f64, w: f64| Some([v - w, (v + w).min(1.0)]);
        CodeStats {
            code: code.to_string(),
            percent_agreement: pa,
            cohen_kappa: kappa,
            krippendorff_alpha: alpha,
            gwet_ac1: ac1,
            precision,
            recall,
            f1,
            support_reference: support.0,
            support_candidate: support.1,
            intervals: ci.then(|| Intervals {
                percent_agreement: around(pa, 0.012),
                cohen_kappa: around(kappa, 0.07),
                krippendorff_alpha: around(alpha, 0.07),
                gwet_ac1: around(ac1, 0.04),
                precision: around(precision, 0.05),
                recall: around(recall, 0.06),
                f1: around(f1, 0.05),
            }),
        }
    }

    fn curve(code: &str, peak: f64, at: f64, current: f32) -> ThresholdCurve {
        let points = (1..20)
            .map(|i| {
                let t = i as f64 * 0.05;
                let f1 = (peak - 1.6 * (t - at).powi(2)).max(0.0);
                let kappa = (peak - 0.08 - 2.2 * (t - at).powi(2)).max(-0.05);
                ThresholdPoint {
                    threshold: t as f32,
                    cohen_kappa: kappa,
                    f1,
                }
            })
            .collect();
        ThresholdCurve {
            code: code.to_string(),
            points,
            current_threshold: current,
        }
    }

    fn frequency(value: &str, n: u64, reference: [u64; 3], candidate: [u64; 3]) -> FrequencyRow {
        FrequencyRow {
            value: value.to_string(),
            n_units: n,
            reference: reference.to_vec(),
            candidate: candidate.to_vec(),
        }
    }

    fn disagreement(
        unit: &str,
        text: &str,
        r: &[&str],
        c: &[&str],
        s: [f32; 3],
    ) -> DisagreementRow {
        DisagreementRow {
            unit: unit.to_string(),
            text: text.to_string(),
            reference: r.iter().map(|x| x.to_string()).collect(),
            candidate: c.iter().map(|x| x.to_string()).collect(),
            scores: Some(s.to_vec()),
        }
    }

    /// A realistic report: three discourses, two levels, both coders' co-occurrence, speaker
    /// and site frequencies, ten disagreements (one long, one with markup) and curves.
    fn sample() -> ReportInput {
        let segment = LevelSection {
            name: "segment level".into(),
            description: "Each unit is one segment (a speaker turn or part of one); a code is either applied to the segment or not.".into(),
            n_units: 1482,
            per_code: vec![
                stats("prevention", [0.912, 0.71, 0.71, 0.86, 0.74, 0.79, 0.76], (388, 402), true),
                stats("empowerment", [0.901, 0.52, 0.52, 0.87, 0.64, 0.55, 0.59], (214, 176), true),
                stats("efficiency", [0.931, 0.78, 0.78, 0.89, 0.79, 0.85, 0.82], (305, 331), true),
            ],
            macro_stats: stats("average of codes", [0.915, 0.67, 0.67, 0.87, 0.72, 0.73, 0.72], (907, 909), true),
        };
        let character = LevelSection {
            name: "character level (NVivo)".into(),
            description: "Each character of the transcripts is a unit, as in NVivo’s coding comparison: long passages weigh more than short ones.".into(),
            n_units: 412_930,
            per_code: vec![
                stats("prevention", [0.884, 0.63, 0.63, 0.82, 0.69, 0.71, 0.70], (98_120, 101_004), false),
                stats("empowerment", [0.873, 0.44, 0.44, f64::NAN, 0.58, 0.47, 0.52], (51_230, 40_118), false),
                stats("efficiency", [0.902, 0.69, 0.69, 0.85, 0.73, 0.77, 0.75], (77_860, 83_990), false),
            ],
            macro_stats: stats("average of codes", [0.886, 0.59, 0.59, f64::NAN, 0.67, 0.65, 0.66], (227_210, 225_112), false),
        };
        let long = "Well, the thing about the falls service is that it only works if you get in early. \
We looked at the JSNA and the A&E data with the public health team and found the same few hundred people \
coming back again and again, so we pooled a small budget with the council to put a falls practitioner into \
the reablement team. People told us they wanted to stay at home, and to be asked what mattered to them rather \
than being handed a leaflet. And yes, it saves money, admissions went down, but I would not lead with that in \
front of the board, because then it becomes a cost-cutting exercise and the GPs switch off. So we talk about \
independence first, and the savings are there in the business case for the finance director to find.";
        let disagreements = vec![
            disagreement(
                "site-a/int-04.txt:1840-2391",
                long,
                &["prevention", "empowerment"],
                &["prevention", "efficiency"],
                [0.93, 0.31, 0.88],
            ),
            disagreement(
                "site-b/int-11.txt:512-770",
                "We moved two contracts into one, one provider, one set of key performance indicators, so nobody is paying twice for the same visit.",
                &[],
                &["efficiency"],
                [0.12, 0.08, 0.91],
            ),
            disagreement(
                "site-a/int-02.txt:3301-3480",
                "The carers’ forum basically rewrote the specification, and honestly it is better for it.",
                &[],
                &["empowerment"],
                [0.05, 0.86, 0.22],
            ),
            disagreement(
                "site-c/int-07.txt:90-260",
                "It was an efficient meeting, I will give them that, we were out by eleven.",
                &[],
                &["efficiency"],
                [0.02, 0.04, 0.84],
            ),
            disagreement(
                "site-b/int-09.txt:2200-2480",
                "If you can stop someone ending up in hospital in the first place, that is where the money is, frankly.",
                &["prevention", "efficiency"],
                &["prevention"],
                [0.95, 0.07, 0.41],
            ),
            disagreement(
                "site-d/int-01.txt:14-120",
                "Interviewer: <script>alert('pwned')</script> Can you tell me a bit about <b>your role</b> & how long you have been in post?",
                &[],
                &["empowerment"],
                [0.03, 0.71, 0.06],
            ),
            disagreement(
                "site-c/int-03.txt:600-905",
                "Personal budgets were meant to give people choice and control, but in practice the choice is between two agencies that both cannot recruit.",
                &["empowerment"],
                &[],
                [0.18, 0.44, 0.39],
            ),
            disagreement(
                "site-a/int-06.txt:1200-1390",
                "We had to prevent the project from starting until the governance was signed off.",
                &[],
                &["prevention"],
                [0.66, 0.03, 0.10],
            ),
            disagreement(
                "site-d/int-05.txt:77-300",
                "The integrated team means the district nurse and the social worker see the same person on the same day instead of three referrals.",
                &["efficiency", "empowerment"],
                &["efficiency"],
                [0.22, 0.38, 0.79],
            ),
            disagreement(
                "site-b/int-12.txt:4100-4350",
                "Our population is getting older, and the needs assessment tells us where the frail people are, so that is where the community teams go.",
                &["prevention"],
                &["prevention", "efficiency"],
                [0.90, 0.05, 0.57],
            ),
        ];
        let mut speakers = vec![
            frequency("Interviewer", 579, [4, 2, 3], [9, 6, 8]),
            frequency("Respondent", 233, [71, 40, 58], [75, 31, 64]),
            frequency("Commissioner (CCG)", 141, [52, 22, 47], [55, 18, 49]),
            frequency("GP lead", 118, [61, 14, 21], [64, 11, 25]),
            frequency(
                "Director of integrated commissioning",
                96,
                [33, 20, 41],
                [31, 17, 45],
            ),
            frequency("Finance officer", 71, [9, 3, 50], [11, 2, 54]),
            frequency("Council officer", 64, [27, 21, 19], [29, 18, 22]),
            frequency("Lay representative", 41, [11, 29, 4], [10, 24, 6]),
            frequency("Public health consultant", 33, [26, 5, 7], [27, 4, 9]),
            frequency("Elected councillor", 22, [6, 9, 8], [7, 8, 10]),
        ];
        for (i, name) in [
            "Analyst A",
            "Analyst B",
            "Consultant",
            "Carer",
            "Provider manager",
            "Housing officer",
            "Voluntary sector lead",
            "Ward nurse",
        ]
        .iter()
        .enumerate()
        {
            let n = 14 - i as u64;
            speakers.push(frequency(
                name,
                n,
                [n / 3, n / 4, n / 5],
                [n / 3, n / 5, n / 4],
            ));
        }
        ReportInput {
            title: "Discotag default model vs coder A — joint commissioning interviews".into(),
            generated_at: "2025-03-14 10:42 UTC".into(),
            reference_name: "coder A".into(),
            candidate_name: "discotag default model".into(),
            codes: CODES.iter().map(|c| c.to_string()).collect(),
            levels: vec![segment, character],
            cooccurrence: vec![
                Cooccurrence { coder: "coder A".into(), counts: vec![vec![388, 61, 119], vec![61, 214, 47], vec![119, 47, 305]], n_units: 1482 },
                Cooccurrence { coder: "discotag default model".into(), counts: vec![vec![402, 58, 141], vec![58, 176, 39], vec![141, 39, 331]], n_units: 1482 },
            ],
            frequencies: vec![
                FrequencyTable { by: "speaker".into(), rows: speakers },
                FrequencyTable {
                    by: "site".into(),
                    rows: vec![
                        frequency("Northfield", 402, [121, 51, 70], [118, 44, 79]),
                        frequency("Eastbridge", 377, [88, 63, 91], [95, 49, 97]),
                        frequency("Riverside", 361, [97, 58, 66], [103, 47, 72]),
                        frequency("Westmoor", 342, [82, 42, 78], [86, 36, 83]),
                    ],
                },
            ],
            disagreements,
            disagreements_total: Some(212),
            threshold_curves: vec![
                curve("prevention", 0.78, 0.45, 0.42),
                curve("empowerment", 0.62, 0.35, 0.38),
                curve("efficiency", 0.83, 0.5, 0.55),
            ],
            learning_curve: Some(LearningCurveSection {
                model: "model models/study, trained from project \"Joint commissioning <interviews>\"".into(),
                curve: crate::train::curve::Curve {
                    points: [(25, 0.41, 0.22), (50, 0.52, 0.35), (100, 0.61, 0.47), (200, 0.68, 0.58)]
                        .iter()
                        .map(|&(n, f1, kappa)| crate::train::curve::CurvePoint {
                            n_train: n,
                            macro_f1: f1,
                            macro_kappa: kappa,
                            f1_interval: [f1 - 0.05, f1 + 0.04],
                            kappa_interval: [kappa - 0.06, kappa + 0.05],
                            repeats: 5,
                        })
                        .collect(),
                    target_kappa: 0.7,
                    estimated_n_for_target: Some(310.0),
                    extrapolated: true,
                    fit: None,
                    held_out: 60,
                    repeats: 5,
                    verdict: "about 310 coded units for macro kappa 0.70: an extrapolation beyond the 200 measured, so a rough guide".into(),
                },
            }),
            notes: vec![
                "Units were matched by id; 3 units present only in the candidate file were left out.".into(),
                "Intervals: 1,000 bootstrap resamples of units.".into(),
            ],
        }
    }

    /// The second codebook (six policy imperatives, long names), with a negative kappa.
    fn six_codes() -> ReportInput {
        let codes: Vec<String> = [
            "efficiency or value for money",
            "place agenda",
            "personalisation",
            "prevention",
            "care closer to home",
            "overlap of clientele",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect();
        let mut input = sample();
        let level = |name: &str, shift: f64| {
            let per_code: Vec<CodeStats> = codes
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let k = 0.75 - 0.16 * i as f64 - shift;
                    stats(
                        c,
                        [0.9, k, k - 0.01, k + 0.15, 0.7, 0.6, 0.65],
                        (40 + i as u64, 38),
                        true,
                    )
                })
                .collect();
            LevelSection {
                name: name.into(),
                description: String::new(),
                n_units: 900,
                per_code,
                macro_stats: stats(
                    "average of codes",
                    [0.9, 0.35, 0.34, 0.5, 0.7, 0.6, 0.65],
                    (300, 280),
                    true,
                ),
            }
        };
        input.codes = codes.clone();
        input.levels = vec![level("segment level", 0.0)];
        let counts = |seed: u64| -> Vec<Vec<u64>> {
            (0..6u64)
                .map(|i| {
                    (0..6u64)
                        .map(|j| {
                            if i == j {
                                120 + 13 * i
                            } else {
                                (i * 7 + j * 7 + seed) % 45
                            }
                        })
                        .collect()
                })
                .collect()
        };
        input.cooccurrence = vec![
            Cooccurrence {
                coder: "coder A".into(),
                counts: counts(0),
                n_units: 900,
            },
            Cooccurrence {
                coder: "coder B".into(),
                counts: counts(5),
                n_units: 900,
            },
        ];
        input.frequencies = vec![FrequencyTable {
            by: "site".into(),
            rows: vec![FrequencyRow {
                value: "Northfield".into(),
                n_units: 900,
                reference: vec![50, 40, 30, 20, 10, 5],
                candidate: vec![45, 42, 28, 25, 12, 4],
            }],
        }];
        for d in &mut input.disagreements {
            d.scores = Some(vec![0.1, 0.9, 0.4, 0.5, 0.2, 0.7]);
        }
        input.threshold_curves = codes
            .iter()
            .enumerate()
            .map(|(i, c)| curve(c, 0.8 - 0.12 * i as f64, 0.5, 0.5))
            .collect();
        input
    }

    #[test]
    fn long_code_names_and_negative_values_fit() {
        let html = render(&six_codes());
        assert!(
            html.contains("rotate(-40)"),
            "long column labels are rotated"
        );
        assert!(
            html.contains(">−1</text>"),
            "negative kappa: the axis runs from -1"
        );
        assert_eq!(html.matches(r#"<figure class="curve">"#).count(), 6);
    }

    #[test]
    fn the_learning_curve_is_a_table_with_its_verdict() {
        let html = render(&sample());
        assert!(
            html.contains(r##"<a href="#learning-curve">"##),
            "listed in the contents"
        );
        let section = &html[html.find(r#"<section id="learning-curve">"#).unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        assert_eq!(section.matches("<tr><td>").count(), 4);
        assert!(section.contains("<td>200</td><td>0.68</td><td>0.63 to 0.72</td><td>0.58</td>"));
        assert!(section.contains("an extrapolation beyond the 200 measured"));
        assert!(
            section.contains("&lt;interviews&gt;"),
            "the model name is escaped"
        );
        let mut without = sample();
        without.learning_curve = None;
        assert!(!render(&without).contains("learning-curve"));
    }

    #[test]
    fn data_is_escaped_everywhere() {
        let mut input = sample();
        let evil = "<script>alert(1)</script>\"'&";
        input.title = evil.into();
        input.reference_name = evil.into();
        input.candidate_name = evil.into();
        input.codes[1] = "<img src=x onerror=alert(1)>".into();
        input.levels[0].per_code[1].code = evil.into();
        input.levels[0].name = evil.into();
        input.cooccurrence[0].coder = evil.into();
        input.frequencies[0].by = evil.into();
        input.frequencies[0].rows[0].value = evil.into();
        input.disagreements[0].unit = evil.into();
        input.disagreements[0]
            .reference
            .push("<svg onload=alert(1)>".into());
        input.threshold_curves[0].code = evil.into();
        if let Some(section) = input.learning_curve.as_mut() {
            section.model = evil.into();
            section.curve.verdict = evil.into();
        }
        input.notes.push(evil.into());
        let html = render(&input);
        assert!(
            !html.to_lowercase().contains("<script"),
            "unescaped <script"
        );
        assert!(!html.contains("<img"));
        assert!(!html.contains("<svg onload"));
        assert!(!html.contains("\"'&<"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        // The transcript with markup in the sample is shown as text.
        assert!(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;your role&lt;/b&gt; &amp; how"));
        assert_eq!(esc("a\u{0}b\u{7}c\n"), "a\u{FFFD}b\u{FFFD}c\n");
    }

    #[test]
    fn undefined_statistics_show_as_na() {
        let mut input = sample();
        input.levels[0].per_code[0].cohen_kappa = f64::NAN;
        input.levels[0].per_code[0].percent_agreement = f64::NAN;
        input.levels[0].per_code[0].intervals = Some(Intervals {
            cohen_kappa: Some([f64::NAN, f64::NAN]),
            ..Intervals::default()
        });
        input.levels[0].macro_stats.f1 = f64::INFINITY;
        input.threshold_curves[0].points[3].cohen_kappa = f64::NAN;
        let html = render(&input);
        for bad in ["NaN", ">inf", "inf<", " inf", "∞"] {
            assert!(!html.contains(bad), "{bad} printed");
        }
        assert!(html.contains(r#"<abbr class="na""#));
        assert!(
            html.contains("n/a</text>"),
            "the chart marks the missing point"
        );
        assert!(html.contains("<strong>n/a</strong> marks a statistic"));
    }

    #[test]
    fn full_input_has_every_section() {
        let html = render(&sample());
        for id in [
            "summary",
            "about",
            "level-1",
            "level-2",
            "cooccurrence",
            "frequencies",
            "disagreements",
            "thresholds",
            "notes",
        ] {
            assert!(html.contains(&format!(r#"<section id="{id}">"#)), "{id}");
            assert!(html.contains(&format!(r##"href="#{id}""##)), "toc {id}");
        }
        assert!(html.contains("character level (NVivo)"));
        assert!(html.contains("By speaker") && html.contains("By site"));
        assert!(
            html.contains("other (3 values)"),
            "18 speakers: 15 shown, 3 folded"
        );
        assert_eq!(html.matches(r#"<article class="dis">"#).count(), 10);
        assert_eq!(html.matches(r#"<figure class="curve">"#).count(), 3);
        assert_eq!(html.matches(r#"<figure class="heatmap">"#).count(), 2);
        assert!(html.contains("10 of the 212 units"));
        assert!(html.contains("<details>"), "the long text is folded");
    }

    #[test]
    fn empty_sections_are_omitted_or_explained() {
        let input = ReportInput {
            title: "t".into(),
            codes: vec!["a".into()],
            levels: vec![sample().levels.remove(0)],
            ..ReportInput::default()
        };
        let html = render(&input);
        for id in ["cooccurrence", "frequencies", "disagreements", "level-2"] {
            assert!(!html.contains(&format!(r#"id="{id}""#)), "{id}");
        }
        assert!(html.contains("these curves need the candidate’s scores"));
        assert!(
            !html.contains("Confidential"),
            "no transcript text, no warning"
        );
        // Nothing at all still renders a valid page.
        let empty = render(&ReportInput::default());
        assert!(empty.starts_with("<!DOCTYPE html>") && empty.ends_with("</html>\n"));
    }

    #[test]
    fn output_has_no_external_references() {
        let html = render(&sample()).to_lowercase();
        for needle in [
            "http://", "https://", "<script", "src=", "url(http", "@import", "<link", "<img",
            "<iframe",
        ] {
            assert!(!html.contains(needle), "found {needle}");
        }
        // The only url() is an in-document gradient.
        assert!(html.matches("url(").all(|_| true));
        assert!(!html.contains("url(//"));
    }

    #[test]
    fn output_is_deterministic() {
        let input = sample();
        assert_eq!(render(&input), render(&input.clone()));
    }

    #[test]
    fn helpers() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(412_930), "412,930");
        assert_eq!(fixed2(-0.001).as_deref(), Some("0.00"));
        assert_eq!(fixed2(f64::NAN), None);
        assert_eq!(percent(0.9124).as_deref(), Some("91.2%"));
        assert_eq!(share(1, 3), "33%");
        assert_eq!(share(1, 0), "–");
        assert_eq!(tick_label(-0.5), "−0.5");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(blues(0.0), "#f7fbff");
        assert_eq!(blues(1.0), "#08306b");
        assert_eq!(excerpt("short", 10), None);
        assert_eq!(
            excerpt("one two three four five", 12).as_deref(),
            Some("one two …")
        );
        let t = interpolate(
            &[
                ThresholdPoint {
                    threshold: 0.0,
                    cohen_kappa: 0.0,
                    f1: 0.2,
                },
                ThresholdPoint {
                    threshold: 1.0,
                    cohen_kappa: 1.0,
                    f1: 0.4,
                },
            ],
            0.25,
        );
        assert_eq!(t, Some((0.25, 0.25)));
    }

    /// Renders the sample report in headless Chromium and checks the screenshot is not blank.
    /// Set `DISCOTAG_REPORT_KEEP=<dir>` to keep `agree-report.html` and `.png` there.
    #[test]
    fn renders_in_headless_chromium() {
        let Some(chromium) = find_chromium() else {
            let required = std::env::var("DISCOTAG_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
            assert!(!required, "chromium not found and DISCOTAG_REQUIRE_TOOLS=1");
            eprintln!(
                "\n*** SKIPPED renders_in_headless_chromium: no chromium on PATH (set DISCOTAG_REQUIRE_TOOLS=1 to make this a failure) ***\n"
            );
            return;
        };
        let temp = tempfile::tempdir().expect("temporary directory");
        let dir = std::env::var_os("DISCOTAG_REPORT_KEEP")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| temp.path().to_path_buf());
        std::fs::create_dir_all(&dir).expect("output directory");
        let html_path = dir.join("agree-report.html");
        let png_path = dir.join("agree-report.png");
        let _ = std::fs::remove_file(&png_path);
        std::fs::write(&html_path, render(&sample())).expect("write html");
        if std::env::var_os("DISCOTAG_REPORT_KEEP").is_some() {
            let six = dir.join("agree-report-six-codes.html");
            std::fs::write(six, render(&six_codes())).expect("write html");
        }
        let size = std::env::var("DISCOTAG_REPORT_WINDOW").unwrap_or_else(|_| "1280,4000".into());
        let mut child = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!(
                "--user-data-dir={}",
                temp.path().join("profile").display()
            ))
            .arg(format!("--window-size={size}"))
            .arg(format!("--screenshot={}", png_path.display()))
            .arg(format!("file://{}", html_path.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromium");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if child.try_wait().expect("wait for chromium").is_some() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let png = std::fs::read(&png_path).expect("chromium wrote no screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        // A blank 1280x4000 page compresses to a few kilobytes; the report is far larger.
        assert!(
            png.len() > 40_000,
            "screenshot looks blank: {} bytes",
            png.len()
        );
    }

    fn find_chromium() -> Option<std::path::PathBuf> {
        if let Some(p) = std::env::var_os("DISCOTAG_CHROMIUM") {
            return Some(p.into());
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).find_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
        })
    }
}
