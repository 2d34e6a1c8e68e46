//! `ptychat expect`: `expect -notransfer`, the `full_buffer` and `null` keywords,
//! `remove_nulls`, `-nocase` with a glob and the smaller commands of issue 10, each
//! script run under Expect itself and under `ptychat expect` and compared.
#![cfg(feature = "cli")]

use std::process::Output;

mod common;

use common::{require, run_with_input, stderr, stdout, temp_path};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

/// The same script text under Expect and under `ptychat expect`.
fn both_text(script: &str) -> (Output, Output) {
    require("expect");
    let path = temp_path("tcl-keywords", "both.exp");
    std::fs::write(&path, script).unwrap();
    let theirs = run_with_input("expect", &[path.to_str().unwrap()], b"");
    let ours = run_with_input(BIN, &["expect", path.to_str().unwrap()], b"");
    (theirs, ours)
}

fn assert_same(theirs: &Output, ours: &Output) {
    assert_eq!(
        (theirs.status.code(), stdout(theirs)),
        (ours.status.code(), stdout(ours)),
        "Expect's stderr: {}\nptychat's stderr: {}",
        stderr(theirs),
        stderr(ours)
    );
}

#[test]
fn notransfer_leaves_the_output_for_the_next_expect() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "spawn -noecho echo {hello world}\n",
        "expect -notransfer hello\n",
        "puts \"1 <$expect_out(buffer)> <$expect_out(0,string)>\"\n",
        // -notransfer is for the pattern after it only.
        "expect -notransfer xx {} hello\n",
        "puts \"2 <$expect_out(buffer)>\"\n",
        "expect -notransfer -re {w(or)} { puts \"3 <$expect_out(buffer)> <$expect_out(1,string)>\" }\n",
        "expect world\n",
        "puts \"4 <$expect_out(buffer)>\"\n",
        "expect eof\n",
        "puts \"5 [string length $expect_out(buffer)]\"\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        "1 <hello> <hello>\n2 <hello>\n3 < wor> <or>\n4 < world>\n5 2\n"
    );
}
