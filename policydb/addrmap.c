/* The address map: which member a querier or a peer address speaks for.
 *
 * A path-compressed binary trie per family: each node holds a prefix, the
 * members that list exactly that prefix, and up to two children whose
 * prefixes extend it by at least one bit, the first of them telling which;
 * so n prefixes take at most 2n nodes.
 * A lookup follows one path from the root, so it costs the length of the
 * address and not the size of the map; insert and delete touch one path,
 * so a commit changes the map by what it changed. */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The members listing a node's prefix: their names one after another,
 * each with its NUL, in byte order, in one allocation of exactly that
 * size.  A member costs its name and no list link or allocation of its
 * own; most prefixes have one member, and a lookup wants only the first.
 * A member that lists the same prefix twice owns it once: the map answers
 * who, not how often. */
struct owners {
	uint32_t size;                /* bytes of names */
	char names[];
};

/* A node, in its family's array, where it is found by index: a child
 * costs 4 bytes, not a pointer, and a node no allocation of its own.
 * Each family's nodes are as wide as its addresses need (24 bytes for
 * IPv4, 40 for IPv6).  Index 0 is never a node: 0 means none. */
struct pdb__anode {
	struct owners *owners;        /* NULL: a branch point only, or free */
	uint32_t child[2];            /* a free node: child[0] links the free list */
	uint8_t len;                  /* prefix length in bits */
	uint8_t bytes[];              /* 4 or 16; bits past len are zero */
};

/* Index i of family f (0: IPv4, 1: IPv6) is entry i * 2 + f: what find
 * returns, and dnsd's view ids, which must stay positive as int32_t. */
#define MAX_NODES (UINT32_C(1) << 30)

static unsigned family_bits(int family)
{
	return family == 4 ? 32 : family == 6 ? 128 : 0;
}

static size_t stride_of(unsigned f)
{
	size_t s = offsetof(struct pdb__anode, bytes) + (f ? 16 : 4);

	return (s + _Alignof(struct pdb__anode) - 1) & ~(_Alignof(struct pdb__anode) - 1);
}

static struct pdb__anode *node_at(const struct pdb_addr_map *m, unsigned f, uint32_t i)
{
	return (struct pdb__anode *)(m->nodes[f] + (size_t)i * stride_of(f));
}

static unsigned bit_at(const uint8_t *b, unsigned i)
{
	return (b[i / 8] >> (7 - i % 8)) & 1u;
}

/* How many leading bits a and b share, at most max. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned max)
{
	unsigned i = 0;

	while (i + 8 <= max && a[i / 8] == b[i / 8])
		i += 8;
	while (i < max && bit_at(a, i) == bit_at(b, i))
		i++;
	return i;
}

/* A new node of (bytes, len), from the free list or the array's end; its
 * index, or 0 for no memory.  Node pointers taken before are stale after
 * it (the array may move): callers hold indexes across it. */
static uint32_t node_new(struct pdb_addr_map *m, unsigned f, const uint8_t *bytes, unsigned len)
{
	size_t stride = stride_of(f);
	struct pdb__anode *n;
	uint32_t i;

	if (m->free[f]) {
		i = m->free[f];
		m->free[f] = node_at(m, f, i)->child[0];
	} else {
		if (m->used[f] == m->cap[f]) {
			uint32_t cap = m->cap[f] ? 2 * m->cap[f] : 64;
			uint8_t *v;
			if (cap > MAX_NODES || !(v = realloc(m->nodes[f], (size_t)cap * stride)))
				return 0;
			m->nodes[f] = v;
			m->cap[f] = cap;
		}
		if (m->used[f] == 0)
			m->used[f] = 1;
		i = m->used[f]++;
	}
	n = node_at(m, f, i);
	memset(n, 0, stride);
	n->len = (uint8_t)len;
	memcpy(n->bytes, bytes, (len + 7) / 8);
	if (len % 8)
		n->bytes[len / 8] &= (uint8_t)(0xff << (8 - len % 8));
	return i;
}

static void node_free(struct pdb_addr_map *m, unsigned f, uint32_t i)
{
	struct pdb__anode *n = node_at(m, f, i);

	n->child[0] = m->free[f];
	n->child[1] = 0;
	m->free[f] = i;
}

/* Hang node i where the walk came from: under parent (0: the root) on
 * side. */
