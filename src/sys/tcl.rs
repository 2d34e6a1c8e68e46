//! Tcl 8.6, loaded at run time with `dlopen`: the few C functions `ptychat expect` needs
//! (an interpreter, evaluation, variables, commands written in Rust), behind a safe API
//! that speaks bytes.
//!
//! Loading at run time rather than linking keeps Tcl out of the build: the crate builds
//! and its tests pass on a machine without Tcl, and one `ptychat` binary runs Tcl scripts
//! wherever `libtcl8.6.so` is installed.
//!
//! Strings cross in Tcl's internal form (UTF-8 with NUL written as `C0 80`): [`from_tcl`]
//! and [`to_tcl`] convert. Bytes that are not UTF-8 become the characters U+0080..U+00FF,
//! as Tcl's `iso8859-1` decoding would make them.

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::OnceLock;

use nix::libc;

#[repr(C)]
struct RawInterp {
    _private: [u8; 0],
}

#[repr(C)]
struct RawObj {
    _private: [u8; 0],
}

#[repr(C)]
struct RawChannel {
    _private: [u8; 0],
}

type ObjCmdProc =
    unsafe extern "C" fn(*mut c_void, *mut RawInterp, c_int, *const *mut RawObj) -> c_int;
type CmdDeleteProc = unsafe extern "C" fn(*mut c_void);
type FileProc = unsafe extern "C" fn(*mut c_void, c_int);

const TCL_OK: c_int = 0;
const TCL_ERROR: c_int = 1;
const TCL_GLOBAL_ONLY: c_int = 1;
const TCL_APPEND_VALUE: c_int = 4;
const TCL_LIST_ELEMENT: c_int = 8;
const TCL_LEAVE_ERR_MSG: c_int = 0x200;
const TCL_CANCEL_UNWIND: c_int = 0x100000;
const TCL_EVAL_GLOBAL: c_int = 0x20000;
const TCL_READABLE: c_int = 2;
const TCL_WRITABLE: c_int = 4;

/// The library names tried, in order.
const LIBRARIES: &[&CStr] = &[c"libtcl8.6.so", c"libtcl8.6.so.0"];

/// The Tcl functions used, as found in the loaded library.
struct Fns {
    find_executable: unsafe extern "C" fn(*const c_char),
    create_interp: unsafe extern "C" fn() -> *mut RawInterp,
    init: unsafe extern "C" fn(*mut RawInterp) -> c_int,
    delete_interp: unsafe extern "C" fn(*mut RawInterp),
    eval_ex: unsafe extern "C" fn(*mut RawInterp, *const c_char, c_int, c_int) -> c_int,
    get_obj_result: unsafe extern "C" fn(*mut RawInterp) -> *mut RawObj,
    set_obj_result: unsafe extern "C" fn(*mut RawInterp, *mut RawObj),
    get_string_from_obj: unsafe extern "C" fn(*mut RawObj, *mut c_int) -> *const c_char,
    new_string_obj: unsafe extern "C" fn(*const c_char, c_int) -> *mut RawObj,
    create_obj_command: unsafe extern "C" fn(
        *mut RawInterp,
        *const c_char,
        ObjCmdProc,
        *mut c_void,
        Option<CmdDeleteProc>,
    ) -> *mut c_void,
    set_var2_ex: unsafe extern "C" fn(
        *mut RawInterp,
        *const c_char,
        *const c_char,
        *mut RawObj,
        c_int,
    ) -> *mut RawObj,
    get_var2_ex:
        unsafe extern "C" fn(*mut RawInterp, *const c_char, *const c_char, c_int) -> *mut RawObj,
    split_list: unsafe extern "C" fn(
        *mut RawInterp,
        *const c_char,
        *mut c_int,
        *mut *const *const c_char,
    ) -> c_int,
    free: unsafe extern "C" fn(*mut c_char),
    pkg_provide_ex:
        unsafe extern "C" fn(*mut RawInterp, *const c_char, *const c_char, *const c_void) -> c_int,
    get_error_line: unsafe extern "C" fn(*mut RawInterp) -> c_int,
    cancel_eval: unsafe extern "C" fn(*mut RawInterp, *mut RawObj, *mut c_void, c_int) -> c_int,
    create_file_handler: unsafe extern "C" fn(c_int, c_int, FileProc, *mut c_void),
    delete_file_handler: unsafe extern "C" fn(c_int),
    background_exception: unsafe extern "C" fn(*mut RawInterp, c_int),
    get_channel: unsafe extern "C" fn(*mut RawInterp, *const c_char, *mut c_int) -> *mut RawChannel,
    get_channel_handle: unsafe extern "C" fn(*mut RawChannel, c_int, *mut *mut c_void) -> c_int,
    make_file_channel: unsafe extern "C" fn(*mut c_void, c_int) -> *mut RawChannel,
    register_channel: unsafe extern "C" fn(*mut RawInterp, *mut RawChannel),
    get_channel_name: unsafe extern "C" fn(*mut RawChannel) -> *const c_char,
}

