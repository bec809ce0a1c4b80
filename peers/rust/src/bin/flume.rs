//! flume as a chanbench peer: `bounded(n)` (n = 0 is a rendezvous) and
//! `unbounded()`; Sender and Receiver are both Clone (MPMC). Default features
//! (async, select, eventual-fairness), as a user gets them. Every case applies.
chanbench_peers::mpmc_peer!(
    Flume,
    flume,
    "flume-native",
    "flume 0.10 bounded(n) (0 = rendezvous) / unbounded(); MPMC, blocking send/recv"
);
