// burn's CPU backend allocates a fresh buffer for nearly every tensor operation, many of them
// megabytes; the system allocator hands those back to the kernel and faults them in again on
// every step. mimalloc keeps them for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // burn puts a resumed optimiser's state on its *default* device before moving it to the
    // model's; with wgpu compiled in that default is a GPU, which a CPU-only machine lacks.
    // idc-studio always picks its devices explicitly, so the default can be the CPU.
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: the first statement of main: no other thread exists to read the environment.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    idc_studio::cli::main()
}
