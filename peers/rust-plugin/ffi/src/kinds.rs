//! The kinds interface (include/chanbench/kinds_impl.h) in Rust: the
//! broadcast, watch and oneshot ops tables, `struct kinds_plugin`, and the
//! `extern "C"` operations that turn a table's calls into calls of a
//! [`Broadcast`], [`Watch`] or [`Oneshot`] peer.
//!
//! Layouts follow the C header exactly (`#[repr(C)]`, fields in its order):
//! each object begins with its kind's base struct (a pointer back to the
//! table), each receiver with a pointer to its owner's base. The shared layer
//! (harness/kinds_api.c) checks arguments, counts receivers (a send with none
//! never arrives here), keeps the oneshot's two handles and serialises each
//! receiver (one thread at a time), so a peer sees only valid calls.
//!
//! Cost per message added here: one indirect call, a match on the deadline
//! (two clock reads for a finite one, as for channels: [`Deadline::from_raw`])
//! and a match on the result. Objects and receivers are allocated once, at
//! create and subscribe; nothing per message, no lock.

use crate::{Deadline, Status, OK};
use std::future::Future;
use std::os::raw::c_char;
use std::pin::Pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// KIND_ABI_VERSION.
pub const KIND_ABI_VERSION: u32 = 1;

/// kind_cap_bits (kinds_impl.h).
pub const KIND_CAP_BLOCKING: u64 = 1 << 0;
pub const KIND_CAP_TIMED: u64 = 1 << 1;
pub const KIND_CAP_MULTI_SENDER: u64 = 1 << 2;
pub const KIND_CAP_LOCKFREE_RECV: u64 = 1 << 3;
/// KIND_CAPS_FULL.
pub const KIND_CAPS_FULL: u64 = KIND_CAP_BLOCKING | KIND_CAP_TIMED | KIND_CAP_MULTI_SENDER;

// ---- broadcast -------------------------------------------------------------

/// struct bcast_base.
#[repr(C)]
pub struct BcastBase {
    pub ops: *const BcastOps,
}

/// struct bcast_rx_base.
#[repr(C)]
pub struct BcastRxBase {
    pub b: *mut BcastBase,
}

/// struct bcast_ops, version 1.
#[repr(C)]
pub struct BcastOps {
    pub abi_version: u32,
    pub size: u32,
    pub name: *const c_char,
    pub description: *const c_char,
    pub caps: u64,
    pub create: Option<unsafe extern "C" fn(*const BcastOps, usize, *mut *mut BcastBase) -> Status>,
    pub destroy: Option<unsafe extern "C" fn(*mut BcastBase)>,
    pub subscribe: Option<unsafe extern "C" fn(*mut BcastBase, *mut *mut BcastRxBase) -> Status>,
    pub unsubscribe: Option<unsafe extern "C" fn(*mut BcastRxBase)>,
    pub send: Option<unsafe extern "C" fn(*mut BcastBase, usize) -> Status>,
    pub recv: Option<unsafe extern "C" fn(*mut BcastRxBase, *mut usize, *mut u64, i64) -> Status>,
    pub close: Option<unsafe extern "C" fn(*mut BcastBase) -> Status>,
}

// ---- watch -----------------------------------------------------------------

/// struct watch_base.
#[repr(C)]
pub struct WatchBase {
    pub ops: *const WatchOps,
}

/// struct watch_rx_base.
#[repr(C)]
pub struct WatchRxBase {
    pub w: *mut WatchBase,
}

/// struct watch_ops, version 1.
#[repr(C)]
pub struct WatchOps {
    pub abi_version: u32,
    pub size: u32,
    pub name: *const c_char,
    pub description: *const c_char,
    pub caps: u64,
    pub create: Option<unsafe extern "C" fn(*const WatchOps, usize, *mut *mut WatchBase) -> Status>,
    pub destroy: Option<unsafe extern "C" fn(*mut WatchBase)>,
    pub subscribe: Option<unsafe extern "C" fn(*mut WatchBase, *mut *mut WatchRxBase) -> Status>,
    pub unsubscribe: Option<unsafe extern "C" fn(*mut WatchRxBase)>,
    pub send: Option<unsafe extern "C" fn(*mut WatchBase, usize) -> Status>,
    pub borrow: Option<unsafe extern "C" fn(*mut WatchRxBase, *mut usize, *mut u64)>,
    pub changed: Option<unsafe extern "C" fn(*mut WatchRxBase, *mut usize, i64) -> Status>,
    pub close: Option<unsafe extern "C" fn(*mut WatchBase) -> Status>,
}

