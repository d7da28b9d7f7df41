/* The address map: which member a querier or a peer address speaks for.
 *
 * A path-compressed binary trie per family: each node holds a prefix, the
 * members that list exactly that prefix, and up to two children whose
 * prefixes extend it by at least one bit, the first of them telling which.
 * A lookup follows one path from the root, so it costs the length of the
 * address and not the size of the map; insert and delete touch one path,
 * so a commit changes the map by what it changed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A member listing the node's prefix.  A member that lists the same
 * prefix twice owns it once: the map answers who, not how often. */
struct owner {
	struct owner *next;           /* sorted by name, byte order */
	char name[];
};

struct pdb__anode {
	struct pdb__anode *child[2];
	struct owner *owners;         /* NULL: a branch point only */
	uint32_t id;                  /* index in byid: what find returns */
	uint8_t len;                  /* prefix length in bits */
	uint8_t bytes[16];            /* bits past len are zero */
};

static unsigned family_bits(int family)
{
	return family == 4 ? 32 : family == 6 ? 128 : 0;
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

static int id_take(struct pdb_addr_map *m, struct pdb__anode *n)
{
	if (m->nfree) {
		n->id = m->free_ids[--m->nfree];
	} else {
		if (m->nids == m->cap) {
			size_t cap = m->cap ? 2 * m->cap : 64;
			struct pdb__anode **v = realloc(m->byid, cap * sizeof(*v));
			uint32_t *f = realloc(m->free_ids, cap * sizeof(*f));
			if (v)
				m->byid = v;
			if (f)
				m->free_ids = f;
			if (!v || !f || cap > UINT32_MAX)
				return -ENOMEM;
			m->cap = cap;
		}
		n->id = (uint32_t)m->nids++;
	}
	m->byid[n->id] = n;
	return 0;
}

static struct pdb__anode *node_new(struct pdb_addr_map *m, const uint8_t *bytes, unsigned len)
{
	struct pdb__anode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->len = (uint8_t)len;
	memcpy(n->bytes, bytes, (len + 7) / 8);
	if (len % 8)
		n->bytes[len / 8] &= (uint8_t)(0xff << (8 - len % 8));
	if (id_take(m, n) != 0) {
		free(n);
		return NULL;
	}
	return n;
}

static void node_free(struct pdb_addr_map *m, struct pdb__anode *n)
{
	m->byid[n->id] = NULL;
	m->free_ids[m->nfree++] = n->id;   /* free_ids has room for every id */
	free(n);
}

/* The node of exactly (bytes, len), made with its branch point if there
 * is none; NULL for no memory (the trie is as it was). */
static struct pdb__anode *node_insert(struct pdb_addr_map *m, struct pdb__anode **pp,
                                      const uint8_t *bytes, unsigned len)
{
	for (;;) {
		struct pdb__anode *n = *pp, *leaf, *mid;
		unsigned common;

		if (!n)
			return *pp = node_new(m, bytes, len);
		common = common_bits(n->bytes, bytes, len < n->len ? len : n->len);
		if (common == n->len && common == len)
			return n;
		if (common == n->len) {
			pp = &n->child[bit_at(bytes, n->len)];
			continue;
		}
		if (common == len) {
			/* The new prefix holds n's: it goes above. */
			if (!(leaf = node_new(m, bytes, len)))
				return NULL;
			leaf->child[bit_at(n->bytes, len)] = n;
			return *pp = leaf;
		}
		/* They part at bit common: a branch point there. */
		if (!(mid = node_new(m, bytes, common)))
			return NULL;
		if (!(leaf = node_new(m, bytes, len))) {
			node_free(m, mid);
			return NULL;
		}
		mid->child[bit_at(n->bytes, common)] = n;
		mid->child[bit_at(bytes, common)] = leaf;
		*pp = mid;
		return leaf;
	}
}

static struct pdb__anode **root_of(struct pdb_addr_map *m, int family)
{
	return &m->root[family == 6];
}

static bool prefix_ok(const struct pdb_addr *p)
{
	return p && family_bits(p->family) && p->prefix <= family_bits(p->family);
}

int pdb_addr_map_add(struct pdb_addr_map *m, const struct pdb_addr *p, const char *member)
{
	struct pdb__anode *n;
	struct owner **o, *nw;
	size_t len;

	if (!m || !prefix_ok(p) || !member || (len = strlen(member)) > PDB_NAME_MAX)
		return -EINVAL;
	if (!(n = node_insert(m, root_of(m, p->family), p->bytes, p->prefix)))
		return -ENOMEM;
	for (o = &n->owners; *o; o = &(*o)->next) {
		int cmp = strcmp((*o)->name, member);
		if (cmp == 0)
			return 1;
		if (cmp > 0)
			break;
	}
	/* A node just made without its owner stays as a branch point or an
	 * empty leaf, which a later remove of the prefix prunes; harmless. */
	if (!(nw = malloc(sizeof(*nw) + len + 1)))
		return -ENOMEM;
	memcpy(nw->name, member, len + 1);
	nw->next = *o;
	*o = nw;
	m->n++;
	return 0;
}

int pdb_addr_map_remove(struct pdb_addr_map *m, const struct pdb_addr *p, const char *member)
{
	struct pdb__anode **path[130], **pp, *n;
	unsigned depth = 0;
	struct owner **o, *gone;

	if (!m || !prefix_ok(p) || !member)
		return -EINVAL;
	pp = root_of(m, p->family);
	while ((n = *pp) && n->len < p->prefix &&
	       common_bits(n->bytes, p->bytes, n->len) == n->len) {
		path[depth++] = pp;
		pp = &n->child[bit_at(p->bytes, n->len)];
	}
	if (!n || n->len != p->prefix || memcmp(n->bytes, p->bytes, (n->len + 7) / 8) != 0)
		return PDB_ENOTFOUND;
	for (o = &n->owners; *o && strcmp((*o)->name, member) != 0; o = &(*o)->next)
		;
	if (!*o)
		return PDB_ENOTFOUND;
	gone = *o;
	*o = gone->next;
	free(gone);
	m->n--;
	/* Prune upwards: a node with no owner is needed only where two
	 * branches meet. */
	for (;;) {
		n = *pp;
		if (n->owners || (n->child[0] && n->child[1]))
			break;
		*pp = n->child[0] ? n->child[0] : n->child[1];
		node_free(m, n);
		if (*pp || depth == 0)
			break;
		pp = path[--depth];
	}
	return 0;
}

long pdb_addr_map_find(const struct pdb_addr_map *m, int family, const uint8_t *addr)
{
	const struct pdb__anode *n, *best = NULL;
	unsigned bits = family_bits(family);

	if (!m || !addr || !bits)
		return -1;
	for (n = m->root[family == 6]; n; n = n->child[bit_at(addr, n->len)]) {
		if (common_bits(n->bytes, addr, n->len) != n->len)
			break;
		if (n->owners)
			best = n;
		if (n->len >= bits)
			break;
	}
	return best ? (long)best->id : -1;
}

const char *pdb_addr_map_member(const struct pdb_addr_map *m, long i)
{
	const struct pdb__anode *n;

	if (!m || i < 0 || (size_t)i >= m->nids || !(n = m->byid[i]) || !n->owners)
		return NULL;
	return n->owners->name;
}

static void subtree_free(struct pdb__anode *n)
{
	/* Depth is bounded by the address length: recursion is fine. */
	if (!n)
		return;
	subtree_free(n->child[0]);
	subtree_free(n->child[1]);
	for (struct owner *o = n->owners, *next; o; o = next) {
		next = o->next;
		free(o);
	}
	free(n);
}

void pdb_addr_map_free(struct pdb_addr_map *m)
{
	if (!m)
		return;
	subtree_free(m->root[0]);
	subtree_free(m->root[1]);
	free(m->byid);
	free(m->free_ids);
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
