//! Tests of the report: sections, escaping, determinism, self-containment, and a render in
//! headless Chromium when it is installed.

use super::thresholds::interpolate;
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

fn disagreement(unit: &str, text: &str, r: &[&str], c: &[&str], s: [f32; 3]) -> DisagreementRow {
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
    // maud escapes &, <, > and " but leaves ' as it is: every attribute is double-quoted.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // The transcript with markup in the sample is shown as text.
    assert!(html.contains("&lt;script&gt;alert('pwned')&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;your role&lt;/b&gt; &amp; how"));
    assert_eq!(clean("a\u{0}b\u{7}c\n"), "a\u{FFFD}b\u{FFFD}c\n");
    // Control characters in data reach the page as U+FFFD.
    input.notes.push("bell\u{7}here".into());
    let html = render(&input);
    assert!(html.contains("<li>bell\u{FFFD}here</li>"));
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
        "http://", "https://", "<script", "src=", "url(http", "@import", "<link", "<img", "<iframe",
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
