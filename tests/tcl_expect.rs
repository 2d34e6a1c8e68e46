//! `ptychat expect`: Tcl Expect scripts run by the real Tcl interpreter with Expect's
//! commands on ptychat's engine, through the `ptychat` binary, against real programs; and
//! Libes' scripts that Debian's `expect` package installs, run unchanged and compared with
//! Expect itself. Every wait is an `expect` on what the program prints.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::users::ThrowawayUser;
use common::{assert_same, assert_success, require, run_with_input, stderr, stdout, temp_path};

const BIN: &str = env!("CARGO_BIN_EXE_ptychat");

fn temp(name: &str) -> PathBuf {
    temp_path("tcl-expect", name)
}

/// `ptychat expect [OPTIONS] SCRIPT ARGS` on a script given as text.
fn expect(options: &[&str], script: &str, args: &[&str]) -> Output {
    let path = temp("script.exp");
    std::fs::write(&path, script).unwrap();
    let mut all: Vec<&str> = vec!["expect"];
    all.extend_from_slice(options);
    all.push(path.to_str().unwrap());
    all.extend_from_slice(args);
    run_with_input(BIN, &all, b"")
}

#[test]
fn a_script_with_the_usual_header_drives_bc() {
    let output = expect(
        &[],
        concat!(
            "#!/bin/sh\n",
            "# \\\n",
            "exec tclsh \"$0\" ${1+\"$@\"}\n",
            "package require Expect\n",
            "log_user 0\n",
            "set stty_init -echo\n",
            "spawn bc -q\n",
            "send \"[lindex $argv 0] * [lindex $argv 1]\\r\"\n",
            "expect -re {(\\d+)\\r\\n}\n",
            "puts \"product $expect_out(1,string) of $argc args from [file tail $argv0]\"\n",
            "send \"quit\\r\"\n",
            "expect eof\n",
            "puts [lrange [wait] 2 3]\n",
            "catch {exit 3}\n",
            "puts unreachable\n",
        ),
        &["6", "7"],
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("product 42 of 2 args from tcl-expect-"),
        "{out}"
    );
    assert!(
        out.ends_with("\n0 0\n"),
        "wait's status, then exit 3: {out}"
    );
}

#[test]
fn braced_blocks_exp_continue_procedures_and_eof() {
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "set stty_init -echo\n",
            "spawn python3 -c {for i in range(5): print(f'line {i}')\nprint('done')}\n",
            "set n 0\n",
            "expect {\n",
            "    -re {line (\\d)\\r\\n} { incr n; lappend seen $expect_out(1,string); exp_continue }\n",
            "    done { puts \"$n lines: $seen\" }\n",
            "    timeout { puts timeout }\n",
            "}\n",
            "proc finish {} {\n",
            "    expect eof { return [string length $expect_out(buffer)] }\n",
            "}\n",
            "puts \"left at eof: [finish]\"\n",
            "puts \"exit [lindex [wait] 3]\"\n",
        ),
        &[],
    );
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "5 lines: 0 1 2 3 4\nleft at eof: 2\nexit 0\n"
    );
}

#[test]
fn patterns_are_tried_in_list_order_as_in_expect() {
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "spawn printf {one two three}\n",
            // `three` matches later in the output than `one two three`, but is listed
            // first. (The second pattern needs the whole output, so however the output
            // is split into reads, both match at once.)
            "expect three { puts \"three, after [string length $expect_out(buffer)] bytes\" } {one two three} { puts one }\n",
            "expect -gl {*} { puts \"glob star took [string length $expect_out(0,string)]\" }\n",
        ),
        &[],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "three, after 13 bytes\nglob star took 0\n");
}

#[test]
fn captures_indices_and_nocase() {
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "spawn printf {Name: ANN id=42.}\n",
            // The `.` ends the number, however the output is split into reads.
            "expect -indices -re {id=(\\d+)\\.}\n",
            "puts \"$expect_out(1,string) $expect_out(1,start) $expect_out(1,end) $expect_out(0,start)\"\n",
            "spawn printf {HELLO there}\n",
            "expect -nocase -ex hello { puts \"nocase $expect_out(0,string)\" }\n",
        ),
        &[],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "42 13 14 10\nnocase HELLO\n");
}

