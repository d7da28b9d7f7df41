/* The YAML event cursor under every reader here: a recursive descent over
 * libyaml's event stream, so that a million members never become a
 * document tree in memory.  Value parsers work on the current event; every
 * error names the file, line and column of the value at fault. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int pf__fail_at(struct pf__yp *y, yaml_mark_t m, const char *fmt, ...)
{
	/* A value typed on the command line has no file to point into. */
	int n = y->file ? snprintf(y->err, y->errlen, "%s:%zu:%zu: ", y->file, m.line + 1, m.column + 1)
	                : snprintf(y->err, y->errlen, "%s", "");
	va_list ap;

	y->error = PF_EINVALID;
	if (n >= 0 && (size_t)n < y->errlen) {
		va_start(ap, fmt);
		vsnprintf(y->err + n, y->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int pf__oom(struct pf__yp *y)
{
	pf__fail(y, "out of memory");
	y->error = -ENOMEM;
	return -1;
}

int pf__next(struct pf__yp *y)
{
	if (y->have_ev)
		yaml_event_delete(&y->ev);
	y->have_ev = false;
	if (!yaml_parser_parse(&y->parser, &y->ev)) {
		/* A key past YAML's 1024-character limit is no key: libyaml
		 * gives up at the ':' after it, far away on the line. */
		if (y->parser.context && strstr(y->parser.context, "simple key") &&
		    y->parser.problem_mark.index - y->parser.context_mark.index > 1024)
			return pf__fail_at(y, y->parser.context_mark, "key too long: YAML allows 1024 "
			               "characters, and a member name has at most %d octets", PDB_NAME_MAX);
		return pf__fail_at(y, y->parser.problem_mark, "YAML syntax error: %s%s%s",
		               y->parser.problem ? y->parser.problem : "unknown",
		               y->parser.context ? " " : "",
		               y->parser.context ? y->parser.context : "");
	}
	y->have_ev = true;
	switch (y->ev.type) {
	case YAML_ALIAS_EVENT:
		/* Aliases let a small file expand without bound. */
		return pf__fail(y, "YAML aliases (*name) are not accepted in a policy file");
	case YAML_SCALAR_EVENT:
		if (strlen((char *)y->ev.data.scalar.value) != y->ev.data.scalar.length)
			return pf__fail(y, "a value contains a NUL character");
		break;
	default:
		break;
	}
	return 0;
}

/* ---- reading values from the current event ---- */

int pf__cur_scalar(struct pf__yp *y, const char *what, const char **s)
{
	*s = "";
	if (y->ev.type != YAML_SCALAR_EVENT)
		return pf__fail(y, "%s must be a single value, not a list or mapping", what);
	*s = pf__cur_text(y);
	return 0;
}

int pf__cur_map(struct pf__yp *y, const char *what)
{
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return pf__fail(y, "%s must be a mapping (key: value)", what);
	return 0;
}

int pf__cur_seq(struct pf__yp *y, const char *what)
{
	if (y->ev.type != YAML_SEQUENCE_START_EVENT)
		return pf__fail(y, "%s must be a list, like [a, b]", what);
	return 0;
}

/* Next key of the mapping: 1 with y->key set and the value as the current
 * event, 0 at the end of the mapping. */
int pf__map_next(struct pf__yp *y)
{
	if (pf__next(y))
		return -1;
	if (y->ev.type == YAML_MAPPING_END_EVENT)
		return 0;
	if (y->ev.type != YAML_SCALAR_EVENT)
		return pf__fail(y, "a key must be a single word, not a list or mapping");
	if (y->ev.data.scalar.length >= sizeof(y->key))
		return pf__fail(y, "key longer than %zu characters", sizeof(y->key) - 1);
	memcpy(y->key, pf__cur_text(y), y->ev.data.scalar.length + 1);
	y->key_mark = y->ev.start_mark;
	return pf__next(y) ? -1 : 1;
}

/* Next item of the list: 1 with the item as the current event, 0 at its end. */
int pf__seq_next(struct pf__yp *y)
{
	if (pf__next(y))
		return -1;
	return y->ev.type == YAML_SEQUENCE_END_EVENT ? 0 : 1;
}

int pf__unknown_key(struct pf__yp *y, const char *where, const char *known)
{
	return pf__fail_at(y, y->key_mark, "unknown key '%s' in %s (known: %s)", y->key, where, known);
}

/* Keys seen in one mapping, to refuse a key given twice. */
int pf__once(struct pf__yp *y, unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return pf__fail_at(y, y->key_mark, "key '%s' is given twice", y->key);
	*seen |= bit;
	return 0;
}

int pf__cur_uint(struct pf__yp *y, const char *what, unsigned long max, unsigned long *out)
{
	const char *s;
	char *end;

	if (pf__cur_scalar(y, what, &s))
		return -1;
	errno = 0;
	if (*s < '0' || *s > '9')
		return pf__fail(y, "%s must be a whole number from 0 to %lu, not '%s'", what, max, s);
	*out = strtoul(s, &end, 10);
	if (*end || errno || *out > max)
		return pf__fail(y, "%s must be a whole number from 0 to %lu, not '%s'", what, max, s);
	return 0;
}

int pf__cur_level(struct pf__yp *y, const char *what, uint8_t *out)
{
	unsigned long v;
	if (pf__cur_uint(y, what, 255, &v))
		return -1;
	*out = (uint8_t)v;
	return 0;
}

/* Keep a copy of s in the scratch buffer, for a pdb_str to point at. */
int pf__keep(struct pf__yp *y, const char *s, size_t n, pdb_str *out)
{
	if (n > UINT16_MAX || PF_SCRATCH_MAX - y->scratch_len < n + 1)
		return pf__fail(y, "too much text in one entry");
	memcpy(y->scratch + y->scratch_len, s, n);
	y->scratch[y->scratch_len + n] = '\0';
	*out = (pdb_str){ y->scratch + y->scratch_len, (uint16_t)n };
	y->scratch_len += n + 1;
	return 0;
}

int pf__name_in(struct pf__yp *y, const char *s, const char *what, char out[PDB_NAME_MAX + 1])
{
	const char *why;
	if (pdb_name_normalise(s, out, &why) != 0)
		return pf__fail(y, "bad %s '%s': %s", what, s, why);
	return 0;
}

int pf__cur_name(struct pf__yp *y, const char *what, pdb_str *out)
{
	char n[PDB_NAME_MAX + 1];
	const char *s;
	if (pf__cur_scalar(y, what, &s) || pf__name_in(y, s, what, n))
		return -1;
	return pf__keep(y, n, strlen(n), out);
}

int pf__cur_text_value(struct pf__yp *y, const char *what, pdb_str *out)
{
	const char *s;
	if (pf__cur_scalar(y, what, &s))
		return -1;
	if (y->ev.data.scalar.length > PDB_TEXT_MAX)
		return pf__fail(y, "%s is longer than %d bytes", what, PDB_TEXT_MAX);
	return pf__keep(y, s, y->ev.data.scalar.length, out);
}

int pf__tag_list(struct pf__yp *y, const char *what, pdb_str *tags, uint8_t *n)
{
	int rc;

	if (pf__cur_seq(y, what))
		return -1;
	*n = 0;
	while ((rc = pf__seq_next(y)) == 1) {
		char t[PDB_TAG_MAX + 1];
		const char *s, *why;
		if (pf__cur_scalar(y, "a tag", &s))
			return -1;
		if (pdb_tag_normalise(s, t, &why) != 0)
			return pf__fail(y, "bad tag '%s' in %s: %s", s, what, why);
		if (*n >= PDB_MAX_TAGS)
			return pf__fail(y, "%s has more than %d tags", what, PDB_MAX_TAGS);
		if (pf__keep(y, t, strlen(t), &tags[*n]))
			return -1;
		for (unsigned i = 0; i < *n; i++)
			if (pdb_str_eq(tags[i], tags[*n]))
				return pf__fail(y, "tag '%s' is listed twice in %s", t, what);
		(*n)++;
	}
	return rc;
}

int pf__grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}
