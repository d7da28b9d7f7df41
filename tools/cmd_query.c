/* policyctl's read-only commands: export, show, list, history, check.
 * Each reads one snapshot, so its output is consistent even while a load
 * commits. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "date.h"
#include "emit.h"
#include "policyctl.h"
#include "policyfile.h"

/* Open the store read-only and begin one snapshot. */
static int snapshot(const struct ctl *c, pdb_t **db, pdb_txn **txn)
{
	int rc = ctl_open(c, PDB_RDONLY, db);

	if (rc != CTL_OK)
		return rc;
	if ((rc = pdb_read_begin(*db, txn)) != 0) {
		ctl_err("%s: %s", c->dir, pdb_strerror(rc));
		pdb_close(*db);
		return CTL_STORE;
	}
	return CTL_OK;
}

static void done(pdb_t *db, pdb_txn *txn)
{
	pdb_read_end(txn);
	pdb_close(db);
}

static int store_error(const struct ctl *c, int rc)
{
	ctl_err("%s: %s", c->dir, pdb_strerror(rc));
	return CTL_STORE;
}

int cmd_export(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	pdb_t *db;
	pdb_txn *txn;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt != 'j')
			return CTL_USAGE;
		json = true;
	}
	if ((rc = ctl_nargs(argc, argv, optind, 0)) != CTL_OK ||
	    (rc = snapshot(c, &db, &txn)) != CTL_OK)
		return rc;
	rc = json ? emit_policy_json(stdout, txn) : emit_policy_yaml(stdout, txn);
	done(db, txn);
	return rc ? store_error(c, rc) : CTL_OK;
}

int cmd_show(struct ctl *c, int argc, char **argv)
{
	char name[PDB_NAME_MAX + 1];
	struct pdb_member m;
	pdb_t *db;
	pdb_txn *txn;
	int rc;

	if ((rc = ctl_nargs(argc, argv, 1, 1)) != CTL_OK || (rc = ctl_name(argv[1], name)) != CTL_OK ||
	    (rc = snapshot(c, &db, &txn)) != CTL_OK)
		return rc;
	rc = pdb_get_member(txn, name, &m);
	if (rc == PDB_ENOTFOUND) {
		ctl_err("%s is not a member", name);
		rc = CTL_NO;
	} else if (rc || (rc = emit_member_yaml(stdout, name, &m)) != 0) {
		rc = store_error(c, rc);
	}
	done(db, txn);
	return rc;
}

static int list_one(void *arg, const char *name, const struct pdb_member *m)
{
	char na[32];

	emit_not_after(m->not_after, na, sizeof(na));
	printf("%-40s %3u  %-9s  %-10s  ", name, m->level, pdb_status_name(m->status), na);
	for (unsigned i = 0; i < m->ntags; i++)
		printf("%s%.*s", i ? "," : "", m->tags[i].len, m->tags[i].p);
	putchar('\n');
	return 0;
}

int cmd_list(struct ctl *c, int argc, char **argv)
{
	pdb_t *db;
	pdb_txn *txn;
	int rc;

	if ((rc = ctl_nargs(argc, argv, 1, 0)) != CTL_OK || (rc = snapshot(c, &db, &txn)) != CTL_OK)
		return rc;
	printf("%-40s %3s  %-9s  %-10s  %s\n", "# name", "lvl", "status", "not-after", "tags");
	rc = pdb_walk_members(txn, list_one, NULL);
	done(db, txn);
	return rc ? store_error(c, rc) : CTL_OK;
}

static int history_one(void *arg, const struct pdb_audit *e)
{
	char when[CH_INSTANT_LEN];

	ch_instant_format((int64_t)e->time, when);
	printf("%llu  %s  %.*s", (unsigned long long)e->serial, when, e->user.len, e->user.p);
	/* The uids the kernel vouches for, then the claim it does not. */
	if (e->has_uid)
		printf(" (uid %u", (unsigned)e->uid);
	if (e->has_uid && e->has_loginuid)
		printf(", login uid %u", (unsigned)e->loginuid);
	if (e->has_uid && e->sudo_user.len)
		printf(", SUDO_USER %.*s", e->sudo_user.len, e->sudo_user.p);
	if (e->has_uid)
		putchar(')');
	printf("  %.*s\n", e->command.len, e->command.p);
	if (e->change.len)
		printf("    %.*s\n", e->change.len, e->change.p);
	return 0;
}

