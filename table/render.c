/* Rendering the allow-list for the servers members already run: a plain
 * list, Prosody's mod_firewall rules, an ejabberd acl + s2s_access block. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "render.h"

static bool listed(char (*v)[PDB_NAME_MAX + 1], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], name))
			return true;
	return false;
}

/* A table member as a record, for policydb's rules: whether a member
 * counts and whether it meets a policy are decided there, for the push
 * model as for the clearinghouse.  table_parse allows at most
 * PDB_MAX_TAGS tags. */
static void as_record(const struct table_member *m, struct pdb_member *r)
{
	pdb_member_init(r);
	r->status = m->status;
	r->not_after = m->not_after;
	r->level = m->level;
	r->ntags = (uint8_t)m->ntags;
	for (size_t i = 0; i < m->ntags && i < PDB_MAX_TAGS; i++)
		r->tags[i] = pdb_str_of(m->tags[i]);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int render_allowed(const struct table *t, const char *self, const struct pf_local *lp,
                   int64_t now, struct allowed *out)
{
	if (!t || !self || !lp || !out)
		return -EINVAL;
	out->n = 0;
	if (!(out->names = calloc(t->nmembers + lp->nallow + 1, sizeof(*out->names))))
		return -ENOMEM;
	for (size_t i = 0; i < t->nmembers; i++) {
		const struct table_member *m = &t->members[i];
		struct pdb_member r;
		if (!strcmp(m->name, self) || listed(lp->deny, lp->ndeny, m->name))
			continue;
		as_record(m, &r);
		if (!pdb_member_valid_at(&r, now))
			continue;
		if (listed(lp->allow, lp->nallow, m->name) || pdb_policy_meets(&lp->policy, NULL, &r, NULL))
			out->names[out->n++] = m->name;
	}
	/* Exceptions for domains the federation does not list at all. */
	for (size_t i = 0; i < lp->nallow; i++)
		if (strcmp(lp->allow[i], self) && !table_find(t, lp->allow[i]))
			out->names[out->n++] = lp->allow[i];
	qsort(out->names, out->n, sizeof(*out->names), by_name);
	return 0;
}

void allowed_free(struct allowed *a)
{
	free(a->names);
	a->names = NULL;
	a->n = 0;
}

static void header(const struct table *t, const char *self, const struct allowed *a, FILE *out)
{
	char made[CH_INSTANT_LEN], expires[CH_INSTANT_LEN];

	ch_instant_format(t->made, made);
	ch_instant_format(t->expires, expires);
	fprintf(out,
	        "# Federation allow-list of %s: %zu peer%s.\n"
	        "# From the %s policy table, serial %llu, made %s, valid until %s.\n"
	        "# Written by policyctl render-table; edit the local policy, not this file.\n",
	        self, a->n, a->n == 1 ? "" : "s", t->zone, (unsigned long long)t->serial, made,
	        expires);
}

/* mod_firewall (prosody-modules): a zone of self and its allowed peers.
 * A message leaving the zone, or entering it from outside, is bounced
 * with a reason; anything else crossing the border is dropped.  Bouncing
 * only messages matters: mod_firewall 0.12 fails on BOUNCE of a stanza
 * the server made itself (a dialback verify has no session), and a
 * dropped verify is what refuses the peer's stream.  Put
 * firewall_scripts in the VirtualHost of self. */
static void prosody(const struct allowed *a, const char *self, FILE *out)
{
	fprintf(out, "\n%%ZONE federation: %s", self);
	for (size_t i = 0; i < a->n; i++)
		fprintf(out, ", %s", a->names[i]);
	fprintf(out,
	        "\n\n"
	        "# to a remote server outside the allow-list\n"
	        "::deliver_remote\n"
	        "LEAVING: federation\n"
	        "KIND: message\n"
	        "BOUNCE=policy-violation (not in the federation allow-list of %s)\n"
	        "\n"
	        "LEAVING: federation\n"
	        "DROP.\n"
	        "\n"
	        "# from a remote server outside the allow-list\n"
	        "::deliver\n"
	        "ENTERING: federation\n"
	        "KIND: message\n"
	        "BOUNCE=policy-violation (not in the federation allow-list of %s)\n"
	        "\n"
	        "ENTERING: federation\n"
	        "DROP.\n",
	        self, self);
}

/* ejabberd: an acl of the peers and an access rule that s2s_access uses;
 * a server that matches no rule is denied.  Include it with
 * include_config_file. */
static void ejabberd(const struct allowed *a, FILE *out)
{
	fprintf(out, "\nacl:\n  federation_peers:\n    server:");
	if (a->n == 0)
		fprintf(out, " []");
	for (size_t i = 0; i < a->n; i++)
		fprintf(out, "\n      - \"%s\"", a->names[i]);
	fprintf(out,
	        "\n\naccess_rules:\n"
	        "  federation_s2s:\n"
	        "    allow: federation_peers\n"
	        "\n"
	        "s2s_access: federation_s2s\n");
}

int render_write(enum render_format f, const struct table *t, const char *self,
                 const struct allowed *a, FILE *out)
{
	switch (f) {
	case RENDER_LIST:
		/* Only names: what scripts and block-list tools read. */
		for (size_t i = 0; i < a->n; i++)
			fprintf(out, "%s\n", a->names[i]);
		break;
	case RENDER_PROSODY:
		header(t, self, a, out);
		prosody(a, self, out);
		break;
	case RENDER_EJABBERD:
		header(t, self, a, out);
		ejabberd(a, out);
		break;
	}
	return ferror(out) ? -EIO : 0;
}
