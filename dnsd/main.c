/* dnsd: the command line around the core.  Foreground, logs to stderr;
 * SIGTERM and SIGINT stop it cleanly, SIGHUP re-reads the zone files. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "dnsd.h"
#include "dnssec.h"
#include "internal.h"
#include "metrics.h"
#include "priv.h"

/* One loop per thread, each with its own engine (snapshot, cache) and its
 * own SO_REUSEPORT UDP sockets; thread 0 is the main thread, which also
 * serves TCP and takes the signals. */
/* How often stale reader slots are looked for. */
#define DNSD_SWEEP_MS 60000

struct worker {
	struct daemon *d;
	pthread_t thread;
	uv_loop_t loop;
	uv_async_t wake;           /* zones changed, or stop */
	dnsd_engine *engine;
	dnsd_server *server;
	atomic_uint seen_gen;      /* the zones generation this worker serves */
};

struct daemon {
	struct dnsd_config o;
	pdb_t *db;
	dnsd_tsig_keys *keys;      /* shared by every worker's engine */
	dnsd_zones *zones;         /* the zones in use */
	dnsd_zones *old_zones;     /* replaced, freed once no worker uses them */
	dnsd_xfr_acl *xfr_acl;     /* who may transfer what */
	atomic_uint zones_gen;
	atomic_bool stopping;
	unsigned nworkers;
	dnsd_views *views;         /* shared by the workers' engines */
	struct worker *w;          /* w[0] runs on the main thread */
	uv_signal_t term, intr, hup;
	uv_timer_t reap;
	uv_timer_t sweep;          /* reader slots of dead processes */
	dnsd_notify *notify;       /* NULL: none configured */
	dnsd_engine **engines;     /* every worker's, for the metrics */
	ch_metrics *metrics;       /* NULL: no metrics: setting */
	struct priv_ids ids;       /* who to run as after binding */
	/* DNSSEC (dnssec: keys); NULL: off.  TLSA pins of the clearinghouse. */
	dnsd_keyset *keyset;
	dnsd_keyset *old_keyset;   /* replaced by a reload, freed with old_zones */
	uint8_t tlsa_pins[DNSD_TLSA_PINS_MAX][32];
	size_t ntlsa_pins;
	bool print_ds;             /* --print-ds: print DS records and exit */
	char *print_ds_apex;       /* of this apex only; NULL: every apex */
};

