//! Files that are either completely written or not there at all: a crash or a full disk never
//! leaves half a file where a good one was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The prefix of the temporary files this module writes, so that ones orphaned by a kill can be
/// recognised and cleaned.
pub const TEMPORARY_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `path` through a temporary file in the same folder, then renames it over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// `rows` as CSV with a header, written through [`write_atomic_with`].
pub fn write_csv_atomic<T: serde::Serialize>(path: &Path, rows: &[T]) -> std::io::Result<()> {
    write_atomic_with(path, |file| {
        let mut writer = csv::Writer::from_writer(file);
        for row in rows {
            writer.serialize(row).map_err(std::io::Error::other)?;
        }
        writer.flush()
    })
}

/// Why the rows of a CSV file could not be read: the file, or one line of it.
#[derive(Debug, thiserror::Error)]
pub enum CsvReadError {
    #[error("{0}")]
    File(String),
    /// `line` counts from 1, the header's line.
    #[error("line {line}: {why}")]
    Line { line: u64, why: String },
}

impl From<csv::Error> for CsvReadError {
    fn from(err: csv::Error) -> Self {
        let why = match err.kind() {
            // The message alone: the field's index would only say where in the line.
            csv::ErrorKind::Deserialize { err, .. } => err.kind().to_string(),
            _ => err.to_string(),
        };
        match err.position() {
            Some(position) => CsvReadError::Line {
                line: position.line(),
                why,
            },
            None => CsvReadError::File(why),
        }
    }
}

/// The rows of a CSV file with a header, as [`write_csv_atomic`] writes them. The error says
/// whether the file could not be opened or a line is damaged, and which line.
pub fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, CsvReadError> {
    let mut reader = csv::Reader::from_path(path)?;
    reader
        .deserialize()
        .map(|row| row.map_err(CsvReadError::from))
        .collect()
}

/// Like [`write_atomic`], with the content produced by `write` into a buffered writer.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let folder = parent_folder(path);
    let mut temp = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .tempfile_in(folder)?;
    {
        let mut writer = std::io::BufWriter::new(temp.as_file_mut());
        write(&mut writer)?;
        writer.flush()?;
    }
    // Temporary files are private (0600). A file that is replaced keeps the permissions its
    // owner gave it; a new one is the user's to share like any file they save.
    let permissions = match std::fs::metadata(path) {
        Ok(existing) => existing.permissions(),
        Err(_) => default_permissions(temp.as_file())?,
    };
    temp.as_file().set_permissions(permissions)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    sync_folder(folder)
}

#[cfg(unix)]
fn default_permissions(_file: &std::fs::File) -> std::io::Result<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions(file: &std::fs::File) -> std::io::Result<std::fs::Permissions> {
    Ok(file.metadata()?.permissions())
}

/// Makes the rename itself durable: without it a power cut can bring back the old name.
#[cfg(unix)]
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::File::open(folder)?.sync_all()
}

/// Windows cannot open a folder as a file; its renames are journalled by NTFS.
#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Removes this module's temporary files in `folder` that are older than `age`: what a kill
/// left behind between writing and renaming. A younger one may be another process's write in
/// progress and is left alone. Returns the files removed.
pub fn remove_orphaned_temporaries(folder: &Path, age: Duration) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now();
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(TEMPORARY_PREFIX))
        .filter(|entry| {
            entry.metadata().is_ok_and(|meta| {
                meta.is_file()
                    && meta
                        .modified()
                        .is_ok_and(|modified| now.duration_since(modified).is_ok_and(|old| old >= age))
            })
        })
        .map(|entry| entry.path())
        .filter(|path| std::fs::remove_file(path).is_ok())
        .collect()
}

/// Moves a file this program cannot read (a damaged settings or annotations file) out of the way
/// to `<name>.unreadable-<UTC time>`, so that the next save cannot destroy it. Every rescue
/// keeps its own name: an earlier one is never replaced. Returns the new name.
pub fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = utc_stamp();
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |name| name.to_string_lossy().into_owned());
    for attempt in 1u32.. {
        let aside = path.with_file_name(match attempt {
            1 => format!("{name}.unreadable-{stamp}"),
            _ => format!("{name}.unreadable-{stamp}-{attempt}"),
        });
        // A hard link is created only where nothing is: no rescue replaces another.
        match std::fs::hard_link(path, &aside) {
            Ok(()) => {
                std::fs::remove_file(path)?;
                return Ok(aside);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            // A file system without hard links: look, then rename.
            Err(_) if !aside.exists() => {
                std::fs::rename(path, &aside)?;
                return Ok(aside);
            }
            Err(_) => continue,
        }
    }
    unreachable!("a free name is found before the counter wraps")
}

/// The current time in UTC as `YYYYMMDD-HHMMSS`: names that sort by time.
pub fn utc_stamp() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let time = seconds % 86_400;
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn parent_folder(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_whole_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.csv");
        write_atomic(&path, b"kept").unwrap();
        let result = write_atomic_with(&path, |_| Err(std::io::Error::other("disk full")));
        assert!(result.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions_and_a_new_one_is_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("annotations.json");
        std::fs::write(&private, b"mine").unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&private, b"still mine").unwrap();
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let shared = dir.path().join("metrics.json");
        write_atomic(&shared, b"{}").unwrap();
        let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn temporaries_orphaned_by_a_kill_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let orphan = dir.path().join(".tmp-abc123");
        std::fs::write(&orphan, b"half").unwrap();
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        assert!(remove_orphaned_temporaries(dir.path(), Duration::from_secs(3600)).is_empty());
        assert!(orphan.exists(), "a young temporary may be a write in progress");
        assert_eq!(
            remove_orphaned_temporaries(dir.path(), Duration::ZERO),
            vec![orphan.clone()]
        );
        assert!(!orphan.exists());
        assert!(dir.path().join("config.json").exists());
    }

    #[test]
    fn dates_names_correctly() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_419), (2025, 11, 27));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn every_rescue_of_a_damaged_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let mut rescued = Vec::new();
        for damage in ["{ first", "{ second", "{ third"] {
            std::fs::write(&path, damage).unwrap();
            rescued.push(move_aside(&path).unwrap());
            assert!(!path.exists());
        }
        let contents: Vec<String> = rescued
            .iter()
            .map(|aside| std::fs::read_to_string(aside).unwrap())
            .collect();
        assert_eq!(contents, ["{ first", "{ second", "{ third"]);
        assert!(
            rescued[0]
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("settings.json.unreadable-")
        );
    }
}
