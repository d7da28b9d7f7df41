/* policyctl keygen, export-table, verify-table, render-table: the policy
 * push model, where members' own servers enforce a signed table. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policyctl.h"
#include "render.h"
#include "date.h"
#include "table.h"

#define DEFAULT_VALID_DAYS 7
/* A table made this far in the future means a wrong clock somewhere. */
#define CLOCK_SKEW 300

int cmd_keygen(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	enum table_key_type type = TABLE_KEY_ED25519;
	const char *prefix = NULL;
	char priv[4096], pub[4096], err[8192];
	int o;

	(void)c;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 't' && !strcmp(optarg, "ed25519"))
			type = TABLE_KEY_ED25519;
		else if (o == 't' && !strcmp(optarg, "p256"))
			type = TABLE_KEY_P256;
		else if (o == 'o')
			prefix = optarg;
		else {
			ctl_err("keygen: --type is ed25519 or p256; see 'policyctl keygen --help'");
			return CTL_USAGE;
		}
	}
	if (!prefix) {
		ctl_err("keygen: no --out PREFIX");
		return CTL_USAGE;
	}
	if (ctl_nargs(argc, argv, optind, 0))
		return CTL_USAGE;
	snprintf(priv, sizeof(priv), "%s.key", prefix);
	snprintf(pub, sizeof(pub), "%s.pub", prefix);
	if (table_keygen(type, priv, pub, err, sizeof(err)) != 0) {
		ctl_err("keygen: %s", err);
		return CTL_USAGE;
	}
	printf("private key %s (keep it on the clearinghouse)\npublic key %s (give it to members)\n",
	       priv, pub);
	return CTL_OK;
}

static int sig_path(const char *table, const char *given, char out[4096])
{
	if (given)
		return snprintf(out, 4096, "%s", given) < 4096 ? 0 : -ENAMETOOLONG;
	return snprintf(out, 4096, "%s.sig", table) < 4096 ? 0 : -ENAMETOOLONG;
}

int cmd_export_table(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sign", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "sig", required_argument, NULL, 'g' },
		{ "valid-days", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keypath = NULL, *out = NULL, *sig_given = NULL;
	char sig[4096], err[8192], *json = NULL;
	unsigned long days = DEFAULT_VALID_DAYS;
	unsigned char *s = NULL;
	size_t len, slen;
	EVP_PKEY *key = NULL;
	pdb_t *db = NULL;
	pdb_txn *txn = NULL;
	int o, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (o) {
		case 's': keypath = optarg; break;
		case 'o': out = optarg; break;
		case 'g': sig_given = optarg; break;
		case 'v':
			days = strtoul(optarg, &end, 10);
			if (*end || !*optarg || optarg[0] == '-' || days == 0 || days > 3660) {
				ctl_err("export-table: --valid-days takes 1 to 3660");
				return CTL_USAGE;
			}
			break;
		default:
			return CTL_USAGE;
		}
	}
	if (!keypath || !out) {
		ctl_err("export-table: needs --sign KEY and --out TABLE");
		return CTL_USAGE;
	}
	if (ctl_nargs(argc, argv, optind, 0) || sig_path(out, sig_given, sig))
		return CTL_USAGE;
	if (table_load_key(keypath, true, &key, err, sizeof(err)) != 0) {
		ctl_err("export-table: %s", err);
		return CTL_USAGE;
	}
	if ((rc = ctl_open(c, PDB_RDONLY, &db)) != CTL_OK)
		goto out;
	rc = CTL_STORE;
	int prc = pdb_read_begin(db, &txn);
	if (prc == 0)
		prc = table_build(txn, (int64_t)time(NULL), (int64_t)days * 86400, &json, &len);
	if (prc != 0) {
		ctl_err("export-table: %s", prc == PDB_ENOTFOUND ? "the store holds no policy yet"
		                                                 : pdb_strerror(prc));
		goto out;
	}
	if (table_sign(key, json, len, &s, &slen) != 0) {
		ctl_err("export-table: signing failed");
		goto out;
	}
	/* The signature first: a reader that sees the new table finds its
	 * signature already there. */
	if (table_file_write_atomic(sig, s, slen, err, sizeof(err)) != 0 ||
	    table_file_write_atomic(out, json, len, err, sizeof(err)) != 0) {
		ctl_err("export-table: %s", err);
		goto out;
	}
	printf("%s: written, signed in %s\n", out, sig);
	rc = CTL_OK;
out:
	pdb_read_end(txn);
	pdb_close(db);
	EVP_PKEY_free(key);
	free(json);
	free(s);
	return rc;
}

