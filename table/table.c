/* The policy table: building it from the store, and reading it back with
 * every field checked. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "date.h"
#include "internal.h"

/* An instant, and in the one spelling the signer writes: a table is
 * signed bytes, so two spellings of one time would be two tables. */
static int parse_instant(const char *s, int64_t *out)
{
	char again[CH_INSTANT_LEN];
	int64_t t;

	if (ch_instant_parse(s, &t) != 0)
		return -EINVAL;
	ch_instant_format(t, again);
	if (strcmp(again, s))
		return -EINVAL;
	*out = t;
	return 0;
}

/* ---- building ---- */

static json_t *member_json(const struct pdb_member *m)
{
	json_t *o = json_object(), *tags = json_array();
	char na[CH_INSTANT_LEN];

	if (!o || !tags) {
		json_decref(o);
		json_decref(tags);
		return NULL;
	}
	json_object_set_new(o, "level", json_integer(m->level));
	json_object_set_new(o, "status", json_string(pdb_status_name(m->status)));
	for (unsigned i = 0; i < m->ntags; i++)
		json_array_append_new(tags, json_stringn(m->tags[i].p, m->tags[i].len));
	json_object_set_new(o, "tags", tags);
	if (m->not_after) {
		/* The last valid second, as the policy file writes it. */
		ch_instant_format(m->not_after - 1, na);
		json_object_set_new(o, "not-after", json_string(na));
	}
	return o;
}

static int add_member(void *arg, const char *name, const struct pdb_member *m)
{
	json_t *v = member_json(m);
	if (!v || json_object_set_new(arg, name, v) != 0)
		return -ENOMEM;
	return 0;
}

int table_build(pdb_txn *txn, int64_t now, int64_t valid, char **out, size_t *len)
{
	struct pdb_community c;
	uint64_t serial;
	json_t *root = json_object(), *members = json_object(), *levels = json_object();
	char made[CH_INSTANT_LEN], expires[CH_INSTANT_LEN];
	int rc;

	if (!root || !members || !levels) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = pdb_get_community(txn, &c)) != 0 || (rc = pdb_serial(txn, &serial)) != 0 ||
	    (rc = pdb_walk_members(txn, add_member, members)) != 0)
		goto out;
	for (unsigned i = 0; i < c.nlevels; i++) {
		char k[4];
		snprintf(k, sizeof(k), "%u", c.levels[i].level);
		json_object_set_new(levels, k, json_stringn(c.levels[i].name.p, c.levels[i].name.len));
	}
	ch_instant_format(now, made);
	ch_instant_format(now + valid, expires);
	json_object_set_new(root, "format", json_integer(TABLE_FORMAT));
	json_object_set_new(root, "zone", json_stringn(c.zone.p, c.zone.len));
	json_object_set_new(root, "serial", json_integer((json_int_t)serial));
	json_object_set_new(root, "made", json_string(made));
	json_object_set_new(root, "expires", json_string(expires));
	json_object_set_new(root, "levels", levels);
	json_object_set_new(root, "members", members);
	levels = members = NULL;
	/* Sorted keys: the same store gives the same bytes. */
	*out = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_ENSURE_ASCII);
	if (!*out) {
		rc = -ENOMEM;
		goto out;
	}
	*len = strlen(*out);
out:
	json_decref(root);
	json_decref(members);
	json_decref(levels);
	return rc;
}

/* ---- reading ---- */

int table__say(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

#define bad(err, errlen, ...) table__say(TABLE_EINVALID, (err), (errlen), __VA_ARGS__)

/* Only these keys, each of the right JSON type. */
static int keys_known(json_t *o, const char *where, const char *const *known, char *err,
                      size_t errlen)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		size_t i = 0;
		while (known[i] && strcmp(known[i], k))
			i++;
		if (!known[i])
			return bad(err, errlen, "%s: unknown key '%s'", where, k);
	}
	return 0;
}