#[test]
fn a_timeout_without_a_branch_carries_on_unless_strict() {
    let script = concat!(
        "log_user 0\n",
        "set timeout 1\n",
        "spawn cat\n",
        "send \"hello\\r\"\n",
        "expect never\n",
        "puts {carried on}\n",
    );
    let output = expect(&[], script, &[]);
    assert_success(&output);
    assert_eq!(stdout(&output), "carried on\n");

    let output = expect(&["--strict"], script, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("script.exp:5: timed out after"), "{err}");
    assert!(
        err.contains("(deadline 1s) waiting for glob \"never\""),
        "{err}"
    );
    assert!(err.contains("hello"), "the tail of the output: {err}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn several_spawn_ids_in_one_expect() {
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "set stty_init -echo\n",
            "spawn sh -c {read x; echo A-$x}\n",
            "set a $spawn_id\n",
            "spawn sh -c {read x; echo B-$x}\n",
            "set b $spawn_id\n",
            // Only b is asked: b answers, whatever the order of the list.
            "send -i $b \"go\\r\"\n",
            "expect -i \"$a $b\" -re {([AB])-go} {\n",
            "    puts \"$expect_out(1,string) [expr {$expect_out(spawn_id) eq $b}]\"\n",
            "}\n",
            "send -i $a \"go\\r\"\n",
            "expect -i $a -re {A-go} { puts {a too} }\n",
            "close -i $b\n",
            "puts [lrange [wait -i $b] 2 end]\n",
            "puts [lindex [wait -i $a] 3]\n",
        ),
        &[],
    );
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.starts_with("B 1\na too\n"), "{out}");
    // `close` ended b (already exited, or hung up); `wait` then reports it.
    assert!(out.ends_with("\n0\n"), "{out}");
}

#[test]
fn expect_before_and_after_with_actions() {
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "spawn sh -c {echo working; echo ERROR: disk full; sleep 30}\n",
            "expect_before -re {ERROR: ([^\\r]*)} { puts \"failed: $expect_out(1,string)\"; exit 4 }\n",
            "expect working\n",
            "expect done\n",
            "puts unreachable\n",
        ),
        &[],
    );
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert_eq!(stdout(&output), "failed: disk full\n");
}

#[test]
fn log_user_shows_the_spawn_line_and_the_output() {
    let output = expect(
        &[],
        "spawn printf {from the program}\nexpect eof\nlog_user 0\nspawn printf hidden\nexpect eof\n",
        &[],
    );
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        // As Expect, the words of the command line joined with spaces.
        "spawn printf from the program\r\nfrom the program"
    );
}

#[test]
fn expect_user_reads_our_standard_input() {
    let script = temp("user.exp");
    std::fs::write(
        &script,
        "expect_user -re {(\\w+)\\n} { send_user \"hello $expect_out(1,string)\\n\" }\n\
         expect -re {\\d+} { send_user \"then $expect_out(0,string)\\n\" }\n",
    )
    .unwrap();
    let output = run_with_input(BIN, &["expect", script.to_str().unwrap()], b"ann\n42\n");
    assert_success(&output);
    assert_eq!(stdout(&output), "hello ann\nthen 42\n");
}

#[test]
fn mistakes_are_tcl_errors_with_the_file_and_line() {
    for (script, line, message) in [
        (
            "set x 1\nproc f {} {\n  error boom\n}\nf\n",
            5,
            "boom\n    while executing",
        ),
        (
            "spawn /no/such/program\n",
            1,
            "cannot spawn `/no/such/program`",
        ),
        (
            "spawn cat\nexpect -re {(}\n",
            2,
            "couldn't compile regular expression pattern",
        ),
        (
            "spawn cat\ninteract -o -re\n",
            2,
            "interact: -ex or -re needs a pattern after it",
        ),
        (
            "strace 1\n",
            1,
            "does not provide the Expect command `strace`",
        ),
        (
            "fork\n",
            1,
            "does not provide the Expect command `fork`: it does not fit a multi-threaded process",
        ),
        ("spawn -console cat\n", 1, "spawn -console is not supported"),
    ] {
        let output = expect(&[], script, &[]);
        assert_eq!(output.status.code(), Some(1), "{script}");
        let err = stderr(&output);
        assert!(
            err.contains(&format!("script.exp:{line}: ")) && err.contains(message),
            "{script}: {err}"
        );
    }
    let output = run_with_input(BIN, &["expect", "/no/such/script.exp"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("reading the script: /no/such/script.exp"),
        "{}",
        stderr(&output)
    );
}

/// Runs Libes' script `name` (installed by Debian's `expect` package) under Expect and
/// under `ptychat expect` with the same arguments and input; returns both outputs.
fn both(name: &str, args: &[&str], input: &[u8]) -> (Output, Output) {
    require("expect");
    let script = format!("/usr/bin/{name}");
    assert!(
        Path::new(&script).is_file(),
        "{script} is missing (bash .ci/run installs the expect package)"
    );
    let mut tcl_args = vec![script.as_str()];
    tcl_args.extend_from_slice(args);
    let theirs = run_with_input("expect", &tcl_args, input);
    let mut ours_args = vec!["expect", script.as_str()];
    ours_args.extend_from_slice(args);
    let ours = run_with_input(BIN, &ours_args, input);
    (theirs, ours)
}

#[test]
fn libes_unbuffer_runs_unchanged() {
    let (theirs, ours) = both(
        "expect_unbuffer",
        &["sh", "-c", "echo one; echo two; exit 5"],
        b"",
    );
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "one\ntwo\n");
    assert_eq!(ours.status.code(), Some(5));
}

