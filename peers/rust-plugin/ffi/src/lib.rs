//! The FFI layer shared by chanbench's Rust peer plug-ins: `struct chan_ops`
//! (include/chanbench/chan_impl.h) in Rust, and the `extern "C"` operations that
//! turn the table's calls into calls of a [`Peer`].
//!
//! What this layer costs per message, on top of the peer's own code: one
//! indirect call from the shared layer, a match on the deadline and a match on
//! the peer's result. Nothing is allocated (the channel object is allocated
//! once, in create) and no lock is taken. A finite deadline costs two clock
//! reads (CLOCK_MONOTONIC and `Instant::now`) to turn chanbench's absolute
//! CLOCK_MONOTONIC nanoseconds into an `Instant`.
//!
//! Close: Rust channels close when their last `Sender` is dropped; chanbench
//! closes explicitly, while callers still use the sender. Each plug-in says in
//! its file how it does that ([`drop_shared_sender`] is the common tool).
//!
//! Select and batches: not offered by any Rust peer here. The select hooks
//! (chan_waiter.h) would need the channel to notify, or hand a value to, a
//! waiter chanbench owns; crossbeam's and flume's wakers are private to their
//! own `Select`/`Selector`, and std and tokio have no select over OS threads.
//! Emulating it would add our own waiter list and a notify step to every send
//! and receive, and could not make a capacity-0 hand-off reach a selector: so
//! CHAN_CAP_SELECT (and POLLFD) and CHAN_CAP_BATCH are not declared and those
//! tests and scenarios are n/a.

pub mod gate;
pub mod kinds;

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::os::raw::c_char;
use std::time::{Duration, Instant};

/// chan_status (chan.h).
pub type Status = u32;
pub const OK: Status = 0;
pub const EMPTY: Status = 1;
pub const FULL: Status = 2;
pub const TIMEOUT: Status = 3;
pub const CLOSED: Status = 4;
pub const ALREADY_CLOSED: Status = 5;
pub const ENOMEM: Status = 7;

/// Capability bits (chan_impl.h).
pub const CAP_BOUNDED: u64 = 1 << 0;
pub const CAP_RENDEZVOUS: u64 = 1 << 1;
pub const CAP_UNBOUNDED: u64 = 1 << 2;
pub const CAP_MPMC: u64 = 1 << 3;
pub const CAP_BLOCKING: u64 = 1 << 4;
pub const CAP_TIMED: u64 = 1 << 5;
pub const CAP_CLOSE: u64 = 1 << 6;
pub const CAP_LEN: u64 = 1 << 7;

pub const ABI_VERSION: u32 = 2;
/// CHAN_UNBOUNDED: (size_t)-1.
pub const UNBOUNDED: usize = usize::MAX;
/// Capacities above this are refused with CHAN_ENOMEM: the array-based peers
/// allocate every slot at creation (crossbeam: 16 bytes a slot), and the
/// allocator aborts the process rather than fail.
pub const MAX_EAGER_CAPACITY: usize = 1 << 24;

/// struct chan_base.
#[repr(C)]
pub struct ChanBase {
    pub ops: *const ChanOps,
}

/// struct chan_ops, ABI version 2 (the select and batch slots stay NULL).
#[repr(C)]
pub struct ChanOps {
    pub abi_version: u32,
    pub size: u32,
    pub name: *const c_char,
    pub description: *const c_char,
    pub caps: u64,
    pub create: Option<unsafe extern "C" fn(*const ChanOps, usize, *mut *mut ChanBase) -> Status>,
    pub destroy: Option<unsafe extern "C" fn(*mut ChanBase)>,
    pub send: Option<unsafe extern "C" fn(*mut ChanBase, usize, i64) -> Status>,
    pub recv: Option<unsafe extern "C" fn(*mut ChanBase, *mut usize, i64) -> Status>,
    pub close: Option<unsafe extern "C" fn(*mut ChanBase) -> Status>,
    pub len: Option<unsafe extern "C" fn(*mut ChanBase) -> usize>,
    pub register_waiter: Option<unsafe extern "C" fn(*mut ChanBase, *mut c_void) -> Status>,
    pub unregister_waiter: Option<unsafe extern "C" fn(*mut ChanBase, *mut c_void)>,
    pub ready: Option<unsafe extern "C" fn(*mut ChanBase, i32) -> i32>,
    pub send_batch: Option<unsafe extern "C" fn(*mut ChanBase, *const usize, usize, *mut usize, i64) -> Status>,
    pub recv_batch: Option<unsafe extern "C" fn(*mut ChanBase, *mut usize, usize, *mut usize, i64) -> Status>,
}

/// The table as a `static`: it holds raw pointers to static strings and
/// functions only, which every thread may read.
#[repr(transparent)]
pub struct Table(pub ChanOps);
unsafe impl Sync for Table {}

/// A capacity as chanbench gives it: 0 (rendezvous), N, or unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    Bounded(usize),
    Unbounded,
}

/// A deadline as the peers take it.
#[derive(Clone, Copy, Debug)]
pub enum Deadline {
    /// CHAN_NOWAIT: a try; failure is FULL / EMPTY.
    Now,
    /// CHAN_FOREVER.
    Forever,
    /// A finite deadline (maybe passed already: the peer tries once, then
    /// reports TIMEOUT).
    At(Instant),
}

fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // CLOCK_MONOTONIC is the clock of chanbench's deadlines and of Rust's Instant on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64
}

impl Deadline {
    #[inline]
    pub fn from_raw(dl: i64) -> Deadline {
        if dl == 0 {
            Deadline::Now
        } else if dl == i64::MAX {
            Deadline::Forever
        } else {
            let left = dl - monotonic_ns();
            let now = Instant::now();
            if left <= 0 {
                Deadline::At(now)
            } else {
                Deadline::At(now + Duration::from_nanos(left as u64))
            }
        }
    }
}

