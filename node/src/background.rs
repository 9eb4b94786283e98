//! Threads that yield to consensus. Work that strangers can cause (RPC
//! requests, transactions gossiped by any peer) runs on threads of its
//! own, at a lower scheduling priority than the runtime where consensus
//! decides and commits blocks: on a saturated machine, consensus gets the
//! processor first, and a flood of such work can never occupy the threads
//! consensus runs on.

/// Niceness of background threads: below everything else the node runs,
/// above nothing that matters.
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: libc::c_int = 10;

/// Lowers the calling thread's priority. On Linux `setpriority` with
/// `PRIO_PROCESS` and id 0 applies to the calling thread alone; elsewhere
/// this does nothing.
#[cfg(target_os = "linux")]
pub fn lower_priority() {
    // SAFETY: setpriority reads no memory of ours; raising one's own nice
    // value needs no privilege. A failure only leaves the priority as is.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICE) };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not lower a thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_priority() {}

/// A tokio runtime of `threads` threads named `cairn-{name}`, at the lower
/// priority. Shut down (in the background: it may be dropped inside
/// another runtime) when dropped.
#[derive(Debug)]
pub struct BackgroundRuntime(Option<tokio::runtime::Runtime>);

impl BackgroundRuntime {
    pub fn start(name: &str, threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(format!("cairn-{name}"))
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(BackgroundRuntime(Some(runtime)))
    }

    pub fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }
}

impl Drop for BackgroundRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice_of_this_thread() -> libc::c_int {
        // SAFETY: getpriority reads no memory of ours. -1 is also a valid
        // niceness, but not one these threads can have.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn background_threads_run_below_the_others() {
        let normal = std::thread::spawn(nice_of_this_thread).join().unwrap();
        let runtime = BackgroundRuntime::start("test", 1).unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        runtime.handle().unwrap().spawn(async move {
            sender.send(nice_of_this_thread()).unwrap();
        });
        let background = receiver.recv().unwrap();
        assert_eq!(background, (normal + BACKGROUND_NICE).min(19));
        // This thread's own priority is untouched.
        assert_eq!(nice_of_this_thread(), normal);
    }
}
