/* The /metrics endpoint: libmicrohttpd does the HTTP; this file only
 * routes the one path and builds the text. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "cfg.h"
#include "metrics.h"

#define PROMETHEUS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define OPENMETRICS_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"
/* Scrapes at once: a metrics port is for one or two collectors. */
#define SCRAPERS_MAX 8
#define SCRAPE_TIMEOUT_S 10

struct ch_metrics {
	struct MHD_Daemon *d;
	char addr[64];            /* as bound, for the daemons' log line */
	ch_metrics_render render;
	void *arg;
};

void ch_text_printf(struct ch_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 4096;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->failed = true;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
}

void ch_metric_family(struct ch_text *t, const char *name, const char *type, const char *help)
{
	size_t n = strlen(name);

	/* OpenMetrics names a counter's family without the suffix its
	 * samples carry; the Prometheus text format names both alike. */
	if (t->openmetrics && strcmp(type, "counter") == 0 && n > 6 &&
	    strcmp(name + n - 6, "_total") == 0)
		n -= 6;
	ch_text_printf(t, "# TYPE %.*s %s\n# HELP %.*s %s\n", (int)n, name, type, (int)n, name,
	               help);
}

void ch_metric_sample(struct ch_text *t, const char *name, const char *labels, uint64_t value)
{
	if (labels && *labels)
		ch_text_printf(t, "%s{%s} %llu\n", name, labels, (unsigned long long)value);
	else
		ch_text_printf(t, "%s %llu\n", name, (unsigned long long)value);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ok;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static bool wants_openmetrics(struct MHD_Connection *conn)
{
	const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	return accept && strstr(accept, "application/openmetrics-text");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **state)
{
	struct ch_metrics *m = cls;
	static char not_found[] = "not found: metrics are at /metrics\n";
	static char not_allowed[] = "only GET and HEAD\n";
	static char no_memory[] = "out of memory\n";

	(void)version;
	(void)upload;
	/* A request with a body would come back with more of it: refuse it
	 * on the first call, before any is taken. */
	if (*upload_len)
		return MHD_NO;
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found),
		             MHD_RESPMEM_PERSISTENT);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
		             strlen(not_allowed), MHD_RESPMEM_PERSISTENT);
	(void)state;
	struct ch_text t = { .openmetrics = wants_openmetrics(conn) };
	m->render(m->arg, &t);
	if (t.openmetrics)
		ch_text_printf(&t, "# EOF\n");
	if (t.failed) {
		free(t.buf);
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", no_memory,
		             strlen(no_memory), MHD_RESPMEM_PERSISTENT);
	}
	return reply(conn, MHD_HTTP_OK, t.openmetrics ? OPENMETRICS_TYPE : PROMETHEUS_TYPE, t.buf,
	             t.len, MHD_RESPMEM_MUST_FREE);
}

/* libmicrohttpd's own complaints go to stderr like the daemons' lines. */
__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *arg, const char *fmt, va_list ap)
{
	(void)arg;
	fputs("metrics: ", stderr);
	vfprintf(stderr, fmt, ap);
}

int ch_metrics_start(const char *addr, ch_metrics_render render, void *arg, ch_metrics **out,
                     char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct ch_metrics *m;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;

	if (!addr || !render || !out)
		return -EINVAL;
	*out = NULL;
	/* A bare port is on loopback: metrics are for the host's own
	 * collector unless an address says otherwise. */
	char local[32];
	if (addr[0] && strspn(addr, "0123456789") == strlen(addr) && strlen(addr) <= 5) {
		snprintf(local, sizeof(local), "127.0.0.1:%s", addr);
		addr = local;
	}
	if (cfg_addr_parse(addr, &ss) != 0) {
		snprintf(err, errlen, "metrics: '%s' is not ADDR:PORT with a literal address", addr);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->render = render;
	m->arg = arg;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
	                        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	                        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)SCRAPERS_MAX,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SCRAPE_TIMEOUT_S,
	                        MHD_OPTION_END);
	if (!m->d) {
		int e = errno ? errno : EADDRINUSE;
		snprintf(err, errlen, "metrics: cannot serve on %s: %s", addr, strerror(e));
		free(m);
		return -e;
	}
	snprintf(m->addr, sizeof(m->addr), "%s", addr);
	*out = m;
	return 0;
}

const char *ch_metrics_addr(const ch_metrics *m)
{
	return m ? m->addr : "";
}

void ch_metrics_stop(ch_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