/// What one peer implements. Send + Sync: the shared layer calls these from
/// any thread (for a peer without CHAN_CAP_MPMC, from at most one sending and
/// one receiving thread at a time, in an order the caller establishes).
pub trait Peer: Sized + Send + Sync {
    fn create(cap: Cap) -> Result<Self, Status>;
    fn send(&self, msg: usize, dl: Deadline) -> Status;
    fn recv(&self, dl: Deadline) -> Result<usize, Status>;
    fn close(&self) -> Status;
    fn len(&self) -> usize {
        0
    }
}

/// The channel object: `struct chan_base` first, as chan_impl.h requires.
#[repr(C)]
struct Chan<P> {
    base: ChanBase,
    peer: P,
}

#[inline(always)]
unsafe fn peer<'a, P>(ch: *mut ChanBase) -> &'a P {
    &(*(ch as *mut Chan<P>)).peer
}

pub unsafe extern "C" fn create<P: Peer>(ops: *const ChanOps, cap: usize, out: *mut *mut ChanBase) -> Status {
    let cap = if cap == UNBOUNDED { Cap::Unbounded } else { Cap::Bounded(cap) };
    if let Cap::Bounded(n) = cap {
        if n > MAX_EAGER_CAPACITY {
            return ENOMEM;
        }
    }
    match P::create(cap) {
        Ok(p) => {
            let b = Box::new(Chan { base: ChanBase { ops }, peer: p });
            *out = Box::into_raw(b) as *mut ChanBase;
            OK
        }
        Err(s) => s,
    }
}

pub unsafe extern "C" fn destroy<P: Peer>(ch: *mut ChanBase) {
    drop(Box::from_raw(ch as *mut Chan<P>));
}

pub unsafe extern "C" fn send<P: Peer>(ch: *mut ChanBase, msg: usize, dl: i64) -> Status {
    peer::<P>(ch).send(msg, Deadline::from_raw(dl))
}

pub unsafe extern "C" fn recv<P: Peer>(ch: *mut ChanBase, msg: *mut usize, dl: i64) -> Status {
    match peer::<P>(ch).recv(Deadline::from_raw(dl)) {
        Ok(v) => {
            *msg = v;
            OK
        }
        Err(s) => s,
    }
}

pub unsafe extern "C" fn close<P: Peer>(ch: *mut ChanBase) -> Status {
    peer::<P>(ch).close()
}

pub unsafe extern "C" fn len<P: Peer>(ch: *mut ChanBase) -> usize {
    peer::<P>(ch).len()
}

/// The ops table of peer `P`. `name` and `description` end with a NUL.
pub const fn table<P: Peer>(name: &'static str, description: &'static str, caps: u64) -> Table {
    Table(ChanOps {
        abi_version: ABI_VERSION,
        size: std::mem::size_of::<ChanOps>() as u32,
        name: name.as_ptr() as *const c_char,
        description: description.as_ptr() as *const c_char,
        caps,
        create: Some(create::<P>),
        destroy: Some(destroy::<P>),
        send: Some(send::<P>),
        recv: Some(recv::<P>),
        close: Some(close::<P>),
        len: Some(len::<P>),
        register_waiter: None,
        unregister_waiter: None,
        ready: None,
        send_batch: None,
        recv_batch: None,
    })
}

/// Exports `chanbench_plugin_entry` returning `$table` (a `static Table`).
#[macro_export]
macro_rules! plugin_entry {
    ($table:ident) => {
        /// The plug-in's one exported symbol (chan_impl.h).
        #[no_mangle]
        pub extern "C" fn chanbench_plugin_entry() -> *const $crate::ChanOps {
            &$table.0
        }
    };
}

/// Explicit close for a peer whose channel closes when its last sender is
/// dropped: drop the channel's one sender while other threads may still be
/// calling it through `&`.
///
/// # Safety
/// The caller calls it once (an atomic flag decides who), never drops `tx`
/// again, and keeps the channel's receiver alive until every thread is done
/// with `tx`: the three peers that use it (crossbeam, flume, std's
/// sync_channel) keep the state a sender points to in an allocation that
/// their receiver shares (crossbeam's counter, flume's and std's Arc), so the
/// sender's bits stay valid, and every later call through them finds the
/// channel disconnected. `ptr::read` only reads `tx` (no write races with the
/// readers); dropping the copy runs the peer's own disconnect.
pub unsafe fn drop_shared_sender<T>(tx: &ManuallyDrop<T>) {
    drop(std::ptr::read(&**tx));
}

/// A receive through a receiver with crossbeam-channel's API shape (crossbeam,
/// flume): `try_recv` for CHAN_NOWAIT, `recv` for CHAN_FOREVER, `recv_deadline`
/// for a finite deadline; `$krate` names the crate whose error types it maps.
#[macro_export]
macro_rules! recv_crossbeam_shape {
    ($krate:ident, $rx:expr, $dl:expr) => {
        match $dl {
            $crate::Deadline::Now => $rx.try_recv().map_err(|e| match e {
                $krate::TryRecvError::Empty => $crate::EMPTY,
                $krate::TryRecvError::Disconnected => $crate::CLOSED,
            }),
            $crate::Deadline::Forever => $rx.recv().map_err(|_| $crate::CLOSED),
            $crate::Deadline::At(t) => $rx.recv_deadline(t).map_err(|e| match e {
                $krate::RecvTimeoutError::Timeout => $crate::TIMEOUT,
                $krate::RecvTimeoutError::Disconnected => $crate::CLOSED,
            }),
        }
    };
}
