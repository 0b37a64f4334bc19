//! Compile workers: `hostel` re-executed as `hostel __compile-worker`, one
//! process per compile (as `wasmtime compile` is its own process). The host
//! sends a JSON request on stdin; the worker compiles with an engine of the
//! same fingerprint, writes the artifact entry (temp file, then rename) and
//! answers one JSON line on stdout. Its memory is returned to the OS when it
//! exits, a compiler crash ends only the worker, and its peak RSS
//! (`ru_maxrss` from `wait4`) calibrates the next compile's reservation.
//!
//! An embedder's own binary can serve as the worker by calling
//! [`run_if_requested`] first thing in `main`.

use crate::artifacts::Format;
use crate::engine::EngineSettings;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first argument that turns the binary into a compile worker.
pub const WORKER_ARG: &str = "__compile-worker";

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub engine: EngineSettings,
    /// Fingerprint the host's engine has; the worker's must equal it.
    pub fingerprint: String,
    pub component: PathBuf,
    pub sha256: String,
    pub output: PathBuf,
    pub format: Format,
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Done { compile_ms: u64 },
    /// The component is not valid (deterministic: a retry would fail the same way).
    Invalid(String),
    /// The worker could not do its job (I/O, engine): worth a retry.
    Failed(String),
}

/// What a finished worker reports.
#[derive(Debug)]
pub(crate) struct Finished {
    pub compile_time: Duration,
    /// Peak resident memory of the worker process.
    pub peak_rss: u64,
}

/// Why a worker did not produce an artifact.
#[derive(Debug)]
pub(crate) enum WorkerError {
    Invalid(String),
    Failed(String),
    TimedOut,
}

/// Runs the worker and exits, if this process was started as one.
pub fn run_if_requested() {
    if std::env::args().nth(1).as_deref() != Some(WORKER_ARG) {
        return;
    }
    let reply = std::panic::catch_unwind(serve_one).unwrap_or_else(|p| {
        let what = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
        Reply::Failed(format!("the compiler panicked: {}", what.unwrap_or_default()))
    });
    let ok = matches!(reply, Reply::Done { .. });
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &reply);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    std::process::exit(if ok { 0 } else { 1 });
}

fn serve_one() -> Reply {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().take(1 << 20).read_to_string(&mut input) {
        return Reply::Failed(format!("cannot read the request: {e}"));
    }
    let req: Request = match serde_json::from_str(&input) {
        Ok(r) => r,
        Err(e) => return Reply::Failed(format!("bad request: {e}")),
    };
    let engine = match wasmtime::Engine::new(&crate::engine::config(&req.engine, false)) {
        Ok(e) => e,
        Err(e) => return Reply::Failed(format!("engine: {e}")),
    };
    let fingerprint = crate::artifacts::engine_fingerprint(&engine);
    if fingerprint != req.fingerprint {
        return Reply::Failed(format!("the worker's engine ({fingerprint}) differs from the host's ({})", req.fingerprint));
    }
    match compile(&engine, &req.component, &req.sha256) {
        Ok((artifact, took)) => match crate::artifacts::write_entry(&req.output, &artifact, req.format) {
            Ok(()) => Reply::Done { compile_ms: took.as_millis() as u64 },
            Err(e) => Reply::Failed(format!("cannot write the artifact: {e}")),
        },
        Err(reply) => reply,
    }
}

/// Reads, checks and compiles one component; returns the serialized artifact.
fn compile(engine: &wasmtime::Engine, path: &Path, sha256: &str) -> Result<(Vec<u8>, Duration), Reply> {
    let bytes = std::fs::read(path).map_err(|e| Reply::Failed(format!("cannot read the component: {e}")))?;
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if actual != sha256 {
        return Err(Reply::Failed(format!("the component changed while queued (sha256 {actual}, expected {sha256})")));
    }
    let started = Instant::now();
    let component = wasmtime::component::Component::new(engine, &bytes)
        .map_err(|e| Reply::Invalid(format!("not a valid WebAssembly component: {}", crate::loader::one_line(&e))))?;
    let took = started.elapsed();
    let artifact = component.serialize().map_err(|e| Reply::Failed(format!("cannot serialize: {e}")))?;
    Ok((artifact, took))
}

/// Runs one worker to completion (blocking): spawns `exe`, sends `req`,
/// waits at most `timeout` (then kills it), reaps it with its peak RSS.
/// `on_spawn` learns the pid, so the host can measure the worker's memory.
pub(crate) fn run(exe: &Path, req: &Request, timeout: Duration, on_spawn: impl FnOnce(u32)) -> Result<Finished, WorkerError> {
    let started = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.arg(WORKER_ARG).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    // SAFETY: prctl is async-signal-safe; it makes the kernel kill the worker
    // if the host dies, so no orphan keeps compiling.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| WorkerError::Failed(format!("cannot start a compile worker ({}): {e}", exe.display())))?;
    let pid = child.id();
    on_spawn(pid);
    let request = serde_json::to_vec(req).map_err(|e| WorkerError::Failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&request); // a worker that died early is reported below
    }
    let stdout = child.stdout.take();
    // A watchdog kills the worker at its deadline; reading stdout then ends.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(timeout).is_err() {
            // SAFETY: the pid is not reaped yet (we reap it below, after this
            // thread is joined), so it still names our worker.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            return true;
        }
        false
    });
    let mut out = Vec::new();
    if let Some(mut s) = stdout {
        let _ = s.by_ref().take(64 << 10).read_to_end(&mut out);
        // Drain anything past the cap so the worker never blocks on a full pipe.
        let _ = std::io::copy(&mut s, &mut std::io::sink());
    }
    let (status, rusage) = reap(pid);
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    drop(child); // already reaped by `reap`; dropping a Child does not wait
    let peak_rss = rusage.map(|r| r.ru_maxrss.max(0) as u64 * 1024).unwrap_or(0);
    if timed_out {
        return Err(WorkerError::TimedOut);
    }
    let reply: Option<Reply> = serde_json::from_slice(out.trim_ascii()).ok();
    match (reply, status) {
        (Some(Reply::Done { compile_ms }), _) => {
            Ok(Finished { compile_time: Duration::from_millis(compile_ms).max(started.elapsed().min(Duration::from_millis(compile_ms))), peak_rss })
        }
        (Some(Reply::Invalid(m)), _) => Err(WorkerError::Invalid(m)),
        (Some(Reply::Failed(m)), _) => Err(WorkerError::Failed(m)),
        (None, status) => Err(WorkerError::Failed(format!("the compile worker {}", describe(status)))),
    }
}

/// Waits for `pid` with `wait4`, returning its status and resource usage.
fn reap(pid: u32) -> (Option<i32>, Option<libc::rusage>) {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data, zero is a valid value; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is our own child.
        let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
        if r == pid as i32 {
            return (Some(status), Some(usage));
        }
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return (None, None);
    }
}

fn describe(status: Option<i32>) -> String {
    match status {
        Some(s) if libc::WIFSIGNALED(s) => {
            let sig = libc::WTERMSIG(s);
            let name = match sig {
                libc::SIGKILL => " (SIGKILL: killed, e.g. by the OOM killer or an operator)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGABRT => " (SIGABRT)",
                _ => "",
            };
            format!("was killed by signal {sig}{name}")
        }
        Some(s) if libc::WIFEXITED(s) => format!("exited with status {} without an answer", libc::WEXITSTATUS(s)),
        _ => "could not be waited for".into(),
    }
}
