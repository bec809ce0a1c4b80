//! flume 0.10 as a chanbench plug-in, `flume`: `bounded(n)` (n = 0 is a
//! rendezvous), `unbounded()`; MPMC; blocking, timed (`send_deadline` /
//! `recv_deadline`), `len()`. Built by peers/build.sh into
//! `<build>/peers/plugins/libpeer_flume.so`.
//!
//! NOWAIT and receives are flume's own calls (try_send; try_recv / recv /
//! recv_deadline) through one `Sender` and one `Receiver` shared by reference
//! by every thread. A send that must wait runs flume's own blocking
//! `send_deadline` in slices of at most 5 ms (SLICE), looking at the emulated
//! close between slices: flume retracts a send whose deadline passed under its
//! lock and returns it only if no receiver took it first, so a slice boundary
//! (or the caller's deadline) never loses or duplicates a value.
//!
//! Close (explicit, while senders still exist), emulated, and why so: flume
//! closes when its last `Sender` drops (`disconnect_all`: blocked receivers
//! wake, drain, then see `Disconnected`). Dropping it while a sender waits
//! inside flume is not possible: flume 0.10.14's waiting sender takes its
//! value back but leaves its empty hook queued (no sender can be waiting at a
//! sender-side disconnect in flume's own API), and the next receive panics on
//! it (`Option::unwrap()` on `None` in `pull_pending`; found by the shutdown
//! scenario). So every send goes through ffi::gate (an in-flight gate), a
//! waiting send ends at the next slice boundary once close has begun
//! (CHAN_CLOSED, value kept), and close empties the gate, then drops the
//! channel's only `Sender` (ffi::drop_shared_sender: the state is an `Arc` the
//! receiver keeps). Cost: two atomic read-modify-writes and a load per send,
//! contended when several threads send (a shared counter); a send blocked for
//! longer than 5 ms wakes once per 5 ms (a clock read and a re-registration in
//! flume); close returns up to 5 ms after it starts when a sender is blocked.
//! Receives cost nothing extra.
//!
//! Why not flume's `send_async` future, woken by a Notify at close (the first
//! version, as tokio-mpsc does): dropping a pending `SendFut` retracts its
//! hook but does not say whether a receiver took the value just before, so a
//! send cancelled by close or by its deadline could report CHAN_CLOSED or
//! CHAN_TIMEOUT for a delivered value (C8/C9 duplicates, T4 and C1
//! linearizability failures in the conformance suite).
//!
//! Lacks (n/a): select hooks and poll fds (flume's hooks are private to its
//! `Selector`), batches.
use chanbench_ffi::gate::GatedSender;
use chanbench_ffi::*;
use flume::{bounded, unbounded, Receiver, SendTimeoutError, Sender, TrySendError};
use std::time::{Duration, Instant};

pub struct Flume {
    tx: GatedSender<Sender<usize>>,
    rx: Receiver<usize>,
}

/// How long one of flume's own timed waits lasts before a waiting send looks
/// at `closed` again (see the top of the file).
const SLICE: Duration = Duration::from_millis(5);

impl Flume {
    /// Inside the gate, the channel full: flume's own `send_deadline` in
    /// slices of at most SLICE, `closed` checked between them. flume retracts
    /// a timed-out send under its lock and tells whether a receiver took the
    /// value first (then Ok), so no slice boundary loses or duplicates a value.
    #[cold]
    fn wait_send(&self, mut m: usize, dl: Option<Instant>) -> Status {
        loop {
            if self.tx.gate.closing() {
                return CLOSED;
            }
            let now = Instant::now();
            let step = match dl {
                Some(t) if t <= now + SLICE => t,
                _ => now + SLICE,
            };
            match self.tx.send_deadline(m, step) {
                Ok(()) => return OK,
                Err(SendTimeoutError::Disconnected(_)) => return CLOSED,
                Err(SendTimeoutError::Timeout(back)) => {
                    if Some(step) == dl {
                        return TIMEOUT;
                    }
                    m = back;
                }
            }
        }
    }
}

impl Peer for Flume {
    fn create(cap: Cap) -> Result<Self, Status> {
        let (tx, rx) = match cap {
            Cap::Bounded(n) => bounded(n),
            Cap::Unbounded => unbounded(),
        };
        Ok(Flume { tx: GatedSender::new(tx), rx })
    }

    #[inline]
    fn send(&self, msg: usize, dl: Deadline) -> Status {
        if !self.tx.gate.enter() {
            return self.tx.gate.refused();
        }
        let st = match self.tx.try_send(msg) {
            Ok(()) => OK,
            Err(TrySendError::Disconnected(_)) => CLOSED,
            Err(TrySendError::Full(m)) => match dl {
                Deadline::Now => FULL,
                Deadline::Forever => self.wait_send(m, None),
                Deadline::At(t) => self.wait_send(m, Some(t)),
            },
        };
        self.tx.gate.leave(st)
    }

    #[inline]
    fn recv(&self, dl: Deadline) -> Result<usize, Status> {
        recv_crossbeam_shape!(flume, self.rx, dl)
    }

    fn close(&self) -> Status {
        self.tx.close()
    }

    fn len(&self) -> usize {
        self.rx.len()
    }
}

static TABLE: Table = table::<Flume>(
    "flume\0",
    "flume 0.10 bounded(n)/unbounded(), MPMC, send_deadline/recv_deadline (a waiting send in 5 ms slices); close = in-flight gate \
     (waiting sends see it within 5 ms), then dropping the only Sender (flume's disconnect_all); n/a: select, poll fds, batches (hooks private to its Selector)\0",
    CAP_BOUNDED | CAP_RENDEZVOUS | CAP_UNBOUNDED | CAP_MPMC | CAP_BLOCKING | CAP_TIMED | CAP_CLOSE | CAP_LEN,
);
plugin_entry!(TABLE);
