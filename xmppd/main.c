/* xmppd: the command line around the core.  Foreground, one libuv loop,
 * logs to stderr; SIGTERM and SIGINT stop it cleanly.  Policy changes need
 * no signal: every decision reads the store's newest commit. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cfg.h"
#include "metrics.h"
#include "priv.h"
#include "xmppd.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: xmppd [--config FILE] --db DIR --listen ADDR:PORT [--listen ...]\n"
	        "             [--tls-listen ADDR:PORT ...] [--cert FILE --key FILE [--ca FILE]]\n"
	        "             [--mode redirect|relay] [--conn-max N] [--setup-ms MS]\n"
	        "             [--relay-idle-ms MS] [--metrics ADDR:PORT]\n"
	        "             [--relay-idle-ms MS] [--user USER [--group GROUP]]\n"
	        "\n"
	        "Answers XMPP server-to-server streams for the federation in the policy\n"
	        "store DIR (also $CLEARINGHOUSE_DB): an allowed peer is sent to the real\n"
	        "server (redirect: <see-other-host/>; relay: xmppd connects and splices),\n"
	        "any other gets <policy-violation/> or <host-unknown/>.\n"
	        "  --listen ADDR:PORT      s2s with STARTTLS (offered when --cert is given)\n"
	        "  --tls-listen ADDR:PORT  direct TLS (XEP-0368); relay mode routes it by SNI\n"
	        "  --cert, --key FILE      xmppd's own certificate chain and key (PEM)\n"
	        "  --ca FILE               CA bundle that peers' certificates must chain to\n"
	        "  --mode MODE             redirect (default) or relay\n"
	        "  --conn-max N            descriptors held by connections (4096), a relay\n"
	        "                          counting two; at the cap the oldest connection\n"
	        "                          being set up is cut, or a new one refused\n"
	        "  --setup-ms MS           from accept to the decision, TLS included (10000)\n"
	        "  --relay-idle-ms MS      relay: close a splice with no byte either way in\n"
	        "                          MS (300000: longer than servers' keepalives)\n"
	        "  --metrics ADDR:PORT     serve Prometheus/OpenMetrics text at\n"
	        "                          http://ADDR:PORT/metrics (a bare PORT: 127.0.0.1)\n"
	        "  --user USER             started as root: bind, read the certificate and\n"
	        "                          key, then run as USER with no capability\n"
	        "                          (setting user:); without it xmppd stays root\n"
	        "  --group GROUP           the group to run as (setting group:; USER's own)\n"
	        "  --config FILE           the same settings from a YAML file; the command\n"
	        "                          line wins\n");
}

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "db", required_argument, NULL, 'd' },
	{ "listen", required_argument, NULL, 'l' },
	{ "tls-listen", required_argument, NULL, 'L' },
	{ "cert", required_argument, NULL, 'C' },
	{ "key", required_argument, NULL, 'K' },
	{ "ca", required_argument, NULL, 'A' },
	{ "mode", required_argument, NULL, 'm' },
	{ "conn-max", required_argument, NULL, 'n' },
	{ "setup-ms", required_argument, NULL, 's' },
	{ "relay-idle-ms", required_argument, NULL, 'i' },
	{ "metrics", required_argument, NULL, 'M' },
	{ "user", required_argument, NULL, 'u' },
	{ "group", required_argument, NULL, 'G' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int read_file(const char *path, void *conf, char *err, size_t errlen)
{
	return xmppd_config_read(path, conf, err, errlen);
}

static int parse(int argc, char **argv, struct xmppd_config *o)
{
	static const char lists[] = "--listen and --tls-listen";
	bool l_cleared = false, tl_cleared = false;
	int c, rc = 0;

	xmppd_limits_default(&o->lim);
	if ((rc = cfg_opt_files("xmppd", usage, argc, argv, "h", longopts, read_file, o,
	                        &o->db)) != 0)
		return rc;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': rc = cfg_opt_string(&o->db, optarg); break;
		case 'C': rc = cfg_opt_string(&o->cert, optarg); break;
		case 'K': rc = cfg_opt_string(&o->key, optarg); break;
		case 'A': rc = cfg_opt_string(&o->ca, optarg); break;
		case 'm': rc = cfg_opt_string(&o->mode, optarg); break;
		case 'u': rc = cfg_opt_string(&o->user, optarg); break;
		case 'G': rc = cfg_opt_string(&o->group, optarg); break;
		case 'l':
			rc = cfg_opt_list("xmppd", lists, o->listen, &o->nlisten, &l_cleared, optarg);
			break;
		case 'L':
			rc = cfg_opt_list("xmppd", lists, o->tls_listen, &o->ntls_listen, &tl_cleared,
			                  optarg);
			break;
		case 'n':
			rc = cfg_opt_number("xmppd", "conn-max", optarg, 1000000, &o->lim.conn_max);
			break;
		case 's':
			rc = cfg_opt_number("xmppd", "setup-ms", optarg, 600000, &o->lim.setup_ms);
			break;
		case 'i':
			rc = cfg_opt_number("xmppd", "relay-idle-ms", optarg, 86400000,
			                    &o->lim.relay_idle_ms);
			break;
		case 'M': rc = cfg_opt_string(&o->metrics, optarg); break;
		case 'h':
			usage(stdout);
			exit(0);
		}
	}
	if (rc)
		return rc;
	const char *why = optind != argc ? "unexpected arguments"
	                : !o->db ? "no --db DIR"
	                : !o->nlisten && !o->ntls_listen ? "no --listen ADDR:PORT"
	                : !o->cert != !o->key ? "--cert and --key go together"
	                : o->ca && !o->cert ? "--ca needs --cert and --key"
	                : o->mode && strcmp(o->mode, "redirect") && strcmp(o->mode, "relay")
	                        ? "--mode is redirect or relay"
	                : NULL;
	if (!why && o->ntls_listen && !o->cert && !(o->mode && !strcmp(o->mode, "relay")))
		why = "--tls-listen needs --cert and --key, or --mode relay";
	if (why) {
		fprintf(stderr, "xmppd: %s\n", why);
		usage(stderr);
		return 2;
	}
	return 0;
}

/* How often stale reader slots are looked for. */
#define XMPPD_SWEEP_MS 60000

