//! tokio 1.24's `sync::broadcast`, `sync::watch` and `sync::oneshot` used from
//! OS threads as a chanbench kind plug-in: the tables bcast-tokio, watch-tokio
//! and oneshot-tokio (include/chanbench/kinds_impl.h), no channel table. Built
//! by peers/build.sh into `<build>/peers/plugins/libpeer_tokio-kinds.so`; the
//! one exported symbol is `chanbench_kinds_plugin_entry`.
//!
//! No runtime is started. tokio 1.24 has no blocking receive for broadcast and
//! no timeouts outside a runtime, so a wait polls tokio's own (cancel-safe)
//! future on the calling thread (ffi::gate::block_on): a waker that unparks
//! this thread, one per thread, made once (no allocation per call), `park` or
//! `park_timeout` until the absolute CLOCK_MONOTONIC deadline, and dropping the
//! future at the deadline, which is tokio's cancellation. A try (CHAN_NOWAIT)
//! is tokio's `try_recv`, or for watch one poll of `changed()` (ffi::kinds::
//! poll_once); a finite deadline already passed tries, then reports TIMEOUT.
//! Every receive tries first and builds a future only when it must wait.
//!
//! broadcast (`broadcast::channel::<usize>(cap)`):
//!   - capacity: tokio rounds it up to a power of two (broadcast.rs:447,
//!     `capacity.next_power_of_two()`), so cap = 5 retains 8 messages, not
//!     exactly cap: a deviation from kinds.h B2 wherever cap is not a power of
//!     two (a receiver lags later and is told it missed fewer). Capacities
//!     above 2^24 are refused with CHAN_ENOMEM (tokio allocates every slot
//!     at creation and the allocator aborts rather than fail).
//!   - recv: `RecvError::Lagged(n)` (tokio has moved the receiver to the
//!     oldest retained message) adds n to the receiver's pending lost count
//!     and receives again, so the call returns the oldest retained message
//!     with *missed = every message lost just before it (kept across calls
//!     should a lag ever be followed by a non-OK return); `Closed` is tokio's
//!     "closed and drained for this receiver" (broadcast.rs:803-808: closed is
//!     looked at only when the receiver's next slot is empty), which is B3.
//!   - send: `Sender::send`; Err (tokio's "no receivers": the last one left
//!     after the shared layer counted it) is CHAN_CLOSED.
//!
//! watch (`watch::channel((usize, u64))`: the value and its version, since
//! tokio's own version is private; version 0 is the initial value):
//!   - send: `Sender::send_modify` stores the value and version + 1 under
//!     tokio's write lock (it stores even when tokio sees no receiver; the
//!     shared layer refuses a send with none, as tokio's `send` does).
//!   - subscribe: `Sender::subscribe` (has seen the current version);
//!     borrow: `Receiver::borrow` (does not mark seen).
//!   - changed: `Receiver::changed()`, then `borrow_and_update` for the value
//!     (the latest one, marked seen: a send between the two is returned, not
//!     lost). W2 holds in tokio 1.24.2: `changed()` (watch.rs:526-540, through
//!     `maybe_changed`, watch.rs:565-585) compares versions *before* it
//!     looks at the closed bit, so after close a receiver that has not seen
//!     the final value gets it, then Err (CHAN_CLOSED). tokio's other query,
//!     `Receiver::has_changed` (watch.rs:475-485), checks closed *first*
//!     and hides an unseen final value; it is not used, not even for the try
//!     (which polls `changed()` once instead, as tokio's own loom tests do
//!     with `now_or_never`). A finding about tokio, not a deviation here.
//!
//! Close (broadcast and watch). tokio closes when the last `Sender` is
//! dropped; chanbench closes explicitly while other threads still send and
//! subscribe through the one `Sender`. Both go through ffi::gate (shared with
//! tokio-mpsc and flume, not copied): a send or subscribe enters the gate (an
//! atomic in-flight count, then the closed flag), close marks closed, waits
//! until no call is inside, then drops the only `Sender` (ffi::drop_shared_
//! sender; tokio's own close: broadcast sets `tail.closed` and wakes every
//! waiter, watch sets its closed bit and `notify_waiters`); a refused send or
//! subscribe, and a second close (CHAN_ALREADY_CLOSED), return once that is
//! done. A send or subscribe that was inside when close began is ordered before
//! it. Without the gate a send could still write into the ring after receivers
//! saw CLOSED (tokio's broadcast `send` never looks at `tail.closed`), or touch
//! a dropped `Sender`.
//! Cost: two atomic read-modify-writes and one load per send (and subscribe)
//! on a counter every sender shares (its line moves between sending threads,
//! beside tokio's own tail mutex, broadcast, or value write lock, watch);
//! receives cost nothing extra. No lock and no allocation per message beyond
//! tokio's (a waiting broadcast recv registers under tokio's tail mutex and
//! its future's drop takes it again; a waiting watch `changed()` registers
//! with tokio's Notify, under its lock).
//!
//! oneshot (`oneshot::channel::<usize>()`): each side in its own `UnsafeCell`
//! (the shared layer serialises each side; the two sides run concurrently and
//! share only tokio's state). send: `Sender::send`, Err(v) (the receiver is
//! gone, v handed back) is CHAN_CLOSED; sender_drop / receiver_drop drop that
//! side's handle (tokio wakes the receiver / makes later sends fail). recv:
//! `try_recv` first; only when it is Empty (the receiver is still live and
//! not complete) is `&mut Receiver` polled with the deadline, so a receiver
//! that completed (value taken, or sender gone) is never polled again (tokio
//! panics "called after complete", oneshot.rs:1101): `try_recv` answers
//! Closed from then on. A value never received is dropped with the receiver
//! (a word: nothing to free).
//!
//! A panic aborts (panic = "abort" in the workspace): none unwinds into C.
use chanbench_ffi::gate::{block_on, Gate, GatedSender};
use chanbench_ffi::kinds::*;
use chanbench_ffi::*;
use std::cell::UnsafeCell;
use tokio::sync::{broadcast, oneshot, watch};

