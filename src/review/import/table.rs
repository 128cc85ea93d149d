//! Another tool's predictions as a CSV: which patch each row is (by `path`, or by
//! `patient,x,y`), its P(IDC) (`prob_idc`, or cleanlab's `pred_probs_0,pred_probs_1`), and
//! optionally its part and fold. Every row is checked against the open dataset before anything
//! is written, and each problem is named by its line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::dataset::PatchStore;
use crate::dataset::filename::parse_patch_name;
use crate::dataset::split::SplitPart;

/// How far `pred_probs_0 + pred_probs_1` may stray from 1: float32 rounding of a softmax, not a
/// column of something else.
const SUM_TOLERANCE: f64 = 1e-3;
/// How many problems a refusal lists before it only counts the rest.
const PROBLEMS_LISTED: usize = 10;

/// How the file named its patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedBy {
    Path,
    PatientPosition,
}

/// One row of the file, matched to the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRow {
    /// The patch's index in the store.
    pub patch: usize,
    pub prob_idc: f32,
    pub part: Option<SplitPart>,
    pub fold: Option<usize>,
}

/// A predictions file, every row matched to a patch of the dataset, in the file's order.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionTable {
    pub rows: Vec<ImportedRow>,
    pub keyed_by: KeyedBy,
    pub has_parts: bool,
    pub has_folds: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {why}", path.display())]
    File { path: PathBuf, why: String },
    #[error("{}: {} of its rows cannot be imported, and nothing was written:\n{}", path.display(), total, list_problems(problems, *total))]
    Rows {
        path: PathBuf,
        /// The first problems, by line.
        problems: Vec<(u64, String)>,
        total: usize,
    },
}

fn list_problems(problems: &[(u64, String)], total: usize) -> String {
    let mut text: Vec<String> = problems
        .iter()
        .map(|(line, why)| format!("  line {line}: {why}"))
        .collect();
    if total > problems.len() {
        text.push(format!("  … and {} more", total - problems.len()));
    }
    text.join("\n")
}

pub(super) fn file_error(path: &Path, why: impl std::fmt::Display) -> ImportError {
    ImportError::File {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// The columns a predictions file may hold, found by name (any case, any order).
struct Columns {
    key: Key,
    probability: Probability,
    part: Option<usize>,
    fold: Option<usize>,
}

enum Key {
    Path(usize),
    PatientPosition { patient: usize, x: usize, y: usize },
}

enum Probability {
    Idc(usize),
    PerClass { non_idc: usize, idc: usize },
}

impl Columns {
    fn find(headers: &csv::StringRecord) -> Result<Columns, String> {
        let named: HashMap<String, usize> = headers
            .iter()
            .enumerate()
            .map(|(column, name)| (name.trim().to_lowercase(), column))
            .collect();
        let column = |name: &str| named.get(name).copied();
        let present = || headers.iter().collect::<Vec<_>>().join(", ");
        let key = match (column("path"), column("patient"), column("x"), column("y")) {
            (Some(path), ..) => Key::Path(path),
            (None, Some(patient), Some(x), Some(y)) => Key::PatientPosition { patient, x, y },
            _ => {
                return Err(format!(
                    "no column names the patch: give `path`, or `patient`, `x` and `y` (the columns are: {})",
                    present()
                ));
            }
        };
        let probability = match (column("prob_idc"), column("pred_probs_0"), column("pred_probs_1")) {
            (Some(idc), ..) => Probability::Idc(idc),
            (None, Some(non_idc), Some(idc)) => Probability::PerClass { non_idc, idc },
            _ => {
                return Err(format!(
                    "no column gives the probability: give `prob_idc`, or `pred_probs_0` and `pred_probs_1` (the columns are: {})",
                    present()
                ));
            }
        };
        Ok(Columns {
            key,
            probability,
            part: column("part"),
            fold: column("fold"),
        })
    }
}

/// Reads and checks the predictions file at `path` against `store`. Every problem is
/// collected (the first few named by line), so one refusal shows what to mend.
pub fn read_prediction_table(path: &Path, store: &PatchStore) -> Result<PredictionTable, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|err| file_error(path, err))?;
    let headers = reader.headers().map_err(|err| file_error(path, err))?.clone();
    let columns = Columns::find(&headers).map_err(|why| file_error(path, why))?;
    let identity = store.index_by_identity();
    let mut first_line_of: HashMap<usize, u64> = HashMap::new();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut total_problems = 0;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = err.position().map_or(0, |position| position.line());
                return Err(file_error(path, format!("line {line}: {err}")));
            }
        }
        let line = record.position().map_or(0, |position| position.line());
        let row = read_row(&record, &columns, &identity).and_then(|row| {
            match first_line_of.insert(row.patch, line) {
                Some(earlier) => {
                    first_line_of.insert(row.patch, earlier);
                    Err(format!("the same patch as line {earlier}"))
                }
                None => Ok(row),
            }
        });
        match row {
            Ok(row) => rows.push(row),
            Err(why) => {
                total_problems += 1;
                if problems.len() < PROBLEMS_LISTED {
                    problems.push((line, why));
                }
            }
        }
    }
    if total_problems > 0 {
        return Err(ImportError::Rows {
            path: path.to_path_buf(),
            problems,
            total: total_problems,
        });
    }
    if rows.is_empty() {
        return Err(file_error(path, "it has no rows of predictions"));
    }
    Ok(PredictionTable {
        rows,
        keyed_by: match columns.key {
            Key::Path(_) => KeyedBy::Path,
            Key::PatientPosition { .. } => KeyedBy::PatientPosition,
        },
        has_parts: columns.part.is_some(),
        has_folds: columns.fold.is_some(),
    })
}

