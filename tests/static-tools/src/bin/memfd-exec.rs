//! `memfd-exec [--name NAME] FILE ARGV0 [ARG...]`: copies FILE into an anonymous memory file
//! (memfd_create) and executes that with `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`, the way a
//! fileless loader runs a payload it received over the network. Nothing is written to disk.
//!
//! Only glibc's own symbols are used, so the crate has no dependencies.

use std::{
    env,
    ffi::{c_char, c_int, c_long, c_uint, CString, OsString},
    fs::File,
    io::{self, Write},
    os::unix::{
        ffi::OsStringExt,
        io::{FromRawFd, IntoRawFd},
    },
    process::exit,
    ptr,
};

extern "C" {
    fn memfd_create(name: *const c_char, flags: c_uint) -> c_int;
    fn syscall(number: c_long, ...) -> c_long;
}

/// x86_64 system call number of execveat.
const SYS_EXECVEAT: c_long = 322;
const AT_EMPTY_PATH: c_int = 0x1000;
const MFD_CLOEXEC: c_uint = 1;

fn fail(what: &str, err: io::Error) -> ! {
    eprintln!("memfd-exec: {what}: {err}");
    exit(127);
}

fn c_string(arg: OsString) -> CString {
    CString::new(arg.into_vec()).unwrap_or_else(|_| {
        eprintln!("memfd-exec: an argument contains a NUL byte");
        exit(2);
    })
}

fn main() {
    let mut args: Vec<OsString> = env::args_os().skip(1).collect();
    let mut name = OsString::from("payload");
    if args.first().is_some_and(|a| a == "--name") && args.len() >= 2 {
        name = args.remove(1);
        args.remove(0);
    }
    if args.len() < 2 {
        eprintln!("usage: memfd-exec [--name NAME] FILE ARGV0 [ARG...]");
        exit(2);
    }
    let file = args.remove(0);
    let payload = std::fs::read(&file)
        .unwrap_or_else(|err| fail(&format!("reading {}", file.to_string_lossy()), err));

    let name = c_string(name);
    // SAFETY: `name` is a valid NUL-terminated string; the call has no other inputs.
    let fd = unsafe { memfd_create(name.as_ptr(), MFD_CLOEXEC) };
    if fd < 0 {
        fail("memfd_create", io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let mut memory = unsafe { File::from_raw_fd(fd) };
    memory
        .write_all(&payload)
        .unwrap_or_else(|err| fail("writing the memfd", err));
    let fd = memory.into_raw_fd();

    let argv: Vec<CString> = args.into_iter().map(c_string).collect();
    let envp: Vec<CString> = env::vars_os()
        .map(|(k, v)| {
            let mut pair = k;
            pair.push("=");
            pair.push(v);
            c_string(pair)
        })
        .collect();
    let mut argv_ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(ptr::null());
    let mut envp_ptrs: Vec<*const c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(ptr::null());
    let empty = c"";
    // SAFETY: every pointer refers to a live NUL-terminated string or is the terminating null;
    // the arrays outlive the call, which only returns on failure.
    unsafe {
        syscall(
            SYS_EXECVEAT,
            fd as c_long,
            empty.as_ptr(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
            AT_EMPTY_PATH as c_long,
        );
    }
    fail("execveat", io::Error::last_os_error());
}
