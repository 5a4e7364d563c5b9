//! The follow-up stage of a scan (-sV): a thread running the connection engine, fed the
//! open ports as the port stage releases them and handing back each port's result as it
//! finishes, so the outputs write them while the scan still runs.

use super::engine::{Engine, FollowConfig, FollowTarget};
use super::envelope::FollowResult;
use super::probes::ProbeDb;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the stage's thread waits for new ports when it has nothing in flight.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// The most the engine waits in one poll, so new ports are taken up promptly.
const POLL_WAIT: Duration = Duration::from_millis(50);

/// A running follow-up stage.
pub struct Stage {
    targets: Option<Sender<FollowTarget>>,
    results: Receiver<FollowResult>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Stage {
    /// Starts the stage's thread with a probe database and settings. Call once privileges
    /// are given up: every connection it makes is an ordinary user's connect().
    pub fn start(db: ProbeDb, cfg: FollowConfig) -> Result<Stage, String> {
        let engine = Engine::new(Arc::new(db), cfg)
            .map_err(|e| format!("cannot start service detection: {e}"))?;
        let (target_tx, target_rx) = mpsc::channel();
        let (result_tx, result_rx) = mpsc::channel();
        let quit = Arc::new(AtomicBool::new(false));
        let q = Arc::clone(&quit);
        let thread = std::thread::Builder::new()
            .name("follow".into())
            .spawn(move || serve(engine, &target_rx, &result_tx, &q))
            .map_err(|e| format!("cannot start service detection: {e}"))?;
        Ok(Stage {
            targets: Some(target_tx),
            results: result_rx,
            quit,
            thread: Some(thread),
        })
    }

    /// Queues one open TCP port, with the round-trip time the port stage measured so far
    /// (None when it measured none: the configured default applies).
    pub fn submit(&self, ip: IpAddr, port: u16, rtt: Option<Duration>) {
        if let Some(tx) = &self.targets {
            // A stage whose thread ended reports why at finish.
            let _ = tx.send(FollowTarget {
                ip,
                port,
                host: None,
                rtt,
            });
        }
    }

    /// The results finished so far (never waits).
    pub fn ready(&self) -> Vec<FollowResult> {
        self.results.try_iter().collect()
    }

    /// No more ports: hands every remaining result to `each` as it finishes; returns early
    /// (abandoning the ports still running) once `stop` is set. Fails when the engine failed.
    pub fn finish(
        mut self,
        stop: &AtomicBool,
        mut each: impl FnMut(FollowResult),
    ) -> Result<(), String> {
        drop(self.targets.take());
        loop {
            if stop.load(Ordering::Relaxed) {
                self.quit.store(true, Ordering::Relaxed);
                break;
            }
            match self.results.recv_timeout(IDLE_WAIT) {
                Ok(r) => each(r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err("service detection stopped unexpectedly".into()),
            None => Ok(()),
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
        drop(self.targets.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The stage's thread: takes ports, runs the engine, sends results back, until the ports
/// stop coming and every one is done (or it is told to quit).
fn serve(
    mut engine: Engine,
    targets: &Receiver<FollowTarget>,
    results: &Sender<FollowResult>,
    quit: &AtomicBool,
) -> Result<(), String> {
    let mut open = true;
    let mut out = Vec::new();
    while !quit.load(Ordering::Relaxed) {
        loop {
            match targets.try_recv() {
                Ok(t) => engine.submit(t),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if engine.pending() == 0 {
            if !open {
                return Ok(());
            }
            match targets.recv_timeout(IDLE_WAIT) {
                Ok(t) => engine.submit(t),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
            continue;
        }
        engine
            .poll(POLL_WAIT, &mut out)
            .map_err(|e| format!("service detection failed: {e}"))?;
        for r in out.drain(..) {
            if results.send(r).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}