// ---- oneshot ---------------------------------------------------------------

/// struct oneshot_base.
#[repr(C)]
pub struct OneshotBase {
    pub ops: *const OneshotOps,
}

/// struct oneshot_ops, version 1.
#[repr(C)]
pub struct OneshotOps {
    pub abi_version: u32,
    pub size: u32,
    pub name: *const c_char,
    pub description: *const c_char,
    pub caps: u64,
    pub create: Option<unsafe extern "C" fn(*const OneshotOps, *mut *mut OneshotBase) -> Status>,
    pub destroy: Option<unsafe extern "C" fn(*mut OneshotBase)>,
    pub send: Option<unsafe extern "C" fn(*mut OneshotBase, usize) -> Status>,
    pub recv: Option<unsafe extern "C" fn(*mut OneshotBase, *mut usize, i64) -> Status>,
    pub sender_drop: Option<unsafe extern "C" fn(*mut OneshotBase)>,
    pub receiver_drop: Option<unsafe extern "C" fn(*mut OneshotBase)>,
}

// ---- the plug-in entry -----------------------------------------------------

/// struct kinds_plugin, version 1 (a NULL table: no implementation of that kind).
#[repr(C)]
pub struct KindsPlugin {
    pub abi_version: u32,
    pub size: u32,
    pub bcast: *const BcastOps,
    pub watch: *const WatchOps,
    pub oneshot: *const OneshotOps,
}

/// A table (or the entry's struct) as a `static`: raw pointers to static
/// strings, functions and tables only, which every thread may read.
#[repr(transparent)]
pub struct KindTable<T: KindStruct>(pub T);
unsafe impl<T: KindStruct> Sync for KindTable<T> {}

/// The structs a [`KindTable`] may hold (only these four).
pub trait KindStruct: sealed::Sealed {}
impl KindStruct for BcastOps {}
impl KindStruct for WatchOps {}
impl KindStruct for OneshotOps {}
impl KindStruct for KindsPlugin {}
mod sealed {
    pub trait Sealed {}
    impl Sealed for super::BcastOps {}
    impl Sealed for super::WatchOps {}
    impl Sealed for super::OneshotOps {}
    impl Sealed for super::KindsPlugin {}
}

/// The entry's struct naming the given tables (None: NULL).
pub const fn kinds_plugin(
    bcast: Option<&'static KindTable<BcastOps>>,
    watch: Option<&'static KindTable<WatchOps>>,
    oneshot: Option<&'static KindTable<OneshotOps>>,
) -> KindTable<KindsPlugin> {
    KindTable(KindsPlugin {
        abi_version: KIND_ABI_VERSION,
        size: std::mem::size_of::<KindsPlugin>() as u32,
        bcast: match bcast {
            Some(t) => &t.0,
            None => std::ptr::null(),
        },
        watch: match watch {
            Some(t) => &t.0,
            None => std::ptr::null(),
        },
        oneshot: match oneshot {
            Some(t) => &t.0,
            None => std::ptr::null(),
        },
    })
}

/// Exports `chanbench_kinds_plugin_entry` returning `$plugin` (a `static
/// KindTable<KindsPlugin>` made by [`kinds_plugin`]).
#[macro_export]
macro_rules! kinds_plugin_entry {
    ($plugin:ident) => {
        /// The plug-in's one exported symbol (kinds_impl.h).
        #[no_mangle]
        pub extern "C" fn chanbench_kinds_plugin_entry() -> *const $crate::kinds::KindsPlugin {
            &$plugin.0
        }
    };
}

// ---- polling a future once -------------------------------------------------

fn noop_clone(_: *const ()) -> RawWaker {
    RawWaker::new(std::ptr::null(), &NOOP_VTABLE)
}
fn noop(_: *const ()) {}
static NOOP_VTABLE: RawWakerVTable = RawWakerVTable::new(noop_clone, noop, noop, noop);