#[test]
fn libes_timed_run_runs_unchanged() {
    // The program ends long before the limit: the same output, then the end.
    let (theirs, ours) = both("expect_timed-run", &["30", "printf", "a\\nb\\n"], b"");
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "spawn printf a\\nb\\n\r\na\r\nb\r\n");
}

#[test]
fn libes_timed_read_runs_unchanged() {
    let (theirs, ours) = both("expect_timed-read", &["30"], b"a line\nmore\n");
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "a line\n");
}

/// Runs Libes' script `name` under Expect (`ours` false) or `ptychat expect`.
fn libes(ours: bool, name: &str, args: &[&str]) -> Output {
    let script = format!("/usr/bin/{name}");
    assert!(
        Path::new(&script).is_file(),
        "{script} is missing (bash .ci/run installs the expect package)"
    );
    let mut all = vec![script.as_str()];
    all.extend_from_slice(args);
    if ours {
        all.insert(0, "expect");
        run_with_input(BIN, &all, b"")
    } else {
        require("expect");
        run_with_input("expect", &all, b"")
    }
}

#[test]
fn libes_autopasswd_changes_the_password_as_under_expect() {
    let user = ThrowawayUser::new("tcla", "/bin/sh");
    let before = user.hash();
    let theirs = libes(false, "expect_autopasswd", &[&user.name, "Tcl-Expect-7q!"]);
    assert!(user.has_password("Tcl-Expect-7q!"), "{}", stderr(&theirs));
    let ours = libes(true, "expect_autopasswd", &[&user.name, "Ptychat-9z?w"]);
    assert_same(&theirs, &ours);
    assert_eq!(ours.status.code(), Some(0));
    assert!(
        stdout(&ours).starts_with(&format!("spawn passwd {}\r\n", user.name)),
        "{}",
        stdout(&ours)
    );
    assert!(user.has_password("Ptychat-9z?w"), "{}", stderr(&ours));
    assert!(!user.has_password("Tcl-Expect-7q!"));
    assert_ne!(user.hash(), before);
}

/// Expect_mkpasswd's rules for the passwords it makes by default: 9 characters, at least
/// 2 digits, 2 lower case, 2 upper case letters and 1 special character.
fn assert_mkpasswd_format(output: &Output) -> String {
    assert_success(output);
    let text = stdout(output);
    let password = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(!password.contains('\n'), "{text:?}");
    let count = |f: fn(&char) -> bool| password.chars().filter(f).count();
    assert_eq!(password.chars().count(), 9, "{password:?}");
    assert!(count(char::is_ascii_digit) >= 2, "{password:?}");
    assert!(count(char::is_ascii_lowercase) >= 2, "{password:?}");
    assert!(count(char::is_ascii_uppercase) >= 2, "{password:?}");
    assert!(count(|c| c.is_ascii_punctuation()) >= 1, "{password:?}");
    password.to_owned()
}

