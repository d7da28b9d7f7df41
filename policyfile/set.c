/* One key of a member, for `policyctl set`. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- one key, for policyctl set ---- */

static bool is_policy_key(const char *k)
{
	return !strcmp(k, "min-peer-level") || !strcmp(k, "require-tags") || !strcmp(k, "forbid-tags");
}

int pf_set_member_key(struct pdb_member *m, const char *key, const char *value,
                      struct pf_scratch *s, char *err, size_t errlen)
{
	struct pf__yp y = { .file = NULL, .err = err, .errlen = errlen, .scratch = s->text };
	size_t n = strlen(value) * 2 + strlen(key) + 64;
	char *doc = malloc(n), *p;
	unsigned seen = 0;
	bool text = !strcmp(key, "contact") || !strcmp(key, "note");
	int rc;

	if (!doc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Text is taken as typed; anything else is YAML flow, as in the file. */
	p = doc + sprintf(doc, is_policy_key(key) ? "policy: {%s: " : "%s: ", key);
	if (text) {
		*p++ = '"';
		for (const char *v = value; *v; v++) {
			if (*v == '"' || *v == '\\')
				*p++ = '\\';
			*p++ = *v;
		}
		*p++ = '"';
		*p = '\0';
	} else {
		p += sprintf(p, "%s", value);
	}
	if (is_policy_key(key))
		strcat(p, "}");
	yaml_parser_initialize(&y.parser);
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)doc, strlen(doc));
	rc = pf__next(&y) || pf__next(&y) || pf__next(&y) || pf__cur_map(&y, "a setting") ? -1 : 0;
	if (rc == 0 && (rc = pf__map_next(&y)) == 1) {
		/* The policy sub-keys replace only what is given, so start from
		 * the member's own policy. */
		rc = pf__member_field(&y, m, &seen, s->pins);
		if (rc == PF__NOT_A_MEMBER_KEY)
			rc = pf__unknown_key(&y, "a member", pf__member_keys);
	} else if (rc == 0) {
		rc = pf__fail(&y, "no value given");
	}
	if (rc == 0 && (pf__map_next(&y) != 0))
		rc = pf__fail(&y, "one KEY VALUE at a time");
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	free(doc);
	return rc ? -1 : 0;
}

