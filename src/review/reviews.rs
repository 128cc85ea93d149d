//! A dataset's annotations by all its readers. Each reader has an append-only journal
//! (`<reader>.jsonl`, one JSON change per line) in the dataset's annotations folder: a change is
//! on disk before the app shows it, no reader's file is written by another reader, and two
//! windows on one dataset append to the same files under a lock and read each other's lines.
//! The last line about a patch wins.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::annotations::{Annotation, AnnotationBook, PatchKey};

pub use crate::dataset::annotations_folder::{BESIDE_DATASET, annotations_folder};
const JOURNAL_EXTENSION: &str = "jsonl";
/// Held while a journal is appended to or repaired, by every window and command.
const LOCK_FILE: &str = ".lock";

/// One line of a journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    /// The reader's annotation of a patch from now on (a blank one clears it).
    Set(Annotation),
    /// A run folder's own annotations were imported (so they are imported once).
    ImportedRun { run: PathBuf, annotations: usize },
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct ReviewsError {
    pub path: PathBuf,
    pub why: String,
}

fn error(path: &Path, why: impl std::fmt::Display) -> ReviewsError {
    ReviewsError {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// The journal file of `reader` in `folder`: the name made safe for any file system.
fn journal_path(folder: &Path, reader: &str) -> PathBuf {
    let safe: String = reader
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    folder.join(format!(
        "{}.{JOURNAL_EXTENSION}",
        if safe.is_empty() { "reader" } else { safe }
    ))
}

/// All readers' annotations of one dataset.
#[derive(Debug)]
pub struct Reviews {
    folder: PathBuf,
    readers: BTreeMap<String, AnnotationBook>,
    imported_runs: BTreeSet<PathBuf>,
    /// Per journal: how far it has been read (always to the end of a whole line).
    read_to: HashMap<PathBuf, u64>,
    /// Counts every change seen, so views know when to recount.
    revision: u64,
}

impl Reviews {
    /// Reads every reader's journal in `folder` (creating the folder). A journal with a damaged
    /// line is moved aside, never written over, and named in the returned warnings; a last line
    /// cut off by a crash or a full disk is dropped, with a warning.
    pub fn open(folder: &Path) -> Result<(Reviews, Vec<String>), ReviewsError> {
        std::fs::create_dir_all(folder).map_err(|err| error(folder, err))?;
        let mut reviews = Reviews {
            folder: folder.to_path_buf(),
            readers: BTreeMap::new(),
            imported_runs: BTreeSet::new(),
            read_to: HashMap::new(),
            revision: 0,
        };
        let lock = reviews.lock()?;
        let mut warnings = Vec::new();
        for path in reviews.journals()? {
            let bytes = std::fs::read(&path).map_err(|err| error(&path, err))?;
            let whole = bytes
                .iter()
                .rposition(|&byte| byte == b'\n')
                .map_or(0, |end| end + 1);
            match parse_lines(&bytes[..whole]) {
                Ok(entries) => {
                    if whole < bytes.len() {
                        // Only a crash mid-write leaves a line without its end: it never
                        // reached the reader's screen, so it is dropped, not kept as damage.
                        let file = std::fs::OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .map_err(|err| error(&path, err))?;
                        file.set_len(whole as u64).map_err(|err| error(&path, err))?;
                        warnings.push(format!(
                            "{}: the last change was cut off when it was written (a crash or a full disk) and is dropped",
                            path.display()
                        ));
                    }
                    reviews.read_to.insert(path.clone(), whole as u64);
                    for entry in entries {
                        reviews.apply(entry);
                    }
                }
                Err((line, why)) => {
                    let aside = crate::atomic_file::move_aside(&path).map_err(|err| {
                        error(
                            &path,
                            format!(
                                "line {line} is damaged ({why}) and the file could not be moved aside: {err}"
                            ),
                        )
                    })?;
                    warnings.push(format!(
                        "{}: line {line} is damaged ({why}); its annotations are not shown, and the file is kept as {}",
                        path.display(),
                        aside.display()
                    ));
                }
            }
        }
        drop(lock);
        Ok((reviews, warnings))
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Changes every time an annotation changes, here or in another window.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The readers with annotations, by name (a reader whose every change was undone has none).
    pub fn readers(&self) -> impl Iterator<Item = &str> {
        self.readers
            .iter()
            .filter(|(_, book)| !book.is_empty())
            .map(|(reader, _)| reader.as_str())
    }

    /// `reader`'s annotations (empty for a reader who has made none).
    pub fn book(&self, reader: &str) -> &AnnotationBook {
        static EMPTY: std::sync::OnceLock<AnnotationBook> = std::sync::OnceLock::new();
        self.readers
            .get(reader)
            .unwrap_or_else(|| EMPTY.get_or_init(AnnotationBook::default))
    }

    /// Every reader's annotation of `key`, by reader.
    pub fn of_patch<'a>(&'a self, key: &'a PatchKey) -> impl Iterator<Item = &'a Annotation> + 'a {
        self.readers.values().filter_map(move |book| book.get(key))
    }

    /// Writes `annotation` to its reader's journal, then takes it in: once this returns, a
    /// crash loses nothing.
    pub fn record(&mut self, annotation: Annotation) -> Result<(), ReviewsError> {
        let annotation = annotation.normalised();
        let path = journal_path(&self.folder, &annotation.reviewer);
        self.append(&path, &[Entry::Set(annotation.clone())])?;
        self.apply(Entry::Set(annotation));
        Ok(())
    }

    /// True when `run`'s own annotations have been imported already.
    pub fn has_imported(&self, run: &Path) -> bool {
        self.imported_runs.contains(run)
    }

    /// Imports a run folder's `annotations.json` as `reader`'s, once; patches the reader has
    /// annotated since are left as they are. Returns how many were taken in.
    pub fn import_run(&mut self, run: &Path, run_name: &str, reader: &str) -> Result<usize, ReviewsError> {
        if self.has_imported(run) {
            return Ok(0);
        }
        let file = run.join(super::annotations::RUN_ANNOTATIONS_FILE);
        let found = super::annotations::read_run_annotations(&file, reader, run_name)
            .map_err(|err| error(&err.path, err.why))?;
        let book = self.book(reader);
        let mut entries: Vec<Entry> = found
            .into_iter()
            .filter(|annotation| book.get(&annotation.key()).is_none())
            .map(Entry::Set)
            .collect();
        let count = entries.len();
        entries.push(Entry::ImportedRun {
            run: run.to_path_buf(),
            annotations: count,
        });
        self.append(&journal_path(&self.folder, reader), &entries)?;
        for entry in entries {
            self.apply(entry);
        }
        Ok(count)
    }

    /// Takes in what other windows and commands appended since the last look; true if anything
    /// changed.
    pub fn refresh(&mut self) -> Result<bool, ReviewsError> {
        let before = self.revision;
        for path in self.journals()? {
            let start = self.read_to.get(&path).copied().unwrap_or(0);
            let mut file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(error(&path, err)),
            };
            let length = file.metadata().map_err(|err| error(&path, err))?.len();
            if length <= start {
                continue;
            }
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(start))
                .and_then(|_| file.read_to_end(&mut bytes))
                .map_err(|err| error(&path, err))?;
            // A line still being written is read next time, whole.
            let whole = bytes
                .iter()
                .rposition(|&byte| byte == b'\n')
                .map_or(0, |end| end + 1);
            let entries = parse_lines(&bytes[..whole]).map_err(|(line, why)| {
                error(&path, format!("a line appended by another window is damaged (line {line} from where it was read: {why})"))
            })?;
            self.read_to.insert(path, start + whole as u64);
            for entry in entries {
                self.apply(entry);
            }
        }
        Ok(self.revision != before)
    }

    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Set(annotation) => {
                self.readers
                    .entry(annotation.reviewer.clone())
                    .or_default()
                    .set(annotation);
            }
            Entry::ImportedRun { run, .. } => {
                self.imported_runs.insert(run);
            }
        }
        self.revision += 1;
    }

    fn journals(&self) -> Result<Vec<PathBuf>, ReviewsError> {
        let mut journals: Vec<PathBuf> = std::fs::read_dir(&self.folder)
            .map_err(|err| error(&self.folder, err))?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == JOURNAL_EXTENSION) && path.is_file())
            .collect();
        journals.sort();
        Ok(journals)
    }

    fn lock(&self) -> Result<std::fs::File, ReviewsError> {
        let path = self.folder.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| error(&path, err))?;
        file.lock().map_err(|err| error(&path, err))?;
        Ok(file)
    }

    /// Appends `entries` to `path` as whole lines, synced; a failed write (a full disk) is cut
    /// back so it never leaves half a line.
    fn append(&self, path: &Path, entries: &[Entry]) -> Result<(), ReviewsError> {
        let mut text = String::new();
        for entry in entries {
            let line = serde_json::to_string(entry).map_err(|err| error(path, err))?;
            text.push_str(&line);
            text.push('\n');
        }
        let _lock = self.lock()?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|err| error(path, err))?;
        let before = file.metadata().map_err(|err| error(path, err))?.len();
        if let Err(err) = file.write_all(text.as_bytes()).and_then(|()| file.sync_data()) {
            let _ = file.set_len(before);
            return Err(error(path, format!("could not save the annotation: {err}")));
        }
        Ok(())
    }
}