static void link_at(struct pdb_addr_map *m, unsigned f, uint32_t parent, unsigned side,
                    uint32_t i)
{
	if (parent)
		node_at(m, f, parent)->child[side] = i;
	else
		m->root[f] = i;
}

/* The node of exactly (bytes, len), made with its branch point if there
 * is none: its index, or 0 for no memory (the trie is as it was). */
static uint32_t node_insert(struct pdb_addr_map *m, unsigned f, const uint8_t *bytes, unsigned len)
{
	uint32_t parent = 0, i = m->root[f], leaf, mid;
	unsigned side = 0;

	for (;;) {
		struct pdb__anode *n;
		unsigned common, old_side;

		if (!i) {
			if ((i = node_new(m, f, bytes, len)))
				link_at(m, f, parent, side, i);
			return i;
		}
		n = node_at(m, f, i);
		common = common_bits(n->bytes, bytes, len < n->len ? len : n->len);
		if (common == n->len && common == len)
			return i;
		if (common == n->len) {
			parent = i;
			side = bit_at(bytes, n->len);
			i = n->child[side];
			continue;
		}
		if (common == len) {
			/* The new prefix holds n's: it goes above. */
			old_side = bit_at(n->bytes, len);
			if (!(leaf = node_new(m, f, bytes, len)))
				return 0;
			node_at(m, f, leaf)->child[old_side] = i;
			link_at(m, f, parent, side, leaf);
			return leaf;
		}
		/* They part at bit common: a branch point there. */
		old_side = bit_at(n->bytes, common);
		if (!(mid = node_new(m, f, bytes, common)))
			return 0;
		if (!(leaf = node_new(m, f, bytes, len))) {
			node_free(m, f, mid);
			return 0;
		}
		n = node_at(m, f, mid);
		n->child[old_side] = i;
		n->child[!old_side] = leaf;
		link_at(m, f, parent, side, mid);
		return leaf;
	}
}

/* Where name is in o (or would go): its offset; *found if it is there. */
static uint32_t owners_seek(const struct owners *o, const char *name, bool *found)
{
	uint32_t at = 0;

	*found = false;
	while (o && at < o->size) {
		int cmp = strcmp(o->names + at, name);
		if (cmp >= 0) {
			*found = cmp == 0;
			break;
		}
		at += (uint32_t)strlen(o->names + at) + 1;
	}
	return at;
}

/* 0 added, 1 already there, -ENOMEM (o as it was). */
static int owners_add(struct owners **op, const char *name, size_t len)
{
	struct owners *o = *op;
	uint32_t size = o ? o->size : 0;
	bool found;
	uint32_t at = owners_seek(o, name, &found);

	if (found)
		return 1;
	if (size > UINT32_MAX - len - 1 || !(o = realloc(o, sizeof(*o) + size + len + 1)))
		return -ENOMEM;
	memmove(o->names + at + len + 1, o->names + at, size - at);
	memcpy(o->names + at, name, len + 1);
	o->size = size + (uint32_t)len + 1;
	*op = o;
	return 0;
}

/* 0 removed (*op NULL when none is left), or PDB_ENOTFOUND. */
static int owners_remove(struct owners **op, const char *name)
{
	struct owners *o = *op, *small;
	bool found;
	uint32_t at = owners_seek(o, name, &found), nl;

	if (!found)
		return PDB_ENOTFOUND;
	nl = (uint32_t)strlen(name) + 1;
	memmove(o->names + at, o->names + at + nl, o->size - at - nl);
	o->size -= nl;
	if (!o->size) {
		free(o);
		*op = NULL;
	} else if ((small = realloc(o, sizeof(*o) + o->size))) {
		/* A failed shrink keeps the larger block, which is as good. */
		*op = small;
	}
	return 0;
}

static bool prefix_ok(const struct pdb_addr *p)
{
	return p && family_bits(p->family) && p->prefix <= family_bits(p->family);
}

int pdb_addr_map_add(struct pdb_addr_map *m, const struct pdb_addr *p, const char *member)
{
	unsigned f;
	uint32_t i;
	size_t len;
	int rc;

	if (!m || !prefix_ok(p) || !member || (len = strlen(member)) > PDB_NAME_MAX)
		return -EINVAL;
	f = p->family == 6;
	/* A node just made without its owner stays as a branch point or an
	 * empty leaf, which a later remove of the prefix prunes; harmless. */
	if (!(i = node_insert(m, f, p->bytes, p->prefix)))
		return -ENOMEM;
	if ((rc = owners_add(&node_at(m, f, i)->owners, member, len)) == 0)
		m->n++;
	return rc;
}