/// Poll `fut` once (a CHAN_NOWAIT try of a peer's wait); None if it was not
/// ready. Its waker does nothing and allocates nothing: the future is dropped
/// right after, which is the peer's cancellation (any registration it made is
/// removed). ffi::gate::block_on is the waiting form.
pub fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    // Safety: the vtable's functions ignore the (null) data pointer.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &NOOP_VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut fut = fut;
    // Safety: `fut` is a local that is never moved again.
    let fut = unsafe { Pin::new_unchecked(&mut fut) };
    match fut.poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

// ---- broadcast peers -------------------------------------------------------

/// What a broadcast implementation provides (kinds_impl.h, "broadcast").
/// `send`, `subscribe` and `close` may be called from any thread at once; a
/// receiver is used by one thread at a time.
pub trait Broadcast: Sized + Send + Sync {
    type Rx: Send;
    /// cap is 1..CHAN_MAX_CAPACITY.
    fn create(cap: usize) -> Result<Self, Status>;
    fn subscribe(&self) -> Result<Self::Rx, Status>;
    fn send(&self, msg: usize) -> Status;
    /// Ok((message, messages lost just before it)).
    fn recv(rx: &mut Self::Rx, dl: Deadline) -> Result<(usize, u64), Status>;
    /// OK or ALREADY_CLOSED.
    fn close(&self) -> Status;
}

#[repr(C)]
struct BcastObj<P> {
    base: BcastBase,
    peer: P,
}

#[repr(C)]
struct BcastRxObj<R> {
    base: BcastRxBase,
    rx: R,
}

#[inline(always)]
unsafe fn bcast_peer<'a, P>(b: *mut BcastBase) -> &'a P {
    &(*(b as *mut BcastObj<P>)).peer
}

unsafe extern "C" fn bcast_create<P: Broadcast>(ops: *const BcastOps, cap: usize, out: *mut *mut BcastBase)
    -> Status {
    match P::create(cap) {
        Ok(peer) => {
            *out = Box::into_raw(Box::new(BcastObj { base: BcastBase { ops }, peer })) as *mut BcastBase;
            OK
        }
        Err(st) => st,
    }
}

unsafe extern "C" fn bcast_destroy<P: Broadcast>(b: *mut BcastBase) {
    drop(Box::from_raw(b as *mut BcastObj<P>));
}

unsafe extern "C" fn bcast_subscribe<P: Broadcast>(b: *mut BcastBase, out: *mut *mut BcastRxBase) -> Status {
    match bcast_peer::<P>(b).subscribe() {
        Ok(rx) => {
            *out = Box::into_raw(Box::new(BcastRxObj { base: BcastRxBase { b }, rx })) as *mut BcastRxBase;
            OK
        }
        Err(st) => st,
    }
}

unsafe extern "C" fn bcast_unsubscribe<P: Broadcast>(rx: *mut BcastRxBase) {
    drop(Box::from_raw(rx as *mut BcastRxObj<P::Rx>));
}

unsafe extern "C" fn bcast_send<P: Broadcast>(b: *mut BcastBase, msg: usize) -> Status {
    bcast_peer::<P>(b).send(msg)
}

unsafe extern "C" fn bcast_recv<P: Broadcast>(rx: *mut BcastRxBase, msg: *mut usize, missed: *mut u64, dl: i64)
    -> Status {
    // One thread at a time per receiver (the shared layer's contract).
    let r = &mut (*(rx as *mut BcastRxObj<P::Rx>)).rx;
    match P::recv(r, Deadline::from_raw(dl)) {
        Ok((v, lost)) => {
            *msg = v;
            *missed = lost;
            OK
        }
        Err(st) => {
            *missed = 0;
            st
        }
    }
}

unsafe extern "C" fn bcast_close<P: Broadcast>(b: *mut BcastBase) -> Status {
    bcast_peer::<P>(b).close()
}

