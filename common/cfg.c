/* The shared configuration reader: a flat YAML mapping of settings,
 * read with libyaml event by event so every error has a line and column. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cfg.h"

struct reader {
	yaml_parser_t p;
	yaml_event_t ev;
	bool have;
	const char *path;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, r->errlen, "%s:%zu:%zu: ", r->path, r->ev.start_mark.line + 1,
	                 r->ev.start_mark.column + 1);

	if (n >= 0 && (size_t)n < r->errlen) {
		va_start(ap, fmt);
		vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int next(struct reader *r)
{
	if (r->have)
		yaml_event_delete(&r->ev);
	r->have = false;
	if (!yaml_parser_parse(&r->p, &r->ev)) {
		snprintf(r->err, r->errlen, "%s:%zu:%zu: YAML syntax error: %s", r->path,
		         r->p.problem_mark.line + 1, r->p.problem_mark.column + 1,
		         r->p.problem ? r->p.problem : "?");
		return -EINVAL;
	}
	r->have = true;
	if (r->ev.type == YAML_ALIAS_EVENT)
		return fail(r, "aliases are not allowed");
	return 0;
}

static const char *scalar(struct reader *r)
{
	return (const char *)r->ev.data.scalar.value;
}

char *cfg_path(const char *config, const char *p)
{
	const char *slash = strrchr(config, '/');
	size_t dlen = slash ? (size_t)(slash - config) + 1 : 0;
	char *out;

	if (p[0] == '/' || dlen == 0)
		return strdup(p);
	if (!(out = malloc(dlen + strlen(p) + 1)))
		return NULL;
	memcpy(out, config, dlen);
	strcpy(out + dlen, p);
	return out;
}

int cfg_number(const char *name, const char *s, unsigned long max, unsigned *out, char *err,
               size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || !*s || s[0] == '-' || errno || v == 0 || v > max) {
		snprintf(err, errlen, "%s takes a number from 1 to %lu, not '%s'", name, max, s);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int one(struct reader *r, const struct cfg_key *k, const char *s, char **out)
{
	bool path = k->type == CFG_PATH || k->type == CFG_PATH_LIST;
	(void)r;
	return (*out = path ? cfg_path(r->path, s) : strdup(s)) ? 0 : -ENOMEM;
}

static int list(struct reader *r, const struct cfg_key *k)
{
	char **v = k->out;
	int rc;

	if (r->ev.type == YAML_SCALAR_EVENT) {
		/* One value needs no brackets. */
		if (*k->count >= CFG_LIST_MAX)
			return fail(r, "%s holds at most %d values", k->name, CFG_LIST_MAX);
		return one(r, k, scalar(r), &v[(*k->count)++]);
	}
	if (r->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(r, "%s takes a list", k->name);
	while ((rc = next(r)) == 0 && r->ev.type != YAML_SEQUENCE_END_EVENT) {
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "%s takes a list of single values", k->name);
		if (*k->count >= CFG_LIST_MAX)
			return fail(r, "%s holds at most %d values", k->name, CFG_LIST_MAX);
		if ((rc = one(r, k, scalar(r), &v[(*k->count)++])) != 0)
			return rc;
	}
	return rc;
}

void cfg_records_free(struct cfg_record *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		for (size_t j = 0; j < CFG_FIELDS_MAX; j++)
			free(r[i].v[j]);
		memset(&r[i], 0, sizeof(r[i]));
	}
}

/* One mapping of single values whose keys are among k->fields; one of a
 * list (in_list) or the setting's only value. */
static int record(struct reader *r, const struct cfg_key *k, struct cfg_record *rec, bool in_list)
{
	unsigned given = 0;
	int rc;

	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return fail(r, "%s takes %s, such as {%s: ...}", k->name,
		            in_list ? "a list of mappings" : "a mapping", k->fields[0]);
	rec->line = r->ev.start_mark.line + 1;
	rec->column = r->ev.start_mark.column + 1;
	while ((rc = next(r)) == 0 && r->ev.type != YAML_MAPPING_END_EVENT) {
		size_t i = 0;
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "a field of %s must be a single word", k->name);
		while (k->fields[i] && strcmp(scalar(r), k->fields[i]))
			i++;
		if (!k->fields[i])
			return fail(r, "%s has no field '%s'", k->name, scalar(r));
		if (given & 1u << i)
			return fail(r, "'%s' is given twice", k->fields[i]);
		given |= 1u << i;
		/* A setting's mapping read from a second file replaces the
		 * fields it gives. */
		free(rec->v[i]);
		rec->v[i] = NULL;
		if ((rc = next(r)) != 0)
			return rc;
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "%s's %s takes a single value", k->name, k->fields[i]);
		if (!(rec->v[i] = strdup(scalar(r))))
			return -ENOMEM;
	}
	return rc;
}