struct daemon {
	xmppd_server *server;
	ch_metrics *metrics;       /* NULL: no metrics: setting */
	pdb_t *db;
	uv_signal_t term, intr;
	uv_timer_t sweep;          /* reader slots of dead processes */
};

/* Free the reader slots that killed processes left, before they run out:
 * every policyctl, dnsd and xmppd shares the store's slots. */
static void on_sweep(uv_timer_t *t)
{
	struct daemon *d = t->data;
	int dead = 0;

	if (pdb_reader_check(d->db, &dead) == 0 && dead > 0)
		fprintf(stderr, "xmppd: freed %d reader slots of dead processes\n", dead);
}

static void on_stop(uv_signal_t *h, int sig)
{
	struct daemon *d = h->data;

	fprintf(stderr, "xmppd: signal %d, stopping\n", sig);
	sd_notify(0, "STOPPING=1");
	uv_close((uv_handle_t *)&d->term, NULL);
	uv_close((uv_handle_t *)&d->intr, NULL);
	uv_close((uv_handle_t *)&d->sweep, NULL);
	/* First: the scrape thread reads the server's counters. */
	ch_metrics_stop(d->metrics);
	d->metrics = NULL;
	xmppd_server_close(d->server, NULL, NULL);
}

static void metrics_render(void *arg, struct ch_text *t)
{
	xmppd_metrics_render(arg, t);
}

/* Idle connections are file descriptors: take what the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* Every port is bound and the TLS files are read (xmppd reads them once):
 * give up root and every capability.  The store must still open as the
 * user, for the next start.  Returns 0 or the exit code. */