/// The broadcast table of peer `P`. `name` and `description` end with a NUL.
pub const fn bcast_table<P: Broadcast>(name: &'static str, description: &'static str, caps: u64)
    -> KindTable<BcastOps> {
    KindTable(BcastOps {
        abi_version: KIND_ABI_VERSION,
        size: std::mem::size_of::<BcastOps>() as u32,
        name: name.as_ptr() as *const c_char,
        description: description.as_ptr() as *const c_char,
        caps,
        create: Some(bcast_create::<P>),
        destroy: Some(bcast_destroy::<P>),
        subscribe: Some(bcast_subscribe::<P>),
        unsubscribe: Some(bcast_unsubscribe::<P>),
        send: Some(bcast_send::<P>),
        recv: Some(bcast_recv::<P>),
        close: Some(bcast_close::<P>),
    })
}

// ---- watch peers -----------------------------------------------------------

/// What a watch implementation provides (kinds_impl.h, "watch"). `send`,
/// `subscribe` and `close` may be called from any thread at once; a receiver
/// is used by one thread at a time.
pub trait Watch: Sized + Send + Sync {
    type Rx: Send;
    /// Version 0 holds `initial`.
    fn create(initial: usize) -> Result<Self, Status>;
    fn subscribe(&self) -> Result<Self::Rx, Status>;
    fn send(&self, v: usize) -> Status;
    /// (value, version); does not mark it seen.
    fn borrow(rx: &Self::Rx) -> (usize, u64);
    fn changed(rx: &mut Self::Rx, dl: Deadline) -> Result<usize, Status>;
    /// OK or ALREADY_CLOSED.
    fn close(&self) -> Status;
}

#[repr(C)]
struct WatchObj<P> {
    base: WatchBase,
    peer: P,
}

#[repr(C)]
struct WatchRxObj<R> {
    base: WatchRxBase,
    rx: R,
}

#[inline(always)]
unsafe fn watch_peer<'a, P>(w: *mut WatchBase) -> &'a P {
    &(*(w as *mut WatchObj<P>)).peer
}

unsafe extern "C" fn watch_create<P: Watch>(ops: *const WatchOps, initial: usize, out: *mut *mut WatchBase)
    -> Status {
    match P::create(initial) {
        Ok(peer) => {
            *out = Box::into_raw(Box::new(WatchObj { base: WatchBase { ops }, peer })) as *mut WatchBase;
            OK
        }
        Err(st) => st,
    }
}

unsafe extern "C" fn watch_destroy<P: Watch>(w: *mut WatchBase) {
    drop(Box::from_raw(w as *mut WatchObj<P>));
}

unsafe extern "C" fn watch_subscribe<P: Watch>(w: *mut WatchBase, out: *mut *mut WatchRxBase) -> Status {
    match watch_peer::<P>(w).subscribe() {
        Ok(rx) => {
            *out = Box::into_raw(Box::new(WatchRxObj { base: WatchRxBase { w }, rx })) as *mut WatchRxBase;
            OK
        }
        Err(st) => st,
    }
}

unsafe extern "C" fn watch_unsubscribe<P: Watch>(rx: *mut WatchRxBase) {
    drop(Box::from_raw(rx as *mut WatchRxObj<P::Rx>));
}

unsafe extern "C" fn watch_send<P: Watch>(w: *mut WatchBase, v: usize) -> Status {
    watch_peer::<P>(w).send(v)
}

unsafe extern "C" fn watch_borrow<P: Watch>(rx: *mut WatchRxBase, v: *mut usize, version: *mut u64) {
    let (value, ver) = P::borrow(&(*(rx as *mut WatchRxObj<P::Rx>)).rx);
    *v = value;
    *version = ver;
}

unsafe extern "C" fn watch_changed<P: Watch>(rx: *mut WatchRxBase, v: *mut usize, dl: i64) -> Status {
    // One thread at a time per receiver (the shared layer's contract).
    let r = &mut (*(rx as *mut WatchRxObj<P::Rx>)).rx;
    match P::changed(r, Deadline::from_raw(dl)) {
        Ok(value) => {
            *v = value;
            OK
        }
        Err(st) => st,
    }
}

unsafe extern "C" fn watch_close<P: Watch>(w: *mut WatchBase) -> Status {
    watch_peer::<P>(w).close()
}

