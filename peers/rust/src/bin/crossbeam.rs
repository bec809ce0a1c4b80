//! crossbeam-channel as a chanbench peer: `bounded(n)` (n = 0 is a true
//! rendezvous) and `unbounded()`; Sender and Receiver are both Clone (MPMC).
//! Every scenario case applies.
use chanbench_peers::{Cap, Channel};
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

struct Crossbeam;

impl Channel for Crossbeam {
    const NAME: &'static str = "crossbeam";
    const DESCRIPTION: &'static str =
        "crossbeam-channel 0.5 bounded(n) (0 = rendezvous) / unbounded(); MPMC, blocking send/recv";
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
    chanbench_peers::main::<Crossbeam>()
}
