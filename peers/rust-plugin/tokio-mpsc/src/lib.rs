//! tokio 1.24's `sync::mpsc` used from OS threads as a chanbench plug-in,
//! `tokio-mpsc`: `mpsc::channel(n)` (n >= 1) and `mpsc::unbounded_channel()`,
//! no runtime. Built by peers/build.sh into
//! `<build>/peers/plugins/libpeer_tokio-mpsc.so`.
//!
//! Operations: `try_send` / `try_recv` for CHAN_NOWAIT; `blocking_recv` for a
//! receive with CHAN_FOREVER; an unbounded send never blocks (`send`). A
//! bounded send that finds no room, and every wait with a finite deadline, run
//! tokio's own future (`Sender::send`, `Receiver::recv`) on the calling thread
//! the way `blocking_send` / `blocking_recv` do (poll, park the thread, poll
//! again when the channel's waker unparks it; ffi::gate::block_on), with
//! `park_timeout` until a deadline; dropping the future at the deadline is
//! tokio's cancellation (the value is not sent, nothing is received). The
//! waker is one per thread, made once, so a wait allocates nothing of ours.
//!
//! Declared, and why the rest is missing (n/a in every report):
//!   - not MPMC: one `Receiver` (`recv` takes `&mut self`); without
//!     CHAN_CAP_MPMC the contract allows one sending and one receiving thread
//!     at a time, so the multi-thread shapes are n/a (a Mutex around the
//!     receiver would measure the Mutex). The receiver sits in an `UnsafeCell`.
//!   - no rendezvous: `channel(0)` panics; tokio has no capacity-0 hand-off.
//!   - no len: tokio 1.24 has none (`capacity()` counts reserved permits too).
//!   - no select, poll fds or batches.
//!
//! Close (explicit, while the sender still exists), emulated: tokio closes the
//! channel when the last `Sender` drops (the receiver drains, then gets
//! `None`), but a sender waiting for room is woken only by the *receiver*
//! closing (`Receiver::close` needs `&mut` on the receiver: the receiving
//! thread's, not the closer's), and a send that got its permit after the drop
//! would push behind the close mark and be lost. So every send goes through
//! ffi::gate (an in-flight gate; waiting sends also watch a Notify), and close
//! empties the gate, then drops the only `Sender` (ffi::drop_shared_sender:
//! the channel is an `Arc` the receiver keeps): tokio's own close, which wakes
//! the receiver; it drains, then sees the end.
//! Cost: two atomic read-modify-writes and one load per send (one sender, so
//! uncontended); a waiting send also takes the Notify's lock to register.
//! Receives cost nothing extra.
use chanbench_ffi::gate::{block_on, GatedSender};
use chanbench_ffi::*;
use std::cell::UnsafeCell;
use tokio::sync::mpsc::{self, error::TryRecvError, error::TrySendError};

enum Tx {
    Bounded(mpsc::Sender<usize>),
    Unbounded(mpsc::UnboundedSender<usize>),
}

enum Rx {
    Bounded(mpsc::Receiver<usize>),
    Unbounded(mpsc::UnboundedReceiver<usize>),
}

pub struct TokioMpsc {
    tx: GatedSender<Tx>,
    rx: UnsafeCell<Rx>,
}

// One sending and one receiving thread at a time (no CHAN_CAP_MPMC).
unsafe impl Sync for TokioMpsc {}
unsafe impl Send for TokioMpsc {}

impl TokioMpsc {
    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn rx(&self) -> &mut Rx {
        unsafe { &mut *self.rx.get() }
    }
}

fn received(r: Result<Option<usize>, Status>) -> Result<usize, Status> {
    match r {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(CLOSED),
        Err(st) => Err(st),
    }
}

impl Peer for TokioMpsc {
    fn create(cap: Cap) -> Result<Self, Status> {
        let (tx, rx) = match cap {
            Cap::Bounded(0) => return Err(ENOMEM), // not declared: never asked
            Cap::Bounded(n) => {
                let (t, r) = mpsc::channel(n);
                (Tx::Bounded(t), Rx::Bounded(r))
            }
            Cap::Unbounded => {
                let (t, r) = mpsc::unbounded_channel();
                (Tx::Unbounded(t), Rx::Unbounded(r))
            }
        };
        Ok(TokioMpsc { tx: GatedSender::new(tx), rx: UnsafeCell::new(rx) })
    }

    #[inline]
    fn send(&self, msg: usize, dl: Deadline) -> Status {
        if !self.tx.gate.enter() {
            return self.tx.gate.refused();
        }
        let st = match &*self.tx {
            Tx::Unbounded(tx) => match tx.send(msg) {
                Ok(()) => OK,
                Err(_) => CLOSED,
            },
            Tx::Bounded(tx) => match tx.try_send(msg) {
                Ok(()) => OK,
                Err(TrySendError::Closed(_)) => CLOSED,
                Err(TrySendError::Full(m)) => match dl {
                    Deadline::Now => FULL,
                    _ => self.tx.gate.wait_send(tx.send(m), dl, |r| if r.is_ok() { OK } else { CLOSED }),
                },
            },
        };
        self.tx.gate.leave(st)
    }

    #[inline]
    fn recv(&self, dl: Deadline) -> Result<usize, Status> {
        let map = |e| match e {
            TryRecvError::Empty => EMPTY,
            TryRecvError::Disconnected => CLOSED,
        };
        match (self.rx(), dl) {
            (Rx::Bounded(rx), Deadline::Now) => rx.try_recv().map_err(map),
            (Rx::Unbounded(rx), Deadline::Now) => rx.try_recv().map_err(map),
            (Rx::Bounded(rx), Deadline::Forever) => rx.blocking_recv().ok_or(CLOSED),
            (Rx::Unbounded(rx), Deadline::Forever) => rx.blocking_recv().ok_or(CLOSED),
            (Rx::Bounded(rx), dl) => received(block_on(rx.recv(), dl, |_| None)),
            (Rx::Unbounded(rx), dl) => received(block_on(rx.recv(), dl, |_| None)),
        }
    }

    fn close(&self) -> Status {
        self.tx.close()
    }
}

static TABLE: Table = table::<TokioMpsc>(
    "tokio-mpsc\0",
    "tokio 1.24 mpsc channel(n)/unbounded_channel() from OS threads (try_*, blocking_recv, its send/recv \
     futures parked on the thread), one receiver; close = in-flight gate + Notify for waiting senders, then \
     dropping the only Sender; n/a: rendezvous (channel(0) panics), mpmc (one Receiver), len, select, poll fds, \
     batches\0",
    CAP_BOUNDED | CAP_UNBOUNDED | CAP_BLOCKING | CAP_TIMED | CAP_CLOSE,
);
plugin_entry!(TABLE);