static int get_int(json_t *o, const char *key, const char *where, json_int_t max,
                   json_int_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return bad(err, errlen, "%s: '%s' must be a whole number", where, key);
	*out = json_integer_value(v);
	if (*out < 0 || *out > max)
		return bad(err, errlen, "%s: '%s' is out of range", where, key);
	return 0;
}

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	/* A NUL inside a JSON string would cut a C string short. */
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static bool is_normal_name(const char *s)
{
	char n[PDB_NAME_MAX + 1];
	const char *why;
	return pdb_name_normalise(s, n, &why) == 0 && !strcmp(n, s);
}

static bool is_normal_tag(const char *s)
{
	char n[PDB_TAG_MAX + 1];
	const char *why;
	return pdb_tag_normalise(s, n, &why) == 0 && !strcmp(n, s);
}

static int read_member(const char *name, json_t *o, struct table_member *m, char *err,
                       size_t errlen)
{
	static const char *const known[] = { "level", "status", "tags", "not-after", NULL };
	json_int_t level;
	const char *status, *na;
	json_t *tags;
	int rc;

	if (!is_normal_name(name))
		return bad(err, errlen, "member '%s': not a domain name in normal form", name);
	if (!json_is_object(o))
		return bad(err, errlen, "member %s: not an object", name);
	if ((rc = keys_known(o, name, known, err, errlen)) != 0 ||
	    (rc = get_int(o, "level", name, 255, &level, err, errlen)) != 0)
		return rc;
	m->name = name;
	m->level = (uint8_t)level;
	if (!(status = get_str(o, "status")))
		return bad(err, errlen, "member %s: no status", name);
	if (!strcmp(status, "active")) m->status = PDB_ACTIVE;
	else if (!strcmp(status, "suspended")) m->status = PDB_SUSPENDED;
	else if (!strcmp(status, "revoked")) m->status = PDB_REVOKED;
	else return bad(err, errlen, "member %s: unknown status '%s'", name, status);
	m->not_after = 0;
	if (json_object_get(o, "not-after")) {
		if (!(na = get_str(o, "not-after")) || parse_instant(na, &m->not_after) != 0)
			return bad(err, errlen, "member %s: not-after is not an instant "
			                        "like 2027-12-31T23:59:59Z", name);
		m->not_after++;   /* the first second no longer valid */
	}
	tags = json_object_get(o, "tags");
	if (!json_is_array(tags) || json_array_size(tags) > PDB_MAX_TAGS)
		return bad(err, errlen, "member %s: tags must be a list of at most %d", name,
		           PDB_MAX_TAGS);
	m->ntags = json_array_size(tags);
	if (!(m->tags = calloc(m->ntags + 1, sizeof(*m->tags))))
		return table__say(-ENOMEM, err, errlen, "out of memory");
	for (size_t i = 0; i < m->ntags; i++) {
		json_t *t = json_array_get(tags, i);
		const char *s = json_is_string(t) ? json_string_value(t) : NULL;
		if (!s || strlen(s) != json_string_length(t) || !is_normal_tag(s))
			return bad(err, errlen, "member %s: tag %zu is not a tag in normal form", name, i + 1);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(m->tags[j], s))
				return bad(err, errlen, "member %s: tag '%s' twice", name, s);
		m->tags[i] = s;
	}
	return 0;
}

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct table_member *)a)->name, ((const struct table_member *)b)->name);
}

/* A level key as the signer writes it: decimal digits only, 0..255, no
 * sign, space or leading zero, so that each level has exactly one key.
 * Returns the level or -1. */
