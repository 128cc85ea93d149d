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

/// A private runtime folder for this user when the session gave none (`XDG_RUNTIME_DIR` unset
/// or gone), as on a headless machine reached by ssh. Mesa's Vulkan driver, probed for a GPU,
/// otherwise prints "error: XDG_RUNTIME_DIR is invalid" on every probe, which reads as a
/// failure when nothing failed. `None` when the session's folder is good or none can be made.
pub fn missing_runtime_folder() -> Option<PathBuf> {
    let given = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    if given.is_some_and(|folder| folder.is_absolute() && folder.is_dir()) {
        return None;
    }
    private_runtime_folder()
}

/// `idc-studio-runtime-UID` in the temporary folder, made readable by this user alone, or
/// checked to be so and theirs: a folder another user planted there is never used.
#[cfg(unix)]
fn private_runtime_folder() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let folder = std::env::temp_dir().join(format!("idc-studio-runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&folder);
    let private = std::fs::symlink_metadata(&folder)
        .is_ok_and(|meta| meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0);
    private.then_some(folder)
}

#[cfg(not(unix))]
fn private_runtime_folder() -> Option<PathBuf> {
    None
}
