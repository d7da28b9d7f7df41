/* The answer cache: whole responses in a table of small slots (a hash and
 * a pointer), eight-way, so the common query costs a hash, a compare and a
 * copy instead of building with ldns.  Each entry keeps what it depends
 * on, which the caller checks against the epoch: a commit empties nothing,
 * and an answer it changed is never served again.
 *
 * An entry is one allocation of exactly its size.  The cache holds at most
 * a budget of bytes, the slot table and the entries with their allocator
 * overhead counted: the slots are sized for entries of a typical answer,
 * and a put that would go over the budget first evicts others of its set,
 * then whatever a sweeping hand finds, so signed answers (several times
 * larger) cannot take more. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Four ways were too few: with 13,000 answers in 262,144 slots, the odds
 * that some set holds a fifth key are about one in seven (the benchmark's
 * keys had such a set), and the answers in it pushed each other out in
 * turn, each rendered, and signed, anew on every query.  With eight, a set
 * overflows only when the table is far fuller. */
#define WAYS 8
/* What an unsigned answer costs with its key and header, about: the slot
 * table gets one slot per this many bytes of the budget. */
#define ENTRY_TYPICAL 256
/* malloc's header and rounding, counted with each entry. */
#define ENTRY_OVERHEAD 16

/* Ordered so that the header is 52 bytes, not 64. */
struct entry {
	struct dnsd_cache_deps deps;
	int64_t until;                /* see dnsd__cache_put */
	uint16_t len;                 /* of the response (at most DNSD_MSG_MAX) */
	uint8_t outcome;              /* for the metrics of a cached answer */
	struct dnsd_cache_key key;    /* only its used bytes are stored */
};

_Static_assert(DNSD_MSG_MAX <= UINT16_MAX, "a response's length fits an entry's len");

struct slot {
	uint64_t hash;
	struct entry *e;              /* the key's used bytes, then the response */
};

struct dnsd_cache {
	struct slot *slots;
	size_t mask;
	size_t bytes;                 /* of the entries, overhead counted */
	size_t room;                  /* for entries: the budget less the slots */
	unsigned victim;              /* turns through the ways on eviction */
	size_t hand;                  /* the next slot to evict from when over budget */
};

struct dnsd_cache *dnsd__cache_new(size_t budget)
{
	struct dnsd_cache *c;
	size_t n = WAYS;

	if (budget < DNSD_CACHE_SIZE_MIN)
		return NULL;
	while (2 * n <= budget / ENTRY_TYPICAL)
		n <<= 1;
	if (!(c = calloc(1, sizeof(*c))) || !(c->slots = calloc(n, sizeof(*c->slots)))) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	c->room = budget - n * sizeof(*c->slots);
	return c;
}

size_t dnsd__cache_bytes(const struct dnsd_cache *c)
{
	return (c->mask + 1) * sizeof(*c->slots) + c->bytes;
}

void dnsd__cache_free(struct dnsd_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i <= c->mask; i++)
		free(c->slots[i].e);
	free(c->slots);
	free(c);
}

/* Only the bytes of the key that are in use take part. */
static size_t key_bytes(const struct dnsd_cache_key *k)
{
	return offsetof(struct dnsd_cache_key, qname) + k->qname_len;
}

static uint64_t mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 1099511628211ull;   /* the FNV prime as multiplier */
	return h ^ h >> 29;
}

/* Eight bytes at a time, each mixed by a multiply and a shift: a dozen
 * steps a query, not the sixty of a byte-wise hash.  A key is hashed as
 * soon as it is made, so its bytes are read exactly as they were written:
 * a load that spans two stores still on their way to the cache waits for
 * both to get there (no store forwarding).  The fields before the name are
 * read one by one; the name, 16 bytes in, by the words name_lower
 * wrote it in: each word that ends before the name does, then the name's
 * last eight bytes, which overlap the word before them unless the length
 * is a multiple of 8. */
static uint64_t hash_of(const struct dnsd_cache_key *k)
{
	const uint8_t *p = k->qname;
	size_t n = k->qname_len;
	uint64_t h = 14695981039346656037ull, w = 0;

	h = mix(h, (uint64_t)k->zones_gen | (uint64_t)(uint32_t)k->view << 32);
	h = mix(h, (uint64_t)k->qtype | (uint64_t)k->edns << 16 | (uint64_t)k->do_bit << 24 |
	           (uint64_t)k->qname_len << 32);
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			w = w << 8 | p[i];
	} else {
		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&w, p + i, 8);
			h = mix(h, w);
		}
		memcpy(&w, p + n - 8, 8);
	}
	h = (h ^ w) * 1099511628211ull;
	h ^= h >> 32;
	return h | 1;   /* 0 marks an empty slot */
}

static uint8_t *wire_of(struct entry *e)
{
	return (uint8_t *)&e->key + key_bytes(&e->key);
}

