//! crossbeam-channel 0.5 as a chanbench plug-in, `crossbeam`: `bounded(n)`
//! (n = 0 is a true rendezvous), `unbounded()`; MPMC; blocking, timed
//! (`send_deadline` / `recv_deadline`), `len()`. Built by peers/build.sh into
//! `<build>/peers/plugins/libpeer_crossbeam.so`.
//!
//! Every operation is one call of crossbeam's own: try_send / send /
//! send_deadline and try_recv / recv / recv_deadline through one `Sender` and
//! one `Receiver` that every thread shares by reference (both are Sync). The
//! FFI layer adds no lock, no allocation and no atomic per message.
//!
//! Close (explicit, while senders still exist) is emulated with crossbeam's own
//! disconnect: the channel holds its only `Sender`; close drops it (once, an
//! atomic swap decides) while other threads may still be inside `send` through
//! a reference to it. Dropping the last sender marks the channel disconnected
//! (array and list flavours: a mark bit in the tail index; zero: a flag under
//! its lock) and wakes every blocked sender and receiver; later and woken
//! sends fail with `Disconnected` (the value comes back: CHAN_CLOSED, the
//! caller keeps it) and receivers drain what is buffered first, which is the
//! contract of chan_close. The sender's state lives in crossbeam's counter,
//! which the receiver keeps alive until destroy, so calls through the dropped
//! sender stay memory-safe (ffi::drop_shared_sender). Cost: nothing per
//! message; the close itself is crossbeam's disconnect.
//!
//! Lacks (n/a): select hooks and poll fds (crossbeam's wakers are private to
//! its own `Select`), batches.
use chanbench_ffi::*;
use crossbeam_channel::{
    bounded, unbounded, Receiver, SendTimeoutError, Sender, TrySendError,
};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Crossbeam {
    tx: ManuallyDrop<Sender<usize>>,
    rx: Receiver<usize>,
    closed: AtomicBool,
}

impl Peer for Crossbeam {
    fn create(cap: Cap) -> Result<Self, Status> {
        let (tx, rx) = match cap {
            Cap::Bounded(n) => bounded(n),
            Cap::Unbounded => unbounded(),
        };
        Ok(Crossbeam { tx: ManuallyDrop::new(tx), rx, closed: AtomicBool::new(false) })
    }

    #[inline]
    fn send(&self, msg: usize, dl: Deadline) -> Status {
        match dl {
            Deadline::Now => match self.tx.try_send(msg) {
                Ok(()) => OK,
                Err(TrySendError::Full(_)) => FULL,
                Err(TrySendError::Disconnected(_)) => CLOSED,
            },
            Deadline::Forever => match self.tx.send(msg) {
                Ok(()) => OK,
                Err(_) => CLOSED,
            },
            Deadline::At(t) => match self.tx.send_deadline(msg, t) {
                Ok(()) => OK,
                Err(SendTimeoutError::Timeout(_)) => TIMEOUT,
                Err(SendTimeoutError::Disconnected(_)) => CLOSED,
            },
        }
    }

    #[inline]
    fn recv(&self, dl: Deadline) -> Result<usize, Status> {
        recv_crossbeam_shape!(crossbeam_channel, self.rx, dl)
    }

    fn close(&self) -> Status {
        if self.closed.swap(true, Ordering::AcqRel) {
            return ALREADY_CLOSED;
        }
        // Safety: once (the swap), never dropped again (Drop checks `closed`),
        // and `rx` outlives every use of `tx`.
        unsafe { drop_shared_sender(&self.tx) };
        OK
    }

    fn len(&self) -> usize {
        self.rx.len()
    }
}

impl Drop for Crossbeam {
    fn drop(&mut self) {
        if !*self.closed.get_mut() {
            unsafe { ManuallyDrop::drop(&mut self.tx) };
        }
    }
}

static TABLE: Table = table::<Crossbeam>(
    "crossbeam\0",
    "crossbeam-channel 0.5 bounded(n)/unbounded(), MPMC, send_deadline/recv_deadline; close = dropping the \
     channel's only Sender (crossbeam's disconnect); n/a: select, poll fds, batches (wakers private to its Select)\0",
    CAP_BOUNDED | CAP_RENDEZVOUS | CAP_UNBOUNDED | CAP_MPMC | CAP_BLOCKING | CAP_TIMED | CAP_CLOSE | CAP_LEN,
);
plugin_entry!(TABLE);