/// The loaded Tcl library (never unloaded).
pub(crate) struct Tcl {
    fns: Fns,
}

// SAFETY: `Fns` holds only function pointers into a library that stays loaded for the
// life of the process; calling them is still confined to the interpreter's thread by
// `Interp` and `InterpRef`, which are neither `Send` nor `Sync`.
unsafe impl Sync for Tcl {}
// SAFETY: as above: the pointers themselves may move between threads.
unsafe impl Send for Tcl {}

/// Loads Tcl 8.6 once per process; the error says which libraries were tried.
pub(crate) fn load() -> io::Result<&'static Tcl> {
    static TCL: OnceLock<Result<Tcl, String>> = OnceLock::new();
    TCL.get_or_init(open)
        .as_ref()
        .map_err(|message| io::Error::new(io::ErrorKind::NotFound, message.clone()))
}

fn open() -> Result<Tcl, String> {
    let mut reasons = Vec::new();
    for name in LIBRARIES {
        // SAFETY: `name` is a NUL-terminated string; dlopen has no other precondition.
        // Loading runs the library's initialisers, which for libtcl set up its own
        // globals only.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            reasons.push(dlerror());
            continue;
        }
        let fns = match symbols(handle) {
            Ok(fns) => fns,
            Err(reason) => {
                reasons.push(reason);
                continue;
            }
        };
        let tcl = Tcl { fns };
        // SAFETY: Tcl_FindExecutable must be called once before any interpreter is
        // created; NULL means "no executable name", which Tcl accepts.
        unsafe { (tcl.fns.find_executable)(std::ptr::null()) };
        return Ok(tcl);
    }
    Err(reasons.join("; "))
}

/// The text of the last `dlopen`/`dlsym` failure.
fn dlerror() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl*
    // call on this thread; it is copied at once.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown dlopen error".to_owned();
    }
    // SAFETY: non-NULL, NUL-terminated (see above).
    unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}

/// Looks up every function of [`Fns`] in the library `handle`.
fn symbols(handle: *mut c_void) -> Result<Fns, String> {
    let find = |name: &CStr| -> Result<*mut c_void, String> {
        // SAFETY: `handle` came from a successful dlopen and is never closed; `name` is
        // NUL-terminated.
        let symbol = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if symbol.is_null() {
            Err(format!("{}: {}", name.to_string_lossy(), dlerror()))
        } else {
            Ok(symbol)
        }
    };
    macro_rules! function {
        ($name:literal) => {{
            let symbol = find($name)?;
            // SAFETY: the symbol is the Tcl 8.6 C function of that name, whose signature
            // (from tcl.h / tclDecls.h of Tcl 8.6, with `int` sizes) is the one the field
            // it is assigned to declares.
            unsafe { function_pointer(symbol) }
        }};
    }
    Ok(Fns {
        find_executable: function!(c"Tcl_FindExecutable"),
        create_interp: function!(c"Tcl_CreateInterp"),
        init: function!(c"Tcl_Init"),
        delete_interp: function!(c"Tcl_DeleteInterp"),
        eval_ex: function!(c"Tcl_EvalEx"),
        get_obj_result: function!(c"Tcl_GetObjResult"),
        set_obj_result: function!(c"Tcl_SetObjResult"),
        get_string_from_obj: function!(c"Tcl_GetStringFromObj"),
        new_string_obj: function!(c"Tcl_NewStringObj"),
        create_obj_command: function!(c"Tcl_CreateObjCommand"),
        set_var2_ex: function!(c"Tcl_SetVar2Ex"),
        get_var2_ex: function!(c"Tcl_GetVar2Ex"),
        split_list: function!(c"Tcl_SplitList"),
        free: function!(c"Tcl_Free"),
        pkg_provide_ex: function!(c"Tcl_PkgProvideEx"),
        get_error_line: function!(c"Tcl_GetErrorLine"),
        cancel_eval: function!(c"Tcl_CancelEval"),
        create_file_handler: function!(c"Tcl_CreateFileHandler"),
        delete_file_handler: function!(c"Tcl_DeleteFileHandler"),
        background_exception: function!(c"Tcl_BackgroundException"),
        get_channel: function!(c"Tcl_GetChannel"),
        get_channel_handle: function!(c"Tcl_GetChannelHandle"),
        make_file_channel: function!(c"Tcl_MakeFileChannel"),
        register_channel: function!(c"Tcl_RegisterChannel"),
        get_channel_name: function!(c"Tcl_GetChannelName"),
    })
}

