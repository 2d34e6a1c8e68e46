//! The child gets only its terminal, even when this process holds an fd that is not
//! close-on-exec (one it inherited from whatever started it, or one opened by C code).
//!
//! Making an inheritable fd affects every child spawned meanwhile, so this lives in a
//! binary of its own with a single test.

mod common;

use common::{py, read_to_eof};
use nix::fcntl::{FcntlArg, fcntl};

#[test]
fn inheritable_fds_of_the_parent_do_not_reach_the_child() {
    let file = std::fs::File::open("/dev/null").unwrap();
    // A copy at a number nothing else uses, without close-on-exec.
    let fd = fcntl(&file, FcntlArg::F_DUPFD(700)).unwrap();
    let mut s = py("import os\n\
         print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))");
    let out = read_to_eof(&mut s);
    nix::unistd::close(fd).unwrap();
    let text = String::from_utf8_lossy(&out);
    let child_fds: Vec<i32> = text
        .trim()
        .trim_matches(['[', ']'])
        .split(", ")
        .map(|fd| fd.parse().unwrap())
        .collect();
    assert!(
        !child_fds.contains(&fd),
        "the child has our inheritable fd {fd}; its fds: {child_fds:?}"
    );
}
