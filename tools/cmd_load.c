/* policyctl load: replace the whole policy with a policy file, in one write
 * transaction, after the file has been read and checked in full.  Only
 * what differs is written: a file with 1% of a million members changed
 * costs those ten thousand puts, not a million, and the journal holds the
 * same items either way. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "policyctl.h"
#include "policyfile.h"

/* Names listed one by one in the audit entry, after the counts; past this
 * many only the counts tell. */
#define AUDIT_NAMES 32

struct diff {
	size_t added, removed, changed, same;
	size_t ov_added, ov_removed, ov_changed, ov_same;
	bool community_changed;
	size_t listed;
};

struct load {
	struct policy_file pf;
	struct progress prog;
	FILE *out;       /* dry-run: each difference is printed here */
	bool audit;      /* a real load: differences go to names[] */
	char names[AUDIT_NAMES * (PDB_NAME_MAX + 4)];
	size_t names_len;
	struct diff d;
	size_t next;     /* merge cursor into pf.members */
	/* What the merge found to write: the file's members added or
	 * changed (their indexes), the store's members that are gone. */
	size_t *put, nput, put_cap;
	char (*gone)[PDB_NAME_MAX + 1];
	size_t ngone, gone_cap;
	int oom;         /* -ENOMEM if a list could not grow */
};

static void want_put(struct load *l, size_t i)
{
	if (l->nput == l->put_cap) {
		size_t cap = l->put_cap ? 2 * l->put_cap : 256;
		size_t *v = realloc(l->put, cap * sizeof(*v));
		if (!v) {
			l->oom = -ENOMEM;
			return;
		}
		l->put = v;
		l->put_cap = cap;
	}
	l->put[l->nput++] = i;
}

static void want_gone(struct load *l, const char *name)
{
	if (l->ngone == l->gone_cap) {
		size_t cap = l->gone_cap ? 2 * l->gone_cap : 64;
		char (*v)[PDB_NAME_MAX + 1] = realloc(l->gone, cap * sizeof(*v));
		if (!v) {
			l->oom = -ENOMEM;
			return;
		}
		l->gone = v;
		l->gone_cap = cap;
	}
	snprintf(l->gone[l->ngone++], PDB_NAME_MAX + 1, "%s", name);
}

static void note(struct load *l, char sign, const char *what)
{
	if (l->out) {
		fprintf(l->out, "%c %s\n", sign, what);
	} else if (l->audit && l->d.listed++ < AUDIT_NAMES) {
		size_t room = sizeof(l->names) - l->names_len;
		int n = snprintf(l->names + l->names_len, room, "%s%c%s",
		                 l->names_len ? " " : "", sign, what);
		if (n > 0 && (size_t)n < room)
			l->names_len += (size_t)n;
	}
}

static void note_override(struct load *l, char sign, const char *a, const char *b,
                          enum pdb_override ov)
{
	char buf[2 * PDB_NAME_MAX + 16];

	snprintf(buf, sizeof(buf), "%s %s %s", ov == PDB_OVERRIDE_ALLOW ? "allow" : "deny", a, b);
	note(l, sign, buf);
}

/* Merge join of the store's members (in key order) with the file's (sorted
 * the same way): encoded records are compared byte for byte, which is exact
 * because both come from the same encoder. */
static int diff_member(void *arg, const char *name, const void *rec, size_t len)
{
	struct load *l = arg;
	const struct policy_file *pf = &l->pf;

	while (l->next < pf->nmembers && strcmp(pf_name(pf, l->next), name) < 0) {
		want_put(l, l->next);
		note(l, '+', pf_name(pf, l->next++));
		l->d.added++;
	}
	if (l->next < pf->nmembers && strcmp(pf_name(pf, l->next), name) == 0) {
		const struct pf_member *m = &pf->members[l->next++];
		if (m->rec_len == len && memcmp(pf_record(pf, l->next - 1), rec, len) == 0) {
			l->d.same++;
		} else {
			want_put(l, l->next - 1);
			note(l, '~', name);
			l->d.changed++;
		}
	} else {
		want_gone(l, name);
		note(l, '-', name);
		l->d.removed++;
	}
	return l->oom;
}

