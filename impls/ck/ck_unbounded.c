/*
 * ck, unbounded flavor (CHAN_UNBOUNDED): a linked list of blocks of 63 slots, the
 * design of crossbeam-channel's list flavor, written on ck_pr (ck_atomic.h). No
 * lock on the message path, no per-message allocation, no hazard pointers.
 *
 * Positions. head and tail count slots in units of 2 (bit 0 is a flag: in tail,
 * closed; in head, "the block after head's is installed"). Position p is slot
 * (p >> 1) % 64 of its block; offset 63 is not a slot: a position there means
 * "the next block is being installed", and threads that see it wait.
 * Each slot: {msg, state} with state bits WRITE (the message is there), READ
 * (taken), DESTROY (the block's reader of the last slot found this one still
 * being read, and left freeing the block to its reader).
 *
 * send: t = tail; if closed: CLOSED. The sender that takes a block's last slot
 *   (offset 62) allocates the next block BEFORE its CAS (so running out of memory
 *   leaves no trace: CHAN_ENOMEM, nothing taken), and after its CAS installs it:
 *   tail.block, then tail index past offset 63, then block->next. CAS tail; write
 *   the message; fetch_or(state, WRITE); notify a receiver.
 * recv: h = head; after a full fence, the tail index equal to h's means EMPTY (or
 *   CLOSED if the tail flag is set); else CAS head (the reader of offset 62 moves
 *   head on to the next block, waiting for it to be linked); wait for WRITE (the
 *   sender is in flight: spin, then yield); read; set READ, then free the block if
 *   this was its last slot and every other reader is done (DESTROY hand-over).
 * close: set tail's flag (CAS loop); receivers drain, then see CLOSED.
 *
 * Linearization: at the index CAS on both sides. EMPTY only when the indices
 * agree after a fence, so a recv never reports EMPTY after a send that has
 * returned; FIFO is index order.
 *
 * Memory: one block (about 1 KiB) per 63 messages. A freed block goes to a
 * one-block spare (exchange) that the next block allocation takes, so a channel
 * in steady state allocates nothing. A block is freed (or made the spare) only
 * once every one of its 63 slots has been read, so no thread still uses it;
 * a thread may still hold a stale pointer to it, but it dereferences a block
 * only after a successful CAS on a position inside that block, and positions
 * only grow, so such a CAS fails first.
 */
#include <stdlib.h>
#include <string.h>

#include "ck_flavor.h"
#include "ck_wait.h"

#define LAP 64u
#define BLOCK_CAP 63u
#define SHIFT 1u
#define FLAG ((uint64_t)1) /* tail: closed; head: next block installed */
#define ONE ((uint64_t)1 << SHIFT)

#define WRITE 1u
#define READ 2u
#define DESTROY 4u

struct ck_uslot {
	uintptr_t msg;
	uint64_t state;
};

struct ck_block {
	void *next; /* struct ck_block * */
	struct ck_uslot slots[BLOCK_CAP];
};

struct ck_position {
	uint64_t index;
	void *block; /* struct ck_block * */
} CK_CC_CACHELINE;

struct ck_unbounded {
	struct chan_base base;
	void *spare; /* struct ck_block *: one freed block kept for reuse */
	struct ck_position head;
	struct ck_position tail;
	struct ckw_waker receivers;
	struct ckw_waker senders; /* select/poll-fd observers, told of close only */
};

static inline struct ck_unbounded *as_u(void *p)
{
	return (struct ck_unbounded *)p;
}

static inline unsigned offset_of(uint64_t pos)
{
	return (unsigned)((pos >> SHIFT) % LAP);
}

static struct ck_block *block_new(struct ck_unbounded *c)
{
	struct ck_block *b = ckc_fas_ptr(&c->spare, NULL);
	if (b == NULL)
		b = malloc(sizeof *b);
	if (b != NULL)
		memset(b, 0, sizeof *b);
	return b;
}