/// `symbol` as the function pointer type `F`.
///
/// # Safety
/// `symbol` must be the address of a function whose C signature is `F`'s.
unsafe fn function_pointer<F: Copy>(symbol: *mut c_void) -> F {
    assert_eq!(
        std::mem::size_of::<F>(),
        std::mem::size_of::<*mut c_void>(),
        "a function pointer type"
    );
    // SAFETY: the sizes are equal (checked above) and the caller vouches for the type.
    unsafe { std::mem::transmute_copy::<*mut c_void, F>(&symbol) }
}

/// A completion code of a Tcl command or script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    Ok,
    Error,
    Return,
    Break,
    Continue,
    /// Any other code (Expect's `exp_continue` uses one).
    Other(i32),
}

impl Code {
    fn from_raw(code: c_int) -> Self {
        match code {
            0 => Code::Ok,
            1 => Code::Error,
            2 => Code::Return,
            3 => Code::Break,
            4 => Code::Continue,
            other => Code::Other(other),
        }
    }

    fn raw(self) -> c_int {
        match self {
            Code::Ok => TCL_OK,
            Code::Error => TCL_ERROR,
            Code::Return => 2,
            Code::Break => 3,
            Code::Continue => 4,
            Code::Other(code) => code,
        }
    }
}

/// Where a variable is looked up or set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The current procedure's frame (the global frame outside procedures).
    Current,
    Global,
}

impl Scope {
    fn flags(self) -> c_int {
        match self {
            Scope::Current => 0,
            Scope::Global => TCL_GLOBAL_ONLY,
        }
    }
}

/// A command written in Rust: called with the interpreter and the words of the call
/// (the command's name first), it leaves its result with [`InterpRef::set_result`].
pub(crate) type CommandFn = dyn Fn(InterpRef<'_>, &[Vec<u8>]) -> Code;

/// What a registered command's client data points to.
struct Registered {
    tcl: &'static Tcl,
    command: Box<CommandFn>,
}

/// An interpreter, deleted when dropped. Not `Send`: Tcl interpreters belong to the
/// thread that created them.
pub(crate) struct Interp {
    tcl: &'static Tcl,
    raw: *mut RawInterp,
}

impl Interp {
    /// A new interpreter with Tcl's library initialised (`init.tcl`: `package`, `auto_path`
    /// and the rest); the error is Tcl's message when the library cannot be found.
    pub(crate) fn new(tcl: &'static Tcl) -> io::Result<Interp> {
        // SAFETY: Tcl_FindExecutable was called when the library was loaded.
        let raw = unsafe { (tcl.fns.create_interp)() };
        if raw.is_null() {
            return Err(io::Error::other("Tcl_CreateInterp failed"));
        }
        let interp = Interp { tcl, raw };
        // SAFETY: `raw` is a live interpreter of this thread.
        if unsafe { (tcl.fns.init)(raw) } != TCL_OK {
            let message = String::from_utf8_lossy(&interp.handle().result()).into_owned();
            return Err(io::Error::other(message));
        }
        Ok(interp)
    }

    /// A handle for calls; it cannot outlive the interpreter.
    pub(crate) fn handle(&self) -> InterpRef<'_> {
        InterpRef {
            tcl: self.tcl,
            raw: self.raw,
            _interp: PhantomData,
        }
    }
}