static int override_key_cmp(const void *key, const void *elem)
{
	const struct pf_override *k = key, *e = elem;
	int c = strcmp(k->a, e->a);
	return c ? c : strcmp(k->b, e->b);
}

/* Both sides hold a pair with its names in byte order, so a store pair is
 * found in the file's sorted list by the same key. */
static bool file_has_override(const struct load *l, const char *a, const char *b,
                              enum pdb_override ov)
{
	struct pf_override key = { .ov = ov };

	snprintf(key.a, sizeof(key.a), "%s", a);
	snprintf(key.b, sizeof(key.b), "%s", b);
	return l->pf.noverrides &&
	       bsearch(&key, l->pf.overrides, l->pf.noverrides, sizeof(key), override_key_cmp);
}

static int count_removed_override(void *arg, const char *a, const char *b, enum pdb_override ov)
{
	struct load *l = arg;

	if (file_has_override(l, a, b, ov))
		return 0;
	note_override(l, '-', a, b, ov);
	l->d.ov_removed++;
	return 0;
}

static int community_differs(pdb_txn *txn, const struct pdb_community *want, bool *differs)
{
	static uint8_t a[PDB_RECORD_MAX], b[PDB_RECORD_MAX];
	struct pdb_community have;
	size_t alen, blen;
	int rc = pdb_get_community(txn, &have);

	if (rc == PDB_ENOTFOUND) {
		*differs = true;
		return 0;
	}
	if (rc || (rc = pdb_community_encode(&have, a, sizeof(a), &alen)) != 0 ||
	    (rc = pdb_community_encode(want, b, sizeof(b), &blen)) != 0)
		return rc;
	*differs = alen != blen || memcmp(a, b, alen) != 0;
	return 0;
}

static int diff_all(struct load *l, pdb_txn *txn)
{
	const struct policy_file *pf = &l->pf;
	int rc;

	memset(&l->d, 0, sizeof(l->d));
	l->next = 0;
	l->nput = l->ngone = 0;
	l->oom = 0;
	l->names_len = 0;
	l->names[0] = '\0';
	if ((rc = community_differs(txn, &pf->community, &l->d.community_changed)) != 0)
		return rc;
	if (l->d.community_changed)
		note(l, '~', "community");
	if ((rc = pdb_walk_member_records(txn, diff_member, l)) != 0)
		return rc;
	for (; l->next < pf->nmembers; l->next++) {
		want_put(l, l->next);
		note(l, '+', pf_name(pf, l->next));
		l->d.added++;
	}
	if (l->oom)
		return l->oom;
	for (size_t i = 0; i < pf->noverrides; i++) {
		const struct pf_override *o = &pf->overrides[i];
		enum pdb_override have;
		if ((rc = pdb_get_override(txn, o->a, o->b, &have)) != 0)
			return rc;
		if (have == o->ov) {
			l->d.ov_same++;
		} else {
			note_override(l, have == PDB_OVERRIDE_NONE ? '+' : '~', o->a, o->b, o->ov);
			*(have == PDB_OVERRIDE_NONE ? &l->d.ov_added : &l->d.ov_changed) += 1;
		}
	}
	return pdb_walk_overrides(txn, count_removed_override, l);
}

/* An override in the store that the file does not list: its two names
 * kept in gone[], to be removed after the walk. */
static int collect_stale_override(void *arg, const char *a, const char *b, enum pdb_override ov)
{
	struct load *l = arg;

	if (file_has_override(l, a, b, ov))
		return 0;
	want_gone(l, a);
	want_gone(l, b);
	return l->oom;
}

static int drop_stale_overrides(pdb_wtxn *w, struct load *l)
{
	int rc;

	for (size_t i = 0; i + 1 < l->ngone; i += 2)
		if ((rc = pdb_w_put_override(w, l->gone[i], l->gone[i + 1], PDB_OVERRIDE_NONE)) != 0)
			return rc;
	return 0;
}

static void summary(const struct diff *d, char *buf, size_t len)
{
	snprintf(buf, len,
	         "members: %zu added, %zu removed, %zu changed, %zu unchanged; "
	         "overrides: %zu added, %zu removed, %zu changed, %zu unchanged; community %s",
	         d->added, d->removed, d->changed, d->same, d->ov_added, d->ov_removed,
	         d->ov_changed, d->ov_same, d->community_changed ? "changed" : "unchanged");
}