int pdb_addr_map_remove(struct pdb_addr_map *m, const struct pdb_addr *p, const char *member)
{
	uint32_t path[130], i, only;
	uint8_t side[130];
	unsigned depth = 0, f;
	struct pdb__anode *n;

	if (!m || !prefix_ok(p) || !member)
		return -EINVAL;
	f = p->family == 6;
	i = m->root[f];
	while (i && (n = node_at(m, f, i))->len < p->prefix &&
	       common_bits(n->bytes, p->bytes, n->len) == n->len) {
		path[depth] = i;
		side[depth] = (uint8_t)bit_at(p->bytes, n->len);
		i = n->child[side[depth++]];
	}
	if (!i)
		return PDB_ENOTFOUND;
	n = node_at(m, f, i);
	if (n->len != p->prefix || memcmp(n->bytes, p->bytes, (n->len + 7) / 8) != 0 ||
	    owners_remove(&n->owners, member) != 0)
		return PDB_ENOTFOUND;
	m->n--;
	/* Prune upwards: a node with no owner is needed only where two
	 * branches meet. */
	for (;;) {
		n = node_at(m, f, i);
		if (n->owners || (n->child[0] && n->child[1]))
			break;
		only = n->child[0] ? n->child[0] : n->child[1];
		link_at(m, f, depth ? path[depth - 1] : 0, depth ? side[depth - 1] : 0, only);
		node_free(m, f, i);
		if (only || depth == 0)
			break;
		i = path[--depth];
	}
	return 0;
}

/* Does addr start with the len bits of key?  A word compare of the
 * family's width instead of common_bits' walk, for the lookup. */
static inline __attribute__((always_inline)) bool holds(unsigned f, const uint8_t *key,
                                                       const uint8_t *addr, unsigned len)
{
	uint64_t a, b, x;

	if (!f) {
		uint32_t a4, b4;
		memcpy(&a4, addr, 4);
		memcpy(&b4, key, 4);
		return len == 0 || (be32toh(a4 ^ b4) >> (32 - len)) == 0;
	}
	memcpy(&a, addr, 8);
	memcpy(&b, key, 8);
	x = be64toh(a ^ b);
	if (len <= 64)
		return len == 0 || (x >> (64 - len)) == 0;
	if (x)
		return false;
	memcpy(&a, addr + 8, 8);
	memcpy(&b, key + 8, 8);
	return (be64toh(a ^ b) >> (128 - len)) == 0;
}

/* With f a constant the stride is one too: the compiler makes a loop per
 * family with the index scaled by a shift and an add, not a multiply. */
static inline __attribute__((always_inline)) uint32_t find_in(const struct pdb_addr_map *m,
                                                              unsigned f, unsigned bits,
                                                              const uint8_t *addr)
{
	const uint8_t *base = m->nodes[f];
	uint32_t i = m->root[f], best = 0;

	while (i) {
		const struct pdb__anode *n = (const void *)(base + (size_t)i * stride_of(f));
		if (!holds(f, n->bytes, addr, n->len))
			break;
		if (n->owners)
			best = i;
		if (n->len >= bits)
			break;
		i = n->child[bit_at(addr, n->len)];
	}
	return best;
}

long pdb_addr_map_find(const struct pdb_addr_map *m, int family, const uint8_t *addr)
{
	uint32_t best;

	if (!m || !addr)
		return -1;
	if (family == 4)
		best = find_in(m, 0, 32, addr);
	else if (family == 6)
		best = find_in(m, 1, 128, addr);
	else
		return -1;
	return best ? (long)best * 2 + (family == 6) : -1;
}

const char *pdb_addr_map_member(const struct pdb_addr_map *m, long i)
{
	const struct pdb__anode *n;
	unsigned f;
	long idx;

	if (!m || i < 0)
		return NULL;
	f = (unsigned)(i & 1);
	idx = i >> 1;
	if (idx == 0 || idx >= (long)m->used[f] || !(n = node_at(m, f, (uint32_t)idx))->owners)
		return NULL;
	return n->owners->names;
}

void pdb_addr_map_free(struct pdb_addr_map *m)
{
	if (!m)
		return;
	for (unsigned f = 0; f < 2; f++) {
		/* Free nodes and branch points have no owners. */
		for (uint32_t i = 1; i < m->used[f]; i++)
			free(node_at(m, f, i)->owners);
		free(m->nodes[f]);
	}
	memset(m, 0, sizeof(*m));
}