#[test]
fn libes_mkpasswd_prints_a_password_as_under_expect() {
    let theirs = libes(false, "expect_mkpasswd", &[]);
    let ours = libes(true, "expect_mkpasswd", &[]);
    assert_mkpasswd_format(&theirs);
    assert_mkpasswd_format(&ours);
    // Its options: length 14, 4 digits, no special character.
    for ours in [false, true] {
        let output = libes(ours, "expect_mkpasswd", &["-l", "14", "-d", "4", "-s", "0"]);
        assert_success(&output);
        let password = stdout(&output).trim_end().to_owned();
        assert_eq!(password.len(), 14, "{password:?}");
        assert!(password.chars().filter(char::is_ascii_digit).count() >= 4);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}

#[test]
fn libes_mkpasswd_sets_a_users_password_as_under_expect() {
    let user = ThrowawayUser::new("tclm", "/bin/sh");
    for ours in [false, true] {
        let before = user.hash();
        let output = libes(ours, "expect_mkpasswd", &[&user.name]);
        let password = assert_mkpasswd_format(&output);
        assert!(
            user.has_password(&password),
            "ours: {ours}, stderr: {}",
            stderr(&output)
        );
        assert_ne!(user.hash(), before);
    }
}

/// The same script text under Expect and under `ptychat expect`.
fn both_text(script: &str) -> (Output, Output) {
    require("expect");
    let path = temp("both.exp");
    std::fs::write(&path, script).unwrap();
    let theirs = run_with_input("expect", &[path.to_str().unwrap()], b"");
    let ours = run_with_input(BIN, &["expect", path.to_str().unwrap()], b"");
    (theirs, ours)
}

#[test]
fn timestamp_as_in_expect() {
    let (theirs, ours) = both_text(concat!(
        "puts [timestamp -seconds 1000000000 -format {%Y-%m-%d %H:%M:%S %a %b [x] {y} $z \\\\} -gmt]\n",
        "puts [timestamp -gmt -seconds 86399 -format %H:%M]\n",
        "set now [timestamp]\n",
        "puts [expr {[string is integer -strict $now] && abs($now - [clock seconds]) < 100}]\n",
        "puts [catch {timestamp -seconds soon} e]\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        "2001-09-09 01:46:40 Sun Sep [x] {y} $z \\\\\n23:59\n1\n1\n"
    );
}

#[test]
fn close_of_a_tcl_channel_and_long_flag_names_as_in_expect() {
    let file = temp("channel.txt");
    let script = format!(
        concat!(
            "log_user 0\n",
            "set f [open {{{file}}} w]; puts $f written; close $f\n",
            "set f [open {{{file}}}]; puts [gets $f]; close $f\n",
            "puts [catch {{close $f}}]\n",
            "spawn -noecho sh -c {{echo a.c; echo abc; echo x42y}}\n",
            "expect -exact a.c {{puts exact}}\n",
            "expect -glob a?c {{puts glob}}\n",
            "expect -regexp {{x(\\d+)y}} {{puts \"regexp $expect_out(1,string)\"}}\n",
            "expect eof\n",
            "wait\n",
        ),
        file = file.display()
    );
    let (theirs, ours) = both_text(&script);
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "written\n1\nexact\nglob\nregexp 42\n");
}

#[test]
fn close_of_a_spawn_id_by_name() {
    // Expect's spawn ids are Tcl channels: `close $spawn_id` closes the program.
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "spawn -noecho cat\n",
            "set id $spawn_id\n",
            "close $id\n",
            "puts [catch {send -i $id x} e]\n",
            "puts [lrange [wait -i $id] 1 1]\n",
        ),
        &[],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "1\nexp4\n");
}

#[test]
fn expect_i_over_many_spawn_ids() {
    // 200 programs, each answering once; every expect watches all those not done yet.
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "set ids {}\n",
            "for {set i 0} {$i < 200} {incr i} {\n",
            "    spawn -noecho sh -c \"read x; echo got-$i-\\$x\"\n",
            "    lappend ids $spawn_id; set n($spawn_id) $i\n",
            "}\n",
            "foreach id $ids { send -i $id \"ping\\r\" }\n",
            "set pending $ids; set seen 0\n",
            "while {[llength $pending]} {\n",
            "    expect -i $pending -re {got-(\\d+)-ping} {\n",
            "        set id $expect_out(spawn_id)\n",
            "        if {$expect_out(1,string) != $n($id)} { puts \"wrong $id\"; exit 1 }\n",
            "        set k [lsearch -exact $pending $id]\n",
            "        set pending [lreplace $pending $k $k]; incr seen\n",
            "    } timeout { puts timeout; exit 1 } eof { puts eof; exit 1 }\n",
            "}\n",
            "foreach id $ids { close -i $id; wait -i $id }\n",
            "puts \"seen $seen\"\n",
        ),
        &[],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "seen 200\n");
}

#[test]
fn a_command_renamed_by_its_own_action_and_huge_values() {
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "set timeout 9223372036854775807\n",
            "spawn printf hello\n",
            "expect {\n",
            // The action deletes the command that is running it.
            "    hello { rename expect {}; proc expect args {}; puts renamed; exp_continue }\n",
            "    eof { puts eof }\n",
            "}\n",
            "puts [catch {sleep 1e300} message]:$message\n",
        ),
        &[],
    );
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "renamed\neof\n1:sleep: 1e300 seconds is too long\n"
    );
}

#[test]
fn send_slow_and_send_human_type_everything() {
    let output = expect(
        &[],
        concat!(
            "log_user 0\n",
            "set stty_init -echo\n",
            "spawn cat\n",
            "set send_slow {2 .001}\n",
            "send -s \"slowly typed\\r\"\n",
            "expect -re {(slowly typed)\\r\\n} { puts $expect_out(1,string) }\n",
            "set send_human {.001 .002 1 .0005 .005}\n",
            "send -h \"like a person\\r\"\n",
            "expect -re {(like a person)\\r\\n} { puts $expect_out(1,string) }\n",
            "unset send_slow\n",
            "puts [catch {send -s x} message]:$message\n",
        ),
        &[],
    );
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "slowly typed\nlike a person\n1:send: can't read \"send_slow\": no such variable\n"
    );
}