int cmd_history(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verify", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long n = 0;
	bool verify = false;
	pdb_t *db;
	pdb_txn *txn;
	char *end;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+n:", opts, NULL)) != -1) {
		if (opt == 'v') {
			verify = true;
			continue;
		}
		if (opt != 'n')
			return CTL_USAGE;
		n = strtoul(optarg, &end, 10);
		if (*end || !*optarg || optarg[0] == '-') {
			ctl_err("history: -n takes a count, not '%s'", optarg);
			return CTL_USAGE;
		}
	}
	if ((rc = ctl_nargs(argc, argv, optind, 0)) != CTL_OK)
		return rc;
	if (verify)
		return ctl_history_verify(c);
	if ((rc = snapshot(c, &db, &txn)) != CTL_OK)
		return rc;
	rc = pdb_walk_audit(txn, n, history_one, NULL);
	done(db, txn);
	return rc ? store_error(c, rc) : CTL_OK;
}

/* "--at 2027-01-31" is the start of that day; an instant is itself. */
static int parse_at(const char *s, int64_t *at)
{
	int64_t first_invalid;

	int rc = pf_parse_not_after(s, &first_invalid);
	if (rc != 0)
		return rc;
	*at = strchr(s, 'T') ? first_invalid - 1 : first_invalid - 86400;
	return 0;
}

static void print_targets(const char *label, const struct pdb_target *t, unsigned n)
{
	printf("%s:", label);
	for (unsigned i = 0; i < n; i++)
		printf(" %.*s:%u", t[i].host.len, t[i].host.p, t[i].port);
	putchar('\n');
}

static void print_decision(const struct pdb_decision *d, const char *b)
{
	char why[1024];

	pdb_decision_explain(d, why, sizeof(why));
	printf("%s %s: %s\n", pdb_outcome_name(d->outcome), pdb_rule_name(d->rule), why);
	if (d->outcome != PDB_ALLOW) {
		printf("targets: none\n");
		return;
	}
	if (d->b.ntargets)
		print_targets("targets", d->b.targets, d->b.ntargets);
	else
		/* No targets listed: RFC 6120 section 3.2.2 falls back to the
		 * domain itself on the default port. */
		printf("targets: %s:5269\n", b);
	if (d->b.ntls_targets)
		print_targets("tls-targets", d->b.tls_targets, d->b.ntls_targets);
}

int cmd_check(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	char a[PDB_NAME_MAX + 1], b[PDB_NAME_MAX + 1];
	int64_t at = (int64_t)time(NULL);
	struct pdb_decision d;
	pdb_t *db;
	pdb_txn *txn;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt != 'a')
			return CTL_USAGE;
		if (parse_at(optarg, &at) != 0) {
			ctl_err("check: --at takes 2027-01-31 or 2027-01-31T12:00:00Z, not '%s'", optarg);
			return CTL_USAGE;
		}
	}
	if ((rc = ctl_nargs(argc, argv, optind, 2)) != CTL_OK ||
	    (rc = ctl_name(argv[optind], a)) != CTL_OK || (rc = ctl_name(argv[optind + 1], b)) != CTL_OK ||
	    (rc = snapshot(c, &db, &txn)) != CTL_OK)
		return rc;
	if ((rc = pdb_decide(txn, a, b, at, &d)) != 0) {
		rc = store_error(c, rc);
	} else {
		print_decision(&d, b);
		rc = d.outcome == PDB_ALLOW ? CTL_OK : CTL_NO;
	}
	done(db, txn);
	return rc;
}
