//! Rust's std::sync::mpsc as a chanbench plug-in, `std-mpsc`: `sync_channel(n)`
//! (n = 0 is a rendezvous) and `channel()` (unbounded); blocking send and recv.
//! Built by peers/build.sh (with Debian's rustc 1.63, whose std::sync::mpsc is
//! the original implementation: Rust 1.67 replaced it with crossbeam's code)
//! into `<build>/peers/plugins/libpeer_std-mpsc.so`.
//!
//! Declared, and why the rest is missing (n/a in every report):
//!   - not MPMC: the `Receiver` is not `Clone` (and not `Sync`), so one receiver.
//!     The ops table has no "many senders, one receiver" capability: without
//!     CHAN_CAP_MPMC the contract allows one sending and one receiving thread at
//!     a time, so the fan-in, fan-out, worker-pool and multi-thread shapes are
//!     n/a (wrapping the receiver in a Mutex would measure the Mutex).
//!   - not TIMED: `SyncSender` has no timed send (`send_timeout` is unstable);
//!     `recv_timeout` alone is not enough for the capability.
//!   - no len (std has none), no select, poll fds or batches.
//! The `Receiver` sits in an `UnsafeCell`: the contract's one receiving thread
//! at a time (in an order the caller establishes) makes the `&mut` exclusive.
//!
//! Close (explicit, while a sender still exists), emulated, per flavour:
//!   - `sync_channel`: the channel holds its only `SyncSender`; close drops it
//!     (once, an atomic swap decides; ffi::drop_shared_sender: the packet is an
//!     `Arc` the receiver keeps), which is std's own disconnect: a flag under
//!     the channel's lock that every later send checks (it fails, value kept)
//!     and a wake-up of a blocked receiver, which drains then sees
//!     `Disconnected`. Cost: nothing per message. What std does NOT do, and no
//!     emulation outside it can: wake a sender blocked for room (or, at
//!     capacity 0, for a receiver). It wakes only when a receiver takes a
//!     message, then fails; with capacity 0 its value is already in the
//!     channel and the next receive takes it. tests/test_peers.py lists the
//!     resulting failures in KNOWN_DEVIATIONS.
//!   - `sync_channel(0)`: std's disconnect finds a sender parked in a
//!     hand-off `unreachable!()` (in std's own API no sender can be parked when
//!     the last one drops): dropping the sender then would abort the process.
//!   - `channel()`: its `Sender` may change flavour on a send (oneshot ->
//!     stream) and its packets do not check for a dropped sender on send, so a
//!     send racing the drop could be accepted after close.
//!   For both, an in-flight gate orders sends and close: a send increments a
//!   counter, checks the closed flag (both sequentially consistent), sends,
//!   decrements; close sets the flag, waits (yielding) until the counter is 0
//!   and then drops the sender. Unbounded sends never block, so that wait is
//!   short; at capacity 0 close waits until every parked sender has been
//!   taken by a receiver (std cannot wake it otherwise): a close while a
//!   sender is parked and nobody receives does not return. Cost: two atomic
//!   read-modify-writes and one load per send, uncontended (one sender).
use chanbench_ffi::*;
use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{
    channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError, TrySendError,
};
use std::time::Instant;

enum Tx {
    Sync(SyncSender<usize>),
    Unbounded(Sender<usize>),
}

pub struct StdMpsc {
    tx: ManuallyDrop<Tx>,
    rx: UnsafeCell<Receiver<usize>>,
    closed: AtomicBool,
    in_flight: AtomicUsize, // gated sends inside std
    done: AtomicBool,       // the sender has been dropped (the close took effect)
    gated: bool,            // capacity 0 or unbounded (see the top of the file)
}

// One sending and one receiving thread at a time (no CHAN_CAP_MPMC): the
// caller orders the uses of each end, which then move between threads as
// `Send` values would.
unsafe impl Sync for StdMpsc {}
unsafe impl Send for StdMpsc {}

impl StdMpsc {
    #[cold]
    fn wait_done(&self) {
        while !self.done.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
    }

