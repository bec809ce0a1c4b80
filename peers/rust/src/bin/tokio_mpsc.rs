//! tokio::sync::mpsc as a chanbench peer, driven from plain OS threads (no
//! runtime) with blocking_send / blocking_recv.
//!
//! What it lacks, reported n/a: capacity 0 (`channel(0)` panics: tokio has no
//! rendezvous), and more than one consumer (the Receiver is neither Clone nor
//! Sync: spmc and mpmc). Unbounded is a separate type, `unbounded_channel()`,
//! whose send never blocks; both types sit behind one enum here.
use chanbench_peers::{Cap, Channel};
use tokio::sync::mpsc;

struct TokioMpsc;

#[derive(Clone)]
enum Tx {
    Bounded(mpsc::Sender<u64>),
    Unbounded(mpsc::UnboundedSender<u64>),
}

enum Rx {
    Bounded(mpsc::Receiver<u64>),
    Unbounded(mpsc::UnboundedReceiver<u64>),
}

impl Channel for TokioMpsc {
    const NAME: &'static str = "tokio-mpsc-native";
    const DESCRIPTION: &'static str = "tokio 1.24 sync::mpsc channel(n) / unbounded_channel() from threads \
(blocking_send/blocking_recv); n/a: capacity 0, spmc, mpmc (single receiver)";
    type Tx = Tx;
    type Rx = Rx;

    fn make(cap: Cap) -> Result<(Tx, Rx), &'static str> {
        match cap {
            Cap::Bounded(0) => Err("tokio mpsc has no capacity 0 (channel(0) panics; no rendezvous)"),
            Cap::Bounded(n) => {
                let (tx, rx) = mpsc::channel(n);
                Ok((Tx::Bounded(tx), Rx::Bounded(rx)))
            }
            Cap::Unbounded => {
                let (tx, rx) = mpsc::unbounded_channel();
                Ok((Tx::Unbounded(tx), Rx::Unbounded(rx)))
            }
        }
    }
    fn clone_rx(_: &Rx) -> Result<Rx, &'static str> {
        Err("tokio mpsc has one receiver (Receiver is neither Clone nor Sync)")
    }
    fn send(tx: &Tx, v: u64) -> bool {
        match tx {
            Tx::Bounded(t) => t.blocking_send(v).is_ok(),
            Tx::Unbounded(t) => t.send(v).is_ok(),
        }
    }
    fn recv(rx: &mut Rx) -> Option<u64> {
        match rx {
            Rx::Bounded(r) => r.blocking_recv(),
            Rx::Unbounded(r) => r.blocking_recv(),
        }
    }
}

fn main() {
    chanbench_peers::main::<TokioMpsc>()
}