static void block_free(struct ck_unbounded *c, struct ck_block *b)
{
	if (!ckc_cas_ptr(&c->spare, NULL, b))
		free(b);
}

chan_status ck_unbounded_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	(void)cap;
	struct ck_unbounded *c = aligned_alloc(CKC_LINE, sizeof *c);
	struct ck_block *first = malloc(sizeof *first);
	if (c == NULL || first == NULL) {
		free(c);
		free(first);
		return CHAN_ENOMEM;
	}
	memset(c, 0, sizeof *c);
	memset(first, 0, sizeof *first);
	c->base.ops = ops;
	c->head.block = first;
	c->tail.block = first;
	ckw_init(&c->receivers);
	ckw_init(&c->senders);
	*out = &c->base;
	return CHAN_OK;
}

static void u_destroy(struct chan_base *b)
{
	/* Empty (the shared layer drained it) and unused: free head's block, the
	 * blocks up to tail's, and the spare. */
	struct ck_unbounded *c = as_u(b);
	uint64_t head = c->head.index & ~FLAG, tail = c->tail.index & ~FLAG;
	struct ck_block *blk = c->head.block;
	while (head != tail) {
		if (offset_of(head) == BLOCK_CAP) {
			struct ck_block *next = blk->next;
			free(blk);
			blk = next;
		}
		head += ONE;
	}
	free(blk);
	free(c->spare);
	free(c);
}

/* Wait until the reader of a block's last slot linked the next block. */
static struct ck_block *wait_next(struct ck_block *blk)
{
	struct ckw_backoff bo = {0};
	void *next;
	while ((next = ckc_load_ptr(&blk->next)) == NULL)
		ckw_snooze(&bo);
	return next;
}

/* Free blk once its slots from `start` on are read; a slot still being read
 * gets DESTROY and its reader continues from there. */
static void block_destroy(struct ck_unbounded *c, struct ck_block *blk, unsigned start)
{
	/* The last slot's reader (offset BLOCK_CAP - 1) starts the hand-over, so
	 * it need not be checked. */
	for (unsigned i = start; i < BLOCK_CAP - 1; i++) {
		struct ck_uslot *s = &blk->slots[i];
		if ((ckc_load_acq(&s->state) & READ) == 0 && (ckc_faa(&s->state, DESTROY) & READ) == 0)
			return; /* that reader frees it */
	}
	block_free(c, blk);
}

/* One send attempt: CHAN_OK, CHAN_CLOSED or CHAN_ENOMEM; does not notify. */
static inline chan_status try_send(struct ck_unbounded *c, uintptr_t msg)
{
	struct ckw_backoff bo = {0};
	uint64_t tail = ckc_load_acq(&c->tail.index);
	struct ck_block *blk = ckc_load_ptr(&c->tail.block);
	struct ck_block *next_block = NULL;
	for (;;) {
		if (tail & FLAG) {
			if (next_block != NULL)
				block_free(c, next_block);
			return CHAN_CLOSED;
		}
		unsigned offset = offset_of(tail);
		if (offset == BLOCK_CAP) { /* the next block is being installed */
			ckw_snooze(&bo);
			tail = ckc_load_acq(&c->tail.index);
			blk = ckc_load_ptr(&c->tail.block);
			continue;
		}
		if (offset + 1 == BLOCK_CAP && next_block == NULL) {
			next_block = block_new(c);
			if (next_block == NULL)
				return CHAN_ENOMEM;
		}
		uint64_t seen;
		if (ckc_cas(&c->tail.index, tail, tail + ONE, &seen)) {
			if (offset + 1 == BLOCK_CAP) {
				/* Install the next block: tail on to it, then the link
				 * readers follow. */
				CKC_CHAOS_POINT();
				ckc_store_ptr(&c->tail.block, next_block);
				CKC_CHAOS_POINT();
				ckc_store_rel(&c->tail.index, tail + 2 * ONE);
				CKC_CHAOS_POINT();
				ckc_store_ptr(&blk->next, next_block);
				next_block = NULL;
			}
			CKC_CHAOS_POINT(); /* preempted between CAS and WRITE */
			struct ck_uslot *s = &blk->slots[offset];
			s->msg = msg;
			(void)ckc_faa(&s->state, WRITE);
			if (next_block != NULL)
				block_free(c, next_block);
			return CHAN_OK;
		}
		tail = seen;
		blk = ckc_load_ptr(&c->tail.block);
		ckw_spin(&bo);
	}
}