/// The entries of whole lines; the first damaged line's number (from 1) and what is wrong.
fn parse_lines(bytes: &[u8]) -> Result<Vec<Entry>, (usize, String)> {
    bytes
        .split(|&byte| byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(number, line)| serde_json::from_slice(line).map_err(|err| (number + 1, err.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Label;
    use crate::review::ReviewState;

    fn annotation(reader: &str, x: u32, state: ReviewState) -> Annotation {
        let key = PatchKey {
            patient: "8863".into(),
            x,
            y: 1,
        };
        let mut annotation = Annotation::blank(&key, "p.png".into(), Label::Idc, reader);
        annotation.state = state;
        annotation
    }

    #[test]
    fn each_reader_keeps_their_own_journal_and_the_last_change_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (mut reviews, warnings) = Reviews::open(dir.path()).unwrap();
        assert!(warnings.is_empty());
        reviews.record(annotation("ana", 1, ReviewState::Agree)).unwrap();
        reviews
            .record(annotation("ana", 1, ReviewState::RelabelNonIdc))
            .unwrap();
        reviews
            .record(annotation("bo b", 1, ReviewState::Unsure))
            .unwrap();
        assert!(dir.path().join("ana.jsonl").is_file() && dir.path().join("bo_b.jsonl").is_file());

        let (again, _) = Reviews::open(dir.path()).unwrap();
        assert_eq!(again.readers().collect::<Vec<_>>(), ["ana", "bo b"]);
        let key = annotation("", 1, ReviewState::Agree).key();
        assert_eq!(again.book("ana").state(&key), ReviewState::RelabelNonIdc);
        assert_eq!(again.book("bo b").state(&key), ReviewState::Unsure);
        assert_eq!(again.of_patch(&key).count(), 2);
    }

    #[test]
    fn two_windows_see_each_others_changes_and_lose_none() {
        let dir = tempfile::tempdir().unwrap();
        let (mut first, _) = Reviews::open(dir.path()).unwrap();
        let (mut second, _) = Reviews::open(dir.path()).unwrap();
        first.record(annotation("ana", 1, ReviewState::Agree)).unwrap();
        second.record(annotation("ana", 2, ReviewState::Unsure)).unwrap();
        assert!(first.refresh().unwrap());
        assert!(second.refresh().unwrap());
        for window in [&first, &second] {
            assert_eq!(window.book("ana").reviewed(), 2);
        }
        let (reopened, _) = Reviews::open(dir.path()).unwrap();
        assert_eq!(reopened.book("ana").reviewed(), 2);
    }

    #[test]
    fn a_damaged_journal_is_refused_by_name_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut reviews, _) = Reviews::open(dir.path()).unwrap();
        reviews.record(annotation("ana", 1, ReviewState::Agree)).unwrap();
        let journal = dir.path().join("ana.jsonl");
        let mut text = std::fs::read_to_string(&journal).unwrap();
        text.push_str("{ not json\n");
        std::fs::write(&journal, &text).unwrap();
        let (reviews, warnings) = Reviews::open(dir.path()).unwrap();
        assert_eq!(reviews.book("ana").len(), 0);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("ana.jsonl: line 2 is damaged"),
            "{}",
            warnings[0]
        );
        let kept: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("unreadable"))
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(std::fs::read_to_string(dir.path().join(&kept[0])).unwrap(), text);
    }

    #[test]
    fn a_line_cut_off_by_a_crash_is_dropped_and_the_journal_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut reviews, _) = Reviews::open(dir.path()).unwrap();
        reviews.record(annotation("ana", 1, ReviewState::Agree)).unwrap();
        let journal = dir.path().join("ana.jsonl");
        let mut file = std::fs::OpenOptions::new().append(true).open(&journal).unwrap();
        file.write_all(b"{\"set\": {\"patient\": \"88").unwrap();
        let (mut reviews, warnings) = Reviews::open(dir.path()).unwrap();
        assert!(warnings[0].contains("cut off"), "{warnings:?}");
        reviews.record(annotation("ana", 2, ReviewState::Agree)).unwrap();
        let (reviews, warnings) = Reviews::open(dir.path()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(reviews.book("ana").reviewed(), 2);
    }

    #[test]
    fn a_runs_older_annotations_are_brought_in_once_without_touching_newer_ones() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run-1");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(
            run.join(crate::review::annotations::RUN_ANNOTATIONS_FILE),
            r#"{"version": 1, "annotations": [
                {"patient": "8863", "x": 1, "y": 1, "path": "a.png", "label": "Idc", "prob_idc": 0.2,
                 "flagged": true, "relabel": "NonIdc", "note": "old"},
                {"patient": "8863", "x": 2, "y": 1, "path": "b.png", "label": "Idc", "prob_idc": 0.3,
                 "flagged": false, "relabel": null, "note": "older"}]}"#,
        )
        .unwrap();
        let folder = dir.path().join("annotations");
        let (mut reviews, _) = Reviews::open(&folder).unwrap();
        reviews.record(annotation("ana", 2, ReviewState::Agree)).unwrap();
        assert_eq!(reviews.import_run(&run, "run-1", "ana").unwrap(), 1);
        assert_eq!(reviews.import_run(&run, "run-1", "ana").unwrap(), 0);
        let (reopened, _) = Reviews::open(&folder).unwrap();
        assert!(reopened.has_imported(&run));
        let book = reopened.book("ana");
        let old = book.get(&annotation("", 1, ReviewState::Agree).key()).unwrap();
        assert_eq!(
            (old.state, old.note.as_str()),
            (ReviewState::RelabelNonIdc, "old")
        );
        assert_eq!(old.run.as_deref(), Some("run-1"));
        let kept = book.get(&annotation("", 2, ReviewState::Agree).key()).unwrap();
        assert_eq!(kept.state, ReviewState::Agree, "the newer judgement stays");
        assert!(
            run.join(crate::review::annotations::RUN_ANNOTATIONS_FILE)
                .is_file()
        );
    }

    #[test]
    fn a_read_only_dataset_keeps_its_annotations_in_the_data_folder() {
        let home = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        assert_eq!(
            annotations_folder(data.path(), home.path()),
            data.path().join(BESIDE_DATASET)
        );
        let missing = Path::new("/proc/no-such-dataset/IDC_regular");
        let folder = annotations_folder(missing, home.path());
        assert!(
            folder.starts_with(home.path().join("annotations")),
            "{}",
            folder.display()
        );
        assert_eq!(folder, annotations_folder(missing, home.path()));
    }
}