static int drop(const struct xmppd_config *o, const struct priv_ids *ids)
{
	char err[512], path[4096];
	int rc;

	if (pdb_world_writable(o->db, path, sizeof(path)) == 1)
		fprintf(stderr, "xmppd: warning: %s is writable by others (o+w): anyone on this "
		        "host can change the policy; see 'policyctl init --group'\n", path);
	rc = priv_drop(ids, err, sizeof(err));
	if (rc == 1) {
		fprintf(stderr, "xmppd: warning: running as root; set user: (or --user) to run "
		        "without privileges after binding\n");
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "xmppd: %s\n", err);
		return 3;
	}
	fprintf(stderr, "xmppd: running as uid %u gid %u, no capabilities\n", (unsigned)getuid(),
	        (unsigned)getgid());
	if (ids->set && (rc = pdb_check_access(o->db, PDB_RDONLY)) != 0) {
		fprintf(stderr, "xmppd: %s: the store cannot be opened as user %s: %s\n", o->db,
		        ids->user, pdb_strerror(rc));
		return 3;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct xmppd_config o = { 0 };
	struct daemon d = { 0 };
	uv_loop_t *loop = uv_default_loop();
	xmppd_tls *tls = NULL;
	struct priv_ids ids;
	pdb_t *db = NULL;
	char err[512];
	int rc, code = 3;

	if ((rc = parse(argc, argv, &o)) != 0) {
		xmppd_config_free(&o);
		return rc;
	}
	enum xmppd_mode mode = o.mode && !strcmp(o.mode, "relay") ? XMPPD_RELAY : XMPPD_REDIRECT;
	if (priv_lookup(o.user, o.group, &ids, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmppd: %s\n", err);
		code = 2;
		goto out;
	}
	if ((rc = pdb_open(o.db, PDB_RDONLY, NULL, &db)) != 0) {
		fprintf(stderr, "xmppd: %s: %s\n", o.db, pdb_strerror(rc));
		goto out;
	}
	if (o.cert && (rc = xmppd_tls_new(o.cert, o.key, o.ca, &tls, err, sizeof(err))) != 0) {
		fprintf(stderr, "xmppd: %s\n", rc == XMPPD_ETLS ? err : xmppd_strerror(rc));
		code = 2;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if ((rc = xmppd_server_init(loop, db, tls, mode, &o.lim, &d.server)) != 0) {
		fprintf(stderr, "xmppd: %s\n", xmppd_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < o.nlisten + o.ntls_listen; i++) {
		bool direct = i >= o.nlisten;
		const char *a = direct ? o.tls_listen[i - o.nlisten] : o.listen[i];
		if ((rc = xmppd_server_listen(d.server, a, direct)) != 0) {
			if (rc == -EACCES)
				fprintf(stderr, "xmppd: cannot bind %s: permission denied; %s\n", a,
				        PRIV_BIND_HINT);
			else
				fprintf(stderr, "xmppd: %s: %s\n", a, xmppd_strerror(rc));
			xmppd_server_close(d.server, NULL, NULL);
			uv_run(loop, UV_RUN_DEFAULT);
			goto out;
		}
		fprintf(stderr, "xmppd: listening on %s (%s, %s)\n", a,
		        direct ? "direct TLS" : tls ? "STARTTLS" : "plain",
		        mode == XMPPD_RELAY ? "relay" : "redirect");
	}
	if ((rc = drop(&o, &ids)) != 0) {
		code = rc;
		xmppd_server_close(d.server, NULL, NULL);
		uv_run(loop, UV_RUN_DEFAULT);
		goto out;
	}
	/* After the drop: capabilities are per thread, and the metrics'
	 * thread must not keep any. */
	if (o.metrics) {
		if ((rc = ch_metrics_start(o.metrics, metrics_render, d.server, &d.metrics, err,
		                           sizeof(err))) != 0) {
			fprintf(stderr, "xmppd: %s\n", err);
			code = rc == -EINVAL ? 2 : 3;
			xmppd_server_close(d.server, NULL, NULL);
			uv_run(loop, UV_RUN_DEFAULT);
			goto out;
		}
		fprintf(stderr, "xmppd: metrics on http://%s/metrics\n", ch_metrics_addr(d.metrics));
	}
	uv_signal_init(loop, &d.term);
	uv_signal_init(loop, &d.intr);
	uv_timer_init(loop, &d.sweep);
	d.db = db;
	d.term.data = d.intr.data = d.sweep.data = &d;
	uv_timer_start(&d.sweep, on_sweep, XMPPD_SWEEP_MS, XMPPD_SWEEP_MS);
	uv_signal_start(&d.term, on_stop, SIGTERM);
	uv_signal_start(&d.intr, on_stop, SIGINT);
	sd_notify(0, "READY=1");
	uv_run(loop, UV_RUN_DEFAULT);
	fprintf(stderr, "xmppd: stopped\n");
	code = 0;
out:
	xmppd_reader_pool_drain();
	uv_loop_close(loop);
	xmppd_tls_free(tls);
	pdb_close(db);
	xmppd_config_free(&o);
	return code;
}
