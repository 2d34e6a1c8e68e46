//! Async sessions over forked children (`ptychat::fork`), feature `tokio`.
//!
//! Forking without exec is refused in a multi-threaded process and libtest runs tests on
//! several threads, so this binary has `harness = false`. A current-thread tokio runtime
//! starts no thread, so children can also be forked while it runs; a multi-thread
//! runtime drives children forked before it started.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::panic::catch_unwind;
use std::time::Duration;

use ptychat::{AsyncSession, ExitStatus, Pattern, fork};

const LONG: Duration = Duration::from_secs(30);

/// The child: echoes each line upper-cased until end of input.
fn upper_case_echo(socket: UnixStream) -> i32 {
    let mut out = socket.try_clone().unwrap();
    for line in BufReader::new(socket).lines() {
        let line = line.unwrap();
        writeln!(out, "{}", line.to_uppercase()).unwrap();
    }
    0
}

async fn talk(child: &mut AsyncSession<fork::Forked>) {
    child.set_timeout(Some(LONG));
    for word in ["hello", "forked world"] {
        child.send_line(word).await.unwrap();
        let m = child
            .expect(Pattern::regex(r"(?m)^(.*)\n").unwrap())
            .await
            .unwrap();
        assert_eq!(m.group(1).unwrap(), word.to_uppercase().as_bytes());
    }
    // Many lines at once: the send reads the echo while it writes.
    let many: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    child.send(&many).await.unwrap();
    child.expect("LINE 4999\n").await.unwrap();
    child.close_input().unwrap();
    assert!(child.expect(Pattern::eof()).await.unwrap().is_eof());
    assert_eq!(child.wait().await.unwrap(), ExitStatus::Exited(0));
}

fn forked_in_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The runtime has no thread of its own: forking is allowed here.
        let mut child = fork::socketpair_child(upper_case_echo)
            .unwrap()
            .into_async();
        talk(&mut child).await;
        let mut pty = fork::pty_child(|| {
            println!("from a forked pty child");
            5
        })
        .unwrap()
        .into_async();
        pty.expect("from a forked pty child\r\n").await.unwrap();
        assert_eq!(pty.wait().await.unwrap(), ExitStatus::Exited(5));
    });
}

fn forked_before_a_multi_thread_runtime() {
    let children: Vec<AsyncSession<fork::Forked>> = (0..3)
        .map(|_| {
            fork::socketpair_child(upper_case_echo)
                .unwrap()
                .into_async()
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let tasks: Vec<_> = children
            .into_iter()
            .map(|mut child| tokio::spawn(async move { talk(&mut child).await }))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn main() {
    let cases: &[(&str, fn())] = &[
        (
            "forked_in_a_current_thread_runtime",
            forked_in_a_current_thread_runtime,
        ),
        // Last: the runtime's threads stay until the process ends.
        (
            "forked_before_a_multi_thread_runtime",
            forked_before_a_multi_thread_runtime,
        ),
    ];
    let me = std::process::id();
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases {
        let outcome = catch_unwind(case);
        if std::process::id() != me {
            eprintln!("a forked child returned into the test harness from {name}");
            std::process::abort();
        }
        match outcome {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