static size_t cost_of(const struct dnsd_cache_key *k, size_t len)
{
	return offsetof(struct entry, key) + key_bytes(k) + len + ENTRY_OVERHEAD;
}

static void evict(struct dnsd_cache *c, struct slot *s)
{
	c->bytes -= cost_of(&s->e->key, s->e->len);
	free(s->e);
	s->e = NULL;
	s->hash = 0;
}

/* The ways of a hash: eight neighbouring slots, two cache lines. */
static size_t set_index(const struct dnsd_cache *c, uint64_t h)
{
	return (size_t)(h >> 17) & c->mask & ~(size_t)(WAYS - 1);
}

static struct slot *set_of(struct dnsd_cache *c, uint64_t h)
{
	return &c->slots[set_index(c, h)];
}

size_t dnsd__cache_set_index(const struct dnsd_cache *c, const struct dnsd_cache_key *k)
{
	return set_index(c, hash_of(k));
}

static bool same_key(const struct slot *s, uint64_t h, const struct dnsd_cache_key *k)
{
	return s->hash == h && s->e->key.qname_len == k->qname_len &&
	       memcmp(&s->e->key, k, key_bytes(k)) == 0;
}

uint64_t dnsd__cache_touch_set(const struct dnsd_cache *c, const struct dnsd_cache_key *k)
{
	uint64_t h = hash_of(k);
	const struct slot *set = &c->slots[set_index(c, h)];

	/* The set's two lines. */
	__builtin_prefetch(set);
	__builtin_prefetch(set + WAYS - 1);
	return h;
}

void dnsd__cache_touch_entry(const struct dnsd_cache *c, uint64_t hash)
{
	const struct slot *set = &c->slots[set_index(c, hash)];

	for (int i = 0; i < WAYS; i++) {
		if (set[i].hash == hash) {
			/* The header, the key and an unsigned answer of
			 * the usual size: ENTRY_TYPICAL bytes, which an
			 * entry (aligned to 16, not 64) spreads over four
			 * lines or five.  The hardware follows a longer
			 * one on. */
			uintptr_t e = (uintptr_t)set[i].e;
			for (uintptr_t line = e & ~(uintptr_t)63; line < e + ENTRY_TYPICAL; line += 64)
				__builtin_prefetch((const void *)line);
			return;
		}
	}
}

const uint8_t *dnsd__cache_get(struct dnsd_cache *c, const struct dnsd_cache_key *k, size_t *len,
                               int64_t *until, const struct dnsd_cache_deps **deps,
                               uint8_t *outcome)
{
	return dnsd__cache_get_hashed(c, k, hash_of(k), len, until, deps, outcome);
}

const uint8_t *dnsd__cache_get_hashed(struct dnsd_cache *c, const struct dnsd_cache_key *k,
                                      uint64_t h, size_t *len, int64_t *until,
                                      const struct dnsd_cache_deps **deps, uint8_t *outcome)
{
	struct slot *set = set_of(c, h);

	for (int i = 0; i < WAYS; i++) {
		struct entry *e = set[i].e;
		if (same_key(&set[i], h, k)) {
			*len = e->len;
			*until = e->until;
			*deps = &e->deps;
			*outcome = e->outcome;
			return wire_of(e);
		}
	}
	return NULL;
}

void dnsd__cache_put(struct dnsd_cache *c, const struct dnsd_cache_key *k, const uint8_t *wire,
                     size_t len, int64_t until, const struct dnsd_cache_deps *deps,
                     uint8_t outcome)
{
	uint64_t h = hash_of(k);
	struct slot *set = set_of(c, h), *s = NULL;
	struct entry *e;

	/* The way of the same key (an answer that no longer held), or an
	 * empty one, or the next victim in turn. */
	for (int i = 0; i < WAYS && !s; i++)
		if (set[i].e && same_key(&set[i], h, k))
			s = &set[i];
	for (int i = 0; i < WAYS && !s; i++)
		if (!set[i].e)
			s = &set[i];
	if (!s)
		s = &set[c->victim++ % WAYS];
	if (s->e)
		evict(c, s);
	/* Over the budget: room from the other ways of the set, then from
	 * wherever the hand finds answers (large ones leave most sets
	 * empty). */
	size_t cost = cost_of(k, len);
	for (int i = 0; i < WAYS && c->bytes + cost > c->room; i++)
		if (set[i].e)
			evict(c, &set[i]);
	while (c->bytes && c->bytes + cost > c->room) {
		struct slot *o = &c->slots[c->hand++ & c->mask];
		if (o->e)
			evict(c, o);
	}
	if (len > DNSD_MSG_MAX || cost > c->room || !(e = malloc(cost - ENTRY_OVERHEAD)))
		return;
	e->len = (uint16_t)len;
	e->until = until;
	e->deps = *deps;
	e->outcome = outcome;
	memcpy(&e->key, k, key_bytes(k));
	memcpy(wire_of(e), wire, len);
	s->e = e;
	s->hash = h;
	c->bytes += cost;
}
