//! How far two readers agree on the patches both judged: a 3x3 table (non-IDC, IDC, unsure by
//! each reader) and Cohen's kappa, the agreement beyond what chance would give.

use super::annotations::{AnnotationBook, Judged, PatchKey};
use crate::dataset::Label;

/// The table's rows and columns, in order.
pub const CATEGORIES: [Judged; 3] = [
    Judged::Label(Label::NonIdc),
    Judged::Label(Label::Idc),
    Judged::Unsure,
];

pub fn category_name(judged: Judged) -> &'static str {
    match judged {
        Judged::Label(Label::NonIdc) => "non-IDC",
        Judged::Label(Label::Idc) => "IDC",
        Judged::Unsure => "unsure",
    }
}

fn category(judged: Judged) -> usize {
    match judged {
        Judged::Label(Label::NonIdc) => 0,
        Judged::Label(Label::Idc) => 1,
        Judged::Unsure => 2,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// `table[a][b]`: patches reader A judged `CATEGORIES[a]` and reader B `CATEGORIES[b]`.
    pub table: [[usize; 3]; 3],
    /// The patches where they differ, in patch order.
    pub disagreements: Vec<PatchKey>,
}

impl Agreement {
    /// Compares two readers on the patches both judged.
    pub fn between(a: &AnnotationBook, b: &AnnotationBook) -> Agreement {
        let mut table = [[0; 3]; 3];
        let mut disagreements = Vec::new();
        for annotation in a.iter() {
            let key = annotation.key();
            let (Some(first), Some(second)) =
                (annotation.judged(), b.get(&key).and_then(|other| other.judged()))
            else {
                continue;
            };
            table[category(first)][category(second)] += 1;
            if first != second {
                disagreements.push(key);
            }
        }
        Agreement { table, disagreements }
    }

    /// Patches both readers judged.
    pub fn both_judged(&self) -> usize {
        self.table.iter().flatten().sum()
    }

    /// The share of those on which they gave the same answer.
    pub fn observed(&self) -> Option<f64> {
        let total = self.both_judged();
        (total > 0).then(|| (0..3).map(|i| self.table[i][i]).sum::<usize>() as f64 / total as f64)
    }

    /// Cohen's kappa: (observed - chance) / (1 - chance), chance from each reader's own shares.
    /// `None` without shared patches, or when chance agreement is already certain (both readers
    /// gave one and the same answer to everything).
    pub fn kappa(&self) -> Option<f64> {
        let total = self.both_judged() as f64;
        let observed = self.observed()?;
        let chance: f64 = (0..3)
            .map(|i| {
                let row: usize = self.table[i].iter().sum();
                let column: usize = (0..3).map(|j| self.table[j][i]).sum();
                row as f64 / total * (column as f64 / total)
            })
            .sum();
        (chance < 1.0).then(|| (observed - chance) / (1.0 - chance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{Annotation, ReviewState};

    fn book(reader: &str, states: &[ReviewState]) -> AnnotationBook {
        let mut book = AnnotationBook::default();
        for (x, &state) in states.iter().enumerate() {
            let key = PatchKey {
                patient: "1".into(),
                x: x as u32,
                y: 0,
            };
            let mut annotation = Annotation::blank(&key, "p.png".into(), Label::Idc, reader);
            annotation.state = state;
            book.set(annotation);
        }
        book
    }

    #[test]
    fn kappa_matches_a_worked_example() {
        use ReviewState::{Agree as I, RelabelNonIdc as N};
        // 10 patches: both IDC on 4, both non-IDC on 3, A IDC / B non-IDC on 2, A non-IDC / B IDC on 1.
        let a = book("a", &[I, I, I, I, N, N, N, I, I, N]);
        let b = book("b", &[I, I, I, I, N, N, N, N, N, I]);
        let agreement = Agreement::between(&a, &b);
        assert_eq!(agreement.both_judged(), 10);
        assert_eq!(agreement.table[1][1], 4);
        assert_eq!(agreement.table[0][0], 3);
        assert_eq!(agreement.disagreements.len(), 3);
        // observed 0.7; chance: A IDC 0.6, B IDC 0.5 -> 0.3 + 0.2 = 0.5; kappa (0.7-0.5)/0.5 = 0.4.
        assert!((agreement.kappa().unwrap() - 0.4).abs() < 1e-12);
    }

    #[test]
    fn patches_only_one_reader_judged_do_not_count() {
        use ReviewState::{Agree, Unreviewed, Unsure};
        let a = book("a", &[Agree, Unsure, Agree]);
        let b = book("b", &[Agree, Unsure, Unreviewed]);
        let agreement = Agreement::between(&a, &b);
        assert_eq!(agreement.both_judged(), 2);
        assert_eq!(agreement.table[2][2], 1);
        assert!(agreement.disagreements.is_empty());
        assert_eq!(Agreement::between(&a, &AnnotationBook::default()).kappa(), None);
    }
}