impl Drop for Interp {
    fn drop(&mut self) {
        // SAFETY: `raw` is live and deleted once; commands' delete procs free their
        // closures.
        unsafe { (self.tcl.fns.delete_interp)(self.raw) };
    }
}

/// A borrowed interpreter: the one an [`Interp`] owns, or the one a command is called in.
#[derive(Clone, Copy)]
pub(crate) struct InterpRef<'a> {
    tcl: &'static Tcl,
    raw: *mut RawInterp,
    _interp: PhantomData<(&'a Interp, Cell<()>)>,
}

/// Copies of a Tcl channel's fds (see [`InterpRef::channel_fds`]).
pub(crate) struct ChannelFds {
    /// The fd the channel reads, if it is open for reading.
    pub(crate) read: Option<OwnedFd>,
    /// The fd the channel writes, if it is open for writing.
    pub(crate) write: Option<OwnedFd>,
}

impl InterpRef<'_> {
    /// Evaluates `script` in the current frame (the caller's, inside a command).
    pub(crate) fn eval(&self, script: &[u8]) -> Code {
        let script = to_tcl(script);
        let Ok(len) = c_int::try_from(script.len()) else {
            self.set_result(b"script too long");
            return Code::Error;
        };
        // SAFETY: the pointer and length describe `script`, alive for the call; flags 0
        // evaluate in the current frame.
        let code = unsafe { (self.tcl.fns.eval_ex)(self.raw, script.as_ptr().cast(), len, 0) };
        Code::from_raw(code)
    }

    /// Copies of the OS handles of the Tcl channel `name` (close-on-exec): (the fd it
    /// reads, the fd it writes), each `None` when the channel is not open that way. The
    /// error is Tcl's message for a name that is no channel.
    pub(crate) fn channel_fds(&self, name: &[u8]) -> Result<ChannelFds, Vec<u8>> {
        let name = CString::new(to_tcl(name)).map_err(|_| b"bad channel name".to_vec())?;
        let mut mode: c_int = 0;
        // SAFETY: the name is NUL-terminated and alive for the call; `mode` is a local.
        let channel = unsafe { (self.tcl.fns.get_channel)(self.raw, name.as_ptr(), &mut mode) };
        if channel.is_null() {
            return Err(self.result());
        }
        let copy = |direction: c_int| -> Result<Option<OwnedFd>, Vec<u8>> {
            if mode & direction == 0 {
                return Ok(None);
            }
            let mut handle: *mut c_void = std::ptr::null_mut();
            // SAFETY: `channel` is a live channel of this interpreter (just looked up);
            // `handle` is a local Tcl writes the OS handle to.
            let code =
                unsafe { (self.tcl.fns.get_channel_handle)(channel, direction, &mut handle) };
            if code != TCL_OK {
                return Ok(None);
            }
            // On Unix a channel's OS handle is its fd number, cast to a pointer.
            let fd = handle as usize as c_int;
            // SAFETY: F_DUPFD_CLOEXEC only reads the fd number; the channel keeps its own
            // fd, and the copy is owned by the caller alone.
            let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            if copy < 0 {
                return Err(io::Error::last_os_error().to_string().into_bytes());
            }
            // SAFETY: `copy` is a new fd nothing else owns.
            Ok(Some(unsafe { OwnedFd::from_raw_fd(copy) }))
        };
        Ok(ChannelFds {
            read: copy(TCL_READABLE)?,
            write: copy(TCL_WRITABLE)?,
        })
    }

    /// A new Tcl channel of this interpreter on `fd`, open for reading and writing, as
    /// `open` would make it (`fileN`, or `serialN` for a terminal); returns its name. The
    /// channel owns the fd from then on: Tcl's `close` closes it.
    pub(crate) fn file_channel(&self, fd: OwnedFd) -> Result<Vec<u8>, String> {
        // On Unix a channel's OS handle is its fd number, cast to a pointer.
        let handle = fd.as_raw_fd() as usize as *mut c_void;
        // SAFETY: `handle` names an open fd (alive while `fd` is); the mode is a plain
        // flag set.
        let channel =
            unsafe { (self.tcl.fns.make_file_channel)(handle, TCL_READABLE | TCL_WRITABLE) };
        if channel.is_null() {
            return Err("could not make a Tcl channel of the spawn id".into());
        }
        // The channel closes the fd now.
        let _ = fd.into_raw_fd();
        // SAFETY: `channel` was just made and is registered once with this live
        // interpreter, which then owns it.
        unsafe { (self.tcl.fns.register_channel)(self.raw, channel) };
        // SAFETY: a registered channel's name is a NUL-terminated string Tcl keeps while
        // the channel is open; it is copied at once.
        let name = unsafe { CStr::from_ptr((self.tcl.fns.get_channel_name)(channel)) };
        Ok(from_tcl(name.to_bytes()))
    }

    /// Evaluates `script` in the global frame (a background action's, as in Expect).
    pub(crate) fn eval_global(&self, script: &[u8]) -> Code {
        let script = to_tcl(script);
        let Ok(len) = c_int::try_from(script.len()) else {
            self.set_result(b"script too long");
            return Code::Error;
        };
        // SAFETY: the pointer and length describe `script`, alive for the call.
        let code = unsafe {
            (self.tcl.fns.eval_ex)(self.raw, script.as_ptr().cast(), len, TCL_EVAL_GLOBAL)
        };
        Code::from_raw(code)
    }

    /// Reports the error (or other code) `code` of something run from the event loop the
    /// way Tcl does (`bgerror`: by default, `errorInfo` on stderr).
    pub(crate) fn background_error(&self, code: Code) {
        // SAFETY: the interpreter is live; Tcl reads its result and errorInfo now.
        unsafe { (self.tcl.fns.background_exception)(self.raw, code.raw()) };
    }

    /// Runs `callback` from Tcl's event loop (`vwait`, `update`, `after`...) whenever
    /// `fd` is readable, until the returned handler is dropped (or paused). One handler
    /// per fd: a new one for the same fd replaces it.
    pub(crate) fn watch_readable(&self, fd: c_int, callback: Box<WatchFn>) -> FileHandler {
        let data = Rc::into_raw(Rc::new(Watcher {
            tcl: self.tcl,
            raw: self.raw,
            callback,
        }));
        let handler = FileHandler {
            tcl: self.tcl,
            fd,
            data,
            armed: Cell::new(false),
        };
        handler.resume();
        handler
    }

    /// The interpreter's result.
    pub(crate) fn result(&self) -> Vec<u8> {
        // SAFETY: the interpreter is live; its result object is never NULL and is read
        // before anything else can change it.
        unsafe { from_tcl(string_of(self.tcl, (self.tcl.fns.get_obj_result)(self.raw))) }
    }

    /// Sets the interpreter's result.
    pub(crate) fn set_result(&self, value: &[u8]) {
        let obj = self.new_string(value);
        // SAFETY: `obj` is a fresh object with no references; the interpreter takes one.
        unsafe { (self.tcl.fns.set_obj_result)(self.raw, obj) }
    }

    /// Sets `name` (or the array element `name(index)`); the error is Tcl's message (a
    /// name that is an array, say).
    pub(crate) fn set_var(
        &self,
        name: &str,
        index: Option<&str>,
        value: &[u8],
        scope: Scope,
    ) -> Result<(), Vec<u8>> {
        let (name, index) = names(name, index)?;
        let obj = self.new_string(value);
        let index_ptr = index.as_ref().map_or(std::ptr::null(), |i| i.as_ptr());
        // SAFETY: the names are NUL-terminated and alive for the call; `obj` is fresh
        // (Tcl frees it if it cannot store it).
        let stored = unsafe {
            (self.tcl.fns.set_var2_ex)(
                self.raw,
                name.as_ptr(),
                index_ptr,
                obj,
                scope.flags() | TCL_LEAVE_ERR_MSG,
            )
        };
        if stored.is_null() {
            Err(self.result())
        } else {
            Ok(())
        }
    }

    /// Appends `value` to the list in the variable `name` as one element (quoted as a list
    /// element needs), creating the variable if needed.
    pub(crate) fn append_list_element(
        &self,
        name: &str,
        value: &[u8],
        scope: Scope,
    ) -> Result<(), Vec<u8>> {
        let (name, _) = names(name, None)?;
        let obj = self.new_string(value);
        let flags = scope.flags() | TCL_APPEND_VALUE | TCL_LIST_ELEMENT | TCL_LEAVE_ERR_MSG;
        // SAFETY: the name is NUL-terminated and alive for the call; `obj` is fresh.
        let stored = unsafe {
            (self.tcl.fns.set_var2_ex)(self.raw, name.as_ptr(), std::ptr::null(), obj, flags)
        };
        if stored.is_null() {
            Err(self.result())
        } else {
            Ok(())
        }
    }

    /// Cancels the script being evaluated so that it unwinds to the top level: no `catch`
    /// stops it. The top-level evaluation then ends with an error whose message is
    /// `message`. For `exit`.
    pub(crate) fn cancel_unwinding(&self, message: &[u8]) {
        let obj = self.new_string(message);
        // SAFETY: the interpreter is live; `obj` is fresh (Tcl copies its string and frees
        // it); no client data.
        unsafe {
            (self.tcl.fns.cancel_eval)(self.raw, obj, std::ptr::null_mut(), TCL_CANCEL_UNWIND)
        };
    }

    /// The value of `name` (or `name(index)`), if it is set.
    pub(crate) fn get_var(&self, name: &str, index: Option<&str>, scope: Scope) -> Option<Vec<u8>> {
        let (name, index) = names(name, index).ok()?;
        let index_ptr = index.as_ref().map_or(std::ptr::null(), |i| i.as_ptr());
        // SAFETY: the names are NUL-terminated and alive for the call.
        let obj = unsafe {
            (self.tcl.fns.get_var2_ex)(self.raw, name.as_ptr(), index_ptr, scope.flags())
        };
        if obj.is_null() {
            return None;
        }
        // SAFETY: a non-NULL result is the variable's live value, read at once.
        Some(unsafe { from_tcl(string_of(self.tcl, obj)) })
    }

    /// The elements of the Tcl list `list`; the error is Tcl's message (unmatched braces).
    pub(crate) fn split_list(&self, list: &[u8]) -> Result<Vec<Vec<u8>>, Vec<u8>> {
        let list = CString::new(to_tcl(list)).map_err(|_| b"list contains NUL".to_vec())?;
        let mut count: c_int = 0;
        let mut elements: *const *const c_char = std::ptr::null();
        // SAFETY: `list` is NUL-terminated; on success Tcl stores a single allocation
        // holding `count` NUL-terminated strings in `elements`, freed below with Tcl_Free.
        let code = unsafe {
            (self.tcl.fns.split_list)(self.raw, list.as_ptr(), &mut count, &mut elements)
        };
        if code != TCL_OK {
            return Err(self.result());
        }
        let count = usize::try_from(count).unwrap_or(0);
        let split = (0..count)
            .map(|i| {
                // SAFETY: `elements` has `count` valid NUL-terminated strings.
                let element = unsafe { CStr::from_ptr(*elements.add(i)) };
                from_tcl(element.to_bytes())
            })
            .collect();
        // SAFETY: `elements` was allocated by Tcl_SplitList and is freed once.
        unsafe { (self.tcl.fns.free)(elements as *mut c_char) };
        Ok(split)
    }

    /// Registers `command` as the Tcl command `name` (replacing a command of that name).
    pub(crate) fn create_command(&self, name: &str, command: Box<CommandFn>) {
        let Ok(name) = CString::new(name) else {
            return;
        };
        let data = Rc::into_raw(Rc::new(Registered {
            tcl: self.tcl,
            command,
        }));
        // SAFETY: `name` is NUL-terminated; `data` holds one strong reference, given up
        // by `delete_registered` when Tcl deletes the command (deleted, replaced, or the
        // interpreter deleted); a call in progress holds its own (see
        // `call_registered`), so the closure outlives every call.
        unsafe {
            (self.tcl.fns.create_obj_command)(
                self.raw,
                name.as_ptr(),
                call_registered,
                data.cast_mut().cast(),
                Some(delete_registered),
            );
        }
    }

    /// Declares that the package `name` of version `version` is present, so
    /// `package require name` succeeds.
    pub(crate) fn provide_package(&self, name: &str, version: &str) {
        let (Ok(name), Ok(version)) = (CString::new(name), CString::new(version)) else {
            return;
        };
        // SAFETY: both strings are NUL-terminated and alive for the call; no client data.
        unsafe {
            (self.tcl.fns.pkg_provide_ex)(
                self.raw,
                name.as_ptr(),
                version.as_ptr(),
                std::ptr::null(),
            )
        };
    }

    /// The line of the script where the last error happened.
    pub(crate) fn error_line(&self) -> i32 {
        // SAFETY: the interpreter is live.
        unsafe { (self.tcl.fns.get_error_line)(self.raw) }
    }

    fn new_string(&self, value: &[u8]) -> *mut RawObj {
        let value = to_tcl(value);
        let len = c_int::try_from(value.len()).unwrap_or(c_int::MAX);
        // SAFETY: the pointer and length describe `value`; Tcl copies the bytes.
        unsafe { (self.tcl.fns.new_string_obj)(value.as_ptr().cast(), len) }
    }
}