const CAPS: u64 = KIND_CAP_BLOCKING | KIND_CAP_TIMED | KIND_CAP_MULTI_SENDER;

/// Gate-protected call of the one `Sender`: `f` runs inside the gate, or
/// CLOSED once the close is complete. `f`'s failures are the peer's own (not
/// the close's), so the gate is left as for a success: `Gate::leave(CLOSED)`
/// would wait for a close that may never come.
#[inline(always)]
fn through_gate<T>(gate: &Gate, f: impl FnOnce() -> Result<T, Status>) -> Result<T, Status> {
    if !gate.enter() {
        return Err(gate.refused());
    }
    let r = f();
    gate.leave(OK);
    r
}

// ---- broadcast ---------------------------------------------------------------

pub struct TokioBcast {
    tx: GatedSender<broadcast::Sender<usize>>,
}

pub struct TokioBcastRx {
    rx: broadcast::Receiver<usize>,
    /// Lost messages not yet reported with a received one.
    missed: u64,
}

impl Broadcast for TokioBcast {
    type Rx = TokioBcastRx;

    fn create(cap: usize) -> Result<Self, Status> {
        if cap > MAX_EAGER_CAPACITY {
            return Err(ENOMEM);
        }
        // The initial receiver is dropped: receivers come from subscribe.
        let (tx, _) = broadcast::channel(cap);
        Ok(TokioBcast { tx: GatedSender::new(tx) })
    }

    fn subscribe(&self) -> Result<TokioBcastRx, Status> {
        through_gate(&self.tx.gate, || Ok(TokioBcastRx { rx: self.tx.subscribe(), missed: 0 }))
    }

    #[inline]
    fn send(&self, msg: usize) -> Status {
        match through_gate(&self.tx.gate, || self.tx.send(msg).map_err(|_| CLOSED)) {
            Ok(_) => OK,
            Err(st) => st,
        }
    }

    #[inline]
    fn recv(r: &mut TokioBcastRx, dl: Deadline) -> Result<(usize, u64), Status> {
        use broadcast::error::{RecvError, TryRecvError};
        loop {
            let got = match r.rx.try_recv() {
                Ok(v) => v,
                Err(TryRecvError::Lagged(n)) => {
                    r.missed += n;
                    continue;
                }
                Err(TryRecvError::Closed) => return Err(CLOSED),
                Err(TryRecvError::Empty) => {
                    if let Deadline::Now = dl {
                        return Err(EMPTY);
                    }
                    match block_on(r.rx.recv(), dl, |_| None) {
                        Ok(Ok(v)) => v,
                        Ok(Err(RecvError::Lagged(n))) => {
                            r.missed += n;
                            continue;
                        }
                        Ok(Err(RecvError::Closed)) => return Err(CLOSED),
                        Err(st) => return Err(st),
                    }
                }
            };
            let missed = std::mem::replace(&mut r.missed, 0);
            return Ok((got, missed));
        }
    }

    fn close(&self) -> Status {
        self.tx.close()
    }
}

// ---- watch -------------------------------------------------------------------

pub struct TokioWatch {
    /// (value, version): version counts the sends, 0 = the initial value.
    tx: GatedSender<watch::Sender<(usize, u64)>>,
}

impl Watch for TokioWatch {
    type Rx = watch::Receiver<(usize, u64)>;

    fn create(initial: usize) -> Result<Self, Status> {
        // The initial receiver is dropped: receivers come from subscribe.
        let (tx, _) = watch::channel((initial, 0));
        Ok(TokioWatch { tx: GatedSender::new(tx) })
    }

    fn subscribe(&self) -> Result<Self::Rx, Status> {
        through_gate(&self.tx.gate, || Ok(self.tx.subscribe()))
    }

