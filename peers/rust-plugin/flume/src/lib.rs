//! flume 0.10 as a chanbench plug-in, `flume`: `bounded(n)` (n = 0 is a
//! rendezvous), `unbounded()`; MPMC; blocking, timed (`send_async` under a
//! deadline / `recv_deadline`), `len()`. Built by peers/build.sh into
//! `<build>/peers/plugins/libpeer_flume.so`.
//!
//! NOWAIT and receives are flume's own calls (try_send; try_recv / recv /
//! recv_deadline) through one `Sender` and one `Receiver` shared by reference
//! by every thread. A send that must wait runs flume's own send future
//! (`send_async`) on the calling thread, parking between polls
//! (ffi::gate::block_on); flume's blocking `send` does the same with its own
//! thread signal, and both allocate one hook per wait (flume's, not ours).
//!
//! Close (explicit, while senders still exist), emulated, and why so: flume
//! closes when its last `Sender` drops (`disconnect_all`: blocked receivers
//! wake, drain, then see `Disconnected`). Dropping it while a sender waits
//! inside flume is not possible: flume 0.10.14's waiting sender takes its
//! value back but leaves its empty hook queued (no sender can be waiting at a
//! sender-side disconnect in flume's own API), and the next receive panics on
//! it (`Option::unwrap()` on `None` in `pull_pending`; found by the shutdown
//! scenario). So every send goes through ffi::gate (an in-flight gate; a
//! waiting send also watches a Notify, and at close drops its send future,
//! which unqueues its hook: CHAN_CLOSED, value kept), and close empties the
//! gate, then drops the channel's only `Sender` (ffi::drop_shared_sender: the
//! state is an `Arc` the receiver keeps). Cost: two atomic read-modify-writes
//! and a load per send, contended when several threads send (a shared
//! counter); a waiting send also takes the Notify's lock to register.
//! Receives cost nothing extra. Imprecision: a timed send whose deadline
//! passes in the instant a receiver takes its value may report CHAN_TIMEOUT
//! although the value was delivered (the future is polled once more after
//! the deadline, then dropped; flume's `SendFut` does not say whether a
//! receiver took the value in between).
//!
//! Lacks (n/a): select hooks and poll fds (flume's hooks are private to its
//! `Selector`), batches.
use chanbench_ffi::gate::Gate;
use chanbench_ffi::*;
use flume::{bounded, unbounded, Receiver, Sender, TrySendError};
use std::mem::ManuallyDrop;

pub struct Flume {
    tx: ManuallyDrop<Sender<usize>>,
    rx: Receiver<usize>,
    gate: Gate,
}

impl Peer for Flume {
    fn create(cap: Cap) -> Result<Self, Status> {
        let (tx, rx) = match cap {
            Cap::Bounded(n) => bounded(n),
            Cap::Unbounded => unbounded(),
        };
        Ok(Flume { tx: ManuallyDrop::new(tx), rx, gate: Gate::default() })
    }

    #[inline]
    fn send(&self, msg: usize, dl: Deadline) -> Status {
        if !self.gate.enter() {
            return CLOSED;
        }
        let st = match self.tx.try_send(msg) {
            Ok(()) => OK,
            Err(TrySendError::Disconnected(_)) => CLOSED,
            Err(TrySendError::Full(m)) => match dl {
                Deadline::Now => FULL,
                _ => self.gate.wait_send(self.tx.send_async(m), dl, |r| if r.is_ok() { OK } else { CLOSED }),
            },
        };
        self.gate.leave();
        st
    }

    #[inline]
    fn recv(&self, dl: Deadline) -> Result<usize, Status> {
        recv_crossbeam_shape!(flume, self.rx, dl)
    }

    fn close(&self) -> Status {
        if !self.gate.close() {
            return ALREADY_CLOSED;
        }
        // Safety: once (the gate's swap), never dropped again (Drop asks the
        // gate), no send is inside flume, and `rx` keeps the state alive.
        unsafe { drop_shared_sender(&self.tx) };
        OK
    }

    fn len(&self) -> usize {
        self.rx.len()
    }
}

impl Drop for Flume {
    fn drop(&mut self) {
        if !self.gate.is_closed() {
            unsafe { ManuallyDrop::drop(&mut self.tx) };
        }
    }
}

static TABLE: Table = table::<Flume>(
    "flume\0",
    "flume 0.10 bounded(n)/unbounded(), MPMC, waiting sends via send_async parked on the thread, recv_deadline; close = in-flight gate + Notify for \
     waiting senders, then dropping the only Sender (flume's disconnect_all); n/a: select, poll fds, batches (hooks private to its Selector)\0",
    CAP_BOUNDED | CAP_RENDEZVOUS | CAP_UNBOUNDED | CAP_MPMC | CAP_BLOCKING | CAP_TIMED | CAP_CLOSE | CAP_LEN,
);
plugin_entry!(TABLE);
