/* Which member owns a peer address: for direct-TLS relay, where xmppd
 * routes on the ClientHello and never sees a stream header with 'from'.
 * The map (policydb's, the one dnsd keeps for its views) is built once and
 * then follows the journal when the store's version changes, so a commit
 * costs what it changed; a lookup costs the length of the address. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct xmppd__owners {
	uint64_t version;
	bool ready;                   /* map followed to version */
	struct pdb_addr_map map;
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
	pdb_addr_map_free(&o->map);
	free(o);
}

static int follow(xmppd__owners *o, pdb_t *db)
{
	pdb_txn *txn;
	int rc;

	if ((rc = pdb_read_begin(db, &txn)) != 0)
		return rc;
	rc = pdb_addr_map_follow(&o->map, txn, PDB_LIST_ADDRESSES, NULL);
	o->version = pdb_snapshot_version(txn);
	o->ready = rc == 0;
	pdb_read_end(txn);
	return rc;
}

int xmppd__owner_of(xmppd__owners *o, pdb_t *db, int family, const uint8_t *addr,
                    char name[PDB_NAME_MAX + 1])
{
	const char *owner;
	int rc;

	if (!o || !db || !addr || !name)
		return -EINVAL;
	if ((!o->ready || o->version != pdb_version(db)) && (rc = follow(o, db)) != 0)
		return rc;
	if (!(owner = pdb_addr_map_member(&o->map, pdb_addr_map_find(&o->map, family, addr))))
		return PDB_ENOTFOUND;
	strcpy(name, owner);
	return 0;
}