static int records(struct reader *r, const struct cfg_key *k)
{
	struct cfg_record *v = k->out;
	int rc;

	if (r->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(r, "%s takes a list of mappings", k->name);
	while ((rc = next(r)) == 0 && r->ev.type != YAML_SEQUENCE_END_EVENT) {
		if (*k->count >= CFG_LIST_MAX)
			return fail(r, "%s holds at most %d entries", k->name, CFG_LIST_MAX);
		if ((rc = record(r, k, &v[(*k->count)++], true)) != 0)
			return rc;
	}
	return rc;
}

static int setting(struct reader *r, const struct cfg_key *k)
{
	char msg[256];

	switch (k->type) {
	case CFG_LIST:
	case CFG_PATH_LIST:
		return list(r, k);
	case CFG_RECORDS:
		return records(r, k);
	case CFG_RECORD:
		return record(r, k, k->out, false);
	case CFG_NUMBER:
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "%s takes a number", k->name);
		if (cfg_number(k->name, scalar(r), k->max, k->out, msg, sizeof(msg)) != 0)
			return fail(r, "%s", msg);
		return 0;
	case CFG_STRING:
	case CFG_PATH:
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "%s takes a single value", k->name);
		free(*(char **)k->out);
		*(char **)k->out = NULL;
		return one(r, k, scalar(r), k->out);
	}
	return -EINVAL;
}

static int known(struct reader *r, const struct cfg_key *keys, size_t nkeys, const char *key)
{
	char names[512];
	size_t n = 0;

	for (size_t i = 0; i < nkeys && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
		                      keys[i].name);
	return fail(r, "unknown setting '%s' (known: %s)", key, names);
}

static int document(struct reader *r, const struct cfg_key *keys, size_t nkeys)
{
	bool seen[64] = { false };
	int rc;

	if (nkeys > 64)
		return -EINVAL;
	/* stream start, document start, the mapping */
	if ((rc = next(r)) || (rc = next(r)) || (rc = next(r)))
		return rc;
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return fail(r, "the file must be a mapping of settings");
	while ((rc = next(r)) == 0 && r->ev.type != YAML_MAPPING_END_EVENT) {
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "a setting's name must be a single word");
		size_t i = 0;
		while (i < nkeys && strcmp(scalar(r), keys[i].name))
			i++;
		if (i == nkeys)
			return known(r, keys, nkeys, scalar(r));
		if (seen[i])
			return fail(r, "'%s' is given twice", keys[i].name);
		seen[i] = true;
		if ((rc = next(r)) != 0 || (rc = setting(r, &keys[i])) != 0)
			return rc;
	}
	if (rc == 0 && (rc = next(r)) == 0 && r->ev.type != YAML_DOCUMENT_END_EVENT)
		rc = fail(r, "a config file holds one YAML document");
	return rc;
}