/* One recv attempt: CHAN_OK, CHAN_EMPTY or CHAN_CLOSED; does not notify. */
static inline chan_status try_recv(struct ck_unbounded *c, uintptr_t *msg)
{
	struct ckw_backoff bo = {0};
	uint64_t head = ckc_load_acq(&c->head.index);
	struct ck_block *blk = ckc_load_ptr(&c->head.block);
	for (;;) {
		unsigned offset = offset_of(head);
		if (offset == BLOCK_CAP) { /* head is moving to the next block */
			ckw_snooze(&bo);
			head = ckc_load_acq(&c->head.index);
			blk = ckc_load_ptr(&c->head.block);
			continue;
		}
		uint64_t new_head = head + ONE;
		if ((new_head & FLAG) == 0) {
			ckc_fence();
			uint64_t tail = ckc_load_acq(&c->tail.index);
			if ((head >> SHIFT) == (tail >> SHIFT))
				return (tail & FLAG) ? CHAN_CLOSED : CHAN_EMPTY;
			/* Tail is in a later block: the next block is installed. */
			if ((head >> SHIFT) / LAP != (tail >> SHIFT) / LAP)
				new_head |= FLAG;
		}
		uint64_t seen;
		if (ckc_cas(&c->head.index, head, new_head, &seen)) {
			CKC_CHAOS_POINT();
			if (offset + 1 == BLOCK_CAP) {
				struct ck_block *next = wait_next(blk);
				uint64_t next_index = (new_head & ~FLAG) + ONE;
				if (ckc_load_ptr(&next->next) != NULL)
					next_index |= FLAG;
				ckc_store_ptr(&c->head.block, next);
				ckc_store_rel(&c->head.index, next_index);
			}
			struct ck_uslot *s = &blk->slots[offset];
			struct ckw_backoff wb = {0};
			while ((ckc_load_acq(&s->state) & WRITE) == 0)
				ckw_snooze(&wb); /* the sender is in flight */
			*msg = s->msg;
			CKC_CHAOS_POINT(); /* the block's other readers finish first */
			if (offset + 1 == BLOCK_CAP)
				block_destroy(c, blk, 0);
			else if (ckc_faa(&s->state, READ) & DESTROY)
				block_destroy(c, blk, offset + 1);
			return CHAN_OK;
		}
		head = seen;
		blk = ckc_load_ptr(&c->head.block);
		ckw_spin(&bo);
	}
}

/* A recv notifies nobody: a send never waits, and a send case is always ready. */
static chan_status attempt_recv(void *p, uintptr_t *msg)
{
	return try_recv(as_u(p), msg);
}

static bool can_recv(void *p)
{
	struct ck_unbounded *c = as_u(p);
	uint64_t head = ckc_load_acq(&c->head.index);
	uint64_t tail = ckc_load_acq(&c->tail.index);
	return (tail & FLAG) || (head >> SHIFT) != (tail >> SHIFT);
}

static chan_status u_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	(void)dl; /* never waits */
	struct ck_unbounded *c = as_u(b);
	chan_status st = try_send(c, msg);
	if (st == CHAN_OK)
		ckw_notify(&c->receivers);
	return st;
}

static chan_status u_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct ck_unbounded *c = as_u(b);
	return ckw_op(attempt_recv, c, msg, CHAN_EMPTY, &c->receivers, can_recv, can_recv, dl);
}