/* ---- verifying ---- */

struct verify_opts {
	const char *table, *pubkey, *sig, *state;
};

/* The serial of the last table accepted, kept next to the table unless
 * told otherwise: a table older than that is a rollback. */
static void state_path(const struct verify_opts *v, char out[4096])
{
	if (v->state)
		snprintf(out, 4096, "%s", v->state);
	else
		snprintf(out, 4096, "%s.accepted", v->table);
}

static int read_state(const char *path, uint64_t *serial, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	unsigned long long s;

	*serial = 0;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;   /* the first table this member sees */
	int rc = table_file_read(path, 4096, &buf, &len, err, errlen);
	if (rc != 0)
		return rc;
	int ok = sscanf(buf, "serial %llu", &s) == 1;
	free(buf);
	if (!ok)
		return snprintf(err, errlen, "%.4000s: not a state file (serial N)", path), -EINVAL;
	*serial = s;
	return 0;
}

/* Verify the table as a member must before using it; on success t holds
 * it and the state file records its serial.  Returns CTL_OK, CTL_NO (the
 * table is refused, with the reason said) or CTL_USAGE. */
static int verify(const struct verify_opts *v, int64_t now, struct table *t)
{
	char sigp[4096], statep[4096], err[8192], when[CH_INSTANT_LEN];
	char *buf = NULL, *sig = NULL;
	size_t len, slen;
	uint64_t last;
	EVP_PKEY *pub;
	int rc = CTL_NO;

	memset(t, 0, sizeof(*t));
	if (sig_path(v->table, v->sig, sigp))
		return CTL_USAGE;
	state_path(v, statep);
	if (table_load_key(v->pubkey, false, &pub, err, sizeof(err)) != 0) {
		ctl_err("%s", err);
		return CTL_USAGE;
	}
	if (table_file_read(v->table, TABLE_MAX, &buf, &len, err, sizeof(err)) != 0 ||
	    table_file_read(sigp, TABLE_SIG_MAX, &sig, &slen, err, sizeof(err)) != 0) {
		ctl_err("refused: %s", err);
		goto out;
	}
	/* The signature before anything else is read from the table. */
	if (table_verify(pub, buf, len, (unsigned char *)sig, slen) != 0) {
		ctl_err("refused: %s: the signature does not match: the table was changed, or "
		        "signed with another key than %s", v->table, v->pubkey);
		goto out;
	}
	if (table_parse(buf, len, t, err, sizeof(err)) != 0) {
		ctl_err("refused: %s: %s", v->table, err);
		goto out;
	}
	if (now >= t->expires) {
		ch_instant_format(t->expires, when);
		ctl_err("refused: %s: expired at %s", v->table, when);
		goto out;
	}
	if (t->made > now + CLOCK_SKEW) {
		ch_instant_format(t->made, when);
		ctl_err("refused: %s: made in the future (%s): check the clocks", v->table, when);
		goto out;
	}
	if (read_state(statep, &last, err, sizeof(err)) != 0) {
		ctl_err("%s", err);
		rc = CTL_USAGE;
		goto out;
	}
	if (t->serial < last) {
		ctl_err("refused: %s: serial %llu is older than serial %llu, accepted before "
		        "(a rollback; %s keeps the last one)", v->table, (unsigned long long)t->serial,
		        (unsigned long long)last, statep);
		goto out;
	}
	char line[64];
	int n = snprintf(line, sizeof(line), "serial %llu\n", (unsigned long long)t->serial);
	if (t->serial != last && table_file_write_atomic(statep, line, (size_t)n, err, sizeof(err)) != 0) {
		ctl_err("%s", err);
		rc = CTL_USAGE;
		goto out;
	}
	rc = CTL_OK;
out:
	if (rc != CTL_OK)
		table_free(t);
	EVP_PKEY_free(pub);
	free(buf);
	free(sig);
	return rc;
}

