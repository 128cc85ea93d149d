fn main() -> std::process::ExitCode {
    idc_studio::cli::main()
}
