/* A UDP load for dns_bench.py --load: what dnsperf does in a closed loop
 * (a fixed number of queries in flight, each answered one replaced by the
 * next), at a fraction of its cost per answer, so that on a machine of
 * two cores the server, not the load, sets the rate.  An answer is only
 * counted, by its ID: not parsed, not timed.
 *
 *   udp_load ADDR:PORT QUERIES SECONDS [IN_FLIGHT]
 *
 * QUERIES is dnsperf's input (a name and a type a line), made into wire
 * queries with ldns, without EDNS, asked in turn.  IN_FLIGHT (default
 * 200, at most 256) queries are kept out; one unanswered after a second
 * is lost and replaced.  Prints the answers a second and the queries lost. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "cfg.h"

#define BATCH 64
#define QUERY_MAX 512
#define LOST_AFTER_NS 1000000000LL

struct query {
	uint8_t wire[QUERY_MAX];
	size_t len;
};

/* A slot of the window: its ID is its index and a generation (so that a
 * late answer to a query given up for lost is not counted for the next). */
struct slot {
	uint8_t gen;
	int64_t sent;
};

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static struct query *read_queries(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[512], name[300], type[32];
	struct query *v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%299s %31s", name, type) != 2)
			continue;
		ldns_rdf *owner = ldns_dname_new_frm_str(name);
		ldns_rr_type t = ldns_get_rr_type_by_name(type);
		ldns_pkt *p = owner && t ? ldns_pkt_query_new(owner, t, LDNS_RR_CLASS_IN, 0) : NULL;
		uint8_t *wire = NULL;
		size_t len = 0;
		if (!p) {
			ldns_rdf_deep_free(owner);
			continue;
		}
		if (ldns_pkt2wire(&wire, p, &len) == LDNS_STATUS_OK && len <= QUERY_MAX) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 4096;
				struct query *w = realloc(v, cap * sizeof(*v));
				if (!w)
					break;
				v = w;
			}
			memcpy(v[*n].wire, wire, len);
			v[(*n)++].len = len;
		}
		free(wire);
		ldns_pkt_free(p);
	}
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	static struct slot slots[256];
	static uint8_t in[BATCH][QUERY_MAX], out[BATCH][QUERY_MAX];
	struct mmsghdr rmsg[BATCH], smsg[BATCH];
	struct iovec riov[BATCH], siov[BATCH];
	struct sockaddr_storage ss;
	unsigned long long answers = 0, lost = 0;
	size_t nq = 0, next = 0, window = 200;
	int fd;

	if (argc < 4 || argc > 5 || cfg_addr_parse(argv[1], &ss) != 0 ||
	    (argc == 5 && (window = strtoul(argv[4], NULL, 10)) - 1 >= 256)) {
		fprintf(stderr, "usage: udp_load ADDR:PORT QUERIES SECONDS [IN_FLIGHT (1 to 256)]\n");
		return 2;
	}
	struct query *q = read_queries(argv[2], &nq);
	if (!q || nq == 0) {
		fprintf(stderr, "udp_load: no queries read from %s\n", argv[2]);
		return 1;
	}
	if ((fd = socket(ss.ss_family, SOCK_DGRAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, sizeof(ss)) != 0) {
		perror("udp_load");
		return 1;
	}
	for (int i = 0; i < BATCH; i++) {
		riov[i] = (struct iovec){ .iov_base = in[i], .iov_len = QUERY_MAX };
		rmsg[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &riov[i], .msg_iovlen = 1 } };
		siov[i] = (struct iovec){ .iov_base = out[i] };
		smsg[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &siov[i], .msg_iovlen = 1 } };
	}
	/* Blocking, with a bound: recvmmsg waits for the first answer only
	 * (MSG_WAITFORONE), and the loop still sees the clock and the overdue. */
	struct timeval tick = { .tv_usec = 100000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick));
	int64_t start = now_ns(), end = start + (int64_t)atoi(argv[3]) * 1000000000LL, t;
	while ((t = now_ns()) < end) {
		/* Fill the free slots (sent 0), and the overdue, given up for
		 * lost: a batch at a time. */
		unsigned ns = 0;
		for (size_t i = 0; i < window && ns < BATCH; i++) {
			struct slot *s = &slots[i];
			if (s->sent && t - s->sent < LOST_AFTER_NS)
				continue;
			if (s->sent)
				lost++;
			s->gen++;
			s->sent = t;
			const struct query *x = &q[next++ % nq];
			memcpy(out[ns], x->wire, x->len);
			out[ns][0] = s->gen;
			out[ns][1] = (uint8_t)i;
			siov[ns].iov_len = x->len;
			ns++;
		}
		if (ns && sendmmsg(fd, smsg, ns, 0) < 0 && errno != EINTR && errno != ENOBUFS) {
			perror("udp_load: sendmmsg");
			return 1;
		}
		int n = recvmmsg(fd, rmsg, BATCH, MSG_WAITFORONE, NULL);
		for (int i = 0; i < n; i++) {
			struct slot *s = &slots[in[i][1]];
			if (rmsg[i].msg_len < 12 || in[i][1] >= window || in[i][0] != s->gen || !s->sent)
				continue;   /* short, late, or not ours */
			s->sent = 0;
			answers++;
		}
	}
	double secs = (double)(now_ns() - start) / 1e9;
	printf("Queries per second: %.0f\nAnswers: %llu\nQueries lost: %llu\n", (double)answers / secs,
	       answers, lost);
	close(fd);
	free(q);
	return 0;
}