static int verify_args(int argc, char **argv, struct verify_opts *v, const char **self,
                       const char **local, const char **format, const char **out)
{
	static const struct option opts[] = {
		{ "pubkey", required_argument, NULL, 'p' },
		{ "sig", required_argument, NULL, 'g' },
		{ "state", required_argument, NULL, 's' },
		{ "for", required_argument, NULL, 'f' },
		{ "local-policy", required_argument, NULL, 'l' },
		{ "format", required_argument, NULL, 'F' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	bool render = self != NULL;
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': v->pubkey = optarg; break;
		case 'g': v->sig = optarg; break;
		case 's': v->state = optarg; break;
		case 'f': if (render) { *self = optarg; break; } return CTL_USAGE;
		case 'l': if (render) { *local = optarg; break; } return CTL_USAGE;
		case 'F': if (render) { *format = optarg; break; } return CTL_USAGE;
		case 'o': if (render) { *out = optarg; break; } return CTL_USAGE;
		default: return CTL_USAGE;
		}
	}
	if (ctl_nargs(argc, argv, optind, 1))
		return CTL_USAGE;
	v->table = argv[optind];
	if (!v->pubkey) {
		ctl_err("%s: needs --pubkey PUB", argv[0]);
		return CTL_USAGE;
	}
	if (render && (!*self || !*local || !*format || !*out)) {
		ctl_err("render-table: needs --for DOMAIN, --local-policy FILE, --format FORMAT "
		        "and --out FILE");
		return CTL_USAGE;
	}
	return CTL_OK;
}

int cmd_verify_table(struct ctl *c, int argc, char **argv)
{
	struct verify_opts v = { 0 };
	struct table t;
	char made[CH_INSTANT_LEN], expires[CH_INSTANT_LEN];
	int rc;

	(void)c;
	if ((rc = verify_args(argc, argv, &v, NULL, NULL, NULL, NULL)) != CTL_OK)
		return rc;
	if ((rc = verify(&v, (int64_t)time(NULL), &t)) != CTL_OK)
		return rc;
	ch_instant_format(t.made, made);
	ch_instant_format(t.expires, expires);
	printf("ok: %s: %s serial %llu, %zu members, made %s, valid until %s\n", v.table, t.zone,
	       (unsigned long long)t.serial, t.nmembers, made, expires);
	table_free(&t);
	return CTL_OK;
}

int cmd_render_table(struct ctl *c, int argc, char **argv)
{
	struct verify_opts v = { 0 };
	const char *self_raw = NULL, *local = NULL, *format = NULL, *out = NULL;
	char self[PDB_NAME_MAX + 1], err[8192];
	enum render_format f;
	struct pf_local lp = { 0 };
	struct allowed a = { 0 };
	struct table t = { 0 };
	char *text = NULL;
	size_t tlen = 0;
	FILE *mem = NULL;
	int rc;

	(void)c;
	if ((rc = verify_args(argc, argv, &v, &self_raw, &local, &format, &out)) != CTL_OK)
		return rc;
	if (!strcmp(format, "prosody"))
		f = RENDER_PROSODY;
	else if (!strcmp(format, "ejabberd"))
		f = RENDER_EJABBERD;
	else if (!strcmp(format, "list"))
		f = RENDER_LIST;
	else {
		ctl_err("render-table: --format is prosody, ejabberd or list");
		return CTL_USAGE;
	}
	if (ctl_name(self_raw, self) != CTL_OK)
		return CTL_USAGE;
	/* The local policy before the table: a mistake there must not cost
	 * the table's state an update. */
	if (pf_read_local(local, &lp, err, sizeof(err)) != 0) {
		ctl_err("render-table: %s", err);
		rc = CTL_USAGE;
		goto out;
	}
	int64_t now = (int64_t)time(NULL);
	if ((rc = verify(&v, now, &t)) != CTL_OK)
		goto out;
	rc = CTL_NO;
	const struct table_member *me = table_find(&t, self);
	if (!me) {
		ctl_err("render-table: %s is not a member in %s", self, v.table);
		goto out;
	}
	if (me->status != PDB_ACTIVE)
		ctl_err("render-table: note: %s is %s in the table", self, pdb_status_name(me->status));
	rc = CTL_STORE;
	if (render_allowed(&t, self, &lp, now, &a) != 0 || !(mem = open_memstream(&text, &tlen)) ||
	    render_write(f, &t, self, &a, mem) != 0 || fclose(mem) != 0) {
		mem = NULL;
		ctl_err("render-table: out of memory");
		goto out;
	}
	mem = NULL;
	if (table_file_write_atomic(out, text, tlen, err, sizeof(err)) != 0) {
		ctl_err("render-table: %s", err);
		goto out;
	}
	printf("%s: %zu peers allowed for %s (table serial %llu)\n", out, a.n, self,
	       (unsigned long long)t.serial);
	rc = CTL_OK;
out:
	if (mem)
		fclose(mem);
	free(text);
	allowed_free(&a);
	table_free(&t);
	pf_local_free(&lp);
	return rc;
}
