/* policyctl's one-off edits: init, suspend, resume, set.  Each is one
 * audited commit, so the history shows who changed what without a file. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policyctl.h"
#include "policyfile.h"
#include "priv.h"

/* What an edit's write function returns, besides 0 and pdb errors, to
 * abort without writing. */
enum { EDIT_REFUSED = 1, EDIT_NOOP = 2 };

struct edit {
	char name[PDB_NAME_MAX + 1];
	const char *key, *value;        /* set */
	enum pdb_status status;         /* suspend, resume */
	char msg[1024];                 /* why refused, or why nothing to do */
	struct pf_scratch scratch;
};

/* The store's files to group (see pdb_set_group), and the audit key at
 * key, which every writer must read; said on stdout. */
static int init_group(const struct ctl *c, const char *group, gid_t gid, const char *key)
{
	int rc = pdb_set_group(c->dir, gid);

	if (rc) {
		ctl_err("%s: cannot give the store to group %s: %s", c->dir, group, pdb_strerror(rc));
		return CTL_STORE;
	}
	printf("%s: group %s, directory mode 2770, data.mdb and lock.mdb 0660\n", c->dir, group);
	if (key[0] && (chown(key, (uid_t)-1, gid) != 0 || chmod(key, 0640) != 0)) {
		ctl_err("%s: cannot give the audit key to group %s: %s", key, group, strerror(errno));
		return CTL_STORE;
	}
	if (key[0])
		printf("%s: group %s, mode 0640\n", key, group);
	return CTL_OK;
}

int cmd_init(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	const char *group = NULL;
	char err[256];
	gid_t gid = 0;
	char path[4096];
	bool made;
	pdb_t *db;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt != 'g')
			return CTL_USAGE;
		group = optarg;
	}
	if ((rc = ctl_nargs(argc, argv, optind, 0)) != CTL_OK)
		return rc;
	if (group && priv_group(group, &gid, err, sizeof(err)) != 0) {
		ctl_err("%s", err);
		return CTL_USAGE;
	}
	if ((rc = ctl_open(c, PDB_CREATE, &db)) != CTL_OK)
		return rc;
	if ((rc = ctl_audit_key_init(c, db, &made, path, sizeof(path))) != CTL_OK) {
		pdb_close(db);
		return rc;
	}
	rc = pdb_init(db, c->cmdline);
	pdb_close(db);
	if (rc && made)
		unlink(path);   /* no key left behind for a store that is not this one */
	/* A store made before: --group sets its modes all the same, which is
	 * how an existing store is given to the group. */
	if (rc == PDB_EEXIST && group)
		return init_group(c, group, gid, path);
	if (rc) {
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		return CTL_STORE;
	}
	printf("initialised an empty policy store in %s\n", c->dir);
	printf("its audit log is keyed with %s%s\n", path, made ? " (made; mode 0640)" : "");
	return group ? init_group(c, group, gid, path) : CTL_OK;
}

static int get_member(pdb_wtxn *w, struct edit *e, struct pdb_member *m)
{
	int rc = pdb_get_member(pdb_w_txn(w), e->name, m);

	if (rc == PDB_ENOTFOUND) {
		snprintf(e->msg, sizeof(e->msg), "%s is not a member (add it with 'load')", e->name);
		return EDIT_REFUSED;
	}
	return rc;
}

static int write_status(pdb_wtxn *w, void *arg)
{
	struct edit *e = arg;
	struct pdb_member m;
	enum pdb_status was;
	int rc;

	if ((rc = get_member(w, e, &m)) != 0)
		return rc;
	was = m.status;
	if (was == e->status) {
		snprintf(e->msg, sizeof(e->msg), "%s is already %s", e->name, pdb_status_name(was));
		return EDIT_NOOP;
	}
	if (e->status == PDB_ACTIVE && was == PDB_REVOKED) {
		snprintf(e->msg, sizeof(e->msg),
		         "%s is revoked, not suspended; to reinstate it on purpose: set %s status active",
		         e->name, e->name);
		return EDIT_REFUSED;
	}
	m.status = e->status;
	if ((rc = pdb_w_put_member(w, e->name, &m)) != 0)
		return rc;
	return pdb_w_change(w, "%s: status %s -> %s", e->name, pdb_status_name(was),
	                    pdb_status_name(e->status));
}

static int write_key(pdb_wtxn *w, void *arg)
{
	struct edit *e = arg;
	struct pdb_member m;
	int rc;

	if ((rc = get_member(w, e, &m)) != 0)
		return rc;
	if (pf_set_member_key(&m, e->key, e->value, &e->scratch, e->msg, sizeof(e->msg)) != 0)
		return EDIT_REFUSED;
	rc = pdb_w_put_member(w, e->name, &m);
	if (rc == PDB_ELIMIT || rc == PDB_EBADNAME || rc == PDB_EBADTAG || rc == -EINVAL) {
		snprintf(e->msg, sizeof(e->msg), "%s: %s", e->key, pdb_strerror(rc));
		return EDIT_REFUSED;
	}
	if (rc)
		return rc;
	return pdb_w_change(w, "%s: %s = %s", e->name, e->key, e->value);
}

/* Run one edit and turn its result into an exit code. */
static int run_edit(const struct ctl *c, struct edit *e, pdb_write_fn fn)
{
	uint64_t serial;
	pdb_t *db;
	int rc;

	if ((rc = ctl_open(c, 0, &db)) != CTL_OK)
		return rc;
	rc = pdb_write(db, c->cmdline, fn, e, &serial);
	pdb_close(db);
	switch (rc) {
	case 0:
		printf("serial %llu\n", (unsigned long long)serial);
		return CTL_OK;
	case EDIT_NOOP:
		printf("%s; nothing changed\n", e->msg);
		return CTL_OK;
	case EDIT_REFUSED:
		ctl_err("%s", e->msg);
		return CTL_USAGE;
	default:
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		return CTL_STORE;
	}
}

/* NAME, and for set KEY VALUE: one edit of one member. */
static int edit(struct ctl *c, int argc, char **argv, int nargs, pdb_write_fn fn,
                enum pdb_status status)
{
	struct edit *e;
	int rc;

	if ((rc = ctl_nargs(argc, argv, 1, nargs)) != CTL_OK)
		return rc;
	if (!(e = calloc(1, sizeof(*e)))) {
		ctl_err("out of memory");
		return CTL_STORE;
	}
	e->status = status;
	if (nargs == 3) {
		e->key = argv[2];
		e->value = argv[3];
	}
	if ((rc = ctl_name(argv[1], e->name)) == CTL_OK)
		rc = run_edit(c, e, fn);
	free(e);
	return rc;
}

int cmd_suspend(struct ctl *c, int argc, char **argv)
{
	return edit(c, argc, argv, 1, write_status, PDB_SUSPENDED);
}

int cmd_resume(struct ctl *c, int argc, char **argv)
{
	return edit(c, argc, argv, 1, write_status, PDB_ACTIVE);
}

int cmd_set(struct ctl *c, int argc, char **argv)
{
	return edit(c, argc, argv, 3, write_key, PDB_ACTIVE);
}
