//! `ptychat expect`: `expect -notransfer`, the `full_buffer` and `null` keywords,
//! `remove_nulls`, `-nocase` with a glob and the smaller commands of issue 10, each
//! script run under Expect itself and under `ptychat expect` and compared.
#![cfg(feature = "cli")]

use std::process::Output;

mod common;

use common::{
    assert_same, require, run_with_input, run_with_open_input, stderr, stdout, temp_path,
};

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

#[test]
fn expect_background_matches_while_the_event_loop_runs() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "set stty_init -echo\n",
        "spawn -noecho cat\n",
        "expect_background -re {([a-z]+)\\r\\n} { lappend ::seen $expect_out(1,string); set ::got 1 } eof { set ::got eof }\n",
        "puts \"info <[expect_background -info]>\"\n",
        "foreach word {alpha beta gamma} { send \"$word\\r\"; vwait got }\n",
        "puts \"seen $seen\"\n",
        // The action runs at the global level, where expect_out is set.
        "proc inside {} { send \"delta\\r\"; vwait ::got; return [info exists expect_out] }\n",
        "puts \"local expect_out: [inside], global: $expect_out(1,string)\"\n",
        // No patterns: the spawn id is no longer watched; a foreground expect reads it.
        "expect_background\n",
        "puts \"info <[expect_background -info]>\"\n",
        "send \"epsilon\\r\"\n",
        "expect -re {epsilon\\r\\n} { puts \"fg <[string trim $expect_out(buffer)]>\" }\n",
        "send \"zeta\\r\"\n",
        "expect_background zeta { set ::got zeta }\n",
        "vwait got\n",
        "puts \"got $got\"\n",
        "expect_background eof { puts \"eof in bg <[string trim $expect_out(buffer)]>\"; set ::got eof }\n",
        "send \\004\n",
        "vwait got\n",
        "puts \"got $got\"\n",
        "spawn -noecho cat\n",
        "expect_before -notransfer -indices abc {puts x} -re def {} eof\n",
        "puts \"before <[expect_before -info]> after <[expect_after -info]>\"\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        concat!(
            "info <-re {([a-z]+)\\r\\n} { lappend ::seen $expect_out(1,string); set ::got 1 } eof { set ::got eof }>\n",
            "seen alpha beta gamma\n",
            "local expect_out: 0, global: delta\n",
            "info <>\n",
            "fg <epsilon>\n",
            "got zeta\n",
            "eof in bg <>\n",
            "got eof\n",
            "before <-notransfer -indices -gl abc {puts x} -re def {} eof {}> after <>\n",
        )
    );
}

