/* Load for the xmppd benchmark: THREADS threads, each opening one stream
 * after another for SECONDS (a header from a.example to b.example, read to
 * the end, close), over plain TCP or direct TLS.  Prints the count, the
 * rate and latency percentiles of whole exchanges (connect to close).
 *
 *   s2s_load ADDR:PORT SECONDS THREADS [tls] [FROM TO]
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "cfg.h"

#define MAX_SAMPLES (4 * 1000 * 1000)

static struct sockaddr_storage addr;
static double seconds;
static SSL_CTX *ctx;
static char hdr[1024];
static size_t hdrlen;

struct worker {
	pthread_t t;
	double *lat;   /* microseconds, of the first cap exchanges */
	size_t n, cap, errors;
	size_t done;   /* exchanges, all of them */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One exchange; returns 0 if a whole answer came back. */
static int exchange(void)
{
	char buf[4096];
	size_t got = 0;
	int s = socket(addr.ss_family, SOCK_STREAM, 0), rc = -1;
	socklen_t alen = addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                            : sizeof(struct sockaddr_in);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&addr, alen) != 0)
		goto out;
	if (ctx) {
		SSL *ssl = SSL_new(ctx);
		ssize_t n;
		SSL_set_fd(ssl, s);
		if (SSL_connect(ssl) == 1 && SSL_write(ssl, hdr, (int)hdrlen) == (int)hdrlen) {
			while (got < sizeof(buf) && (n = SSL_read(ssl, buf + got, (int)(sizeof(buf) - got))) > 0)
				got += (size_t)n;
		}
		SSL_free(ssl);
	} else {
		ssize_t n;
		if (write(s, hdr, hdrlen) == (ssize_t)hdrlen)
			while (got < sizeof(buf) && (n = read(s, buf + got, sizeof(buf) - got)) > 0)
				got += (size_t)n;
	}
	/* the whole answer, ending the stream */
	rc = got >= 16 && !memcmp(buf + got - 16, "</stream:stream>", 16) ? 0 : -1;
out:
	close(s);
	return rc;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	double end = now() + seconds;

	/* Past cap exchanges the load goes on; only the latencies stop
	 * being kept (the percentiles are those of the first cap). */
	while (now() < end) {
		double t0 = now();
		if (exchange() != 0) {
			w->errors++;
			continue;
		}
		w->done++;
		if (w->n < w->cap)
			w->lat[w->n++] = (now() - t0) * 1e6;
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int threads;
	const char *from = "a.example", *to = "b.example";

	if (argc < 4 || cfg_addr_parse(argv[1], &addr) != 0) {
		fprintf(stderr, "usage: s2s_load ADDR:PORT SECONDS THREADS [tls] [FROM TO]\n");
		return 2;
	}
	seconds = atof(argv[2]);
	threads = atoi(argv[3]);
	int i = 4;
	if (argc > i && !strcmp(argv[i], "tls")) {
		ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		i++;
	}
	if (argc > i + 1) {
		from = argv[i];
		to = argv[i + 1];
	}
	hdrlen = (size_t)snprintf(hdr, sizeof(hdr),
	                          "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	                          "xmlns:stream='http://etherx.jabber.org/streams' from='%s' "
	                          "to='%s' version='1.0'>", from, to);
	if (threads < 1 || threads > 64 || seconds <= 0)
		return 2;
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	double t0 = now();
	for (int t = 0; t < threads; t++) {
		w[t].cap = MAX_SAMPLES / (size_t)threads;
		w[t].lat = malloc(w[t].cap * sizeof(double));
		pthread_create(&w[t].t, NULL, run, &w[t]);
	}
	size_t n = 0, done = 0, errors = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(w[t].t, NULL);
		n += w[t].n;
		done += w[t].done;
		errors += w[t].errors;
	}
	double took = now() - t0;
	double *all = malloc((n ? n : 1) * sizeof(double));
	size_t k = 0;
	for (int t = 0; t < threads; t++) {
		memcpy(all + k, w[t].lat, w[t].n * sizeof(double));
		k += w[t].n;
	}
	qsort(all, n, sizeof(double), cmp);
	printf("exchanges=%zu errors=%zu rate=%.0f p50_us=%.0f p99_us=%.0f\n", done, errors,
	       (double)done / took, n ? all[n / 2] : 0.0, n ? all[(size_t)((double)n * 0.99)] : 0.0);
	free(all);
	for (int t = 0; t < threads; t++)
		free(w[t].lat);
	free(w);
	return errors > done / 100 ? 1 : 0;
}
