/* Metrics over HTTP, shared by both daemons: GET /metrics answers in the
 * Prometheus text format (version 0.0.4), or in OpenMetrics 1.0 when the
 * scraper asks for it (Accept: application/openmetrics-text).  The HTTP is
 * libmicrohttpd's, on a thread of its own, so a scrape never waits on the
 * daemons' loops and they never wait on it.
 *
 * Counters are kept by the threads that count them, one writer each, and
 * read by the scrape thread: ch_counter_add() is a plain load, add and
 * store (no locked instruction on the query path), made with relaxed
 * atomics so that the reader sees whole values. */
#ifndef CH_METRICS_H
#define CH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Add n to a counter that only the calling thread writes. */
static inline void ch_counter_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/** Set a gauge that only the calling thread writes. */
static inline void ch_gauge_set(uint64_t *g, uint64_t v)
{
	__atomic_store_n(g, v, __ATOMIC_RELAXED);
}

/** Read a counter or gauge from any thread. */
static inline uint64_t ch_counter_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* ---- the text of a scrape ---- */

struct ch_text {
	char *buf;
	size_t len, cap;
	bool failed;          /* out of memory: the scrape answers 500 */
	bool openmetrics;     /* OpenMetrics: counters' families lose "_total" */
};

/** Append printf-style text; on no memory, t->failed is set and later
 * calls do nothing. */
void ch_text_printf(struct ch_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Start a family: its # TYPE and # HELP lines.  type is "counter" or
 * "gauge".  A counter's name ends in "_total" (its samples' name); the
 * family is named without it in OpenMetrics, as that format wants. */
void ch_metric_family(struct ch_text *t, const char *name, const char *type, const char *help);

/** One sample: name{labels} value.  labels is the text between the braces
 * (`transport="udp",rcode="NOERROR"`) or NULL for none; label values must
 * need no escaping (they are fixed words). */
void ch_metric_sample(struct ch_text *t, const char *name, const char *labels, uint64_t value);

/* ---- the endpoint ---- */

typedef struct ch_metrics ch_metrics;

/** Write the whole scrape into t, from the scrape thread.  What it reads
 * of the daemon must stay alive until ch_metrics_stop() returns. */
typedef void (*ch_metrics_render)(void *arg, struct ch_text *t);

/** Serve GET /metrics at addr ("127.0.0.1:9153", "[::1]:9153": a literal
 * address and a port; a bare port "9153" is on 127.0.0.1), rendering each scrape with render(arg).  Anything
 * but GET or HEAD of /metrics gets 404 or 405.  Returns 0 with *out;
 * -EINVAL for a NULL argument or an address that is not ADDR:PORT (err
 * says so), -EADDRINUSE or another negative errno when the port cannot be
 * bound (err says which address), -ENOMEM. */
int ch_metrics_start(const char *addr, ch_metrics_render render, void *arg, ch_metrics **out,
                     char *err, size_t errlen);

/** The address served, as ADDR:PORT (a bare port given made whole). */
const char *ch_metrics_addr(const ch_metrics *m);

/** Stop serving (waits for a scrape in progress) and free; NULL-safe. */
void ch_metrics_stop(ch_metrics *m);

#endif
