//! The script files under tests/interactive/, each a test with its stored output
//! (`PTYCHAT_BLESS=1 cargo test --test interactive` records it; see docs/TESTING.md).

fn main() -> std::process::ExitCode {
    ptychat::harness::Harness::new("tests/interactive")
        .var("ptychat", env!("CARGO_BIN_EXE_ptychat"))
        .main()
}
