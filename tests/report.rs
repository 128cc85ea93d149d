//! The report a reader sends a pathologist: built from the demo run after two readers judged its
//! surest missed cancer, it holds every tile as an inline PNG, links to nothing outside itself,
//! shows the run's confusion matrix and the readers' notes, and a real browser renders it with
//! its tissue tiles.

mod common;

use std::path::Path;

use base64::Engine;
use common::binary::{idc_studio, text};
use idc_studio::dataset::{Label, PatchKey};
use idc_studio::metrics::Metrics;
use idc_studio::review::{Annotation, ReviewState, Reviews};
use idc_studio::training::{PredictionRow, RunFolder};

/// Two readers judge the run's surest missed cancer (or, where it missed none, its surest
/// false alarm): one agrees with the label, one does not, with a note that holds markup.
fn two_readers_judge(data: &Path, surest: &PredictionRow) {
    let folder = data.join(idc_studio::dataset::annotations_folder::BESIDE_DATASET);
    let (mut reviews, _) = Reviews::open(&folder).unwrap();
    let key = PatchKey {
        patient: surest.patient.clone(),
        x: surest.x,
        y: surest.y,
    };
    for (reader, state, note) in [
        (
            "dr-ana",
            ReviewState::Agree,
            "the label is right: the model missed it",
        ),
        (
            "dr-ben",
            ReviewState::relabel(Label::NonIdc),
            "benign <b>stroma</b> & fat",
        ),
    ] {
        let mut annotation = Annotation::blank(&key, surest.path.clone(), surest.label, reader);
        annotation.state = state;
        annotation.note = note.into();
        reviews.record(annotation).unwrap();
    }
}

/// Every `src="…"` of the page.
fn sources(html: &str) -> Vec<&str> {
    html.split("src=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

#[test]
fn the_demo_runs_report_is_one_self_contained_file_a_browser_renders_with_its_tiles() {
    let home = tempfile::tempdir().unwrap();
    let (data, run, _) = common::runs::trained_one_epoch(home.path());
    let folder = RunFolder::open(&run).unwrap();
    let metrics: Metrics =
        serde_json::from_str(&std::fs::read_to_string(folder.metrics_path()).unwrap()).unwrap();
    let rows = folder.read_predictions().unwrap();
    let [[_, false_alarms], [missed, _]] = metrics.confusion;
    let surest = match missed {
        0 => rows
            .iter()
            .filter(|row| row.label == Label::NonIdc && row.prob_idc >= 0.5)
            .max_by(|a, b| a.prob_idc.total_cmp(&b.prob_idc)),
        _ => rows
            .iter()
            .filter(|row| row.label == Label::Idc && row.prob_idc < 0.5)
            .min_by(|a, b| a.prob_idc.total_cmp(&b.prob_idc)),
    }
    .expect("the one-epoch demo run makes mistakes")
    .clone();
    two_readers_judge(&data, &surest);

    let out = home.path().join("report.html");
    let made = idc_studio(&[
        "report",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--tiles",
        "8",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let html = std::fs::read_to_string(&out).unwrap();

    // Every image is inside the file, and each is a whole PNG of a patch.
    let images = sources(&html);
    assert_eq!(
        images.len(),
        missed.min(8) + false_alarms.min(8),
        "one tile per mistake shown"
    );
    for source in &images {
        let encoded = source
            .strip_prefix("data:image/png;base64,")
            .unwrap_or_else(|| panic!("an image outside the file: {source}"));
        let png = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        let tile = image::load_from_memory(&png).unwrap();
        assert!(tile.width() <= 50 && tile.height() <= 50 && tile.width() > 0);
    }
    // Nothing points outside the file.
    for outside in ["http:", "https:", "href=", "src=\"//", "<script", "<link", "url("] {
        assert!(!html.contains(outside), "{outside} in the report");
    }

    // The numbers a reader checks: the matrix at the threshold, both charts, the readers.
    assert!(
        html.contains(&format!("<td class=\"missed\">{missed}</td>")),
        "the missed cancers cell"
    );
    assert!(html.contains(&format!("<td class=\"alarm\">{false_alarms}</td>")));
    assert_eq!(html.matches("<svg").count(), 2, "ROC and reliability");
    assert!(html.contains("SYNTHETIC demo patches"));
    assert!(html.contains(&format!("P(IDC) {:.3}", surest.prob_idc)));
    assert!(html.contains("dr-ana: agree with the label: “the label is right: the model missed it”"));
    assert!(
        html.contains("dr-ben: relabel to non-IDC (0): “benign &lt;b&gt;stroma&lt;")
            && html.contains("&gt; &amp; fat”"),
        "the note is shown as written, its markup escaped"
    );
    assert!(!html.contains("<b>stroma"), "a note's markup is never the page's");
    assert!(html.contains("dr-ana and dr-ben"), "reader agreement");
    assert!(html.contains("Expected calibration error"));
    assert!(
        html.contains("fitted on the validation part"),
        "a trained run keeps its validation part"
    );

    render_in_a_browser(&out, home.path());
}

/// Chromium's headless screenshot of the report holds the tiles' tissue colours: the browser
/// decoded the inline images. CI installs Chromium; elsewhere the check is skipped, said so.
fn render_in_a_browser(report: &Path, scratch: &Path) {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| std::process::Command::new(name).arg("--version").output().is_ok())
    else {
        assert!(
            std::env::var_os("IDC_STUDIO_REQUIRE_XVFB").is_none(),
            "Chromium is needed for the report's browser check (CI installs it)"
        );
        eprintln!("skipped: no Chromium to render the report in");
        return;
    };
    let shot = scratch.join("report.png");
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,2600",
        ])
        .arg(format!("--user-data-dir={}", scratch.join("chromium").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(shot.is_file(), "no screenshot: {}", text(&output.stderr));
    if let Some(keep) = std::env::var_os("IDC_STUDIO_KEEP_REPORT_SHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    let screenshot = image::open(&shot).unwrap().to_rgb8();
    // The demo's tissue: pink and purple, red and blue well above green.
    let tissue = screenshot
        .pixels()
        .filter(|pixel| {
            let [r, g, b] = pixel.0.map(i32::from);
            r > 120 && b > 100 && g < r - 35 && g < b - 15
        })
        .count();
    assert!(
        tissue > 20_000,
        "the rendered page shows the tiles' tissue ({tissue} tissue-coloured pixels)"
    );
}
