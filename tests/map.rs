//! The map of the dataset: `idc-studio map` writes every patch's place, and in the app a reader
//! colours the map by outcome, hovers and clicks a point to open its tile, and lassoes a region
//! to review exactly the patches inside it.

mod common;

use std::path::{Path, PathBuf};

use common::binary::{idc_studio, text};
use common::harness::{app_at_desk, wait_for};
use egui_kittest::kittest::Queryable;
use idc_studio::app::View;
use idc_studio::review::Cell;

/// A demo of four patients trained for one epoch: (home, data, run, patches).
fn trained_run() -> (tempfile::TempDir, PathBuf, PathBuf, usize) {
    let home = tempfile::tempdir().unwrap();
    let (data, run, patches) = common::runs::trained_one_epoch(home.path());
    (home, data, run, patches)
}

fn map_csv(run: &Path, out: &Path) -> String {
    let output = idc_studio(&[
        "map",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stderr)
}

#[test]
fn the_map_command_places_every_patch_with_its_part_and_caches_the_map() {
    let (home, _data, run, patches) = trained_run();
    let out = home.path().join("map.csv");
    let said = map_csv(&run, &out);
    assert!(
        said.contains("Laying out the map"),
        "the steps and their times are told:\n{said}"
    );
    assert!(said.contains("peak memory"), "{said}");
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("patient,x,y,label,part,map_x,map_y"));
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert_eq!(rows.len(), patches, "one row a patch");
    let split = std::fs::read_to_string(run.join("split.csv")).unwrap();
    let test_in_split = split.lines().filter(|line| line.ends_with(",test")).count();
    assert_eq!(
        rows.iter().filter(|row| row[4] == "test").count(),
        test_in_split,
        "the run's own split"
    );
    let xs: Vec<f32> = rows.iter().map(|row| row[5].parse().unwrap()).collect();
    let ys: Vec<f32> = rows.iter().map(|row| row[6].parse().unwrap()).collect();
    assert!(xs.iter().chain(&ys).all(|v| v.is_finite()));
    let spread = |values: &[f32]| {
        values.iter().cloned().fold(f32::MIN, f32::max) - values.iter().cloned().fold(f32::MAX, f32::min)
    };
    assert!(
        spread(&xs) > 1.0 && spread(&ys) > 1.0,
        "the points are spread out"
    );
    assert!(run.join("map.bin").is_file(), "cached with the run");

    // Asked again, the cached map gives the same places, without laying out again.
    let again = home.path().join("again.csv");
    let said = map_csv(&run, &again);
    assert!(!said.contains("Laying out"), "{said}");
    assert_eq!(std::fs::read_to_string(&again).unwrap(), csv);
}

#[test]
fn a_reader_colours_by_outcome_opens_a_tile_from_the_map_and_lassoes_a_region() {
    let (home, data, run, patches) = trained_run();
    let mut harness = app_at_desk(home.path(), &data, Some(run));
    wait_for(&mut harness, "the run", |app| {
        app.workspace().run.is_some() && !app.is_loading()
    });
    harness.state_mut().show_view(View::Map);
    wait_for(&mut harness, "the map", |app| {
        app.map().work.map.is_some() && !app.map().legend().is_empty()
    });

    // Coloured by outcome, the legend counts the run's confusion matrix.
    let (points, matrix) = {
        let app = harness.state();
        let run = app.workspace().run.as_ref().unwrap();
        let threshold = run.threshold();
        let count = |cell: Cell| {
            (0..patches)
                .filter(|&index| run.cell_of(index, threshold) == Some(cell))
                .count()
        };
        let matrix: Vec<(Cell, usize)> = Cell::ALL.iter().map(|&cell| (cell, count(cell))).collect();
        (app.map().work.map.as_ref().unwrap().map.points.clone(), matrix)
    };
    let legend = harness.state().map().legend().to_vec();
    let names = [
        "true negative",
        "false positive",
        "false negative (missed IDC)",
        "true positive",
    ];
    for ((cell, count), (entry, name)) in matrix.iter().zip(legend.iter().zip(names)) {
        assert_eq!(
            (entry.name.as_str(), entry.count),
            (name, *count),
            "{cell:?} in {legend:?}"
        );
    }
    let tested: usize = matrix.iter().map(|(_, count)| count).sum();
    assert_eq!(
        legend[4].count,
        patches - tested,
        "the rest: not in the test part"
    );

    // Hover a point: its tile shows; click it: it becomes the current tile, with its panel.
    let target = 37;
    let at = harness
        .state()
        .map()
        .canvas
        .screen_position(points[target])
        .unwrap();
    harness.hover_at(at);
    harness.run_steps(3);
    let hovered = harness
        .state()
        .map()
        .canvas
        .hovered
        .expect("a point under the pointer");
    assert_eq!(points[hovered], points[target], "the point under the pointer");
    harness.drag_at(at);
    harness.step();
    harness.drop_at(at);
    harness.run_steps(3);
    assert_eq!(harness.state().map().current, Some(hovered));
    harness.get_by_label("Your judgement");

    // Lasso a triangle around part of the map: Review lists exactly the points inside it.
    harness.get_by_label("Lasso").click();
    harness.run_steps(2);
    let screen: Vec<egui::Pos2> = points
        .iter()
        .map(|&p| harness.state().map().canvas.screen_position(p).unwrap())
        .collect();
    let (low, high) = screen.iter().fold(
        (
            egui::Pos2::new(f32::MAX, f32::MAX),
            egui::Pos2::new(f32::MIN, f32::MIN),
        ),
        |(l, h), p| (l.min(*p), h.max(*p)),
    );
    let corners = [
        egui::Pos2::new(low.x - 5.0, low.y - 5.0),
        egui::Pos2::new(high.x + 5.0, low.y - 5.0),
        egui::Pos2::new(low.x - 5.0, (low.y + high.y) / 2.0 + 30.0),
    ];
    let expected: Vec<usize> = (0..screen.len())
        .filter(|&i| inside(&corners, screen[i]))
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < screen.len(),
        "the triangle holds some points, not all"
    );
    harness.drag_at(corners[0]);
    harness.step();
    for corner in &corners[1..] {
        for step in 1..=10 {
            let previous = if *corner == corners[1] {
                corners[0]
            } else {
                corners[1]
            };
            harness.hover_at(previous + (*corner - previous) * (step as f32 / 10.0));
            harness.step();
        }
    }
    harness.drop_at(corners[2]);
    harness.run_steps(3);
    assert_eq!(harness.state().view(), View::Review, "the region opens in Review");
    let mut listed = harness
        .state()
        .review()
        .list()
        .expect("a review list")
        .tiles
        .clone();
    listed.sort();
    assert_eq!(listed, expected, "exactly the points inside the lasso");
}

fn inside(outline: &[egui::Pos2], point: egui::Pos2) -> bool {
    let mut inside = false;
    let mut previous = outline[outline.len() - 1];
    for &corner in outline {
        if (corner.y > point.y) != (previous.y > point.y) {
            let x = corner.x + (point.y - corner.y) * (previous.x - corner.x) / (previous.y - corner.y);
            if point.x < x {
                inside = !inside;
            }
        }
        previous = corner;
    }
    inside
}
