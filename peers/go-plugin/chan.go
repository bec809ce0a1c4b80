// Go channels as a chanbench plug-in, go-chan-cgo: `make(chan uint64, n)` (n = 0
// is Go's unbuffered hand-off) behind chanbench's ops table, built with
// `go build -buildmode=c-shared` (peers/build.sh) into
// <build>/peers/plugins/libpeer_go-chan-cgo.so. plugin.c holds the table and
// the C side of every call; this file is the Go side.
//
// Every operation is one cgo call from a C thread into Go. With Go 1.19 a call
// on a thread Go did not create attaches an M to the thread on entry and
// detaches it on exit (needm/dropm), which costs far more than a Go-to-Go
// channel hand-off: plugin.c measures that crossing (a call of goNull, which
// does nothing, through the same path) when the plug-in is loaded and puts it
// in the description, so the report shows it beside the rows. The native Go
// program (peers/go, rows `go-chan`) measures Go itself, between goroutines,
// for throughput and ping-pong.
//
// Declared: bounded, rendezvous, mpmc, blocking, timed, close, len. Lacks:
// unbounded (Go has none), select hooks and poll fds (Go's select works on Go
// channels only; its waiter queues cannot hold a chanbench waiter), batches.
//
// Close (explicit, while senders still exist), emulated: Go's close(ch) makes a
// blocked or later send panic, so close goes in two steps behind an in-flight
// gate. Every send increments `inFlight`, checks `closed` (both sequentially
// consistent atomics), sends with `select { case c.ch <- m: ...; case <-c.done: }`,
// and decrements. Close sets `closed`, closes `done` (every blocked sender
// wakes and returns CHAN_CLOSED, keeping its value), waits (runtime.Gosched)
// until `inFlight` is 0, then calls close(c.ch): receivers drain what is
// buffered and then see the channel closed, which is Go's own close. Cost per
// send: two atomic adds and one load, and a two-case select instead of a plain
// send (a blocking or timed one; a try is a select with default anyway).
// A sender blocked when close starts and offered room (or a receiver) at the
// same moment may still send, because Go's select picks at random among ready
// cases; so the close takes effect at close(c.ch), and every caller that learns
// of it otherwise (a send returning CLOSED, a second close) waits for `fin`,
// closed right after close(c.ch): nobody sees the channel closed before a
// receiver can (chan-linearize's close mix found both orders when CLOSED sends
// returned at once).
//
// Deadlines: plugin.c turns a finite deadline into nanoseconds left (a passed
// one into <= 0: one try, then CHAN_TIMEOUT); a timed wait uses a time.Timer
// (allocated per timed wait, as Go code does).
//
// Handles: a channel is an index into a table of *gchan that only grows, read
// with one atomic load per call (copy-on-write under a mutex at create and
// destroy), so C holds no Go pointer.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-unused-parameter -Werror
#include <stdint.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// chan_status values (include/chanbench/chan.h).
const (
	stOK            = 0
	stEmpty         = 1
	stFull          = 2
	stTimeout       = 3
	stClosed        = 4
	stAlreadyClosed = 5
)

type gchan struct {
	ch       chan uint64
	done     chan struct{} // closed when close begins: blocked senders give up
	fin      chan struct{} // closed when close(ch) has run: the close took effect
	closed   atomic.Bool
	inFlight atomic.Int64
}

var (
	tableMu sync.Mutex
	table   atomic.Pointer[[]*gchan]
	freeIDs []int
)

func lookup(id C.uintptr_t) *gchan { return (*table.Load())[id] }

//export goChanCreate
func goChanCreate(capacity C.size_t) C.uintptr_t {
	c := &gchan{ch: make(chan uint64, int(capacity)), done: make(chan struct{}), fin: make(chan struct{})}
	tableMu.Lock()
	defer tableMu.Unlock()
	var old []*gchan
	if p := table.Load(); p != nil {
		old = *p
	}
	next := make([]*gchan, len(old), len(old)+1)
	copy(next, old)
	var id int
	if n := len(freeIDs); n > 0 {
		id = freeIDs[n-1]
		freeIDs = freeIDs[:n-1]
		next[id] = c
	} else {
		id = len(next)
		next = append(next, c)
	}
	table.Store(&next)
	return C.uintptr_t(id)
}

//export goChanDestroy
func goChanDestroy(id C.uintptr_t) {
	tableMu.Lock()
	defer tableMu.Unlock()
	old := *table.Load()
	next := make([]*gchan, len(old))
	copy(next, old)
	next[id] = nil
	freeIDs = append(freeIDs, int(id))
	table.Store(&next)
}

// goChanSend: nowait != 0 is CHAN_NOWAIT, forever != 0 CHAN_FOREVER, else
// left is the time left in ns (<= 0: passed).
//
//export goChanSend
func goChanSend(id C.uintptr_t, msg C.uintptr_t, nowait, forever C.int, left C.int64_t) C.int {
	c := lookup(id)
	c.inFlight.Add(1)
	st := c.send(uint64(msg), nowait != 0, forever != 0, int64(left))
	c.inFlight.Add(-1)
	if st == stClosed {
		<-c.fin // not before the close took effect (receivers see it then)
	}
	return C.int(st)
}

func (c *gchan) send(m uint64, nowait, forever bool, left int64) int {
	if c.closed.Load() {
		return stClosed
	}
	select {
	case c.ch <- m:
		return stOK
	default:
	}
	if nowait {
		return stFull
	}
	if forever {
		select {
		case c.ch <- m:
			return stOK
		case <-c.done:
			return stClosed
		}
	}
	if left <= 0 {
		return stTimeout
	}
	t := time.NewTimer(time.Duration(left))
	defer t.Stop()
	select {
	case c.ch <- m:
		return stOK
	case <-c.done:
		return stClosed
	case <-t.C:
		return stTimeout
	}
}

//export goChanRecv
func goChanRecv(id C.uintptr_t, out *C.uintptr_t, nowait, forever C.int, left C.int64_t) C.int {
	c := lookup(id)
	var v uint64
	var ok bool
	select {
	case v, ok = <-c.ch:
		return c.got(v, ok, out)
	default:
	}
	if nowait != 0 {
		return stEmpty
	}
	if forever != 0 {
		v, ok = <-c.ch
		return c.got(v, ok, out)
	}
	if left <= 0 {
		return stTimeout
	}
	t := time.NewTimer(time.Duration(left))
	defer t.Stop()
	select {
	case v, ok = <-c.ch:
		return c.got(v, ok, out)
	case <-t.C:
		return stTimeout
	}
}

func (c *gchan) got(v uint64, ok bool, out *C.uintptr_t) C.int {
	if !ok {
		return stClosed
	}
	*out = C.uintptr_t(v)
	return stOK
}

//export goChanClose
func goChanClose(id C.uintptr_t) C.int {
	c := lookup(id)
	if !c.closed.CompareAndSwap(false, true) {
		<-c.fin // reported once the first close took effect
		return stAlreadyClosed
	}
	close(c.done)
	for c.inFlight.Load() != 0 {
		runtime.Gosched()
	}
	close(c.ch)
	close(c.fin)
	return stOK
}

//export goChanLen
func goChanLen(id C.uintptr_t) C.size_t { return C.size_t(len(lookup(id).ch)) }

// goNull does nothing: plugin.c times calls of it to measure the cgo crossing.
//
//export goNull
func goNull() {}

func main() {}