#[test]
fn an_error_in_a_background_action_is_reported_and_the_loop_goes_on() {
    let output = run_with_input(
        BIN,
        &[
            "expect",
            "-c",
            concat!(
                "log_user 0; set stty_init -echo; spawn -noecho cat\n",
                "expect_background one { error oops } two { set ::got two }\n",
                "send one\\r; send two\\r; vwait got; update; puts got-$got\n",
            ),
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "got-two\n");
    assert!(stderr(&output).contains("oops"), "{}", stderr(&output));
}

#[test]
fn one_expect_over_user_spawn_id_and_a_spawned_program() {
    require("expect");
    let path = temp_path("tcl-keywords", "mixed.exp");
    std::fs::write(
        &path,
        concat!(
            "log_user 0\n",
            "set stty_init -echo\n",
            "spawn -noecho cat\n",
            "set cat $spawn_id\n",
            "expect -i $user_spawn_id -re {(\\S+)\\n} { puts \"user <$expect_out(1,string)> [expr {$expect_out(spawn_id) eq $user_spawn_id}]\" } -i $cat never {}\n",
            "send \"from-cat\\r\"\n",
            "expect -i $user_spawn_id never {} -i $cat -re {(\\S+)\\r\\n} { puts \"cat <$expect_out(1,string)> [expr {$expect_out(spawn_id) eq $cat}]\" }\n",
            "expect -timeout 1 -i $user_spawn_id never {} -i $cat never2 {} timeout { puts timeout }\n",
            "send \\004\n",
            "expect -i $user_spawn_id never {} -i $cat eof { puts cat-eof }\n",
        ),
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let theirs = run_with_open_input("expect", &[path], b"typed\n");
    let ours = run_with_open_input(BIN, &["expect", path], b"typed\n");
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        "user <typed> 1\ncat <from-cat> 1\ntimeout\ncat-eof\n"
    );
}

#[test]
fn expect_tty_and_send_tty_use_the_terminal_whatever_stdout_is() {
    require("expect");
    let path = temp_path("tcl-keywords", "tty.exp");
    std::fs::write(
        &path,
        concat!(
            "puts {not on the terminal}\n",
            "send_tty \"ready\\n\"\n",
            "expect_tty -re {(h\\S*o)} { send_tty \"got <$expect_out(1,string)> $expect_out(spawn_id)\\n\" }\n",
        ),
    )
    .unwrap();
    let run = |expect: &str| {
        let mut command = ptychat::Command::new("sh");
        command.args(["-c", &format!("{expect} {} > /dev/null", path.display())]);
        let mut session = common::spawn(&mut command);
        session.expect("ready").unwrap();
        session.send("hello\r").unwrap();
        let out = common::read_to_eof(&mut session);
        session.wait().unwrap();
        String::from_utf8_lossy(&out).replace('\r', "")
    };
    let theirs = run("expect");
    let ours = run(&format!("{BIN} expect"));
    assert_eq!(theirs, ours);
    assert!(ours.ends_with("got <hello> exp3\n"), "{ours}");
}

#[test]
fn one_expect_over_the_terminal_and_a_spawned_program() {
    require("expect");
    let path = temp_path("tcl-keywords", "tty-mixed.exp");
    std::fs::write(
        &path,
        concat!(
            "log_user 0\n",
            "set stty_init -echo\n",
            "spawn -noecho cat\n",
            "set cat $spawn_id\n",
            "send_tty \"ready\\n\"\n",
            "expect -i $tty_spawn_id -re {(h\\S*o)} { send_tty \"tty <$expect_out(1,string)> [expr {$expect_out(spawn_id) eq $tty_spawn_id}]\\n\" } -i $cat never {}\n",
            "send \"from-cat\\r\"\n",
            "expect -i $tty_spawn_id never {} -i $cat -re {(\\S+)\\r\\n} { send_tty \"cat <$expect_out(1,string)> [expr {$expect_out(spawn_id) eq $cat}]\\n\" }\n",
            "send_tty \"more\\n\"\n",
            "expect_tty -re {(w\\S*d)} { send_tty \"tty2 <$expect_out(1,string)> $expect_out(spawn_id)\\n\" } -i $cat never {}\n",
            "send \\004\n",
            "expect -i $tty_spawn_id never {} -i $cat eof { send_tty \"cat-eof\\n\" }\n",
        ),
    )
    .unwrap();
    let run = |expect: &str| {
        let mut command = ptychat::Command::new("sh");
        command.args(["-c", &format!("{expect} {} > /dev/null", path.display())]);
        let mut session = common::spawn(&mut command);
        session.expect("ready").unwrap();
        session.send("hello\r").unwrap();
        // What came before "more" is kept: the first two expects' answers.
        let mut out = session.expect("more").unwrap().before().to_vec();
        session.send("world\r").unwrap();
        out.extend(common::read_to_eof(&mut session));
        session.wait().unwrap();
        String::from_utf8_lossy(&out).replace('\r', "")
    };
    let theirs = run("expect");
    let ours = run(&format!("{BIN} expect"));
    assert_eq!(theirs, ours);
    assert!(ours.contains("tty <hello> 1\ncat <from-cat> 1\n"), "{ours}");
    assert!(ours.ends_with("tty2 <world> exp3\ncat-eof\n"), "{ours}");
}

#[test]
fn a_background_action_may_expect_in_the_foreground_and_close_ends_the_watch() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "set stty_init -echo\n",
        "spawn -noecho cat\n",
        "expect_background -re {([a-z]+)\\r\\n} {\n",
        "    lappend ::seen $expect_out(1,string)\n",
        "    if {$expect_out(1,string) eq {b}} { send \"c\\r\"; expect -re {c\\r\\n}; lappend ::seen fg-c }\n",
        "    set ::got 1\n",
        "    exp_continue\n",
        "}\n",
        "send \"a\\r\"; vwait got\n",
        "send \"b\\r\"; vwait got\n",
        "puts $seen\n",
        "close\n",
        "puts [lrange [wait] 2 3]\n",
        "spawn -noecho cat\n",
        "expect_background -re . {}\n",
        "puts [llength [expect_background -info]]\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "a b fg-c\n0 0\n3\n");
}

