//! flume as a chanbench peer: `bounded(n)` (n = 0 is a rendezvous) and
//! `unbounded()`; Sender and Receiver are both Clone (MPMC). Default features
//! (async, select, eventual-fairness), as a user gets them. Every case applies.
use chanbench_peers::{Cap, Channel};
use flume::{bounded, unbounded, Receiver, Sender};

struct Flume;

impl Channel for Flume {
    const NAME: &'static str = "flume";
    const DESCRIPTION: &'static str =
        "flume 0.10 bounded(n) (0 = rendezvous) / unbounded(); MPMC, blocking send/recv";
    type Tx = Sender<u64>;
    type Rx = Receiver<u64>;

    fn make(cap: Cap) -> Result<(Self::Tx, Self::Rx), &'static str> {
        Ok(match cap {
            Cap::Bounded(n) => bounded(n),
            Cap::Unbounded => unbounded(),
        })
    }
    fn clone_rx(rx: &Self::Rx) -> Result<Self::Rx, &'static str> {
        Ok(rx.clone())
    }
    fn send(tx: &Self::Tx, v: u64) -> bool {
        tx.send(v).is_ok()
    }
    fn recv(rx: &mut Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

fn main() {
    chanbench_peers::main::<Flume>()
}
