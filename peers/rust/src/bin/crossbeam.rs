//! crossbeam-channel as a chanbench peer: `bounded(n)` (n = 0 is a true
//! rendezvous) and `unbounded()`; Sender and Receiver are both Clone (MPMC).
//! Every scenario case applies.
chanbench_peers::mpmc_peer!(
    Crossbeam,
    crossbeam_channel,
    "crossbeam-native",
    "crossbeam-channel 0.5 bounded(n) (0 = rendezvous) / unbounded(); MPMC, blocking send/recv"
);