#[test]
fn expect_background_on_our_standard_input() {
    // Expect closes `$user_spawn_id` (standard input and output) at its end, so its eof
    // action cannot print; here it can. The typed line is one event, the end another.
    let output = run_with_input(
        BIN,
        &[
            "expect",
            "-c",
            concat!(
                "expect_background -i $user_spawn_id -re {(\\S+)\\n} { puts \"typed <$expect_out(1,string)>\"; set ::got 1 } eof { puts user-eof; set ::got eof }\n",
                "vwait got\n",
                "vwait got\n",
                "puts \"got $got\"\n",
            ),
        ],
        b"one\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "typed <one>\nuser-eof\ngot eof\n");
}

#[test]
fn log_file_open_closes_the_channel_and_leaveopen_does_not() {
    let first = temp_path("tcl-keywords", "open.log");
    let second = temp_path("tcl-keywords", "leaveopen.log");
    let script = format!(
        concat!(
            "log_user 0\n",
            "set f [open {{{first}}} w]\n",
            "puts $f before\n",
            "log_file -open $f\n",
            "puts \"info <[log_file -info]>\"\n",
            "send_user \"hello\\n\"\n",
            "spawn -noecho echo abc\n",
            "expect eof\n",
            "log_file\n",
            // -open's channel is closed when logging stops.
            "puts \"closed [catch {{puts $f after}}]\"\n",
            "set g [open {{{second}}} w]\n",
            "log_file -a -leaveopen $g\n",
            "puts \"info <[log_file -info]>\"\n",
            "catch {{log_file -a {{{first}}}}} e; puts $e\n",
            "send_user \"hi\\n\"\n",
            // With -a the programs' output is logged while log_user is off.
            "spawn -noecho echo abc\n",
            "expect eof\n",
            "log_file\n",
            // -leaveopen's stays open.
            "puts \"open [catch {{puts $g after}}]\"\n",
            "close $g\n",
            "log_file -a {{{second}}}\n",
            "puts \"info <[log_file -info]>\"\n",
            "log_file\n",
            "puts \"info <[log_file -info]>\"\n",
            "puts [catch {{log_file -open nosuch}} e]$e\n",
            "set r [open {{{first}}}]\n",
            "puts [catch {{log_file -open $r}} e]$e\n",
            "puts [catch {{log_file -open}} e]$e\n",
            "foreach p {{{first} {second}}} {{ set f [open $p]; puts -nonewline [read $f]; close $f }}\n",
            "puts [expr {{[getpid] == [pid] && [exp_getpid] == [pid]}}]\n",
        ),
        first = first.display(),
        second = second.display(),
    );
    let (theirs, ours) = both_text(&script);
    assert_same(&theirs, &ours);
    let usage = "usage: log_file [-info] [-noappend] [[-a] file] [-[leave]open [open ...]]";
    assert_eq!(
        stdout(&ours),
        format!(
            "info <-noappend >\nhello\nclosed 1\ninfo <-a -noappend >\n\
             cannot start logging without first stopping logging\nhi\nopen 0\n\
             info <-a {second}>\ninfo <>\n1can not find channel named \"nosuch\"\n\
             1channel is not writable\n1{usage}\n\
             before\nhello\nhi\nabc\nafter\n1\n",
            second = second.display()
        )
    );
}

#[test]
fn parity_0_strips_the_8th_bit_before_matching_logging_and_showing() {
    require("expect");
    let log = temp_path("tcl-keywords", "parity.log");
    let script = format!(
        concat!(
            "proc hex {{s}} {{ binary scan [encoding convertto iso8859-1 $s] H* h; return $h }}\n",
            // Before any spawn, parity addresses $user_spawn_id, as in Expect.
            "puts \"default [parity] [parity -d]\"\n",
            "parity 0\n",
            "puts \"user [parity -i $user_spawn_id] [parity]\"\n",
            "expect_user -re {{(.*)\\n}}\n",
            "puts \"typed [hex $expect_out(1,string)]\"\n",
            "log_file -noappend {{{log}}}\n",
            "parity -d 0\n",
            "puts \"d [parity -d]\"\n",
            "spawn -noecho printf {{a\\351b\\303\\251c\\342\\202\\254d\\n}}\n",
            "puts \"spawned [parity] [parity -i $spawn_id]\"\n",
            "expect -re {{a(.*)d}}\n",
            "puts \"matched [hex $expect_out(1,string)] [hex $expect_out(buffer)]\"\n",
            "expect eof\n",
            "parity -d 1\n",
            "spawn -noecho printf {{x\\301y}}\n",
            "puts \"kept [parity]\"\n",
            "parity 0\n",
            "expect -re {{x(.)y}}\n",
            "puts \"then stripped [hex $expect_out(1,string)]\"\n",
            "expect eof\n",
            "parity 2\n",
            "puts \"two [parity]\"\n",
            "puts [catch {{parity x}} e]$e\n",
            "puts [catch {{parity -i nosuch}} e]$e\n",
            "log_file\n",
            "set f [open {{{log}}}]; fconfigure $f -translation binary\n",
            "puts \"log [hex [read $f]]\"; close $f\n",
        ),
        log = log.display()
    );
    let path = temp_path("tcl-keywords", "parity.exp");
    std::fs::write(&path, script).unwrap();
    let input = b"a\xe9b\n";
    let theirs = run_with_input("expect", &[path.to_str().unwrap()], input);
    let ours = run_with_input(BIN, &["expect", path.to_str().unwrap()], input);
    assert_eq!(theirs.stdout, ours.stdout, "{}", stderr(&ours));
    assert_eq!(theirs.status.code(), ours.status.code());
    let out = stdout(&ours);
    for line in [
        "default 1 1\n",
        "user 0 0\n",
        "typed 616962\n",
        "spawned 0 0\n",
        // \351 is i, \303\251 is C ), \342\202\254 is b \x02 ,: each byte without its 8th bit.
        "matched 696243296362022c 61696243296362022c64\n",
        "kept 1\n",
        "then stripped 41\n",
        "two 2\n",
        "1expected integer but got \"x\"\n",
        "1can not find channel named \"nosuch\"\n",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    // Programs' output reaches the log (and our standard output) already stripped.
    assert!(out.contains("log 61696243296362022c640d0a784179"), "{out}");
}

#[test]
fn exp_open_gives_a_spawn_id_to_a_tcl_channel() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "set stty_init -echo\n",
        "spawn -noecho cat\n",
        "set cat $spawn_id\n",
        "set f [exp_open]\n",
        "puts \"chan [regexp {^(serial|file)[0-9]+$} $f]\"\n",
        "puts $f hello; flush $f\n",
        "puts \"got [gets $f]\"\n",
        // Given up to the channel: Expect no longer knows the spawn id.
        "puts \"send [catch {send x}] again [catch {exp_open -i $cat}]\"\n",
        "close $f\n",
        "puts \"wait [catch {wait -i $cat}]\"\n",
        // -leaveopen: both the channel and the spawn id work.
        "spawn -noecho cat\n",
        "set g [exp_open -leaveopen]\n",
        "puts $g via-chan; flush $g\n",
        "expect -re {via-chan\\r\\n} { puts \"expect saw it\" }\n",
        "close $g\n",
        "send \\004\n",
        "expect eof { puts eof }\n",
        "puts [lrange [wait] 2 3]\n",
        "puts [catch {exp_open -i nosuch} e]$e\n",
        "puts [catch {exp_open -x} e]$e\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        "chan 1\ngot hello\nsend 1 again 1\nwait 1\nexpect saw it\neof\n0 0\n\
         1can not find channel named \"nosuch\"\n1usage: -i spawn_id\n"
    );
}