static int write_policy(pdb_wtxn *w, void *arg)
{
	struct load *l = arg;
	const struct policy_file *pf = &l->pf;
	char text[512];
	int rc;

	l->audit = true;
	if ((rc = diff_all(l, pdb_w_txn(w))) != 0)
		return rc;
	if (l->d.community_changed && (rc = pdb_w_put_community(w, &pf->community)) != 0)
		return rc;
	/* Removed members take their overrides with them. */
	for (size_t i = 0; i < l->ngone; i++)
		if ((rc = pdb_w_del_member(w, l->gone[i])) != 0)
			return rc;
	progress_init(&l->prog, "storing");
	for (size_t k = 0; k < l->nput; k++) {
		size_t i = l->put[k];
		if ((rc = pdb_w_put_member_raw(w, pf_name(pf, i), pf_record(pf, i),
		                               pf->members[i].rec_len, false)) != 0)
			return rc;
		if ((k & 4095) == 0)
			progress_update(&l->prog, k, l->nput);
	}
	progress_update(&l->prog, l->nput, l->nput);
	progress_done(&l->prog);
	/* Overrides the file does not list go; those it lists are set (a
	 * put of the value already there changes nothing). */
	l->ngone = 0;
	if ((rc = pdb_walk_overrides(pdb_w_txn(w), collect_stale_override, l)) != 0 ||
	    (rc = drop_stale_overrides(w, l)) != 0)
		return rc;
	for (size_t i = 0; i < pf->noverrides; i++) {
		const struct pf_override *o = &pf->overrides[i];
		if ((rc = pdb_w_put_override(w, o->a, o->b, o->ov)) != 0)
			return rc;
	}
	summary(&l->d, text, sizeof(text));
	return pdb_w_change(w, "loaded %s: %s; %s%s", pf->path, text, l->names,
	                    l->d.listed > AUDIT_NAMES ? " ..." : "");
}

static void read_progress(void *arg, size_t done, size_t total)
{
	progress_update(arg, done, total);
}

static int dry_run(pdb_t *db, struct load *l)
{
	pdb_txn *txn;
	char text[512];
	int rc;

	if ((rc = pdb_read_begin(db, &txn)) == 0) {
		l->out = stdout;
		rc = diff_all(l, txn);
		pdb_read_end(txn);
	}
	if (rc) {
		ctl_err("%s: %s", l->pf.path, pdb_strerror(rc));
		return CTL_STORE;
	}
	summary(&l->d, text, sizeof(text));
	printf("%s (dry run: nothing written)\n", text);
	return CTL_OK;
}

int cmd_load(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct load *l;
	bool dry = false;
	char err[1024];
	uint64_t serial;
	pdb_t *db = NULL;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+n", opts, NULL)) != -1) {
		if (opt != 'n')
			return CTL_USAGE;
		dry = true;
	}
	if ((rc = ctl_nargs(argc, argv, optind, 1)) != CTL_OK)
		return rc;
	/* Open the store first: no use reading a large file for a store
	 * that is not there. */
	if ((rc = ctl_open(c, dry ? PDB_RDONLY : 0, &db)) != CTL_OK)
		return rc;
	if (!(l = calloc(1, sizeof(*l)))) {
		pdb_close(db);
		ctl_err("out of memory");
		return CTL_STORE;
	}
	progress_init(&l->prog, "reading");
	if (pf_read(argv[optind], &l->pf, read_progress, &l->prog, err, sizeof(err)) != 0) {
		progress_done(&l->prog);
		fprintf(stderr, "%s\n", err);
		rc = CTL_USAGE;
	} else if (progress_done(&l->prog), dry) {
		rc = dry_run(db, l);
	} else if ((rc = pdb_write(db, c->cmdline, write_policy, l, &serial)) != 0) {
		ctl_err("%s: not loaded: %s", argv[optind], pdb_strerror(rc));
		rc = CTL_STORE;
	} else {
		char text[512];
		summary(&l->d, text, sizeof(text));
		printf("loaded %s as serial %llu: %s\n", argv[optind], (unsigned long long)serial, text);
		rc = CTL_OK;
	}
	pf_free(&l->pf);
	free(l->put);
	free(l->gone);
	free(l);
	pdb_close(db);
	return rc;
}