#[test]
fn trap_actions_run_in_expect_sleep_and_between_commands_as_in_expect() {
    let (theirs, ours) = both_text(concat!(
        "trap {puts \"got [trap -name] [trap -number]\"; send \"go\\r\"} SIGUSR1\n",
        "puts [trap SIGUSR1]\n",
        "log_user 0\n",
        // The program signals us, then waits for what only the action sends.
        "spawn sh -c {kill -USR1 $PPID; read x; echo done $x}\n",
        "expect \"done go\"\n",
        "puts \"after expect\"\n",
        "trap SIG_DFL USR1\n",
        "puts [trap SIGUSR1]\n",
        "trap SIG_IGN SIGUSR1\n",
        "puts [trap SIGUSR1]\n",
        "exec kill -USR1 [pid]\n",
        "puts \"still alive\"\n",
        "trap {puts \"sleep got [trap -name]\"} {SIGUSR2 SIGHUP}\n",
        "exec sh -c \"kill -USR2 [pid]\"\n",
        "sleep 0.1\n",
        "puts [catch {trap {} SIGNOPE} e]\n",
        "trap {puts bye; exit 7} 1\n",
        "exec kill -HUP [pid]\n",
        "sleep 60\n",
        "puts unreachable\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(ours.status.code(), Some(7));
    assert_eq!(
        stdout(&ours),
        "puts \"got [trap -name] [trap -number]\"; send \"go\\r\"\ngot USR1 10\nafter expect\n\
         SIG_DFL\nSIG_IGN\nstill alive\nsleep got USR2\n1\nbye\n"
    );
}

/// The same script under Expect and under `ptychat expect`, each on a new pty (so that
/// standard input is a terminal); returns what each printed.
fn both_on_a_pty(script: &str) -> (String, String) {
    require("expect");
    let path = temp("pty.exp");
    std::fs::write(&path, script).unwrap();
    let run = |program: &str, args: &[&str]| {
        let mut command = ptychat::Command::new(program);
        command.args(args).arg(&path);
        let mut session = common::spawn(&mut command);
        let out = common::read_to_eof(&mut session);
        session.wait().unwrap();
        String::from_utf8_lossy(&out).replace('\r', "")
    };
    (run("expect", &[]), run(BIN, &["expect"]))
}

#[test]
fn stty_changes_our_terminal_as_in_expect() {
    let (theirs, ours) = both_on_a_pty(concat!(
        "foreach a {{-echo} {echo} {raw} {-raw} {rows 30} {rows} {columns 100} {columns} ",
        "{raw -echo} {-raw echo} {-echo}} {\n",
        "  puts \"$a => <[catch {stty {*}$a} r] $r>\"\n",
        "}\n",
        "puts [exec stty size]\n",
        "puts [string match *-echo* [stty -a]]\n",
    ));
    assert_eq!(theirs, ours);
    assert!(
        ours.contains("rows => <0 30>\n") && ours.ends_with("30 100\n1\n"),
        "{ours}"
    );
    // Without a terminal it is an error, as in Expect.
    let output = expect(&[], "puts [catch {stty -echo} e]\nputs $e\n", &[]);
    assert_eq!(
        stdout(&output),
        "1\nstty: standard input is not a terminal\n"
    );
}

#[test]
fn log_file_records_the_dialogue_as_in_expect() {
    let script = |log: &Path| {
        format!(
            concat!(
                "log_file -noappend {log}\n",
                "spawn cat\n",
                "send \"hello\\r\"\n",
                "expect \"hello\\r\\n\"\n",
                "expect \"hello\\r\\n\"\n",
                "send_user \"to user\\n\"\n",
                "log_user 0\n",
                "send \"quiet\\r\"\n",
                "expect \"quiet\\r\\n\"\n",
                "expect \"quiet\\r\\n\"\n",
                "log_file\n",
                "log_user 1\n",
                "send \"unlogged\\r\"\n",
                "expect \"unlogged\\r\\n\"\n",
                "expect \"unlogged\\r\\n\"\n",
                "log_file -a {log}\n",
                "log_user 0\n",
                "send \"all\\r\"\n",
                "expect \"all\\r\\n\"\n",
                "expect \"all\\r\\n\"\n",
                "send_user \"again\\n\"\n",
                "log_file\n",
                "close\n",
            ),
            log = log.display()
        )
    };
    require("expect");
    let (theirs_log, ours_log) = (temp("theirs.log"), temp("ours.log"));
    let (theirs_exp, ours_exp) = (temp("theirs.exp"), temp("ours.exp"));
    std::fs::write(&theirs_exp, script(&theirs_log)).unwrap();
    std::fs::write(&ours_exp, script(&ours_log)).unwrap();
    let theirs = run_with_input("expect", &[theirs_exp.to_str().unwrap()], b"");
    let ours = run_with_input(BIN, &["expect", ours_exp.to_str().unwrap()], b"");
    assert_same(&theirs, &ours);
    let ours_log = std::fs::read(&ours_log).unwrap();
    assert_eq!(std::fs::read(&theirs_log).unwrap(), ours_log);
    assert_eq!(
        String::from_utf8_lossy(&ours_log),
        "spawn cat\r\nhello\r\nhello\r\nto user\nall\r\nall\r\nagain\n"
    );
}

#[test]
fn exp_internal_traces_the_programs_to_stderr_or_a_file() {
    let file = temp("trace.txt");
    let output = expect(
        &[],
        &format!(
            concat!(
                "spawn cat\n",
                "exp_internal 1\n",
                "send \"abc\\r\"\n",
                "expect \"abc\\r\\n\"\n",
                "expect \"abc\\r\\n\"\n",
                "puts [exp_internal -info]\n",
                "exp_internal 0\n",
                "send \"def\\r\"\n",
                "expect \"def\\r\\n\"\n",
                "expect \"def\\r\\n\"\n",
                "exp_internal -f {} 0\n",
                "spawn cat\n",
                "send \"ghi\\r\"\n",
                "expect \"ghi\\r\\n\"\n",
                "exp_internal 0\n",
                "puts [catch {{exp_internal 2}}]\n",
            ),
            file.display()
        ),
        &[],
    );
    assert_success(&output);
    assert!(stdout(&output).contains("\n1\n") && stdout(&output).ends_with("\n1\n"));
    let err = stderr(&output);
    assert!(err.contains("matched glob \"abc\\r\\n\""), "{err}");
    assert!(!err.contains("def") && !err.contains("ghi"), "{err}");
    let traced = std::fs::read_to_string(&file).unwrap();
    assert!(traced.contains("matched glob \"ghi\\r\\n\""), "{traced}");
    assert!(!traced.contains("abc"), "{traced}");
}

#[test]
fn libes_passmass_reads_passwords_without_echo_as_under_expect() {
    require("expect");
    let script = "/usr/bin/expect_passmass";
    assert!(
        Path::new(script).is_file(),
        "{script} is missing (bash .ci/run installs the expect package)"
    );
    let run = |program: &str, args: &[&str], retyped: &str| {
        let mut command = ptychat::Command::new(program);
        // The host is never contacted: the passwords typed do not match.
        command.args(args).arg(script).arg("host.invalid");
        let mut session = common::spawn(&mut command);
        for (prompt, answer) in [
            ("old password: ", "old-secret"),
            ("new password: ", "new-secret"),
            ("retype new password: ", retyped),
        ] {
            session.expect(prompt).unwrap();
            session.send_line(answer).unwrap();
        }
        let out = common::read_to_eof(&mut session);
        let status = session.wait().unwrap();
        (
            status.code(),
            String::from_utf8_lossy(&out).replace('\r', ""),
        )
    };
    let theirs = run("expect", &[], "other-secret");
    let ours = run(BIN, &["expect"], "other-secret");
    assert_eq!(theirs, ours);
    assert!(
        ours.1.ends_with("mismatch - password unchanged\n"),
        "{}",
        ours.1
    );
    // `stty -echo` kept the passwords off the screen.
    assert!(!ours.1.contains("secret"), "{}", ours.1);
}

#[test]
fn spawn_open_and_leaveopen_on_a_file_and_pipelines_as_in_expect() {
    let file = temp("open.txt");
    std::fs::write(&file, "one\ntwo\n").unwrap();
    let script = format!(
        concat!(
            "log_user 0\n",
            // A file: its contents, then its end; the channel closes with the spawn id.
            "set f [open {{{file}}} r]\n",
            "puts [spawn -noecho -open $f]\n",
            "puts [exp_pid]\n",
            "expect -re {{two\\n}} {{puts \"file: [string map {{\\n |}} $expect_out(buffer)]\"}}\n",
            "expect eof {{puts \"file eof\"}}\n",
            "set w [wait]; puts \"[lindex $w 0] [lrange $w 2 end]\"\n",
            "puts [catch {{gets $f}}]\n",
            // A pipeline reading the file.
            "set f [open \"|cat {{{file}}}\" r]\n",
            "spawn -noecho -open $f\n",
            "expect -re {{one\\ntwo\\n}} {{puts pipeline}}\n",
            "expect eof {{puts \"pipeline eof\"}}\n",
            "set w [wait]; puts \"[lindex $w 0] [lrange $w 2 end]\"\n",
            // Both ways through cat; the channel stays usable by Tcl afterwards.
            "set f [open |cat r+]\n",
            "spawn -noecho -leaveopen $f\n",
            "send \"hello\\n\"\n",
            "expect \"hello\\n\" {{puts echoed}}\n",
            "close\n",
            "wait\n",
            "puts $f again; flush $f; puts [gets $f]\n",
            "close $f\n",
            "puts \"[catch {{spawn -open nosuchchannel}} e] $e\"\n",
        ),
        file = file.display()
    );
    let (theirs, ours) = both_text(&script);
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        concat!(
            "0\n0\nfile: one|two|\nfile eof\n0 0 0\n1\n",
            "pipeline\npipeline eof\n0 0 0\n",
            "echoed\nagain\n",
            "1 can not find channel named \"nosuchchannel\"\n",
        )
    );
}

#[test]
fn spawn_pty_ignore_and_the_slave_name_as_in_expect() {
    let (theirs, ours) = both_text(concat!(
        "log_user 0\n",
        // A pty with no program: what is written to its slave is read from the spawn id.
        "puts [spawn -noecho -pty]\n",
        "exec sh -c \"echo hi > $spawn_out(slave,name)\"\n",
        "expect hi {puts \"slave said hi\"}\n",
        "close -slave\n",
        "expect eof {puts \"eof once the slave is closed\"}\n",
        "set w [wait]; puts \"[lindex $w 0] [lrange $w 2 end]\"\n",
        // Ignored signals stay ignored in the program.
        "spawn -noecho -ignore INT -ignore SIGTERM sh -c {grep SigIgn /proc/self/status}\n",
        // (Expect keeps the dispositions it inherited, ptychat resets them: look at
        // HUP, INT and TERM only.)
        "expect -re {SigIgn:\\s+(\\S+)} {\n",
        "    puts [format %x [expr \"0x$expect_out(1,string) & 0x4003\"]]\n",
        "}\n",
        "wait\n",
        "puts [catch {spawn -ignore NOSUCH true}]\n",
        // A program's terminal is named too; only `spawn -pty` has a slave to close.
        "spawn -noecho cat\n",
        "puts [string match /dev/pts/* $spawn_out(slave,name)]\n",
        "puts \"[catch {close -slave} e] $e\"\n",
        "close\n",
        "wait\n",
    ));
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        concat!(
            "0\nslave said hi\neof once the slave is closed\n0 0 0\n",
            "4002\n1\n",
            "1\n1 no such slave\n",
        )
    );
}

