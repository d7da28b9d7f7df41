/* Store settings that are no member's: removed-grace. */
#include <errno.h>
#include <stdlib.h>

#include "policyctl.h"

static int write_grace(pdb_wtxn *w, void *arg)
{
	uint32_t s = *(const uint32_t *)arg;
	int rc = pdb_w_removed_grace(w, s);

	return rc ? rc : pdb_w_change(w, "removed-grace %u", (unsigned)s);
}

static int show_grace(const struct ctl *c)
{
	pdb_t *db;
	pdb_txn *t;
	uint32_t s;
	int rc;

	if ((rc = ctl_open(c, PDB_RDONLY, &db)) != CTL_OK)
		return rc;
	if ((rc = pdb_read_begin(db, &t)) == 0) {
		rc = pdb_removed_grace(t, &s);
		pdb_read_end(t);
	}
	pdb_close(db);
	if (rc != 0) {
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		return CTL_STORE;
	}
	printf("%u\n", (unsigned)s);
	return CTL_OK;
}

int cmd_removed_grace(struct ctl *c, int argc, char **argv)
{
	unsigned long v;
	uint32_t s;
	uint64_t serial;
	char *end;
	pdb_t *db;
	int rc;

	if (argc == 1)
		return show_grace(c);
	if (argc != 2) {
		ctl_err("removed-grace takes at most one argument, SECONDS");
		return CTL_USAGE;
	}
	errno = 0;
	v = strtoul(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || argv[1][0] == '-' || v > PDB_REMOVED_KEEP) {
		ctl_err("removed-grace takes seconds from 0 to %u, not '%s'", (unsigned)PDB_REMOVED_KEEP,
		        argv[1]);
		return CTL_USAGE;
	}
	s = (uint32_t)v;
	if ((rc = ctl_open(c, 0, &db)) != CTL_OK)
		return rc;
	rc = pdb_write(db, c->cmdline, write_grace, &s, &serial);
	pdb_close(db);
	if (rc != 0) {
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		return CTL_STORE;
	}
	printf("serial %llu\n", (unsigned long long)serial);
	return CTL_OK;
}
