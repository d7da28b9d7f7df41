/* Who may transfer which view: the transfer: rules of the configuration,
 * checked once at start-up, matched per transfer (first rule wins). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static int rule_error(const char *path, const struct cfg_record *r, char *err, size_t errlen,
                      const char *why, const char *what)
{
	snprintf(err, errlen, "%s:%zu:%zu: transfer: %s%s%s", path, r->line, r->column, why,
	         what ? ": " : "", what ? what : "");
	return DNSD_ECONFIG;
}

static bool key_known(const struct dnsd_config *c, const char *name)
{
	for (size_t i = 0; i < c->nkeys; i++)
		if (c->keys[i].v[DNSD_KEY_NAME] && strcasecmp(c->keys[i].v[DNSD_KEY_NAME], name) == 0)
			return true;
	return false;
}

static int rule_read(const struct dnsd_config *c, const struct cfg_record *r, const char *path,
                     struct dnsd__xfr_rule *out, char *err, size_t errlen)
{
	const char *key = r->v[DNSD_TRANSFER_KEY], *addr = r->v[DNSD_TRANSFER_ADDRESS];
	const char *view = r->v[DNSD_TRANSFER_VIEW], *why = NULL;

	memset(out, 0, sizeof(*out));
	if (!key && !addr)
		return rule_error(path, r, err, errlen, "a rule needs a key, an address or both", NULL);
	if (key) {
		if (!key_known(c, key))
			return rule_error(path, r, err, errlen, "no such key in keys:", key);
		if (strlen(key) >= sizeof(out->key))
			return rule_error(path, r, err, errlen, "key name too long", key);
		strcpy(out->key, key);
	}
	if (addr) {
		if (pdb_addr_parse(addr, true, &out->addr) != 0)
			return rule_error(path, r, err, errlen, "not an address or prefix", addr);
		out->has_addr = true;
	}
	if (view) {
		if (pdb_name_normalise(view, out->view, &why) != 0)
			return rule_error(path, r, err, errlen, "view is not a member's name", why);
		out->has_view = true;
	}
	return 0;
}

int dnsd_xfr_acl_new(const struct dnsd_config *c, const char *path, dnsd_xfr_acl **out,
                     char *err, size_t errlen)
{
	dnsd_xfr_acl *acl;
	const char *why = NULL;
	int rc = 0;

	if (!c || !out || !err)
		return -EINVAL;
	*out = NULL;
	if (!path)
		path = "configuration";
	if (!(acl = calloc(1, sizeof(*acl))) ||
	    (c->ntransfer && !(acl->v = calloc(c->ntransfer, sizeof(*acl->v))))) {
		free(acl);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->ntransfer && rc == 0; i++)
		rc = rule_read(c, &c->transfer[i], path, &acl->v[i], err, errlen);
	acl->n = c->ntransfer;
	if (rc == 0 && c->catalog) {
		char dot[PDB_NAME_MAX + 2];
		if (pdb_name_normalise(c->catalog, acl->catalog, &why) != 0) {
			snprintf(err, errlen, "%s: catalog: not a domain name: %s", path, why ? why : "?");
			rc = DNSD_ECONFIG;
		} else {
			snprintf(dot, sizeof(dot), "%s.", acl->catalog);
			if (!(acl->catalog_name = ldns_dname_new_frm_str(dot)))
				rc = -ENOMEM;
		}
	}
	if (rc) {
		dnsd_xfr_acl_free(acl);
		return rc;
	}
	*out = acl;
	return 0;
}

void dnsd_xfr_acl_free(dnsd_xfr_acl *acl)
{
	if (!acl)
		return;
	ldns_rdf_deep_free(acl->catalog_name);
	free(acl->v);
	free(acl);
}

void dnsd_engine_set_transfer(dnsd_engine *e, const dnsd_xfr_acl *acl)
{
	if (e)
		e->xfr_acl = acl;
}

const struct dnsd__xfr_rule *dnsd__xfr_acl_match(const dnsd_xfr_acl *acl,
                                                 const dnsd_tsig_keys *keys,
                                                 const struct dnsd_client *c,
                                                 const struct dnsd_tsig_key *key)
{
	for (size_t i = 0; acl && i < acl->n; i++) {
		const struct dnsd__xfr_rule *r = &acl->v[i];
		/* The key as verified, never a name the request merely gave. */
		if (r->key[0] && (!key || dnsd_tsig_key_find(keys, r->key) != key))
			continue;
		if (r->has_addr && !pdb_addr_in(&r->addr, c->family, c->addr))
			continue;
		return r;
	}
	return NULL;
}
