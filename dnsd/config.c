/* dnsd's configuration file: YAML, the same settings as the command line.
 *
 *   db: /var/lib/clearinghouse
 *   zones: [fed.example.zone]      # relative to this file's directory
 *   listen: ["192.0.2.1:53", "[2001:db8::1]:53"]
 *   threads: 2
 *   tcp-max: 256
 *   tcp-idle-ms: 10000
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "dnsd.h"

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
	return DNSD_ECONFIG;
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
		return DNSD_ECONFIG;
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

/* A path from the file, relative to the file's own directory. */
static char *path_of(const char *config, const char *p)
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

static int number(struct reader *r, const char *key, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (r->ev.type != YAML_SCALAR_EVENT)
		return fail(r, "%s takes a number", key);
	v = strtoul(scalar(r), &end, 10);
	if (*end || !*scalar(r) || scalar(r)[0] == '-' || v == 0 || v > max)
		return fail(r, "%s takes a number from 1 to %lu, not '%s'", key, max, scalar(r));
	*out = (unsigned)v;
	return 0;
}

static int list(struct reader *r, const char *key, bool paths, char **v, size_t *n)
{
	int rc;

	if (r->ev.type == YAML_SCALAR_EVENT) {
		/* One value needs no brackets. */
		if (!(v[0] = paths ? path_of(r->path, scalar(r)) : strdup(scalar(r))))
			return -ENOMEM;
		*n = 1;
		return 0;
	}
	if (r->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(r, "%s takes a list", key);
	while ((rc = next(r)) == 0 && r->ev.type != YAML_SEQUENCE_END_EVENT) {
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "%s takes a list of single values", key);
		if (*n >= DNSD_CONFIG_LIST_MAX)
			return fail(r, "%s holds at most %d values", key, DNSD_CONFIG_LIST_MAX);
		if (!(v[*n] = paths ? path_of(r->path, scalar(r)) : strdup(scalar(r))))
			return -ENOMEM;
		++*n;
	}
	return rc;
}

static int setting(struct reader *r, const char *key, struct dnsd_config *c)
{
	if (!strcmp(key, "db")) {
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "db takes a directory");
		free(c->db);
		return (c->db = path_of(r->path, scalar(r))) ? 0 : -ENOMEM;
	}
	if (!strcmp(key, "zones"))
		return list(r, key, true, c->zones, &c->nzones);
	if (!strcmp(key, "listen"))
		return list(r, key, false, c->listen, &c->nlisten);
	if (!strcmp(key, "threads"))
		return number(r, key, 256, &c->threads);
	if (!strcmp(key, "tcp-max"))
		return number(r, key, 1000000, &c->lim.tcp_max);
	if (!strcmp(key, "tcp-idle-ms"))
		return number(r, key, 1000000, &c->lim.tcp_idle_ms);
	return fail(r, "unknown setting '%s'", key);
}

static int document(struct reader *r, struct dnsd_config *c)
{
	char key[64];
	unsigned seen = 0;
	int rc;

	/* stream start, document start, the mapping */
	if ((rc = next(r)) || (rc = next(r)) || (rc = next(r)))
		return rc;
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return fail(r, "the file must be a mapping of settings");
	while ((rc = next(r)) == 0 && r->ev.type != YAML_MAPPING_END_EVENT) {
		if (r->ev.type != YAML_SCALAR_EVENT)
			return fail(r, "a setting's name must be a single word");
		snprintf(key, sizeof(key), "%s", scalar(r));
		static const char *const keys[] = { "db", "zones", "listen", "threads", "tcp-max", "tcp-idle-ms" };
		unsigned i = 0;
		while (i < 6 && strcmp(key, keys[i]))
			i++;
		if (i == 6)
			return fail(r, "unknown setting '%s' (known: db, zones, listen, threads, tcp-max, "
			               "tcp-idle-ms)", key);
		if (seen & (1u << i))
			return fail(r, "'%s' is given twice", key);
		seen |= 1u << i;
		if ((rc = next(r)) != 0 || (rc = setting(r, key, c)) != 0)
			return rc;
	}
	if (rc == 0 && (rc = next(r)) == 0 && r->ev.type != YAML_DOCUMENT_END_EVENT)
		rc = fail(r, "a config file holds one YAML document");
	return rc;
}

int dnsd_config_read(const char *path, struct dnsd_config *c, char *err, size_t errlen)
{
	struct reader r = { .path = path, .err = err, .errlen = errlen };
	FILE *f;
	int rc;

	if (!path || !c)
		return -EINVAL;
	if (!(f = fopen(path, "r"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return DNSD_ECONFIG;
	}
	yaml_parser_initialize(&r.p);
	yaml_parser_set_input_file(&r.p, f);
	rc = document(&r, c);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	if (r.have)
		yaml_event_delete(&r.ev);
	yaml_parser_delete(&r.p);
	fclose(f);
	return rc;
}

void dnsd_config_free(struct dnsd_config *c)
{
	if (!c)
		return;
	free(c->db);
	for (size_t i = 0; i < c->nzones; i++)
		free(c->zones[i]);
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i]);
	memset(c, 0, sizeof(*c));
}