#[test]
fn parity_0_strips_what_interact_shows() {
    let (theirs, ours) = both_on_a_pty(concat!(
        "spawn -noecho printf {x\\351\\303\\251y\\n}\n",
        "parity 0\n",
        "interact\n",
        "puts end\n",
    ));
    assert_eq!(theirs, ours);
    assert_eq!(ours, "xiC)y\nend\n");
}

/// `ARGS` under Expect and under `ptychat expect`, with `input` on standard input.
fn both_args(args: &[&str], input: &[u8]) -> (Output, Output) {
    require("expect");
    let theirs = run_with_input("expect", args, input);
    let mut ours_args = vec!["expect"];
    ours_args.extend_from_slice(args);
    (theirs, run_with_input(BIN, &ours_args, input))
}

#[test]
fn flag_d_turns_exp_internal_on_from_the_start() {
    let script = temp("flag-d.exp");
    std::fs::write(
        &script,
        "spawn cat\nsend \"abc\\r\"\nexpect \"abc\\r\\nabc\\r\\n\"\nputs [exp_internal -info]\nexit 3\n",
    )
    .unwrap();
    let (theirs, ours) = both_args(&["-d", script.to_str().unwrap()], b"");
    assert_same(&theirs, &ours);
    assert!(stdout(&ours).ends_with("\n1\n"), "{}", stdout(&ours));
    let err = stderr(&ours);
    assert!(err.starts_with("ptychat expect (Expect "), "{err}");
    assert!(err.contains("matched glob \"abc\\r\\nabc\\r\\n\""), "{err}");
    assert!(stderr(&theirs).starts_with("expect version "));
}