    #[inline]
    fn send(&self, v: usize) -> Status {
        let r = through_gate(&self.tx.gate, || {
            self.tx.send_modify(|cur| *cur = (v, cur.1 + 1));
            Ok(())
        });
        match r {
            Ok(()) => OK,
            Err(st) => st,
        }
    }

    #[inline]
    fn borrow(rx: &Self::Rx) -> (usize, u64) {
        *rx.borrow()
    }

    #[inline]
    fn changed(rx: &mut Self::Rx, dl: Deadline) -> Result<usize, Status> {
        let r = match dl {
            Deadline::Now => match poll_once(rx.changed()) {
                Some(r) => r,
                None => return Err(EMPTY),
            },
            _ => block_on(rx.changed(), dl, |_| None)?,
        };
        match r {
            Ok(()) => Ok(rx.borrow_and_update().0),
            Err(_) => Err(CLOSED),
        }
    }

    fn close(&self) -> Status {
        self.tx.close()
    }
}

// ---- oneshot -----------------------------------------------------------------

pub struct TokioOneshot {
    /// The sending side's: taken by send or sender_drop.
    tx: UnsafeCell<Option<oneshot::Sender<usize>>>,
    /// The receiving side's: taken by receiver_drop.
    rx: UnsafeCell<Option<oneshot::Receiver<usize>>>,
}

// Each cell is touched by one side only, and each side by one thread at a
// time (the shared layer); the two sides share only tokio's own state.
unsafe impl Sync for TokioOneshot {}
unsafe impl Send for TokioOneshot {}

impl Oneshot for TokioOneshot {
    fn create() -> Result<Self, Status> {
        let (tx, rx) = oneshot::channel();
        Ok(TokioOneshot { tx: UnsafeCell::new(Some(tx)), rx: UnsafeCell::new(Some(rx)) })
    }

    fn send(&self, v: usize) -> Status {
        // Safety: the sending side's cell (see above).
        match unsafe { (*self.tx.get()).take() } {
            Some(tx) => match tx.send(v) {
                Ok(()) => OK,
                Err(_) => CLOSED,
            },
            None => CLOSED, // not reached: the shared layer sends once
        }
    }

    fn recv(&self, dl: Deadline) -> Result<usize, Status> {
        use oneshot::error::TryRecvError;
        // Safety: the receiving side's cell (see above).
        let rx = match unsafe { (*self.rx.get()).as_mut() } {
            Some(rx) => rx,
            None => return Err(CLOSED), // not reached: no recv after receiver_drop
        };
        match rx.try_recv() {
            Ok(v) => Ok(v),
            Err(TryRecvError::Closed) => Err(CLOSED),
            Err(TryRecvError::Empty) => match dl {
                Deadline::Now => Err(EMPTY),
                // Empty: not complete, so polling is allowed.
                _ => match block_on(&mut *rx, dl, |_| None)? {
                    Ok(v) => Ok(v),
                    Err(_) => Err(CLOSED),
                },
            },
        }
    }

    fn sender_drop(&self) {
        // Safety: the sending side's cell.
        drop(unsafe { (*self.tx.get()).take() });
    }

    fn receiver_drop(&self) {
        // Safety: the receiving side's cell.
        drop(unsafe { (*self.rx.get()).take() });
    }
}

// ---- the tables ----------------------------------------------------------------

static BCAST: KindTable<BcastOps> = bcast_table::<TokioBcast>(
    "tokio\0",
    "tokio 1.24 sync::broadcast::channel(cap) from OS threads, no runtime: try_recv, its recv future parked \
     on the thread (park_timeout for deadlines); Lagged(n) -> missed += n, then the oldest retained; \
     capacity rounded up to a power of two by tokio (cap 5 retains 8); close = in-flight gate on send and \
     subscribe (2 atomic RMWs + a load per send), then dropping the only Sender\0",
    CAPS,
);

static WATCH: KindTable<WatchOps> = watch_table::<TokioWatch>(
    "tokio\0",
    "tokio 1.24 sync::watch::channel((value, version)) from OS threads, no runtime: send_modify, \
     borrow, changed() polled once (try) or parked on the thread (park_timeout for deadlines), then \
     borrow_and_update; close = in-flight gate on send and subscribe (2 atomic RMWs + a load per send), \
     then dropping the only Sender\0",
    CAPS,
);

static ONESHOT: KindTable<OneshotOps> = oneshot_table::<TokioOneshot>(
    "tokio\0",
    "tokio 1.24 sync::oneshot::channel() from OS threads, no runtime: Sender::send, try_recv, the \
     Receiver future parked on the thread (park_timeout for deadlines), never polled after completion; \
     sender_drop / receiver_drop drop tokio's handles\0",
    CAPS,
);

static PLUGIN: KindTable<KindsPlugin> = kinds_plugin(Some(&BCAST), Some(&WATCH), Some(&ONESHOT));
kinds_plugin_entry!(PLUGIN);