static int level_key(const char *k)
{
	size_t n = strlen(k);
	int l = 0;

	if (n == 0 || n > 3 || (k[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (k[i] < '0' || k[i] > '9')
			return -1;
		l = l * 10 + (k[i] - '0');
	}
	return l > 255 ? -1 : l;
}

static int read_levels(json_t *o, struct table *t, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return bad(err, errlen, "levels: not an object");
	json_object_foreach(o, k, v) {
		int l = level_key(k);
		/* Distinct keys are distinct levels, so levels[] cannot overflow;
		 * the count is checked all the same. */
		if (l < 0 || t->nlevels >= sizeof(t->levels) / sizeof(t->levels[0]) || !json_is_string(v) ||
		    json_string_length(v) == 0 || json_string_length(v) > PDB_TAG_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return bad(err, errlen, "levels: '%s' must be a level 0..255 with a short name", k);
		t->levels[t->nlevels].level = (uint8_t)l;
		t->levels[t->nlevels].name = json_string_value(v);
		t->nlevels++;
	}
	return 0;
}

int table_parse(const char *buf, size_t len, struct table *t, char *err, size_t errlen)
{
	static const char *const known[] = { "format", "zone", "serial", "made", "expires",
		                             "levels", "members", NULL };
	json_error_t je;
	json_t *root, *members, *v;
	json_int_t format, serial;
	const char *k;
	int rc;

	memset(t, 0, sizeof(*t));
	/* Duplicate keys are refused: a second entry for a member must not
	 * quietly replace the first. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return bad(err, errlen, "not a table: line %d column %d: %s", je.line, je.column,
		           je.text);
	t->json = root;
	if (!json_is_object(root))
		return bad(err, errlen, "not a table: the top level is not an object");
	/* The format first: a newer table is refused for that reason, not for
	 * a key this code does not know. */
	if ((rc = get_int(root, "format", "table", INT_MAX, &format, err, errlen)) != 0)
		return rc;
	if (format != TABLE_FORMAT)
		return bad(err, errlen, "table format %lld is %s than this policyctl reads (%d)",
		           (long long)format, format > TABLE_FORMAT ? "newer" : "other", TABLE_FORMAT);
	if ((rc = keys_known(root, "table", known, err, errlen)) != 0 ||
	    (rc = get_int(root, "serial", "table", (json_int_t)1 << 53, &serial, err, errlen)) != 0)
		return rc;
	t->serial = (uint64_t)serial;
	if (!(t->zone = get_str(root, "zone")) || !is_normal_name(t->zone))
		return bad(err, errlen, "table: zone is not a domain name in normal form");
	if (!get_str(root, "made") || parse_instant(get_str(root, "made"), &t->made) ||
	    !get_str(root, "expires") || parse_instant(get_str(root, "expires"), &t->expires))
		return bad(err, errlen, "table: made and expires must be instants like "
		                        "2026-11-27T08:00:00Z");
	if (t->expires <= t->made)
		return bad(err, errlen, "table: it expires before it was made");
	if ((rc = read_levels(json_object_get(root, "levels"), t, err, errlen)) != 0)
		return rc;
	members = json_object_get(root, "members");
	if (!json_is_object(members))
		return bad(err, errlen, "table: members is not an object");
	if (!(t->members = calloc(json_object_size(members) + 1, sizeof(*t->members))))
		return table__say(-ENOMEM, err, errlen, "out of memory");
	json_object_foreach(members, k, v) {
		struct table_member *m = &t->members[t->nmembers++];
		if ((rc = read_member(k, v, m, err, errlen)) != 0)
			return rc;
	}
	qsort(t->members, t->nmembers, sizeof(*t->members), member_cmp);
	return 0;
}

void table_free(struct table *t)
{
	for (size_t i = 0; t->members && i < t->nmembers; i++)
		free(t->members[i].tags);
	free(t->members);
	json_decref(t->json);
	memset(t, 0, sizeof(*t));
}

const struct table_member *table_find(const struct table *t, const char *name)
{
	struct table_member key = { .name = name };
	if (!t->nmembers)
		return NULL;
	return bsearch(&key, t->members, t->nmembers, sizeof(key), member_cmp);
}
