/* One key of a member, for `policyctl set`: the value is read as the
 * policy file's value of that key would be, straight into the record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* What a YAML file may hold (YAML 1.1 "printable"), in valid UTF-8: a
 * policy file could carry nothing else, and export must be able to write
 * back whatever set stored. */
static bool printable_utf8(const char *text, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;

	for (size_t i = 0; i < n;) {
		unsigned c = s[i], len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
		                                   (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp;

		if (len == 0 || n - i < len)
			return false;
		cp = len == 1 ? c : c & (0x7fu >> len);
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		/* The shortest form only, as UTF-8 demands. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
			return false;
		if (!(cp == 0x09 || cp == 0x0a || cp == 0x0d || (cp >= 0x20 && cp <= 0x7e) ||
		      cp == 0x85 || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
		      (cp >= 0x10000 && cp <= 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}

/* contact and note are text, taken as typed. */
static int set_text(struct pf__yp *y, const char *value, pdb_str *out)
{
	size_t n = strlen(value);

	if (!printable_utf8(value, n))
		return pf__fail(y, "%s must be UTF-8 text without control characters", y->key);
	if (n > PDB_TEXT_MAX)
		return pf__fail(y, "%s is longer than %d bytes", y->key, PDB_TEXT_MAX);
	return pf__keep(y, value, n, out);
}

/* Any other key's value is YAML, as in the file: the value alone is one
 * YAML document, whose root node becomes the current event.  An empty
 * value has no document; it is the empty scalar that "key:" in the file
 * gives. */
static int value_start(struct pf__yp *y)
{
	if (pf__next(y) || pf__next(y))   /* stream start; document start or stream end */
		return -1;
	if (y->ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&y->ev);
		y->have_ev = false;
		if (!yaml_scalar_event_initialize(&y->ev, NULL, NULL, (yaml_char_t *)"", 0, 1, 1,
		                                  YAML_PLAIN_SCALAR_STYLE))
			return pf__oom(y);
		y->have_ev = true;
		return 1;
	}
	return pf__next(y);
}

/* After the value: nothing but the end of its document and of the stream. */
static int value_end(struct pf__yp *y, bool empty)
{
	if (empty)
		return 0;
	if (pf__next(y) || pf__next(y))
		return -1;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return pf__fail(y, "one KEY VALUE at a time");
	return 0;
}

int pf_set_member_key(struct pdb_member *m, const char *key, const char *value,
                      struct pf_scratch *s, char *err, size_t errlen)
{
	struct pf__yp y = { .file = NULL, .err = err, .errlen = errlen };
	unsigned seen = 0;
	int rc, empty;

	if (!m || !key || !value || !s || !err || errlen == 0)
		return -EINVAL;
	y.scratch = s->text;
	if (strlen(key) >= sizeof(y.key))
		return pf__fail(&y, "key longer than %zu characters", sizeof(y.key) - 1), PF_EINVALID;
	strcpy(y.key, key);
	if (!strcmp(key, "contact"))
		return pf__result(&y, set_text(&y, value, &m->contact));
	if (!strcmp(key, "note"))
		return pf__result(&y, set_text(&y, value, &m->note));

	yaml_parser_initialize(&y.parser);
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)value, strlen(value));
	rc = empty = value_start(&y);
	if (rc >= 0) {
		/* A policy key replaces only its own field: the rest of the
		 * member's policy stays. */
		rc = pf__policy_key(&y, &m->policy, &seen);
		if (rc == 0)
			rc = pf__member_field(&y, m, &seen, s->pins);
		else if (rc == 1)
			rc = 0;
		if (rc == PF__NOT_A_MEMBER_KEY)
			rc = pf__unknown_key(&y, "a member", pf__member_keys);
	}
	if (rc == 0)
		rc = value_end(&y, empty == 1);
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	return pf__result(&y, rc);
}