    #[inline]
    fn rx(&self) -> &mut Receiver<usize> {
        unsafe { &mut *self.rx.get() }
    }
}

impl Peer for StdMpsc {
    fn create(cap: Cap) -> Result<Self, Status> {
        let gated = matches!(cap, Cap::Bounded(0) | Cap::Unbounded);
        let (tx, rx) = match cap {
            Cap::Bounded(n) => {
                let (t, r) = sync_channel(n);
                (Tx::Sync(t), r)
            }
            Cap::Unbounded => {
                let (t, r) = channel();
                (Tx::Unbounded(t), r)
            }
        };
        Ok(StdMpsc {
            tx: ManuallyDrop::new(tx),
            rx: UnsafeCell::new(rx),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            gated,
        })
    }

    #[inline]
    fn send(&self, msg: usize, dl: Deadline) -> Status {
        if self.gated {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            if self.closed.load(Ordering::SeqCst) {
                self.in_flight.fetch_sub(1, Ordering::Release);
                // Not before the close took effect (receivers see it then).
                self.wait_done();
                return CLOSED;
            }
        }
        let st = match &*self.tx {
            Tx::Sync(tx) => match dl {
                Deadline::Forever => match tx.send(msg) {
                    Ok(()) => OK,
                    Err(_) => CLOSED,
                },
                // A finite deadline never reaches here (no CHAN_CAP_TIMED): a try.
                _ => match tx.try_send(msg) {
                    Ok(()) => OK,
                    Err(TrySendError::Full(_)) if matches!(dl, Deadline::Now) => FULL,
                    Err(TrySendError::Full(_)) => TIMEOUT,
                    Err(TrySendError::Disconnected(_)) => CLOSED,
                },
            },
            Tx::Unbounded(tx) => match tx.send(msg) {
                Ok(()) => OK,
                Err(_) => CLOSED,
            },
        };
        if self.gated {
            self.in_flight.fetch_sub(1, Ordering::Release);
        }
        st
    }

    #[inline]
    fn recv(&self, dl: Deadline) -> Result<usize, Status> {
        let rx = self.rx();
        match dl {
            Deadline::Now => rx.try_recv().map_err(|e| match e {
                TryRecvError::Empty => EMPTY,
                TryRecvError::Disconnected => CLOSED,
            }),
            Deadline::Forever => rx.recv().map_err(|_| CLOSED),
            Deadline::At(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())).map_err(|e| match e {
                RecvTimeoutError::Timeout => TIMEOUT,
                RecvTimeoutError::Disconnected => CLOSED,
            }),
        }
    }

    fn close(&self) -> Status {
        if self.closed.swap(true, Ordering::SeqCst) {
            self.wait_done(); // reported once the first close took effect
            return ALREADY_CLOSED;
        }
        if self.gated {
            while self.in_flight.load(Ordering::SeqCst) != 0 {
                std::thread::yield_now();
            }
        }
        // Safety: once (the swap), never dropped again (Drop checks `closed`),
        // the receiver keeps the packet alive, and no unbounded send is inside
        // the sender (the gate above).
        unsafe { drop_shared_sender(&self.tx) };
        self.done.store(true, Ordering::Release);
        OK
    }
}

impl Drop for StdMpsc {
    fn drop(&mut self) {
        if !*self.closed.get_mut() {
            unsafe { ManuallyDrop::drop(&mut self.tx) };
        }
    }
}

static TABLE: Table = table::<StdMpsc>(
    "std-mpsc\0",
    "Rust 1.63 std::sync::mpsc sync_channel(n)/channel(), one receiver; close = dropping the only sender \
     (std's disconnect; capacity 0 and unbounded: behind an in-flight gate); a parked sender is not woken by it; \
     n/a: mpmc (Receiver not Clone), timed (no timed send), len, select, poll fds, batches\0",
    CAP_BOUNDED | CAP_RENDEZVOUS | CAP_UNBOUNDED | CAP_BLOCKING | CAP_CLOSE,
);
plugin_entry!(TABLE);
