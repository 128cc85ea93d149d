//! Patch file names: `<patient>_idx5_x<X>_y<Y>_class<C>.png`.

use super::Label;

/// What a patch's file name says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchName {
    pub patient: String,
    pub x: u32,
    pub y: u32,
    pub label: Label,
}

/// What is wrong with a file name that is not an IDC patch's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchNameError {
    #[error("does not end in .png")]
    NotPng,
    /// A part of the name is missing (`_class<C>`, `_y<Y>`, `_x<X>`, `_idx5`).
    #[error("no {0} part")]
    MissingPart(&'static str),
    #[error("class '{0}' is not 0 or 1")]
    Class(String),
    #[error("empty patient id")]
    EmptyPatient,
    #[error("{axis} coordinate '{text}' is not a number")]
    NotANumber { axis: &'static str, text: String },
    #[error("{axis} coordinate '{text}' is too large (at most {MAX_COORDINATE})")]
    TooLarge { axis: &'static str, text: String },
}

/// Parses an IDC patch file name, or says what is wrong with it.
pub fn parse_patch_name(file_name: &str) -> Result<PatchName, PatchNameError> {
    let stem = file_name.strip_suffix(".png").ok_or(PatchNameError::NotPng)?;
    // Split from the right: a patient id could itself hold underscores.
    let (rest, class) = stem
        .rsplit_once("_class")
        .ok_or(PatchNameError::MissingPart("_class<C>"))?;
    let label = match class {
        "0" => Label::NonIdc,
        "1" => Label::Idc,
        other => return Err(PatchNameError::Class(other.to_string())),
    };
    let (rest, y) = rest
        .rsplit_once("_y")
        .ok_or(PatchNameError::MissingPart("_y<Y>"))?;
    let (rest, x) = rest
        .rsplit_once("_x")
        .ok_or(PatchNameError::MissingPart("_x<X>"))?;
    let patient = rest
        .strip_suffix("_idx5")
        .ok_or(PatchNameError::MissingPart("_idx5"))?;
    if patient.is_empty() {
        return Err(PatchNameError::EmptyPatient);
    }
    Ok(PatchName {
        patient: patient.to_string(),
        x: parse_coordinate(x, "x")?,
        y: parse_coordinate(y, "y")?,
        label,
    })
}

/// The largest coordinate a patch may have: far beyond any scanned slide (IDC_regular's reach
/// some 4,000 pixels), and far enough from `u32::MAX` that a slide's size never overflows.
pub const MAX_COORDINATE: u32 = 1_000_000;

fn parse_coordinate(text: &str, axis: &'static str) -> Result<u32, PatchNameError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PatchNameError::NotANumber {
            axis,
            text: text.to_string(),
        });
    }
    match text.parse::<u32>() {
        Ok(value) if value <= MAX_COORDINATE => Ok(value),
        _ => Err(PatchNameError::TooLarge {
            axis,
            text: text.to_string(),
        }),
    }
}

/// The file name a patch has in the IDC layout.
pub fn patch_file_name(patient: &str, x: u32, y: u32, label: Label) -> String {
    format!("{patient}_idx5_x{x}_y{y}_class{}.png", label.index())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_patient_coordinates_and_class() {
        let name = parse_patch_name("8863_idx5_x451_y1451_class0.png").unwrap();
        assert_eq!(
            name,
            PatchName {
                patient: "8863".into(),
                x: 451,
                y: 1451,
                label: Label::NonIdc
            }
        );
        let name = parse_patch_name("10253_idx5_x1001_y51_class1.png").unwrap();
        assert_eq!((name.x, name.y, name.label), (1001, 51, Label::Idc));
    }

    #[test]
    fn round_trips_through_the_layout_name() {
        let file = patch_file_name("12930", 2051, 101, Label::Idc);
        assert_eq!(file, "12930_idx5_x2051_y101_class1.png");
        let name = parse_patch_name(&file).unwrap();
        assert_eq!((name.patient.as_str(), name.x, name.y), ("12930", 2051, 101));
    }

    #[test]
    fn says_what_is_wrong_with_a_malformed_name() {
        let cases = [
            ("8863_idx5_x451_y1451_class0.jpg", "does not end in .png"),
            ("8863_idx5_x451_y1451.png", "no _class<C> part"),
            ("8863_idx5_x451_y1451_class2.png", "class '2' is not 0 or 1"),
            ("8863_idx5_x451_class0.png", "no _y<Y> part"),
            ("8863_idx5_y1451_class0.png", "no _x<X> part"),
            ("8863_x451_y1451_class0.png", "no _idx5 part"),
            ("_idx5_x451_y1451_class0.png", "empty patient id"),
            (
                "8863_idx5_x4a1_y1451_class0.png",
                "x coordinate '4a1' is not a number",
            ),
            (
                "8863_idx5_x451_y-5_class0.png",
                "y coordinate '-5' is not a number",
            ),
            (
                "8863_idx5_x99999999999_y1_class0.png",
                "x coordinate '99999999999' is too large (at most 1000000)",
            ),
            (
                "8863_idx5_x1_y4294967295_class0.png",
                "y coordinate '4294967295' is too large (at most 1000000)",
            ),
        ];
        for (file, expected) in cases {
            assert_eq!(
                parse_patch_name(file).unwrap_err().to_string(),
                expected,
                "{file}"
            );
        }
    }
}
