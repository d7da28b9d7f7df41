/* dnsd: the command line around the core.  Foreground, logs to stderr;
 * SIGTERM and SIGINT stop it cleanly, SIGHUP re-reads the zone files. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsd.h"

#define MAX_ARGS 64

struct opts {
	const char *db;
	const char *zones[MAX_ARGS];
	const char *listen[MAX_ARGS];
	size_t nzones, nlisten;
	struct dnsd_limits lim;
};

struct daemon {
	struct opts o;
	dnsd_zones *zones;
	dnsd_engine *engine;
	dnsd_server *server;
	uv_signal_t term, intr, hup;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: dnsd --db DIR --zone FILE [--zone FILE ...] --listen ADDR:PORT [--listen ...]\n"
	        "            [--tcp-max N] [--tcp-idle-ms MS]\n"
	        "\n"
	        "Serves the zones in FILE (RFC 1035 master format) and the records of the\n"
	        "policy store in DIR (also $CLEARINGHOUSE_DB), over UDP and TCP on every\n"
	        "ADDR:PORT (192.0.2.1:53, [2001:db8::1]:53).  SIGHUP re-reads the zone\n"
	        "files; SIGTERM stops.  Policy changes need no signal.\n"
	        "  --tcp-max N       TCP connections at once (256); more are closed at once\n"
	        "  --tcp-idle-ms MS  close a TCP connection idle this long (10000)\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "zone", required_argument, NULL, 'z' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tcp-max", required_argument, NULL, 'm' },
		{ "tcp-idle-ms", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->db = getenv("CLEARINGHOUSE_DB");
	while ((c = getopt_long(argc, argv, "d:z:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->db = optarg;
			break;
		case 'z':
		case 'l':
			if ((c == 'z' ? o->nzones : o->nlisten) >= MAX_ARGS) {
				fprintf(stderr, "dnsd: at most %d of --%s\n", MAX_ARGS, c == 'z' ? "zone" : "listen");
				return 2;
			}
			if (c == 'z')
				o->zones[o->nzones++] = optarg;
			else
				o->listen[o->nlisten++] = optarg;
			break;
		case 'm':
		case 'i': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v == 0 || v > 1000000) {
				fprintf(stderr, "dnsd: --%s takes a number from 1 to 1000000\n",
				        c == 'm' ? "tcp-max" : "tcp-idle-ms");
				return 2;
			}
			*(c == 'm' ? &o->lim.tcp_max : &o->lim.tcp_idle_ms) = (unsigned)v;
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !o->db || !o->nzones || !o->nlisten) {
		fprintf(stderr, "dnsd: %s\n", optind != argc ? "unexpected arguments"
		                              : !o->db ? "no --db DIR" : !o->nzones ? "no --zone FILE"
		                              : "no --listen ADDR:PORT");
		usage(stderr);
		return 2;
	}
	return 0;
}

static void stopped(void *arg)
{
	uv_loop_t *loop = arg;
	uv_stop(loop);
}

static void on_stop(uv_signal_t *h, int sig)
{
	struct daemon *d = h->data;

	fprintf(stderr, "dnsd: signal %d, stopping\n", sig);
	uv_close((uv_handle_t *)&d->term, NULL);
	uv_close((uv_handle_t *)&d->intr, NULL);
	uv_close((uv_handle_t *)&d->hup, NULL);
	dnsd_server_close(d->server, stopped, h->loop);
	d->server = NULL;
}

/* Zones are swapped between two queries: the loop is single-threaded, so
 * no query sees half of the old and half of the new. */
static void on_hup(uv_signal_t *h, int sig)
{
	struct daemon *d = h->data;
	dnsd_zones *z;
	char err[512];

	if (dnsd_zones_load(d->o.zones, d->o.nzones, &z, err, sizeof(err)) != 0) {
		fprintf(stderr, "dnsd: reload refused, keeping the zones in use: %s\n", err);
		return;
	}
	dnsd_engine_set_zones(d->engine, z);
	dnsd_zones_free(d->zones);
	d->zones = z;
	fprintf(stderr, "dnsd: zones reloaded (%zu)\n", dnsd_zones_count(z));
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	uv_loop_t *loop = uv_default_loop();
	char err[512];
	pdb_t *db = NULL;
	int rc;

	if ((rc = parse(argc, argv, &d.o)) != 0)
		return rc;
	if ((rc = pdb_open(d.o.db, PDB_RDONLY, NULL, &db)) != 0) {
		fprintf(stderr, "dnsd: %s: %s\n", d.o.db, pdb_strerror(rc));
		return 3;
	}
	if ((rc = dnsd_zones_load(d.o.zones, d.o.nzones, &d.zones, err, sizeof(err))) != 0) {
		fprintf(stderr, "dnsd: %s\n", err);
		pdb_close(db);
		return 2;
	}
	if ((rc = dnsd_engine_new(d.zones, db, &d.engine)) != 0 ||
	    (rc = dnsd_server_init(loop, d.engine, &d.o.lim, &d.server)) != 0) {
		fprintf(stderr, "dnsd: %s\n", dnsd_strerror(rc));
		return 3;
	}
	for (size_t i = 0; i < d.o.nlisten; i++) {
		if ((rc = dnsd_server_listen(d.server, d.o.listen[i])) != 0) {
			fprintf(stderr, "dnsd: %s: %s\n", d.o.listen[i], dnsd_strerror(rc));
			return 3;
		}
		fprintf(stderr, "dnsd: listening on %s (UDP and TCP)\n", d.o.listen[i]);
	}
	uv_signal_init(loop, &d.term);
	uv_signal_init(loop, &d.intr);
	uv_signal_init(loop, &d.hup);
	d.term.data = d.intr.data = d.hup.data = &d;
	uv_signal_start(&d.term, on_stop, SIGTERM);
	uv_signal_start(&d.intr, on_stop, SIGINT);
	uv_signal_start(&d.hup, on_hup, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	uv_run(loop, UV_RUN_DEFAULT);
	/* Let the closes queued by on_stop finish. */
	uv_run(loop, UV_RUN_DEFAULT);
	dnsd_engine_free(d.engine);
	dnsd_zones_free(d.zones);
	pdb_close(db);
	uv_loop_close(loop);
	fprintf(stderr, "dnsd: stopped\n");
	return 0;
}
