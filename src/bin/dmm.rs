fn main() -> std::process::ExitCode {
    dmm::cli::main()
}
