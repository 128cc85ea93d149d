// burn's CPU backend allocates a fresh buffer for nearly every tensor operation, many of them
// megabytes; the system allocator hands those back to the kernel and faults them in again on
// every step. mimalloc keeps them for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (libmimalloc-sys has no constant for
/// it): how many milliseconds freed memory waits before it is returned to the OS.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's default of 1 s returned a training step's buffers to the OS between steps, so
/// each step faulted them in (and the kernel zeroed them) again: about 50,000 page faults in
/// `idc-studio bench`, 5,400 with 10 s. Some buffers sit idle longer than 10 s within a run
/// (a CPU epoch of the demo trains for about 10 s between two validation passes): `train
/// --demo --epochs 2` faulted 7,556 times at 10 s, 1,590 at 60 s, the same as never giving
/// memory back. Memory idle for a minute still goes back (that run peaks at about 430 MB).
const PURGE_DELAY_MS: std::ffi::c_long = 60_000;

fn main() -> std::process::ExitCode {
    // burn puts a resumed optimiser's state on its *default* device before moving it to the
    // model's; with wgpu compiled in that default is a GPU, which a CPU-only machine lacks.
    // idc-studio always picks its devices explicitly, so the default can be the CPU.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: the first statement of main: no other thread exists to read the environment.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    if let Some(folder) = idc_studio::user_folders::missing_runtime_folder() {
        // SAFETY: still before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", folder) };
    }
    // SAFETY: sets a plain integer option; no other thread exists yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    idc_studio::cli::main()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_holds_mimallocs_default_of_1000_ms() {
        // Its neighbours default to 1 (a deprecated delay) and 0 (NUMA nodes), so a wrong
        // index would not read 1000 before main() changes it (mimalloc 3's src/options.c).
        // SAFETY: reads an integer option.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            1000
        );
    }
}