/// The watch table of peer `P`. `name` and `description` end with a NUL.
pub const fn watch_table<P: Watch>(name: &'static str, description: &'static str, caps: u64)
    -> KindTable<WatchOps> {
    KindTable(WatchOps {
        abi_version: KIND_ABI_VERSION,
        size: std::mem::size_of::<WatchOps>() as u32,
        name: name.as_ptr() as *const c_char,
        description: description.as_ptr() as *const c_char,
        caps,
        create: Some(watch_create::<P>),
        destroy: Some(watch_destroy::<P>),
        subscribe: Some(watch_subscribe::<P>),
        unsubscribe: Some(watch_unsubscribe::<P>),
        send: Some(watch_send::<P>),
        borrow: Some(watch_borrow::<P>),
        changed: Some(watch_changed::<P>),
        close: Some(watch_close::<P>),
    })
}

// ---- oneshot peers ---------------------------------------------------------

/// What a oneshot implementation provides (kinds_impl.h, "oneshot"). The
/// shared layer calls `send` at most once, `sender_drop` only without a send,
/// `receiver_drop` at most once and `recv` never after it; the sending side
/// (`send`, `sender_drop`) and the receiving side (`recv`, `receiver_drop`)
/// may run on two threads at once, each side on one thread at a time.
pub trait Oneshot: Sized + Send + Sync {
    fn create() -> Result<Self, Status>;
    /// OK, or CLOSED if the receiver went away (the value was not taken).
    fn send(&self, v: usize) -> Status;
    fn recv(&self, dl: Deadline) -> Result<usize, Status>;
    fn sender_drop(&self);
    fn receiver_drop(&self);
}

#[repr(C)]
struct OneshotObj<P> {
    base: OneshotBase,
    peer: P,
}

#[inline(always)]
unsafe fn oneshot_peer<'a, P>(o: *mut OneshotBase) -> &'a P {
    &(*(o as *mut OneshotObj<P>)).peer
}

unsafe extern "C" fn oneshot_create<P: Oneshot>(ops: *const OneshotOps, out: *mut *mut OneshotBase) -> Status {
    match P::create() {
        Ok(peer) => {
            *out = Box::into_raw(Box::new(OneshotObj { base: OneshotBase { ops }, peer })) as *mut OneshotBase;
            OK
        }
        Err(st) => st,
    }
}

unsafe extern "C" fn oneshot_destroy<P: Oneshot>(o: *mut OneshotBase) {
    drop(Box::from_raw(o as *mut OneshotObj<P>));
}

unsafe extern "C" fn oneshot_send<P: Oneshot>(o: *mut OneshotBase, v: usize) -> Status {
    oneshot_peer::<P>(o).send(v)
}

unsafe extern "C" fn oneshot_recv<P: Oneshot>(o: *mut OneshotBase, v: *mut usize, dl: i64) -> Status {
    match oneshot_peer::<P>(o).recv(Deadline::from_raw(dl)) {
        Ok(value) => {
            *v = value;
            OK
        }
        Err(st) => st,
    }
}

unsafe extern "C" fn oneshot_sender_drop<P: Oneshot>(o: *mut OneshotBase) {
    oneshot_peer::<P>(o).sender_drop()
}

unsafe extern "C" fn oneshot_receiver_drop<P: Oneshot>(o: *mut OneshotBase) {
    oneshot_peer::<P>(o).receiver_drop()
}

/// The oneshot table of peer `P`. `name` and `description` end with a NUL.
pub const fn oneshot_table<P: Oneshot>(name: &'static str, description: &'static str, caps: u64)
    -> KindTable<OneshotOps> {
    KindTable(OneshotOps {
        abi_version: KIND_ABI_VERSION,
        size: std::mem::size_of::<OneshotOps>() as u32,
        name: name.as_ptr() as *const c_char,
        description: description.as_ptr() as *const c_char,
        caps,
        create: Some(oneshot_create::<P>),
        destroy: Some(oneshot_destroy::<P>),
        send: Some(oneshot_send::<P>),
        recv: Some(oneshot_recv::<P>),
        sender_drop: Some(oneshot_sender_drop::<P>),
        receiver_drop: Some(oneshot_receiver_drop::<P>),
    })
}
