//! The close emulation shared by the peers whose own disconnect cannot be
//! used while a sender waits (flume, tokio): an in-flight gate in front of the
//! sender, waiting sends parked on the calling thread with a registration for
//! close, and a close that empties the gate before it drops the sender.
//!
//!   send:  `enter` (increment `in_flight`, then check `closed`, both
//!          sequentially consistent: either close sees this send in flight or
//!          this send sees close), the peer's try; if it must wait, `wait_send`
//!          polls the peer's own send future on this thread, parking between
//!          polls (the peer's waker unparks it), and before each poll
//!          registers with a `tokio::sync::Notify` and checks `closed`; then
//!          `leave` (decrement).
//!   close: set `closed` (once), `notify_waiters` until `in_flight` is 0
//!          (each waiting send wakes, drops its future, which is the peer's
//!          cancellation: the value is not sent, CHAN_CLOSED), then run the
//!          peer's disconnect (drop the channel's only sender: no send is
//!          inside it or will be), then mark the close done. A refused or
//!          CLOSED send and a second close return only once it is done.
//! Cost: two atomic read-modify-writes and a load per send; a send that
//! waits also takes the Notify's lock to register. Receives cost nothing.

use crate::{drop_shared_sender, Deadline, Status, ALREADY_CLOSED, CLOSED, OK, TIMEOUT};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;
use tokio::sync::Notify;

/// Unparks the thread that polls (what tokio's `blocking_send` does too).
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    // One waker per thread, made once: a wait allocates nothing of ours.
    static WAKER: Waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
}

/// Park until woken or the deadline passes; false once it has passed.
fn park_until(dl: Deadline) -> bool {
    match dl {
        Deadline::At(t) => {
            let now = Instant::now();
            if now >= t {
                return false;
            }
            thread::park_timeout(t - now);
            true
        }
        _ => {
            thread::park();
            true
        }
    }
}

/// Poll `fut` on this thread until it is ready (Some) or the deadline passes
/// (None); `stop` is checked before every poll (Some(status) ends the wait).
pub fn block_on<F: Future>(fut: F, dl: Deadline, mut stop: impl FnMut(&mut Context<'_>) -> Option<Status>)
    -> Result<F::Output, Status> {
    WAKER.with(|w| {
        let mut cx = Context::from_waker(w);
        let mut fut = fut;
        // Safety: `fut` is a local that is never moved again.
        let mut fut = unsafe { Pin::new_unchecked(&mut fut) };
        loop {
            if let Some(st) = stop(&mut cx) {
                return Err(st);
            }
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return Ok(v);
            }
            if !park_until(dl) {
                // One last poll: a hand-off that raced the deadline counts.
                return match fut.as_mut().poll(&mut cx) {
                    Poll::Ready(v) => Ok(v),
                    Poll::Pending => Err(TIMEOUT),
                };
            }
        }
    })
}

#[derive(Default)]
pub struct Gate {
    closed: AtomicBool,
    in_flight: AtomicUsize,
    closing: Notify,
    /// Set once the peer's own disconnect has run (`close`'s `disconnect`).
    done: AtomicBool,
}

impl Gate {
    /// Enter a send; false (and already left) if closed.
    #[inline]
    pub fn enter(&self) -> bool {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.in_flight.fetch_sub(1, Ordering::Release);
            return false;
        }
        true
    }

    /// Leave a send that ended with `st`; a CLOSED send returns only once the
    /// close is complete (see `close`).
    #[inline]
    pub fn leave(&self, st: Status) -> Status {
        self.in_flight.fetch_sub(1, Ordering::Release);
        if st == CLOSED {
            self.wait_done();
        }
        st
    }

    /// A send the gate refused (`enter` was false): CLOSED once the close is complete.
    #[cold]
    pub fn refused(&self) -> Status {
        self.wait_done();
        CLOSED
    }

    fn wait_done(&self) {
        while !self.done.load(Ordering::Acquire) {
            thread::yield_now();
        }
    }

    /// Inside the gate: wait for the peer's send future `fut` (its output
    /// mapped by `done`), the deadline, or close.
    #[cold]
    pub fn wait_send<F: Future>(&self, fut: F, dl: Deadline, done: impl FnOnce(F::Output) -> Status) -> Status {
        let mut closing = self.closing.notified();
        // Safety: `closing` is a local that is never moved again.
        let mut closing = unsafe { Pin::new_unchecked(&mut closing) };
        match block_on(fut, dl, |cx| {
            if closing.as_mut().poll(cx).is_ready() || self.closed.load(Ordering::SeqCst) {
                Some(CLOSED)
            } else {
                None
            }
        }) {
            Ok(v) => done(v),
            Err(st) => st,
        }
    }

    /// Close: false (once the first close is complete) if it was closed
    /// already. On true, no send was inside the gate any more, none will enter,
    /// and `disconnect` (the peer's own close: dropping its only sender) has run.
    ///
    /// Linearization: the close takes effect at `disconnect`, which receivers
    /// see through the peer. Sends the gate refuses, waiting sends that end
    /// with CLOSED, and a second close return only after it (`done`), so no
    /// caller learns of the close before a receiver can: a try_recv after a
    /// CLOSED send finds the channel closed (not EMPTY), and a send still
    /// inside the peer when close began, which may yet deliver, is ordered
    /// before the close (chan-linearize --mix close found both orders).
    pub fn close(&self, disconnect: impl FnOnce()) -> bool {
        if self.closed.swap(true, Ordering::SeqCst) {
            self.wait_done();
            return false;
        }
        loop {
            self.closing.notify_waiters();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                break;
            }
            thread::yield_now();
        }
        disconnect();
        self.done.store(true, Ordering::Release);
        true
    }

    /// Whether close has begun (a waiting send that polls, rather than
    /// registering with the Notify, looks here between its waits).
    #[inline]
    pub fn closing(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn is_closed(&mut self) -> bool {
        *self.closed.get_mut()
    }
}

/// A peer's only sender behind its gate: what every gated plug-in holds. It
/// derefs to the sender (use it inside the gate: between `enter` and `leave`,
/// or `wait_send`); `close` is the gate's close with the peer's own disconnect
/// (dropping this sender); the sender is dropped exactly once, by `close` or
/// else when this is dropped.
pub struct GatedSender<T> {
    tx: ManuallyDrop<T>,
    pub gate: Gate,
}

impl<T> GatedSender<T> {
    pub fn new(tx: T) -> Self {
        GatedSender { tx: ManuallyDrop::new(tx), gate: Gate::default() }
    }

    /// OK the first time; ALREADY_CLOSED (once the first close is complete) after.
    pub fn close(&self) -> Status {
        // Safety: once (the gate's swap), never dropped again (Drop asks the
        // gate), and no call is inside the sender or will enter it. The
        // peer's receivers keep the channel's state alive.
        if self.gate.close(|| unsafe { drop_shared_sender(&self.tx) }) {
            OK
        } else {
            ALREADY_CLOSED
        }
    }
}

impl<T> Deref for GatedSender<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.tx
    }
}

impl<T> Drop for GatedSender<T> {
    fn drop(&mut self) {
        if !self.gate.is_closed() {
            // Safety: close never ran, so the sender is still ours to drop.
            unsafe { ManuallyDrop::drop(&mut self.tx) };
        }
    }
}
