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
	uint8_t before[PDB_RECORD_MAX]; /* set: the record, to tell a no-op */
	uint8_t after[PDB_RECORD_MAX];
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

	size_t blen = 0, alen = 0;

	if ((rc = get_member(w, e, &m)) != 0)
		return rc;
	bool have_before = pdb_member_encode(&m, e->before, sizeof(e->before), &blen) == 0;
	if (pf_set_member_key(&m, e->key, e->value, &e->scratch, e->msg, sizeof(e->msg)) != 0)
		return EDIT_REFUSED;
	/* The value it already has: no commit, so that readers, caches and
	 * secondaries are not moved by a change of nothing. */
	if (have_before && pdb_member_encode(&m, e->after, sizeof(e->after), &alen) == 0 &&
	    alen == blen && memcmp(e->before, e->after, blen) == 0) {
		snprintf(e->msg, sizeof(e->msg), "%s: %s is already %s", e->name, e->key, e->value);
		return EDIT_NOOP;
	}
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

/* ---- batch: many edits, one commit ----
 * Automation that pushes hundreds of changes a second cannot pay a commit
 * (a serial, an fsync, a journal record, every reader's refresh) for each;
 * a batch is read and checked in full first, then applied in one commit,
 * all or nothing. */

enum verb { VERB_SET, VERB_SUSPEND, VERB_RESUME, VERB_OVERRIDE };

struct batch_line {
	unsigned lineno;
	enum verb verb;
	char name[PDB_NAME_MAX + 1];
	char other[PDB_NAME_MAX + 1];   /* override */
	enum pdb_override ov;           /* override */
	char *key, *value;              /* set: into the line's own copy */
	char *text;                     /* the line, owned */
};

struct batch {
	struct batch_line *v;
	size_t n, cap;
	size_t changed;                 /* lines that changed something */
	unsigned bad_line;              /* the refused line */
	struct edit e;                  /* the working edit; its msg says why */
};

static int write_override(pdb_wtxn *w, const struct batch_line *l, struct edit *e)
{
	const char *names[2] = { l->name, l->other };
	enum pdb_override was;
	struct pdb_member m;
	int rc;

	if ((rc = pdb_get_override(pdb_w_txn(w), l->name, l->other, &was)) != 0)
		return rc;
	if (was == l->ov) {
		snprintf(e->msg, sizeof(e->msg), "override %s %s already so", l->name, l->other);
		return EDIT_NOOP;
	}
	/* An override on a name that is no member would outlive it. */
	for (int i = 0; i < 2 && l->ov != PDB_OVERRIDE_NONE; i++) {
		snprintf(e->name, sizeof(e->name), "%s", names[i]);
		if ((rc = get_member(w, e, &m)) != 0)
			return rc;
	}
	if ((rc = pdb_w_put_override(w, l->name, l->other, l->ov)) != 0)
		return rc;
	return pdb_w_change(w, "override %s %s: %s", l->name, l->other,
	                    l->ov == PDB_OVERRIDE_ALLOW ? "allow" :
	                    l->ov == PDB_OVERRIDE_DENY ? "deny" : "none");
}

static int write_batch(pdb_wtxn *w, void *arg)
{
	struct batch *b = arg;
	int rc = 0;

	b->changed = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct batch_line *l = &b->v[i];
		struct edit *e = &b->e;

		memcpy(e->name, l->name, sizeof(e->name));
		e->key = l->key;
		e->value = l->value;
		switch (l->verb) {
		case VERB_SET:
			rc = write_key(w, e);
			break;
		case VERB_SUSPEND:
		case VERB_RESUME:
			e->status = l->verb == VERB_SUSPEND ? PDB_SUSPENDED : PDB_ACTIVE;
			rc = write_status(w, e);
			break;
		case VERB_OVERRIDE:
			rc = write_override(w, l, e);
			break;
		}
		if (rc == EDIT_NOOP)
			continue;
		if (rc != 0) {
			b->bad_line = l->lineno;
			return rc;
		}
		b->changed++;
	}
	return b->changed ? 0 : EDIT_NOOP;
}

static char *next_word(char **p)
{
	char *s = *p + strspn(*p, " \t"), *end;

	if (!*s)
		return NULL;
	end = s + strcspn(s, " \t");
	*p = *end ? end + 1 : end;
	*end = '\0';
	return s;
}

/* One line into l (which takes text); CTL_OK, or CTL_USAGE after saying
 * why with the line's number. */
