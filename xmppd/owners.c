/* Which member owns a peer address: for direct-TLS relay, where xmppd
 * routes on the ClientHello and never sees a stream header with 'from'.
 * The index is every member's listed addresses, rebuilt when the store's
 * version changes; a lookup is a scan, fine for the hundreds of addresses
 * a federation lists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct owner {
	struct pdb_addr addr;
	char name[PDB_NAME_MAX + 1];
};

struct xmppd__owners {
	uint64_t version;
	bool built;
	struct owner *v;
	size_t n, cap;
};

int xmppd__owners_new(xmppd__owners **out)
{
	if (!out)
		return -EINVAL;
	return (*out = calloc(1, sizeof(**out))) ? 0 : -ENOMEM;
}

void xmppd__owners_free(xmppd__owners *o)
{
	if (!o)
		return;
	free(o->v);
	free(o);
}

static int add(void *arg, const char *name, const struct pdb_member *m)
{
	xmppd__owners *o = arg;

	for (unsigned i = 0; i < m->naddrs; i++) {
		if (o->n == o->cap) {
			size_t cap = o->cap ? 2 * o->cap : 64;
			struct owner *v = realloc(o->v, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			o->v = v;
			o->cap = cap;
		}
		o->v[o->n].addr = m->addrs[i];
		strcpy(o->v[o->n].name, name);
		o->n++;
	}
	return 0;
}

static int rebuild(xmppd__owners *o, pdb_t *db)
{
	pdb_txn *txn;
	int rc;

	if ((rc = pdb_read_begin(db, &txn)) != 0)
		return rc;
	o->n = 0;
	rc = pdb_walk_members(txn, add, o);
	o->version = pdb_snapshot_version(txn);
	o->built = rc == 0;
	pdb_read_end(txn);
	return rc;
}

int xmppd__owner_of(xmppd__owners *o, pdb_t *db, int family, const uint8_t *addr,
                    char name[PDB_NAME_MAX + 1])
{
	int rc;

	if (!o || !db || !addr || !name)
		return -EINVAL;
	if ((!o->built || o->version != pdb_version(db)) && (rc = rebuild(o, db)) != 0)
		return rc;
	for (size_t i = 0; i < o->n; i++) {
		if (pdb_addr_in(&o->v[i].addr, family, addr)) {
			strcpy(name, o->v[i].name);
			return 0;
		}
	}
	return PDB_ENOTFOUND;
}
