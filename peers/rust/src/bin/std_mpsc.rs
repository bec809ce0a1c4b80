//! std::sync::mpsc as a chanbench peer: `sync_channel(n)` (n = 0 is a
//! rendezvous) and `channel()` (unbounded), behind one enum.
//!
//! What it lacks, reported n/a: more than one consumer (the Receiver is neither
//! Clone nor Sync: spmc and mpmc). Sharing it behind a Mutex would measure the
//! Mutex, not the channel, so it is not done.
use chanbench_peers::{Cap, Channel};
use std::sync::mpsc;

struct StdMpsc;

#[derive(Clone)]
enum Tx {
    Sync(mpsc::SyncSender<u64>),
    Async(mpsc::Sender<u64>),
}

impl Channel for StdMpsc {
    const NAME: &'static str = "std-mpsc-native";
    const DESCRIPTION: &'static str =
        "Rust std::sync::mpsc sync_channel(n) (0 = rendezvous) / channel(); n/a: spmc, mpmc (single receiver)";
    type Tx = Tx;
    type Rx = mpsc::Receiver<u64>;

    fn make(cap: Cap) -> Result<(Tx, Self::Rx), &'static str> {
        Ok(match cap {
            Cap::Bounded(n) => {
                let (tx, rx) = mpsc::sync_channel(n);
                (Tx::Sync(tx), rx)
            }
            Cap::Unbounded => {
                let (tx, rx) = mpsc::channel();
                (Tx::Async(tx), rx)
            }
        })
    }
    fn clone_rx(_: &Self::Rx) -> Result<Self::Rx, &'static str> {
        Err("std::sync::mpsc has one receiver (Receiver is neither Clone nor Sync)")
    }
    fn send(tx: &Tx, v: u64) -> bool {
        match tx {
            Tx::Sync(t) => t.send(v).is_ok(),
            Tx::Async(t) => t.send(v).is_ok(),
        }
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

fn main() {
    chanbench_peers::main::<StdMpsc>()
}