/// The string of a Tcl object, borrowed.
///
/// # Safety
/// `obj` must be a live Tcl object, and the slice must be dropped before the object can
/// change or be freed.
unsafe fn string_of<'a>(tcl: &Tcl, obj: *mut RawObj) -> &'a [u8] {
    let mut len: c_int = 0;
    // SAFETY: `obj` is live (the caller's contract); Tcl returns its string form, `len`
    // bytes long, owned by the object.
    let bytes = unsafe { (tcl.fns.get_string_from_obj)(obj, &mut len) };
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts(bytes.cast(), usize::try_from(len).unwrap_or(0)) }
}

fn names(name: &str, index: Option<&str>) -> Result<(CString, Option<CString>), Vec<u8>> {
    let name = CString::new(name).map_err(|_| b"variable name contains NUL".to_vec())?;
    let index = index
        .map(CString::new)
        .transpose()
        .map_err(|_| b"array index contains NUL".to_vec())?;
    Ok((name, index))
}

/// What a file handler runs: see [`InterpRef::watch_readable`].
pub(crate) type WatchFn = dyn Fn(InterpRef<'_>);

struct Watcher {
    tcl: &'static Tcl,
    raw: *mut RawInterp,
    callback: Box<WatchFn>,
}

/// A callback Tcl's event loop runs when an fd is readable; removed when dropped.
pub(crate) struct FileHandler {
    tcl: &'static Tcl,
    fd: c_int,
    /// One strong reference of the `Rc<Watcher>`, given up on drop.
    data: *const Watcher,
    armed: Cell<bool>,
}

impl FileHandler {
    /// Stops the callbacks until [`resume`](FileHandler::resume).
    pub(crate) fn pause(&self) {
        if self.armed.replace(false) {
            // SAFETY: removes the handler of `fd`, which is ours; no precondition.
            unsafe { (self.tcl.fns.delete_file_handler)(self.fd) };
        }
    }

    /// Runs the callbacks again when the fd is readable.
    pub(crate) fn resume(&self) {
        if !self.armed.replace(true) {
            // SAFETY: `data` stays valid while the handler is registered: this handler
            // holds a strong reference until it is dropped, and drop unregisters first.
            // Tcl calls `call_watcher` on this thread only (from its event loop).
            unsafe {
                (self.tcl.fns.create_file_handler)(
                    self.fd,
                    TCL_READABLE,
                    call_watcher,
                    self.data.cast_mut().cast(),
                );
            }
        }
    }
}

impl Drop for FileHandler {
    fn drop(&mut self) {
        self.pause();
        // SAFETY: `data` came from Rc::into_raw in `watch_readable`; this gives up that
        // one strong reference (a callback in progress holds its own).
        drop(unsafe { Rc::from_raw(self.data) });
    }
}

/// Tcl's entry point for a file handler's callback.
unsafe extern "C" fn call_watcher(data: *mut c_void, _mask: c_int) {
    // SAFETY: `data` is the `Rc<Watcher>` pointer of a registered `FileHandler`, which
    // holds a strong reference while registered; the call takes its own first, so a
    // callback that drops its handler does not free the closure under the call.
    let watcher = unsafe {
        Rc::increment_strong_count(data.cast::<Watcher>().cast_const());
        Rc::from_raw(data.cast::<Watcher>().cast_const())
    };
    let interp = InterpRef {
        tcl: watcher.tcl,
        raw: watcher.raw,
        _interp: PhantomData,
    };
    // A panic must not unwind into C.
    let _ = catch_unwind(AssertUnwindSafe(|| (watcher.callback)(interp)));
}

/// Tcl's entry point for a command written in Rust.
unsafe extern "C" fn call_registered(
    data: *mut c_void,
    raw: *mut RawInterp,
    objc: c_int,
    objv: *const *mut RawObj,
) -> c_int {
    // SAFETY: `data` is the `Rc<Registered>` pointer of `create_command`, whose strong
    // reference is only given up by `delete_registered`; Tcl does not run the delete
    // proc before this call starts. The call takes a strong reference of its own first,
    // so a script run by the command that deletes or renames it (`rename expect {}` in an
    // expect action) cannot free the closure under the call. The closure is only read
    // (commands are `Fn`), so a command that re-enters itself through Tcl is sound.
    let registered = unsafe {
        Rc::increment_strong_count(data.cast::<Registered>().cast_const());
        Rc::from_raw(data.cast::<Registered>().cast_const())
    };
    let count = usize::try_from(objc).unwrap_or(0);
    let words: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            // SAFETY: Tcl passes `objc` live objects in `objv` for the call.
            unsafe { from_tcl(string_of(registered.tcl, *objv.add(i))) }
        })
        .collect();
    let interp = InterpRef {
        tcl: registered.tcl,
        raw,
        _interp: PhantomData,
    };
    match catch_unwind(AssertUnwindSafe(|| (registered.command)(interp, &words))) {
        Ok(code) => code.raw(),
        Err(_) => {
            interp.set_result(b"internal error: a ptychat command panicked");
            TCL_ERROR
        }
    }
}