static int parse_line(char *text, unsigned lineno, const char *path, struct batch_line *l)
{
	static const struct { const char *word; enum verb verb; unsigned args; } verbs[] = {
		{ "set", VERB_SET, 3 }, { "suspend", VERB_SUSPEND, 1 },
		{ "resume", VERB_RESUME, 1 }, { "override", VERB_OVERRIDE, 3 },
	};
	char *p = text, *w = next_word(&p), *name, *arg = NULL;
	size_t v;

	memset(l, 0, sizeof(*l));
	l->lineno = lineno;
	l->text = text;
	for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]) && strcmp(w, verbs[v].word) != 0; v++)
		;
	if (v == sizeof(verbs) / sizeof(verbs[0])) {
		ctl_err("%s:%u: unknown edit '%s' (set, suspend, resume, override)", path, lineno, w);
		return CTL_USAGE;
	}
	l->verb = verbs[v].verb;
	if (!(name = next_word(&p)) || (verbs[v].args > 1 && !(arg = next_word(&p)))) {
		ctl_err("%s:%u: %s needs %s", path, lineno, w,
		        l->verb == VERB_SET ? "NAME KEY VALUE" :
		        l->verb == VERB_OVERRIDE ? "NAME NAME allow|deny|none" : "NAME");
		return CTL_USAGE;
	}
	if (ctl_name(name, l->name) != CTL_OK) {
		ctl_err("%s:%u: bad name", path, lineno);
		return CTL_USAGE;
	}
	/* set: the value is the rest of the line, spaces and all. */
	p += strspn(p, " \t");
	if (l->verb == VERB_SET) {
		l->key = arg;
		l->value = p;
		if (!*p) {
			ctl_err("%s:%u: set needs NAME KEY VALUE", path, lineno);
			return CTL_USAGE;
		}
		return CTL_OK;
	}
	if (l->verb == VERB_OVERRIDE) {
		char *ov = next_word(&p);
		if (ctl_name(arg, l->other) != CTL_OK) {
			ctl_err("%s:%u: bad name", path, lineno);
			return CTL_USAGE;
		}
		if (!strcmp(l->name, l->other)) {
			ctl_err("%s:%u: an override needs two different members", path, lineno);
			return CTL_USAGE;
		}
		l->ov = !ov ? 99 : !strcmp(ov, "allow") ? PDB_OVERRIDE_ALLOW :
		        !strcmp(ov, "deny") ? PDB_OVERRIDE_DENY : !strcmp(ov, "none") ? PDB_OVERRIDE_NONE : 99;
		if ((int)l->ov == 99) {
			ctl_err("%s:%u: override needs allow, deny or none", path, lineno);
			return CTL_USAGE;
		}
		p += strspn(p, " \t");
	}
	if (*p) {
		ctl_err("%s:%u: unexpected '%s' after the edit", path, lineno, p);
		return CTL_USAGE;
	}
	return CTL_OK;
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].text);
	free(b->v);
	free(b);
}

/* Every line of f into b: blank lines and lines starting with # skipped. */
static int read_batch(FILE *f, const char *path, struct batch *b)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t len;
	int rc = CTL_OK;

	while (rc == CTL_OK && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && strchr("\r\n \t", line[len - 1]))
			line[--len] = '\0';
		char *s = line + strspn(line, " \t");
		if (!*s || *s == '#')
			continue;
		if (b->n == b->cap) {
			size_t ncap = b->cap ? 2 * b->cap : 64;
			struct batch_line *v = realloc(b->v, ncap * sizeof(*v));
			if (!v) {
				ctl_err("out of memory");
				rc = CTL_STORE;
				break;
			}
			b->v = v;
			b->cap = ncap;
		}
		char *text = strdup(s);
		if (!text) {
			ctl_err("out of memory");
			rc = CTL_STORE;
			break;
		}
		rc = parse_line(text, lineno, path, &b->v[b->n]);
		if (rc != CTL_OK)
			free(text);
		else
			b->n++;
	}
	if (rc == CTL_OK && ferror(f)) {
		ctl_err("%s: %s", path, strerror(errno));
		rc = CTL_USAGE;
	}
	free(line);
	return rc;
}

int cmd_batch(struct ctl *c, int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "-";
	struct batch *b;
	uint64_t serial;
	pdb_t *db;
	FILE *f;
	int rc;

	if (argc > 2) {
		ctl_err("batch takes at most one FILE");
		return CTL_USAGE;
	}
	if (!(b = calloc(1, sizeof(*b)))) {
		ctl_err("out of memory");
		return CTL_STORE;
	}
	f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		ctl_err("%s: %s", path, strerror(errno));
		batch_free(b);
		return CTL_USAGE;
	}
	rc = read_batch(f, strcmp(path, "-") ? path : "stdin", b);
	if (f != stdin)
		fclose(f);
	if (rc == CTL_OK && b->n == 0) {
		printf("no edits; nothing changed\n");
	} else if (rc == CTL_OK && (rc = ctl_open(c, 0, &db)) == CTL_OK) {
		rc = pdb_write(db, c->cmdline, write_batch, b, &serial);
		pdb_close(db);
		if (rc == 0) {
			printf("serial %llu: %zu of %zu edits changed something\n",
			       (unsigned long long)serial, b->changed, b->n);
		} else if (rc == EDIT_NOOP) {
			printf("nothing changed\n");
			rc = CTL_OK;
		} else if (rc == EDIT_REFUSED) {
			ctl_err("%s:%u: %s; nothing written", strcmp(path, "-") ? path : "stdin",
			        b->bad_line, b->e.msg);
			rc = CTL_USAGE;
		} else {
			ctl_err("%s: %s; nothing written", c->dir, pdb_strerror(rc));
			rc = CTL_STORE;
		}
	}
	batch_free(b);
	return rc;
}