/* removed-grace-s given neither on the command line nor in the file. */
#define GRACE_UNSET UINT_MAX

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: dnsd [--config FILE] --db DIR --zone FILE [--zone FILE ...]\n"
	        "            --listen ADDR:PORT [--listen ...]\n"
	        "            [--threads N] [--cache-size SIZE] [--tcp-max N] [--tcp-idle-ms MS]\n"
	        "            [--removed-grace-s S] [--metrics ADDR:PORT]\n"
	        "            [--user USER [--group GROUP]]\n"
	        "            [--tcp-io-ms MS] [--tcp-max-per-source N]\n"
	        "            [--rrl-rate N] [--rrl-slip N] [--nsid TEXT|0xHEX]\n"
	        "            [--print-ds[=APEX]]\n"
	        "\n"
	        "Serves the zones in FILE (RFC 1035 master format) and the records of the\n"
	        "policy store in DIR (also $CLEARINGHOUSE_DB), over UDP and TCP on every\n"
	        "ADDR:PORT (192.0.2.1:53, [2001:db8::1]:53).  SIGHUP re-reads the zone\n"
	        "files; SIGTERM stops.  Policy changes need no signal.\n"
	        "  --config FILE     settings from a YAML file (db, zones, listen, threads,\n"
	        "                    cache-size, tcp-max, tcp-idle-ms, removed-grace-s, keys,\n"
	        "                    transfer, catalog, notify, user, group, metrics, tcp-io-ms,\n"
	        "                    tcp-max-per-source, rrl, nsid, dnssec); the command line\n"
	        "                    wins.  keys: TSIG keys, a list of {name, algorithm,\n"
	        "                    secret}; see\n"
	        "                    'policyctl tsig-keygen' and the README's Transfers\n"
	        "  --threads N       UDP threads, each with its own socket (one per CPU)\n"
	        "  --cache-size SIZE  bytes of answers each thread keeps rendered (64M;\n"
	        "                    K, M, G: powers of 1024; 1M to 64G); the answers of\n"
	        "                    a thread beyond it push older ones out\n"
	        "  --tcp-max N       TCP connections at once (256); more are closed at once\n"
	        "  --tcp-idle-ms MS  close a TCP connection idle this long (10000)\n"
	        "  --removed-grace-s S  check that the store's removed-grace (how long a\n"
	        "                    removed member's delegated names are still answered,\n"
	        "                    set with 'policyctl removed-grace') is S seconds, and\n"
	        "                    refuse to start (exit 2) if it is not\n"
	        "  --metrics ADDR:PORT  serve Prometheus/OpenMetrics text at\n"
	        "                    http://ADDR:PORT/metrics (a bare PORT: on 127.0.0.1)\n"
	        "  --user USER       started as root: bind, then run as USER with no\n"
	        "                    capability (setting user:); without it dnsd stays root\n"
	        "  --group GROUP     the group to run as (setting group:; USER's own group)\n"
	        "  --tcp-io-ms MS    a TCP query begun must be whole within MS (500)\n"
	        "  --tcp-max-per-source N  TCP connections at once from one address (16)\n"
	        "  --rrl-rate N      UDP answers a second of one kind to one /24 or /56\n"
	        "                    (20); 0: no rate limiting.  In a file: rrl: {rate: N,\n"
	        "                    slip: N, exempt-queriers: true|false, exempt: PREFIXES}\n"
	        "  --rrl-slip N      every Nth limited answer is sent truncated, so that\n"
	        "                    resolvers retry over TCP (2); 0: drop them all\n"
	        "  --nsid TEXT       the server's identity for queries that ask (RFC 5001);\n"
	        "                    0x and hex digits for bytes\n"
	        "  --print-ds[=APEX] print the DS records (SHA-256) of every apex, or of\n"
	        "                    APEX, for the parent zone, from the dnssec: keys of\n"
	        "                    the configuration, and exit\n"
	        "\n"
	        "The SOA serial is the zone file's serial, plus for the community zone the\n"
	        "policy serial and the not-afters and grace ends passed since its commit,\n"
	        "so that it moves when an answer changes with time alone.  A reload whose\n"
	        "records changed while the file's serial did not go up still moves the\n"
	        "served serial on, with a warning.\n");
}

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "db", required_argument, NULL, 'd' },
	{ "zone", required_argument, NULL, 'z' },
	{ "listen", required_argument, NULL, 'l' },
	{ "threads", required_argument, NULL, 't' },
	{ "cache-size", required_argument, NULL, 1006 },
	{ "tcp-max", required_argument, NULL, 'm' },
	{ "tcp-idle-ms", required_argument, NULL, 'i' },
	{ "removed-grace-s", required_argument, NULL, 'g' },
	{ "metrics", required_argument, NULL, 'M' },
	{ "user", required_argument, NULL, 'u' },
	{ "group", required_argument, NULL, 'G' },
	{ "tcp-io-ms", required_argument, NULL, 1001 },
	{ "tcp-max-per-source", required_argument, NULL, 1002 },
	{ "rrl-rate", required_argument, NULL, 1003 },
	{ "rrl-slip", required_argument, NULL, 1004 },
	{ "nsid", required_argument, NULL, 1005 },
	{ "print-ds", optional_argument, NULL, 'S' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The configuration file, for the messages about its keys. */
static char config_path[4096] = "(command line)";

static int read_file(const char *path, void *conf, char *err, size_t errlen)
{
	snprintf(config_path, sizeof(config_path), "%s", path);
	return dnsd_config_read(path, conf, err, errlen);
}

static int parse(int argc, char **argv, struct dnsd_config *o, struct daemon *d)
{
	static const char lists[] = "--zone and --listen";
	bool zones_cleared = false, listen_cleared = false;
	char err[512];
	int c, rc = 0;

	if ((rc = cfg_opt_files("dnsd", usage, argc, argv, "c:d:z:l:h", longopts, read_file, o,
	                        &o->db)) != 0)
		return rc;
	while (rc == 0 && (c = getopt_long(argc, argv, "c:d:z:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			rc = cfg_opt_string(&o->db, optarg);
			break;
		case 'z':
			rc = cfg_opt_list("dnsd", lists, o->zones, &o->nzones, &zones_cleared, optarg);
			break;
		case 'l':
			rc = cfg_opt_list("dnsd", lists, o->listen, &o->nlisten, &listen_cleared, optarg);
			break;
		case 't':
			rc = cfg_opt_number("dnsd", "threads", optarg, 256, &o->threads);
			break;
		case 'm':
			rc = cfg_opt_number("dnsd", "tcp-max", optarg, 1000000, &o->lim.tcp_max);
			break;
		case 'i':
			rc = cfg_opt_number("dnsd", "tcp-idle-ms", optarg, 1000000, &o->lim.tcp_idle_ms);
			break;
		case 'g':
			if (dnsd_config_grace(optarg, &o->removed_grace_s, err, sizeof(err)) != 0) {
				fprintf(stderr, "dnsd: --%s\n", err);
				rc = 2;
			}
			break;
		case 'M':
			rc = cfg_opt_string(&o->metrics, optarg);
			break;
		case 'u':
			rc = cfg_opt_string(&o->user, optarg);
			break;
		case 'G':
			rc = cfg_opt_string(&o->group, optarg);
			break;
		case 1001:
			rc = cfg_opt_number("dnsd", "tcp-io-ms", optarg, 1000000, &o->lim.tcp_io_ms);
			break;
		case 1002:
			rc = cfg_opt_number("dnsd", "tcp-max-per-source", optarg, 1000000,
			                    &o->lim.tcp_max_per_source);
			break;
		case 1003:
		case 1004:
			if (!o->lim.rrl_set)
				dnsd_rrl_conf_default(&o->lim.rrl);
			o->lim.rrl_set = true;
			if (dnsd_rrl_conf_parse(&o->lim.rrl, c == 1003 ? optarg : NULL,
			                        c == 1004 ? optarg : NULL, NULL, NULL, err,
			                        sizeof(err)) != 0) {
				fprintf(stderr, "dnsd: --%s\n", err);
				rc = 2;
			}
			break;
		case 1005:
			if (dnsd_nsid_parse(optarg, o->nsid, &o->nsid_len, err, sizeof(err)) != 0) {
				fprintf(stderr, "dnsd: --%s\n", err);
				rc = 2;
			}
			break;
		case 1006:
			if (dnsd_cache_size_parse(optarg, &o->cache_size, err, sizeof(err)) != 0) {
				fprintf(stderr, "dnsd: --%s\n", err);
				rc = 2;
			}
			break;
		case 'S':
			d->print_ds = true;
			rc = optarg ? cfg_opt_string(&d->print_ds_apex, optarg) : 0;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		}
	}
	if (rc)
		return rc;
	if (d->print_ds && !o->dnssec.keys) {
		fprintf(stderr, "dnsd: --print-ds needs dnssec: {keys: DIR} in the --config file\n");
		return 2;
	}
	if (optind != argc || !o->db || !o->nzones || (!o->nlisten && !d->print_ds)) {
		fprintf(stderr, "dnsd: %s\n", optind != argc ? "unexpected arguments"
		                              : !o->db ? "no --db DIR" : !o->nzones ? "no --zone FILE"
		                              : "no --listen ADDR:PORT");
		usage(stderr);
		return 2;
	}
	return 0;
}

/* ---- workers ---- */

static void worker__closed(void *arg)
{
	struct worker *w = arg;
	uv_close((uv_handle_t *)&w->wake, NULL);
}

/* The keys go with the zones: both are read again on SIGHUP.  The
 * settings were checked when read (refresh below validity). */
static void worker__set_dnssec(struct worker *w)
{
	const struct dnsd_dnssec_config *c = &w->d->o.dnssec;

	(void)dnsd_engine_set_dnssec(w->engine, w->d->keyset, c->validity, c->inception_offset,
	                             c->refresh);
}

static void worker__wake(uv_async_t *h)
{
	struct worker *w = h->data;
	struct daemon *d = w->d;

	if (atomic_load(&d->stopping)) {
		if (w->server)
			dnsd_server_close(w->server, worker__closed, w);
		w->server = NULL;
		return;
	}
	unsigned gen = atomic_load(&d->zones_gen);
	/* d->zones and d->keyset are written before zones_gen is bumped. */
	dnsd_engine_set_zones(w->engine, d->zones);
	worker__set_dnssec(w);
	atomic_store(&w->seen_gen, gen);
}

static void *worker__run(void *arg)
{
	struct worker *w = arg;
	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* Set up worker i on its loop: engine, server, sockets.  Its thread starts
 * later, so a failure here is reported before anything runs. */
static int worker__init(struct daemon *d, unsigned i, uv_loop_t *loop)
{
	struct worker *w = &d->w[i];
	int rc;

	w->d = d;
	if ((rc = dnsd_engine_new(d->zones, d->db, &w->engine)) != 0 ||
	    (d->o.cache_size && (rc = dnsd_engine_set_cache_size(w->engine, d->o.cache_size)) != 0) ||
	    (rc = dnsd_server_init(loop, w->engine, &d->o.lim, &w->server)) != 0) {
		fprintf(stderr, "dnsd: %s\n", dnsd_strerror(rc));
		return rc;
	}
	dnsd_engine_share_views(w->engine, d->views);
	dnsd_engine_set_keys(w->engine, d->keys);
	dnsd_engine_set_journal_max(w->engine, d->o.journal_max);
	dnsd_engine_set_transfer(w->engine, d->xfr_acl);
	(void)dnsd_engine_set_nsid(w->engine, d->o.nsid, d->o.nsid_len);   /* checked when read */
	dnsd_engine_set_tlsa(w->engine, (const uint8_t (*)[32])d->tlsa_pins, d->ntlsa_pins);
	worker__set_dnssec(w);
	uv_async_init(loop, &w->wake, worker__wake);
	w->wake.data = w;
	for (size_t j = 0; j < d->o.nlisten; j++) {
		unsigned what = DNSD_LISTEN_UDP | (i == 0 ? DNSD_LISTEN_TCP : 0);
		if ((rc = dnsd_server_listen(w->server, d->o.listen[j], what)) != 0) {
			if (rc == -EACCES)
				fprintf(stderr, "dnsd: cannot bind %s: permission denied; %s\n",
				        d->o.listen[j], PRIV_BIND_HINT);
			else
				fprintf(stderr, "dnsd: %s: %s\n", d->o.listen[j], dnsd_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* ---- signals ---- */

static void on_stop(uv_signal_t *h, int sig)
{
	struct daemon *d = h->data;

	fprintf(stderr, "dnsd: signal %d, stopping\n", sig);
	sd_notify(0, "STOPPING=1");
	/* First: a scrape reads the servers, which closing frees. */
	ch_metrics_stop(d->metrics);
	d->metrics = NULL;
	atomic_store(&d->stopping, true);
	uv_close((uv_handle_t *)&d->term, NULL);
	uv_close((uv_handle_t *)&d->intr, NULL);
	uv_close((uv_handle_t *)&d->hup, NULL);
	uv_close((uv_handle_t *)&d->reap, NULL);
	uv_close((uv_handle_t *)&d->sweep, NULL);
	dnsd_notify_close(d->notify, NULL, NULL);
	d->notify = NULL;
	for (unsigned i = 0; i < d->nworkers; i++)
		uv_async_send(&d->w[i].wake);
}

/* Free the reader slots that killed processes left, before they run out:
 * every policyctl, dnsd and xmppd shares the store's slots. */
static void on_sweep(uv_timer_t *t)
{
	struct daemon *d = t->data;
	int dead = 0;

	if (pdb_reader_check(d->db, &dead) == 0 && dead > 0)
		fprintf(stderr, "dnsd: freed %d reader slots of dead processes\n", dead);
}

/* Free the replaced zones once every worker serves the new ones. */
static void on_reap(uv_timer_t *t)
{
	struct daemon *d = t->data;
	unsigned gen = atomic_load(&d->zones_gen);

	for (unsigned i = 0; i < d->nworkers; i++)
		if (atomic_load(&d->w[i].seen_gen) != gen)
			return;
	dnsd_zones_free(d->old_zones);
	d->old_zones = NULL;
	dnsd_keyset_free(d->old_keyset);
	d->old_keyset = NULL;
	uv_timer_stop(t);
}

/* Zones are swapped between two queries of each loop, so no query sees
 * half of the old and half of the new. */
static void on_hup(uv_signal_t *h, int sig)
{
	struct daemon *d = h->data;
	dnsd_zones *z;
	char err[512], stale[512];

	if (d->old_zones) {
		fprintf(stderr, "dnsd: reload refused: the previous one is still being taken up\n");
		return;
	}
	sd_notify(0, "RELOADING=1");
	if (dnsd_zones_load((const char *const *)d->o.zones, d->o.nzones, &z, err, sizeof(err)) != 0) {
		fprintf(stderr, "dnsd: reload refused, keeping the zones in use: %s\n", err);
		sd_notify(0, "READY=1");
		return;
	}
	/* The key directory is read again too: a key added, or a timing
	 * changed by dnssec-settime, takes effect without a restart.  Keys
	 * that cannot be used keep the old zones and keys alike. */
	dnsd_keyset *ks = NULL;
	if (d->o.dnssec.keys && dnsd_dnssec_keys_open(&d->o, z, d->db, (int64_t)time(NULL), &ks, err,
	                                              sizeof(err)) != 0) {
		fprintf(stderr, "dnsd: reload refused, keeping the zones and keys in use: %s\n", err);
		dnsd_zones_free(z);
		return;
	}
	if (dnsd_zones_follow(z, d->zones, stale, sizeof(stale)) > 0)
		fprintf(stderr, "dnsd: warning: the records of %s changed but the serial in the "
		        "zone file did not go up; serving the next serial anyway, which a restart "
		        "forgets: bump the file's serial\n", stale);
	d->old_zones = d->zones;
	d->zones = z;
	if (ks) {
		d->old_keyset = d->keyset;
		d->keyset = ks;
	}
	dnsd_notify_set_zones(d->notify, z);
	atomic_fetch_add(&d->zones_gen, 1);
	for (unsigned i = 0; i < d->nworkers; i++)
		uv_async_send(&d->w[i].wake);
	uv_timer_start(&d->reap, on_reap, 20, 20);
	fprintf(stderr, "dnsd: zones reloaded (%zu)\n", dnsd_zones_count(z));
	sd_notify(0, "READY=1");
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

/* Undo a start-up that failed before any thread ran: every worker's
 * handles are closed on its own loop, which is then run until they are
 * gone, so that nothing is left behind for a leak checker to find. */
static void workers_abandon(struct daemon *d, uv_loop_t *main_loop)
{
	for (unsigned i = 0; d->w && i < d->nworkers; i++) {
		struct worker *w = &d->w[i];
		uv_loop_t *l = i == 0 ? main_loop : &w->loop;
		if (!w->d)
			break;   /* never set up, nor any after it */
		if (i == 0 && d->notify) {
			dnsd_notify_close(d->notify, NULL, NULL);
			d->notify = NULL;
		}
		if (w->server)
			dnsd_server_close(w->server, worker__closed, w);
		else if (w->wake.loop)
			uv_close((uv_handle_t *)&w->wake, NULL);
		w->server = NULL;
		uv_run(l, UV_RUN_DEFAULT);
		if (i > 0)
			uv_loop_close(l);
	}
}

static void daemon_free(struct daemon *d)
{
	/* First: the scrape thread reads the engines. */
	ch_metrics_stop(d->metrics);
	free(d->engines);
	for (unsigned i = 0; d->w && i < d->nworkers; i++)
		dnsd_engine_free(d->w[i].engine);
	free(d->w);
	dnsd_views_free(d->views);
	dnsd_tsig_keys_free(d->keys);
	dnsd_zones_free(d->old_zones);
	dnsd_zones_free(d->zones);
	dnsd_xfr_acl_free(d->xfr_acl);
	dnsd_keyset_free(d->keyset);
	dnsd_keyset_free(d->old_keyset);
	free(d->print_ds_apex);
	pdb_close(d->db);
	dnsd_config_free(&d->o);
}

/* The settings read but not checked by the parser, before anything is
 * opened.  Returns 0 or the exit code. */
static int check(const struct dnsd_config *o)
{
	char err[512];

	if (dnsd_notify_check(o, config_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "dnsd: %s\n", err);
		return 2;
	}
	return 0;
}

/* Look up user: and group: before anything is opened: a name that does
 * not exist is a mistake in the settings.  Returns 0 or the exit code. */
static int ids_lookup(struct daemon *d)
{
	char err[512];

	if (priv_lookup(d->o.user, d->o.group, &d->ids, err, sizeof(err)) != 0) {
		fprintf(stderr, "dnsd: %s\n", err);
		return 2;
	}
	return 0;
}

/* What dnsd opens after start-up must open as the user it now is: the
 * zone files at every SIGHUP, and the store when it restarts as that
 * user.  Found now, not at the first reload.  Returns 0 or the exit code. */
static int check_after_drop(const struct daemon *d)
{
	int rc;

	if ((rc = pdb_check_access(d->o.db, PDB_RDONLY)) != 0) {
		fprintf(stderr, "dnsd: %s: the store cannot be opened as user %s: %s\n", d->o.db,
		        d->ids.user, pdb_strerror(rc));
		return 3;
	}
	for (size_t i = 0; i < d->o.nzones; i++) {
		if (access(d->o.zones[i], R_OK) != 0) {
			fprintf(stderr, "dnsd: %s: cannot be read as user %s, so SIGHUP could not "
			        "reload it: %s\n", d->o.zones[i], d->ids.user, strerror(errno));
			return 3;
		}
	}
	return 0;
}

/* Every port is bound: give up root and every capability, before the
 * other threads start (they inherit the empty sets).  Returns 0 or the
 * exit code. */
static int drop(struct daemon *d)
{
	char err[512], path[4096];
	int rc;

	if (pdb_world_writable(d->o.db, path, sizeof(path)) == 1)
		fprintf(stderr, "dnsd: warning: %s is writable by others (o+w): anyone on this "
		        "host can change the policy; see 'policyctl init --group'\n", path);
	rc = priv_drop(&d->ids, err, sizeof(err));
	if (rc == 1) {
		fprintf(stderr, "dnsd: warning: running as root; set user: (or --user) to run "
		        "without privileges after binding\n");
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "dnsd: %s\n", err);
		return 3;
	}
	fprintf(stderr, "dnsd: running as uid %u gid %u, no capabilities\n", (unsigned)getuid(),
	        (unsigned)getgid());
	return d->ids.set ? check_after_drop(d) : 0;
}

/* NOTIFY to the secondaries, if any are configured.  Returns 0 or the
 * exit code. */
static int notify_start(struct daemon *d, uv_loop_t *loop)
{
	int rc;

	if (!d->o.nnotify)
		return 0;
	if ((rc = dnsd_notify_init(loop, d->db, d->zones, &d->o, d->keys, NULL, &d->notify)) != 0 ||
	    (rc = dnsd_notify_start(d->notify)) != 0) {
		fprintf(stderr, "dnsd: notify: %s\n", dnsd_strerror(rc));
		return 3;
	}
	return 0;
}

static void metrics_render(void *arg, struct ch_text *t)
{
	const struct daemon *d = arg;
	struct dnsd_rrl_stats rrl = { 0 };

	for (unsigned i = 0; i < d->nworkers; i++)
		dnsd_server_rrl_stats(d->w[i].server, &rrl);
	dnsd_metrics_render(d->engines, d->nworkers, &rrl, t);
}

/* The metrics endpoint, if configured: after the drop, as capabilities
 * are per thread and its thread must keep none.  Returns 0 or the exit
 * code. */
static int metrics_start(struct daemon *d)
{
	char err[512];
	int rc;

	if (!d->o.metrics)
		return 0;
	if (!(d->engines = calloc(d->nworkers, sizeof(*d->engines))))
		return 3;
	for (unsigned i = 0; i < d->nworkers; i++)
		d->engines[i] = d->w[i].engine;
	if ((rc = ch_metrics_start(d->o.metrics, metrics_render, d, &d->metrics, err,
	                           sizeof(err))) != 0) {
		fprintf(stderr, "dnsd: %s\n", err);
		return rc == -EINVAL ? 2 : 3;
	}
	fprintf(stderr, "dnsd: metrics on http://%s/metrics\n", ch_metrics_addr(d->metrics));
	return 0;
}

/* DNSSEC keys and TLSA pins, checked before anything is served: with
 * dnssec: configured, a key that cannot be used stops the start rather
 * than let a zone go out unsigned.  With --print-ds, prints the DS
 * records.  Returns 0 or the exit code. */
static int dnssec_start(struct daemon *d)
{
	char err[512];
	int rc;

	if ((rc = dnsd_config_tlsa_pins(&d->o, d->tlsa_pins, &d->ntlsa_pins, err,
	                                sizeof(err))) != 0) {
		fprintf(stderr, "dnsd: %s\n", err);
		return 2;
	}
	if ((rc = dnsd_dnssec_keys_open(&d->o, d->zones, d->db, (int64_t)time(NULL), &d->keyset,
	                                err, sizeof(err))) != 0) {
		fprintf(stderr, "dnsd: %s\n", err);
		return rc == DNSD_EKEY ? 2 : 3;
	}
	for (size_t i = 0; !d->print_ds && i < dnsd_keyset_count(d->keyset); i++) {
		const struct dnsd_key *k = dnsd_keyset_key(d->keyset, i);
		fprintf(stderr, "dnsd: DNSSEC %s %u algorithm %u: %s\n", k->ksk ? "KSK" : "ZSK", k->tag,
		        k->alg, k->file);
	}
	if (!d->print_ds)
		return 0;
	rc = dnsd_dnssec_print_ds(stdout, d->keyset, d->zones, d->db, d->print_ds_apex,
	                          (int64_t)time(NULL), err, sizeof(err));
	if (rc) {
		fprintf(stderr, "dnsd: %s\n", err);
		return rc == DNSD_EKEY ? 2 : 3;
	}
	return fflush(stdout) == 0 ? 0 : 3;
}

/* Open the store, load the zones, set up every worker and its sockets:
 * everything that can fail on a bad configuration, before a thread runs.
 * Returns 0 or the exit code. */
/* The grace is the store's (policyctl removed-grace), since the store
 * knows when each one ends and moves the serial then.  A grace given to
 * dnsd too must be the same, or what dnsd answers would not be what its
 * serial says. */
static int grace_agrees(struct daemon *d)
{
	pdb_txn *t;
	uint32_t have = 0;
	int rc;

	if (d->o.removed_grace_s == GRACE_UNSET)
		return 0;
	if ((rc = pdb_read_begin(d->db, &t)) == 0) {
		rc = pdb_removed_grace(t, &have);
		pdb_read_end(t);
	}
	if (rc != 0) {
		fprintf(stderr, "dnsd: %s: %s\n", d->o.db, pdb_strerror(rc));
		return 3;
	}
	if (have != d->o.removed_grace_s) {
		fprintf(stderr, "dnsd: removed-grace-s %u differs from the store's removed-grace %u: "
		        "set it in the store with 'policyctl removed-grace %u', or leave it out\n",
		        d->o.removed_grace_s, (unsigned)have, d->o.removed_grace_s);
		return 2;
	}
	return 0;
}

static int daemon_start(struct daemon *d, uv_loop_t *loop)
{
	char err[512];
	int rc;

	if ((rc = dnsd_xfr_acl_new(&d->o, config_path, &d->xfr_acl, err, sizeof(err))) != 0) {
		fprintf(stderr, "dnsd: %s\n", rc == DNSD_ECONFIG ? err : dnsd_strerror(rc));
		return rc == DNSD_ECONFIG ? 2 : 3;
	}
	if ((rc = pdb_open(d->o.db, PDB_RDONLY, NULL, &d->db)) != 0) {
		fprintf(stderr, "dnsd: %s: %s\n", d->o.db, pdb_strerror(rc));
		return 3;
	}
	if ((rc = grace_agrees(d)) != 0)
		return rc;
	if (dnsd_zones_load((const char *const *)d->o.zones, d->o.nzones, &d->zones, err,
	                    sizeof(err)) != 0) {
		fprintf(stderr, "dnsd: %s\n", err);
		return 2;
	}
	if ((rc = dnsd_tsig_keys_new(d->o.keys, d->o.nkeys, config_path, &d->keys, err,
	                             sizeof(err))) != 0) {
		fprintf(stderr, "dnsd: %s\n", rc == DNSD_ECONFIG ? err : dnsd_strerror(rc));
		return rc == DNSD_ECONFIG ? 2 : 3;
	}
	for (size_t i = 0; i < d->o.nkeys; i++)
		fprintf(stderr, "dnsd: TSIG key %s\n", d->o.keys[i].v[DNSD_KEY_NAME]);
	if ((rc = dnssec_start(d)) != 0 || d->print_ds)
		return rc;
	d->nworkers = d->o.threads ? d->o.threads : default_threads();
	if (!(d->w = calloc(d->nworkers, sizeof(*d->w))) || dnsd_views_new(&d->views) != 0)
		return 3;
	for (unsigned i = 0; i < d->nworkers; i++) {
		uv_loop_t *l = i == 0 ? loop : &d->w[i].loop;
		if (i > 0 && uv_loop_init(l) != 0)
			return 3;
		if (worker__init(d, i, l) != 0)
			return 3;
	}
	return notify_start(d, loop);
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	uv_loop_t *loop = uv_default_loop();
	int rc;

	d.o.removed_grace_s = GRACE_UNSET;
	d.o.journal_max = DNSD_JOURNAL_MAX_DEFAULT;
	if ((rc = parse(argc, argv, &d.o, &d)) != 0 || (rc = check(&d.o)) != 0 ||
	    (rc = ids_lookup(&d)) != 0 || (rc = daemon_start(&d, loop)) != 0 || d.print_ds ||
	    (rc = drop(&d)) != 0 || (rc = metrics_start(&d)) != 0) {
		workers_abandon(&d, loop);
		daemon_free(&d);
		uv_loop_close(loop);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	for (size_t j = 0; j < d.o.nlisten; j++)
		fprintf(stderr, "dnsd: listening on %s (UDP on %u threads, TCP)\n", d.o.listen[j],
		        d.nworkers);
	/* The signals first: a worker answers as soon as it runs, and a
	 * SIGTERM that came after its first answer but before the handlers
	 * killed dnsd instead of stopping it. */
	uv_signal_init(loop, &d.term);
	uv_signal_init(loop, &d.intr);
	uv_signal_init(loop, &d.hup);
	uv_timer_init(loop, &d.reap);
	uv_timer_init(loop, &d.sweep);
	d.term.data = d.intr.data = d.hup.data = d.reap.data = d.sweep.data = &d;
	uv_timer_start(&d.sweep, on_sweep, DNSD_SWEEP_MS, DNSD_SWEEP_MS);
	uv_signal_start(&d.term, on_stop, SIGTERM);
	uv_signal_start(&d.intr, on_stop, SIGINT);
	uv_signal_start(&d.hup, on_hup, SIGHUP);
	for (unsigned i = 1; i < d.nworkers; i++) {
		if (pthread_create(&d.w[i].thread, NULL, worker__run, &d.w[i]) != 0) {
			fprintf(stderr, "dnsd: cannot start a thread\n");
			return 3;
		}
	}
	sd_notify(0, "READY=1");
	uv_run(loop, UV_RUN_DEFAULT);
	for (unsigned i = 1; i < d.nworkers; i++) {
		pthread_join(d.w[i].thread, NULL);
		uv_loop_close(&d.w[i].loop);
	}
	daemon_free(&d);
	uv_loop_close(loop);
	fprintf(stderr, "dnsd: stopped\n");
	return 0;
}