fn read_row(
    record: &csv::StringRecord,
    columns: &Columns,
    identity: &HashMap<(&str, u32, u32), usize>,
) -> Result<ImportedRow, String> {
    let field = |column: usize| record.get(column).unwrap_or("");
    let (patient, x, y) = match columns.key {
        Key::Path(column) => {
            let path = field(column);
            // Paths written on another machine, or on Windows: only the file name is the patch's.
            let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
            let parsed = parse_patch_name(name)
                .map_err(|why| format!("path '{path}' is not an IDC patch's: {why}"))?;
            (parsed.patient, parsed.x, parsed.y)
        }
        Key::PatientPosition { patient, x, y } => (
            field(patient).to_string(),
            parse_number(field(x), "x")?,
            parse_number(field(y), "y")?,
        ),
    };
    let patch = *identity
        .get(&(patient.as_str(), x, y))
        .ok_or_else(|| format!("patient {patient} x{x} y{y} is not a patch of the dataset"))?;
    let prob_idc = match columns.probability {
        Probability::Idc(column) => parse_probability(field(column), "prob_idc")?,
        Probability::PerClass { non_idc, idc } => {
            let non_idc = parse_probability(field(non_idc), "pred_probs_0")?;
            let idc = parse_probability(field(idc), "pred_probs_1")?;
            let sum = non_idc + idc;
            if (sum - 1.0).abs() > SUM_TOLERANCE {
                return Err(format!("pred_probs_0 + pred_probs_1 is {sum}, not 1"));
            }
            idc
        }
    };
    let part = match columns.part.map(field) {
        None | Some("") => None,
        Some(text) => Some(parse_part(text)?),
    };
    let fold = match columns.fold.map(field) {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<usize>()
                .map_err(|_| format!("fold '{text}' is not a whole number"))?,
        ),
    };
    Ok(ImportedRow {
        patch,
        prob_idc: prob_idc as f32,
        part,
        fold,
    })
}

fn parse_number(text: &str, axis: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("{axis} '{text}' is not a whole number of pixels"))
}

fn parse_probability(text: &str, column: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{column} '{text}' is not a number"))?;
    if !(value.is_finite() && (0.0..=1.0).contains(&value)) {
        return Err(format!("{column} {text} is not between 0 and 1"));
    }
    Ok(value)
}

fn parse_part(text: &str) -> Result<SplitPart, String> {
    match text.to_lowercase().as_str() {
        "train" | "training" => Ok(SplitPart::Train),
        "validation" | "valid" | "val" => Ok(SplitPart::Validation),
        "test" => Ok(SplitPart::Test),
        _ => Err(format!("part '{text}' is not train, validation or test")),
    }
}
