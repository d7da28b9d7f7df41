/* The address map: which member a querier or a peer address speaks for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct build {
	struct pdb_addr_map *m;
	enum pdb_addr_list which;
};

static int add(void *arg, const char *name, const struct pdb_member *mem)
{
	struct build *b = arg;
	struct pdb_addr_map *m = b->m;
	const struct pdb_addr *list = b->which == PDB_LIST_QUERIERS ? mem->queriers : mem->addrs;
	unsigned n = b->which == PDB_LIST_QUERIERS ? mem->nqueriers : mem->naddrs;

	for (unsigned i = 0; i < n; i++) {
		if (m->n == m->cap) {
			size_t cap = m->cap ? 2 * m->cap : 64;
			struct pdb_addr_entry *v = realloc(m->v, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			m->v = v;
			m->cap = cap;
		}
		m->v[m->n].prefix = list[i];
		strcpy(m->v[m->n].member, name);   /* names are at most PDB_NAME_MAX */
		m->n++;
	}
	return 0;
}

int pdb_addr_map_build(struct pdb_addr_map *m, pdb_txn *txn, enum pdb_addr_list which)
{
	struct build b = { m, which };
	int rc;

	if (!m || !txn || which > PDB_LIST_ADDRESSES)
		return -EINVAL;
	m->n = 0;
	if ((rc = pdb_walk_members(txn, add, &b)) != 0)
		m->n = 0;
	return rc;
}

long pdb_addr_map_find(const struct pdb_addr_map *m, int family, const uint8_t *addr)
{
	long best = -1;

	for (size_t i = 0; m && addr && i < m->n; i++) {
		const struct pdb_addr *p = &m->v[i].prefix;
		if (pdb_addr_in(p, family, addr) && (best < 0 || p->prefix > m->v[best].prefix.prefix))
			best = (long)i;
	}
	return best;
}

void pdb_addr_map_free(struct pdb_addr_map *m)
{
	if (!m)
		return;
	free(m->v);
	memset(m, 0, sizeof(*m));
}

const char *pdb_addr_map_member(const struct pdb_addr_map *m, long i)
{
	return m && i >= 0 && (size_t)i < m->n ? m->v[i].member : NULL;
}
