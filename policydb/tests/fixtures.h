/* Records the policydb tests share. */
#ifndef POLICYDB_TEST_FIXTURES_H
#define POLICYDB_TEST_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policydb.h"

/* A new, initialised store in a fresh directory under $TMPDIR whose name
 * begins with prefix; path (len bytes) receives its name.  NULL on any
 * failure. */
static inline pdb_t *fixture_store_new(char *path, size_t len, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	pdb_t *store = NULL;

	snprintf(path, len, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
	if (!mkdtemp(path) || pdb_open(path, PDB_CREATE, NULL, &store) != 0)
		return NULL;
	if (pdb_init(store, "test init") != 0) {
		pdb_close(store);
		return NULL;
	}
	return store;
}

/* Close store and remove its directory, path: 0, or -1 if the removal failed. */
static inline int fixture_store_remove(pdb_t *store, const char *path)
{
	char cmd[320];

	pdb_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd) == 0 ? 0 : -1;
}

/* A member with every field filled in. */
static inline void fixture_full_member(struct pdb_member *m)
{
	static const uint8_t full_pin[PDB_PIN_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

	pdb_member_init(m);
	m->status = PDB_SUSPENDED;
	m->level = 3;
	m->not_after = 1830297600;  /* 2028-01-01 */
	m->tags[m->ntags++] = pdb_str_of("industry:finance");
	m->tags[m->ntags++] = pdb_str_of("auth:pki");
	m->targets[m->ntargets++] = (struct pdb_target){ pdb_str_of("xmpp1.alpha.fed.example"), 5269, 0, 60 };
	m->targets[m->ntargets++] = (struct pdb_target){ pdb_str_of("xmpp2.alpha.fed.example"), 5269, 0, 40 };
	m->tls_targets[m->ntls_targets++] = (struct pdb_target){ pdb_str_of("xmpp.alpha.fed.example"), 5223, 1, 0 };
	pdb_addr_parse("192.0.2.10", false, &m->addrs[m->naddrs++]);
	pdb_addr_parse("2001:db8::10", false, &m->addrs[m->naddrs++]);
	pdb_addr_parse("192.0.2.0/24", true, &m->queriers[m->nqueriers++]);
	m->pins[m->npins++] = full_pin;
	m->contact = pdb_str_of("ops@alpha.fed.example");
	m->note = pdb_str_of("a note, with UTF-8: \xc3\xa9");
	m->policy.set = PDB_POLICY_MIN_LEVEL | PDB_POLICY_REQUIRE | PDB_POLICY_FORBID;
	m->policy.min_peer_level = 2;
	m->policy.require[m->policy.nrequire++] = pdb_str_of("auth:pki");
	m->policy.forbid[m->policy.nforbid++] = pdb_str_of("auth:password");
}

/* A plain active member of a level with some tags. */
static inline void fixture_member(struct pdb_member *m, uint8_t level, const char *tag1,
                                  const char *tag2)
{
	pdb_member_init(m);
	m->level = level;
	if (tag1)
		m->tags[m->ntags++] = pdb_str_of(tag1);
	if (tag2)
		m->tags[m->ntags++] = pdb_str_of(tag2);
}

#endif
