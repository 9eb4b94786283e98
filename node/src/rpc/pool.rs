//! The threads RPC's blocking work runs on: a fixed set of OS threads with
//! a bounded queue, apart from tokio's blocking pool (where consensus
//! builds, verifies and commits blocks), so that no client request ever
//! waits in front of consensus work, or it behind them.
//!
//! A full pool refuses at once ([`Busy`]) instead of queueing: a client
//! flooding a node learns immediately that it should back off, and the
//! node's memory and latency stay bounded however many requests arrive.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How a pool is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Jobs running at once.
    pub threads: usize,
    /// Jobs waiting for a thread; one more is refused as [`Busy`].
    pub queue: usize,
}

/// Every thread of the pool is working and its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node is busy: all {threads} {name} threads are working and {queue} more are waiting")]
pub struct Busy {
    pub name: &'static str,
    pub threads: usize,
    pub queue: usize,
}

/// A job could not give its result.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The job panicked or the pool is shutting down: a fault of this
    /// node, not of the request.
    #[error("the {0} job ended without a result")]
    Lost(&'static str),
}

/// A named pool of threads; dropping the last handle lets its threads
/// finish what is queued and exit.
#[derive(Debug)]
pub struct WorkPool {
    name: &'static str,
    limits: PoolLimits,
    sender: Mutex<SyncSender<Job>>,
}

impl WorkPool {
    /// Starts `limits.threads` threads named `cairn-{name}-{i}`. With
    /// `background`, they run at a lower scheduling priority than
    /// consensus (Linux), so that on a saturated machine consensus still
    /// gets the processor first.
    pub fn start(
        name: &'static str,
        limits: PoolLimits,
        background: bool,
    ) -> std::io::Result<Self> {
        let threads = limits.threads.max(1);
        let (sender, receiver) = sync_channel::<Job>(limits.queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("cairn-{name}-{index}"))
                .spawn(move || {
                    if background {
                        crate::background::lower_priority();
                    }
                    work(&receiver);
                })?;
        }
        Ok(WorkPool {
            name,
            limits: PoolLimits {
                threads,
                queue: limits.queue,
            },
            sender: Mutex::new(sender),
        })
    }

    pub fn limits(&self) -> PoolLimits {
        self.limits
    }

    /// Queues `job`, or refuses at once if every thread is busy and the
    /// queue is full; the receiver gets the job's result.
    pub fn submit<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, PoolError> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // Nobody waiting any more (the client went away) is fine.
            let _ = reply.send(job());
        });
        let sent = self
            .sender
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .try_send(job);
        match sent {
            Ok(()) => Ok(result),
            Err(TrySendError::Full(_)) => Err(PoolError::Busy(Busy {
                name: self.name,
                threads: self.limits.threads,
                queue: self.limits.queue,
            })),
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Lost(self.name)),
        }
    }

    /// Runs `job` on the pool and waits for its result; refuses at once
    /// when the pool is full ([`WorkPool::submit`]).
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        self.submit(job)?
            .await
            .map_err(|_| PoolError::Lost(self.name))
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, so idle
        // threads queue on it and a working thread never holds it.
        let job = match receiver
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .recv()
        {
            Ok(job) => job,
            Err(_) => return,
        };
        // A panicking job drops its reply; the caller sees `Lost`, and the
        // thread lives on for the next job.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn pool(threads: usize, queue: usize) -> WorkPool {
        WorkPool::start("test", PoolLimits { threads, queue }, true).unwrap()
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once_and_serves_again_when_free() {
        let pool = pool(2, 3);
        // Five jobs that hold their threads until released: two run, three
        // wait in the queue.
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let (started, started_rx) = mpsc::channel();
        let hold = |index: u32| {
            let released = Arc::clone(&released);
            let started = started.clone();
            pool.submit(move || {
                started.send(index).unwrap();
                released.lock().unwrap().recv().unwrap();
                index
            })
            .unwrap()
        };
        let mut held = vec![hold(0), hold(1)];
        // Both threads are inside a job; the next three can only queue.
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
        held.extend([hold(2), hold(3), hold(4)]);

        // The sixth is refused without waiting: none of the five can have
        // finished, since none was released.
        match pool.submit(|| 99) {
            Err(PoolError::Busy(busy)) => {
                assert_eq!((busy.name, busy.threads, busy.queue), ("test", 2, 3));
                assert!(busy.to_string().contains("busy"), "{busy}");
            }
            Err(other) => panic!("expected busy, got {other}"),
            Ok(_) => panic!("a full pool took a sixth job"),
        }

        // Released, every held job gives its result, and the pool serves
        // again.
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        let mut results = Vec::new();
        for job in held {
            results.push(job.await.unwrap());
        }
        results.sort_unstable();
        assert_eq!(results, [0, 1, 2, 3, 4]);
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_panicking_job_is_lost_and_the_thread_survives() {
        let pool = pool(1, 1);
        let lost = pool.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert!(matches!(lost, PoolError::Lost("test")), "{lost}");
        assert_eq!(pool.run(|| 5).await.unwrap(), 5);
    }
}