static chan_status u_close(struct chan_base *b)
{
	struct ck_unbounded *c = as_u(b);
	struct ckw_backoff bo = {0};
	uint64_t tail = ckc_load_acq(&c->tail.index), seen;
	for (;;) {
		if (tail & FLAG)
			return CHAN_ALREADY_CLOSED;
		if (offset_of(tail) == BLOCK_CAP) {
			/* A sender is installing the next block and will store the
			 * tail index with a plain store: set the flag after it. */
			ckw_snooze(&bo);
			tail = ckc_load_acq(&c->tail.index);
			continue;
		}
		if (ckc_cas(&c->tail.index, tail, tail | FLAG, &seen))
			break;
		tail = seen;
	}
	ckw_notify_all(&c->receivers);
	ckw_notify_all(&c->senders);
	return CHAN_OK;
}

static size_t u_len(struct chan_base *b)
{
	struct ck_unbounded *c = as_u(b);
	for (;;) {
		uint64_t tail = ckc_load_acq(&c->tail.index);
		uint64_t head = ckc_load_acq(&c->head.index);
		if (ckc_load_acq(&c->tail.index) != tail)
			continue;
		tail &= ~FLAG;
		head &= ~FLAG;
		/* A position at offset 63 counts as the next block's first. */
		if (offset_of(tail) == BLOCK_CAP)
			tail += ONE;
		if (offset_of(head) == BLOCK_CAP)
			head += ONE;
		uint64_t lap = (head >> SHIFT) / LAP;
		tail = (tail >> SHIFT) - lap * LAP;
		head = (head >> SHIFT) - lap * LAP;
		/* Slots between them, less the offset-63 positions skipped. */
		return (size_t)(tail - head - tail / LAP);
	}
}

static chan_status u_send_batch(struct chan_base *b, const uintptr_t *msgs, size_t n, size_t *done,
                                chan_deadline dl)
{
	(void)dl;
	struct ck_unbounded *c = as_u(b);
	size_t sent = 0;
	chan_status st = CHAN_OK;
	while (sent < n && (st = try_send(c, msgs[sent])) == CHAN_OK)
		sent++;
	if (sent > 0)
		ckw_notify_n(&c->receivers, (unsigned)(sent < 64 ? sent : 64));
	*done = sent;
	return sent == n ? CHAN_OK : st;
}

static chan_status u_recv_batch(struct chan_base *b, uintptr_t *msgs, size_t n, size_t *done,
                                chan_deadline dl)
{
	struct ck_unbounded *c = as_u(b);
	chan_status st = u_recv(b, &msgs[0], dl);
	if (st != CHAN_OK) {
		*done = 0;
		return st;
	}
	size_t got = 1;
	while (got < n && try_recv(c, &msgs[got]) == CHAN_OK)
		got++;
	*done = got;
	return CHAN_OK;
}

static chan_status u_register_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct ck_unbounded *c = as_u(b);
	return ckw_register(w->dir == CHAN_DIR_RECV ? &c->receivers : &c->senders, w);
}

static void u_unregister_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct ck_unbounded *c = as_u(b);
	ckw_unregister(w->dir == CHAN_DIR_RECV ? &c->receivers : &c->senders, w);
}

static int u_ready(struct chan_base *b, int dir)
{
	return dir == CHAN_DIR_RECV ? can_recv(b) : 1; /* a send never blocks */
}

const struct chan_ops ck_unbounded_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "ck",
	.description = "ck unbounded flavor (block list)",
	.caps = CHAN_CAPS_FULL | CHAN_CAP_SELECT | CHAN_CAP_BATCH,
	.create = ck_unbounded_create,
	.destroy = u_destroy,
	.send = u_send,
	.recv = u_recv,
	.close = u_close,
	.len = u_len,
	.register_waiter = u_register_waiter,
	.unregister_waiter = u_unregister_waiter,
	.ready = u_ready,
	.send_batch = u_send_batch,
	.recv_batch = u_recv_batch,
};