int cfg_read(const char *path, const struct cfg_key *keys, size_t nkeys, char *err,
             size_t errlen)
{
	struct reader r = { .path = path, .err = err, .errlen = errlen };
	FILE *f;
	int rc;

	if (!path || !keys || !err || !errlen)
		return -EINVAL;
	if (!(f = fopen(path, "r"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EINVAL;
	}
	yaml_parser_initialize(&r.p);
	yaml_parser_set_input_file(&r.p, f);
	rc = document(&r, keys, nkeys);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	if (r.have)
		yaml_event_delete(&r.ev);
	yaml_parser_delete(&r.p);
	fclose(f);
	return rc;
}

/* ---- the command line ---- */

int cfg_argv_files(int argc, char **argv, const char *shortopts, const struct option *longopts,
                   int (*read_file)(const char *path, void *conf, char *err, size_t errlen),
                   void *conf, char **db, char *err, size_t errlen)
{
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == '?')
			return 1;
		if (c == 'c' && (rc = read_file(optarg, conf, err, errlen)) != 0)
			return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	if (!*db && getenv("CLEARINGHOUSE_DB") && !(*db = strdup(getenv("CLEARINGHOUSE_DB"))))
		return -ENOMEM;
	optind = 0;   /* glibc: a full reset, for the second pass */
	return 0;
}

int cfg_list_arg(char **list, size_t *n, bool *cleared, const char *value)
{
	if (!*cleared) {
		for (size_t i = 0; i < *n; i++)
			free(list[i]);
		*n = 0;
		*cleared = true;
	}
	if (*n >= CFG_LIST_MAX)
		return -ENOSPC;
	if (!(list[*n] = strdup(value)))
		return -ENOMEM;
	++*n;
	return 0;
}

int cfg_opt_files(const char *prog, void (*usage)(FILE *out), int argc, char **argv,
                  const char *shortopts, const struct option *longopts,
                  int (*read_file)(const char *path, void *conf, char *err, size_t errlen),
                  void *conf, char **db)
{
	char err[512];
	int rc = cfg_argv_files(argc, argv, shortopts, longopts, read_file, conf, db, err,
	                        sizeof(err));

	if (rc == 0)
		return 0;
	if (rc == -EINVAL)
		fprintf(stderr, "%s: %s\n", prog, err);
	else if (rc == 1)
		usage(stderr);
	return rc == -ENOMEM ? 3 : 2;
}

int cfg_opt_string(char **dst, const char *value)
{
	free(*dst);
	return (*dst = strdup(value)) ? 0 : 3;
}

int cfg_opt_list(const char *prog, const char *what, char **list, size_t *n, bool *cleared,
                 const char *value)
{
	int rc = cfg_list_arg(list, n, cleared, value);

	if (rc == -ENOSPC)
		fprintf(stderr, "%s: at most %d of each of %s\n", prog, CFG_LIST_MAX, what);
	return rc == 0 ? 0 : rc == -ENOSPC ? 2 : 3;
}

int cfg_opt_number(const char *prog, const char *name, const char *value, unsigned long max,
                   unsigned *out)
{
	char err[128];

	if (cfg_number(name, value, max, out, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: --%s\n", prog, err);
		return 2;
	}
	return 0;
}

/* ---- addresses ---- */

int cfg_addr_parse(const char *addr, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *h = addr;
	size_t hlen;
	unsigned port;
	char msg[64];

	if (!addr || !ss)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = addr + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		if (!(colon = strrchr(addr, ':')) || memchr(addr, ':', (size_t)(colon - addr)))
			return -EINVAL;
		hlen = (size_t)(colon - addr);
	}
	if (hlen == 0 || hlen >= sizeof(host) ||
	    cfg_number("port", colon + 1, 65535, &port, msg, sizeof(msg)) != 0)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (addr[0] != '[') {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
	}
	return 0;
}

/* host:port, bracketed for v6, written by hand: both functions below run
 * once per connection in xmppd, where snprintf() was most of their cost.
 * Truncates as snprintf() would. */
static int put_hostport(const char *host, bool v6, unsigned port, char *out, size_t cap)
{
	char buf[256 + 16], digits[10];
	size_t hl = strlen(host), n = 0, nd = 0;

	if (hl > 256) {
		/* longer than any domain name or address: not worth a buffer */
		int k = snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", host, port);
		return k < 0 || (size_t)k >= cap ? -ENOSPC : k;
	}
	do
		digits[nd++] = (char)('0' + port % 10);
	while ((port /= 10) != 0);
	if (v6)
		buf[n++] = '[';
	memcpy(buf + n, host, hl);
	n += hl;
	if (v6)
		buf[n++] = ']';
	buf[n++] = ':';
	while (nd)
		buf[n++] = digits[--nd];
	if (cap == 0)
		return -ENOSPC;
	size_t k = n < cap ? n : cap - 1;
	memcpy(out, buf, k);
	out[k] = '\0';
	return n < cap ? (int)n : -ENOSPC;
}

int cfg_hostport(const char *host, unsigned port, char *out, size_t cap)
{
	struct in6_addr a6;
	/* IPv6 text has a colon; a name or an IPv4 address has none. */
	bool v6 = strchr(host, ':') && inet_pton(AF_INET6, host, &a6) == 1;

	return put_hostport(host, v6, port, out, cap);
}

int cfg_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		/* glibc's inet_ntop() writes IPv4 with sprintf() */
		const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		char *p = host;
		for (int i = 0; i < 4; i++) {
			if (i)
				*p++ = '.';
			if (b[i] >= 100)
				*p++ = (char)('0' + b[i] / 100);
			if (b[i] >= 10)
				*p++ = (char)('0' + b[i] / 10 % 10);
			*p++ = (char)('0' + b[i] % 10);
		}
		*p = '\0';
		return put_hostport(host, false, ntohs(((const struct sockaddr_in *)sa)->sin_port),
		                    out, cap);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		return put_hostport(host, true, ntohs(s6->sin6_port), out, cap);
	}
	return -EINVAL;
}