#[test]
fn interpreter_prompts_evaluates_in_the_caller_and_returns() {
    require("expect");
    let path = temp_path("tcl-keywords", "interpreter.exp");
    std::fs::write(
        &path,
        concat!(
            "interpreter\n",
            "puts \"back x=$x\"\n",
            "proc p {} { set r [catch {interpreter} e]; puts \"r=$r y=[info exists y]\" }\n",
            "p\n",
            "proc prompt2 {} { puts -nonewline \"more> \" }\n",
            "interpreter -eof { puts \"eof seen\" }\n",
            "puts [catch {interpreter -x} e]$e\n",
            "puts [catch {interpreter -eof} e]$e\n",
        ),
    )
    .unwrap();
    let input = concat!(
        // The first interpreter, at the global level.
        "set x 3\n",
        "expr {$x*2}\n",
        "puts hi\n",
        "list a \\\n",
        " b\n",
        "error boom\n",
        "return\n",
        // The second, in a procedure: `break` returns with its code.
        "set y 1\n",
        "break\n",
        // The third, until the end of input.
        "list c \\\n",
        " d\n",
    );
    let path = path.to_str().unwrap();
    let theirs = run_with_input("expect", &[path], input.as_bytes());
    let ours = run_with_input(BIN, &["expect", path], input.as_bytes());
    assert_same(&theirs, &ours);
    assert_eq!(stderr(&theirs), stderr(&ours));
    assert_eq!(
        stdout(&ours),
        "expect2.1> 3\r\nexpect2.2> 6\r\nexpect2.3> hi\nexpect2.4> +> a b\r\nexpect2.5> \
         expect2.6> back x=3\nexpect3.7> 1\r\nexpect3.8> r=3 y=1\n\
         expect2.9> more> c d\r\nexpect2.10> eof seen\n1bad flag \"-x\": must be -eof\n\
         1wrong # args: should be \"interpreter -eof cmd\"\n"
    );
    assert_eq!(
        stderr(&ours),
        "boom\n    while executing\n\"error boom\"\r\n"
    );
}

