/* The answer cache: whole responses in a fixed table, so the common query
 * costs a hash, a compare and a copy instead of building with ldns.  A
 * slot holds one entry; a new key takes the slot of an old one.  Entries
 * of an older serial simply stop matching: a commit can never be answered
 * from before it. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct slot {
	struct dnsd_cache_key key;
	uint8_t *wire;
	size_t len;
};

struct dnsd_cache {
	struct slot *slots;
	size_t mask;
};

struct dnsd_cache *dnsd__cache_new(size_t slots)
{
	struct dnsd_cache *c;
	size_t n = 1;

	while (n < slots)
		n <<= 1;
	if (!(c = calloc(1, sizeof(*c))) || !(c->slots = calloc(n, sizeof(*c->slots)))) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	return c;
}

void dnsd__cache_free(struct dnsd_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i <= c->mask; i++)
		free(c->slots[i].wire);
	free(c->slots);
	free(c);
}

/* Only the bytes of the key that are in use take part. */
static size_t key_bytes(const struct dnsd_cache_key *k)
{
	return offsetof(struct dnsd_cache_key, qname) + k->qname_len;
}

static size_t slot_of(const struct dnsd_cache *c, const struct dnsd_cache_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 14695981039346656037ull;   /* FNV-1a, 64 bits */

	for (size_t i = 0; i < key_bytes(k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 32)) & c->mask;
}

static bool same_key(const struct dnsd_cache_key *a, const struct dnsd_cache_key *b)
{
	return a->qname_len == b->qname_len && memcmp(a, b, key_bytes(a)) == 0;
}

const uint8_t *dnsd__cache_get(struct dnsd_cache *c, const struct dnsd_cache_key *k, size_t *len)
{
	struct slot *s = &c->slots[slot_of(c, k)];

	if (!s->wire || !same_key(&s->key, k))
		return NULL;
	*len = s->len;
	return s->wire;
}

void dnsd__cache_put(struct dnsd_cache *c, const struct dnsd_cache_key *k, const uint8_t *wire,
                     size_t len)
{
	struct slot *s = &c->slots[slot_of(c, k)];
	uint8_t *copy = malloc(len);

	if (!copy)
		return;
	memcpy(copy, wire, len);
	free(s->wire);
	s->key = *k;
	s->wire = copy;
	s->len = len;
}
