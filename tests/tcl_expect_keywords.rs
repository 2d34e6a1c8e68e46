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

#[test]
fn nulls_are_removed_unless_remove_nulls_0_and_then_null_matches() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "spawn -noecho sh -c {printf 'a\\0b\\0c\\n'; sleep 1}\n",
        "expect -re {a(.)b} { puts \"re [scan $expect_out(1,string) %c]\" } c { puts \"c [string length $expect_out(buffer)]\" }\n",
        "puts <[remove_nulls]><[remove_nulls 0]><[remove_nulls]><[remove_nulls -d]>\n",
        "spawn -noecho sh -c {read x; printf 'a\\0b\\0c\\n'; sleep 1}\n",
        "remove_nulls no\n",
        "send \"go\\r\"\n",
        "expect -re {a(.)b} { puts \"re [scan $expect_out(1,string) %c]\" } c { puts c }\n",
        "remove_nulls -d 0\n",
        "spawn -noecho sh -c {printf 'xa\\0b\\0c\\n'; sleep 1}\n",
        "puts [remove_nulls]\n",
        "expect null { puts null }\n",
        "expect -re {b(.)c} { puts \"re [scan $expect_out(1,string) %c]\" }\n",
        "puts [catch {remove_nulls x} e]$e\n",
        "puts <[parity]><[parity 1]><[parity -d]>\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        "c 3\n<1><><0><1>\nre 0\n0\nnull\nre 0\n1expected boolean value but got \"x\"\n<1><><1>\n"
    );
}

#[test]
fn full_buffer_takes_the_output_when_match_max_is_reached() {
    // Expect's buffer and ptychat's (at least 64 KiB) differ in size, so the number of
    // full_buffer matches differs; both keep every byte, in order.
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "set stty_init -echo\n",
        "match_max -d 100\n",
        "spawn -noecho python3 -c {import sys; sys.stdout.write(''.join('%06d\\n' % i for i in range(50000)) + 'END'); sys.stdout.flush(); sys.stdin.read()}\n",
        "set n 0\n",
        "set all {}\n",
        "expect {\n",
        "  full_buffer { incr n; append all $expect_out(buffer); exp_continue }\n",
        "  END { append all $expect_out(buffer) }\n",
        "}\n",
        "set want {}\n",
        "for {set i 0} {$i < 50000} {incr i} { append want [format \"%06d\\r\\n\" $i] }\n",
        "append want END\n",
        "puts \"full_buffer [expr {$n > 0}], all kept [expr {$all eq $want}]\"\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "full_buffer 1, all kept 1\n");
}

#[test]
fn nocase_with_a_glob_and_send_null_and_break() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "spawn -noecho echo {HELLO World}\n",
        "expect -nocase -timeout 5 {h*o w} { puts \"glob <$expect_out(0,string)>\" }\n",
        "expect -nocase -timeout 5 Orld { puts \"upper <$expect_out(0,string)>\" }\n",
        "spawn -noecho od -c\n",
        "send -null\n",
        "send -null 2\n",
        "send -break\n",
        "send x\\004\\004\n",
        "expect -re {0000000 +([^\\r\\n]*)\\r?\\n} { puts [regsub -all { +} $expect_out(1,string) { }] }\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        "glob <HELLO W>\nupper <orld>\n\\0 \\0 \\0 x\n"
    );
}

#[test]
fn wait_nowait_returns_at_once() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "spawn -noecho sh -c {read line; exit 3}\n",
        "set pid [exp_pid]\n",
        "close\n",
        "puts [expr {[wait -nowait] eq \"$pid $spawn_id 0 0\"}]\n",
        "spawn -noecho sh -c {exit 4}\n",
        "set pid [exp_pid]\n",
        "expect eof\n",
        "puts [expr {[wait -nowait] eq \"$pid $spawn_id 0 0\"}]\n",
        "spawn -noecho sleep 100\n",
        "set pid [exp_pid]\n",
        "puts [expr {[wait -nowait] eq \"$pid $spawn_id 0 0\"}]\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "1\n1\n1\n");
}

#[test]
fn a_failing_c_command_is_reported_and_the_script_goes_on() {
    require("expect");
    let path = temp_path("tcl-keywords", "after.exp");
    std::fs::write(&path, "puts after\nexit 2\n").unwrap();
    let args = ["-c", "error boom", path.to_str().unwrap()];
    let theirs = run_with_input("expect", &args, b"");
    let mut ours_args = vec!["expect"];
    ours_args.extend_from_slice(&args);
    let ours = run_with_input(BIN, &ours_args, b"");
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "after\n");
    assert!(stderr(&ours).contains("boom"), "{}", stderr(&ours));
    let alone = run_with_input(BIN, &["expect", "-c", "error boom"], b"");
    assert_eq!(alone.status.code(), Some(0), "{}", stderr(&alone));
    let strict = run_with_input(BIN, &["expect", "--strict", "-c", "error boom"], b"");
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
}

#[test]
fn send_log_writes_to_the_log_file() {
    let log = temp_path("tcl-keywords", "send.log");
    let script = format!(
        concat!(
            "log_user 0\n",
            "send_log {{not logged}}\n",
            "log_file -noappend {{{log}}}\n",
            "send_log \"one\\n\"\n",
            "send_log -- -two\\n\n",
            "log_file\n",
            "set f [open {{{log}}}]; puts -nonewline [read $f]; close $f\n",
        ),
        log = log.display()
    );
    let (theirs, ours) = both_text(&script);
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "one\n-two\n");
}