/* ---- from the store ---- */

static unsigned list_of(const struct pdb_member *mem, enum pdb_addr_list which,
                        const struct pdb_addr **list)
{
	*list = which == PDB_LIST_QUERIERS ? mem->queriers : mem->addrs;
	return which == PDB_LIST_QUERIERS ? mem->nqueriers : mem->naddrs;
}

struct build {
	struct pdb_addr_map *m;
	enum pdb_addr_list which;
};

static int add_member(void *arg, const char *name, const struct pdb_member *mem)
{
	struct build *b = arg;
	const struct pdb_addr *list;
	unsigned n = list_of(mem, b->which, &list);
	int rc;

	for (unsigned i = 0; i < n; i++)
		if ((rc = pdb_addr_map_add(b->m, &list[i], name)) < 0)
			return rc;
	return 0;
}

int pdb_addr_map_build(struct pdb_addr_map *m, pdb_txn *txn, enum pdb_addr_list which)
{
	struct build b = { m, which };
	uint64_t serial;
	int rc;

	if (!m || !txn || which > PDB_LIST_ADDRESSES)
		return -EINVAL;
	pdb_addr_map_free(m);
	if ((rc = pdb_serial(txn, &serial)) != 0 || (rc = pdb_walk_members(txn, add_member, &b)) != 0) {
		pdb_addr_map_free(m);
		return rc;
	}
	m->serial = serial;
	m->built = true;
	return 0;
}

static bool listed(const struct pdb_addr *list, unsigned n, const struct pdb_addr *p)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i].family == p->family && list[i].prefix == p->prefix &&
		    memcmp(list[i].bytes, p->bytes, sizeof(p->bytes)) == 0)
			return true;
	return false;
}

struct follow {
	struct pdb_addr_map *m;
	enum pdb_addr_list which;
	pdb_txn *txn;
	bool changed;
};

/* One changed member: drop the prefixes it had before and no longer has,
 * add those it has now.  A member changed by several commits comes once
 * per commit, oldest first; the first brings the map to the member's
 * current lists and the others find nothing left to do, since only the
 * first before-image was ever in the map. */
static int follow_change(void *arg, const struct pdb_change *c)
{
	struct follow *f = arg;
	struct pdb_member before, now;
	const struct pdb_addr *bl = NULL, *nl = NULL;
	unsigned bn = 0, nn = 0;
	int rc;

	if (c->kind != PDB_CHANGE_MEMBER)
		return 0;
	if (c->existed) {
		if ((rc = pdb_member_decode(c->before, c->before_len, &before)) != 0)
			return rc;
		bn = list_of(&before, f->which, &bl);
	}
	rc = pdb_get_member(f->txn, c->name, &now);
	if (rc == 0)
		nn = list_of(&now, f->which, &nl);
	else if (rc != PDB_ENOTFOUND)
		return rc;
	for (unsigned i = 0; i < bn; i++) {
		if (listed(nl, nn, &bl[i]))
			continue;
		rc = pdb_addr_map_remove(f->m, &bl[i], c->name);
		if (rc == 0)
			f->changed = true;
		else if (rc != PDB_ENOTFOUND)
			return rc;
	}
	for (unsigned i = 0; i < nn; i++) {
		if ((rc = pdb_addr_map_add(f->m, &nl[i], c->name)) < 0)
			return rc;
		f->changed |= rc == 0;
	}
	return 0;
}

int pdb_addr_map_follow(struct pdb_addr_map *m, pdb_txn *txn, enum pdb_addr_list which,
                        bool *changed)
{
	struct follow f = { m, which, txn, false };
	uint64_t serial;
	int rc;

	if (!m || !txn || which > PDB_LIST_ADDRESSES)
		return -EINVAL;
	if (changed)
		*changed = false;
	if ((rc = pdb_serial(txn, &serial)) != 0)
		return rc;
	if (m->built && m->serial == serial)
		return 0;
	if (m->built) {
		rc = pdb_changes_since(txn, m->serial, follow_change, &f);
		if (rc == 0) {
			m->serial = serial;
			if (changed)
				*changed = f.changed;
			return 0;
		}
		/* Part applied, perhaps: what m shows is no serial at all. */
		m->built = false;
		if (rc != PDB_ETOOOLD)
			return rc;
	}
	if (changed)
		*changed = true;
	return pdb_addr_map_build(m, txn, which);
}