#[test]
fn flags_n_and_capital_n_are_accepted_as_in_expect() {
    let script = temp("flag-n.exp");
    std::fs::write(&script, "puts \"argv=$argv\"\n").unwrap();
    let (theirs, ours) = both_args(
        &["-n", "-N", "-c", "puts c", script.to_str().unwrap(), "x"],
        b"",
    );
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "c\nargv=x\n");
}

#[test]
fn flag_capital_d_the_debugger_is_refused() {
    let output = run_with_input(BIN, &["expect", "-D", "1", "-c", "exit"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("-D (Expect's interactive debugger) is not supported"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn flag_b_runs_the_script_command_by_command_as_in_expect() {
    let script = temp("flag-b.exp");
    std::fs::write(
        &script,
        concat!(
            "puts \"script=<[info script]> argv=$argv\"\n",
            "proc p {a} {\n",
            "  return \"p $a\"\n",
            "}\n",
            "puts [p 1]\n",
            "if {1} {\n",
            "  puts [gets stdin]\n",
            "}\n",
            "exit 5\n",
        ),
    )
    .unwrap();
    let (theirs, ours) = both_args(&["-b", script.to_str().unwrap(), "a"], b"typed\n");
    assert_same(&theirs, &ours);
    assert_eq!(stdout(&ours), "script=<> argv=a\np 1\ntyped\n");
    // An error names the file and the line where the failing command begins.
    std::fs::write(&script, "puts a\n\nif {1} {\n  error boom\n}\n").unwrap();
    let output = run_with_input(BIN, &["expect", "-b", script.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("{}:3: boom", script.display())),
        "{}",
        stderr(&output)
    );

    // From a fifo, each command runs before the next is written, under both.
    use std::io::{BufRead, Write};
    let fifo = temp("flag-b.fifo");
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for (program, args) in [("expect", vec![]), (BIN, vec!["expect"])] {
        let mut child = std::process::Command::new(program)
            .args(args)
            .arg("-b")
            .arg(&fifo)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        writer.write_all(b"puts first; flush stdout\n").unwrap();
        writer.flush().unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "first", "{program}");
        writer.write_all(b"puts second\nexit 4\n").unwrap();
        drop(writer);
        assert_eq!(lines.next().unwrap().unwrap(), "second", "{program}");
        assert_eq!(child.wait().unwrap().code(), Some(4), "{program}");
    }
}

#[test]
fn flag_i_reads_commands_after_the_c_commands_as_in_expect() {
    let script = temp("flag-i.exp");
    std::fs::write(&script, "puts script-ran\n").unwrap();
    // The script is not run under -i; its name and what follows are argv.
    let (theirs, ours) = both_args(
        &["-i", "-c", "puts c", script.to_str().unwrap(), "a"],
        b"puts \"typed $argv\"\nset x 4\n",
    );
    assert_same(&theirs, &ours);
    assert_eq!(
        stdout(&ours),
        format!(
            "c\nexpect1.1> typed {} a\nexpect1.2> 4\r\nexpect1.3> ",
            script.display()
        )
    );
    // Neither a script nor -c, standard input not a terminal: it is the script (`-` names
    // it too), read command by command.
    for args in [&[][..], &["-", "a"]] {
        let (theirs, ours) = both_args(
            args,
            b"puts \"$argv0 <[info script]> [info level]\"\nif {1} {\n  exit 6\n}\n",
        );
        assert_same(&theirs, &ours);
        assert_eq!(stdout(&ours), "expect <> 0\n");
        assert_eq!(ours.status.code(), Some(6));
    }
}

#[test]
fn flag_i_on_a_terminal_prompts_for_typed_commands() {
    require("expect");
    for program in ["expect", BIN] {
        let mut command = ptychat::Command::new(program);
        if program == BIN {
            command.arg("expect");
        }
        command.args(["-i", "-c", "proc hi {} { return hello }"]);
        let mut user = common::spawn(&mut command);
        let see = |user: &mut ptychat::PtySession, text: &str| {
            user.expect(text)
                .unwrap_or_else(|e| panic!("{program}: waiting for {text:?}: {e}"));
        };
        see(&mut user, "expect1.1> ");
        user.send("hi\r").unwrap();
        see(&mut user, "hello");
        see(&mut user, "expect1.2> ");
        user.send("exit 7\r").unwrap();
        common::read_to_eof(&mut user);
        let status = user.wait_timeout(Some(common::LONG)).unwrap();
        assert_eq!(status, Some(ptychat::ExitStatus::Exited(7)), "{program}");
    }
}

#[test]
fn trace_shows_each_expect_command_with_its_file_and_line() {
    let output = expect(
        &["--trace", "-c", "set greeting hi"],
        concat!(
            "proc say {what} {\n",
            "  send_user \"$what\\n\"\n",
            "}\n",
            "spawn -noecho cat\n",
            "say $greeting\n",
            "exp_send \"x\\r\"\n",
            "expect \"x\\r\\nx\\r\\n\"\n",
            "set a [string length abc]\n",
        ),
        &[],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "hi\nx\r\nx\r\n");
    // The lines without the script's path (`ptychat trace: PATH:LINE: COMMAND`).
    let traced: Vec<String> = stderr(&output)
        .lines()
        .map(|line| {
            let (head, rest) = line.split_once("script.exp:").unwrap_or(("", line));
            format!("{}{rest}", &head[..head.find('/').unwrap_or(0)])
        })
        .collect();
    assert_eq!(
        traced,
        [
            "ptychat trace: 4: spawn -noecho cat",
            "ptychat trace: 2: send_user {hi\\n}",
            "ptychat trace: 6: exp_send {x\\r}",
            "ptychat trace: 7: expect {x\\r\\nx\\r\\n}",
        ]
    );
}
