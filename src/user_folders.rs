//! Where idc-studio keeps what belongs to the user rather than to a dataset or a run: one answer
//! for the app and the command line, so both find the same demo data, runs and annotations.

use std::path::PathBuf;

/// The user's data folder for idc-studio: `$XDG_DATA_HOME/idc-studio`, else
/// `~/.local/share/idc-studio`.
pub fn data_home() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local").join("share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("idc-studio")
}
