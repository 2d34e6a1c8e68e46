//! Expect's `interpreter [-eof SCRIPT]`: an interactive Tcl prompt on our standard input
//! and output, with Expect's `prompt1` / `prompt2` (which a script may redefine). It is
//! written in Tcl: it only reads lines and evaluates them in the caller's frame.

use crate::sys::tcl::{Code, InterpRef};

/// The procedures. The prompt shows the caller's level plus two and the history's next
/// id, as Expect's does (`expect2.1> ` at the global level); results are printed with
/// `\r\n`, errors (`errorInfo`) to stderr; `return` (or the end of input, after the `-eof`
/// script) returns, `break` and `continue` return with their code.
const PROCS: &str = r#"
proc ::prompt1 {} {
    puts -nonewline "expect[expr {[info level] + 1}].[history nextid]> "
}
proc ::prompt2 {} {
    puts -nonewline "+> "
}
proc ::interpreter {args} {
    set on_eof {}
    while {[llength $args]} {
        set args [lassign $args flag]
        # -eof or a prefix of it, as Tcl_GetIndexFromObj takes it.
        if {$flag eq "" || [string first $flag -eof] != 0} {
            return -code error "bad flag \"$flag\": must be -eof"
        }
        if {![llength $args]} {
            return -code error "wrong # args: should be \"interpreter -eof cmd\""
        }
        set args [lassign $args on_eof]
    }
    set command ""
    while 1 {
        if {$command eq ""} { uplevel 1 ::prompt1 } else { uplevel 1 ::prompt2 }
        flush stdout
        if {[gets stdin line] < 0} {
            if {$on_eof ne ""} { uplevel 1 $on_eof }
            return
        }
        append command $line "\n"
        if {![info complete $command]} continue
        history add [string trimright $command "\n"]
        set code [catch {uplevel 1 $command} result options]
        set command ""
        switch -- $code {
            0 { if {$result ne ""} { puts -nonewline "$result\r\n" } }
            1 {
                # Without this procedure's own frames.
                set info [dict get $options -errorinfo]
                regsub {\n    \("uplevel" body line \d+\)\n    invoked from within\n"uplevel 1 \$command"$} $info {} info
                puts -nonewline stderr "$info\r\n"
            }
            2 { return }
            3 { return -code break }
            4 { return -code continue }
            default { return -code $code $result }
        }
    }
}
"#;

/// Defines `interpreter`, `prompt1` and `prompt2` on `interp`.
pub(crate) fn register(interp: InterpRef<'_>) {
    let defined = interp.eval(PROCS.as_bytes());
    debug_assert!(
        defined == Code::Ok,
        "the interpreter procedures are valid Tcl"
    );
}