#[test]
fn exit_onexit_runs_the_handler_once_at_every_end() {
    // By `exit` (the handler's own `exit` code wins), at the script's end, after an error.
    for script in [
        "exit -onexit {puts \"handler [exit -onexit]\"}\nputs [exit -onexit]\nexit 4\n",
        "exit -onexit {puts h; exit 7}\nexit 2\n",
        "exit -onexit {puts h}\nputs end\n",
        "exit -onexit {puts h}\nerror boom\n",
    ] {
        let (theirs, ours) = both_text(script);
        assert_same(&theirs, &ours);
    }
}

#[test]
fn any_spawn_id_stands_for_every_id_the_expect_names() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        "spawn -noecho sh -c {echo a; echo b; read x}\n",
        "set one $spawn_id\n",
        // The second program says `c` only when asked, after `b` was matched: otherwise
        // Expect itself would print C instead of B whenever `a` and `b` came in two reads
        // and `c` was ready first (the background pattern on `$any_spawn_id` fires).
        "spawn -noecho sh -c {read x; echo c; read x}\n",
        "expect_before -i $any_spawn_id c {puts C}\n",
        "expect -i $one a {puts A}\n",
        "expect -i $one b {puts B} -i $spawn_id -i $any_spawn_id zzz {puts Z}\n",
        "send \"go\\r\"\n",
        // Without arguments this clears the current spawn id's patterns only: the ones
        // given to `$any_spawn_id` stay, and come first.
        "expect_before\n",
        "expect -i $one x {puts X} -i $spawn_id -i $any_spawn_id c {puts C2}\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "A\nB\nC\n");
}