/// Frees a command's closure when Tcl deletes the command.
unsafe extern "C" fn delete_registered(data: *mut c_void) {
    // SAFETY: `data` came from Rc::into_raw in `create_command`, and Tcl calls this once
    // per command: it gives up that one strong reference.
    drop(unsafe { Rc::from_raw(data.cast::<Registered>().cast_const()) });
}

/// Bytes from Tcl's internal form: `C0 80` back to NUL.
pub(crate) fn from_tcl(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0xc0 && bytes.get(i + 1) == Some(&0x80) {
            out.push(0);
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Bytes in Tcl's internal form: UTF-8 kept, NUL as `C0 80`, any other byte that is not
/// part of valid UTF-8 as the character of that code (U+0080..U+00FF). Valid UTF-8
/// without NUL (the usual case) is already in that form and is borrowed, not copied.
pub(crate) fn to_tcl(bytes: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(0, bytes).is_none() && std::str::from_utf8(bytes).is_ok() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    for chunk in bytes.utf8_chunks() {
        for piece in chunk.valid().as_bytes().split_inclusive(|&b| b == 0) {
            match piece.split_last() {
                Some((0, text)) => {
                    out.extend_from_slice(text);
                    out.extend_from_slice(&[0xc0, 0x80]);
                }
                _ => out.extend_from_slice(piece),
            }
        }
        for &b in chunk.invalid() {
            let mut utf8 = [0; 2];
            out.extend_from_slice(char::from(b).encode_utf8(&mut utf8).as_bytes());
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_tcl_form() {
        assert_eq!(&to_tcl(b"a\0b")[..], b"a\xc0\x80b");
        assert_eq!(from_tcl(b"a\xc0\x80b"), b"a\0b");
        assert_eq!(&to_tcl("é".as_bytes())[..], "é".as_bytes());
        assert_eq!(&to_tcl(b"\xff")[..], "\u{ff}".as_bytes());
        assert_eq!(
            &to_tcl(b"\0a\0\0\xffb\0")[..],
            b"\xc0\x80a\xc0\x80\xc0\x80\xc3\xbfb\xc0\x80"
        );
        assert!(matches!(to_tcl("plain é".as_bytes()), Cow::Borrowed(_)));
    }
}
