/*
 * dnsd: the authoritative DNS server of the clearinghouse.
 *
 * The core is three parts, used by main.c and by the tests directly:
 *  - zones: the static data of each zone, read from RFC 1035 master files;
 *  - the engine: answers one query from the zones and the policy store;
 *  - the server: libuv UDP and TCP listeners that feed the engine.
 *
 * Errors are negative ints: a negative errno, a PDB_E* code from policydb
 * passed through, or one of the DNSD_E* codes, -2001 to -2999 (the ranges
 * are in policydb.h).
 */
#ifndef DNSD_H
#define DNSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cfg.h"
#include "policydb.h"

enum {
	DNSD_EZONE = -2001,   /* a zone file could not be read or is not valid */
	DNSD_EADDR = -2002,   /* not an address to listen on, as ADDR:PORT or [V6]:PORT */
	DNSD_ECONFIG = -2004, /* the configuration file is not valid */
	DNSD_EKEY = -2010,    /* a DNSSEC key could not be read, is not valid, or none is active */
};

/** A static sentence for any error dnsd, policydb or libuv returns;
 * "unknown error" for a code in no range of policydb.h or of dnsd's. */
const char *dnsd_strerror(int err);

/* ---- zones ---------------------------------------------------------------- */

typedef struct dnsd_zones dnsd_zones;

/** Read n zone files.  Each must be a regular file of at most 64 MiB (a
 * directory, FIFO or device is refused before anything is read) and hold
 * exactly one SOA, at its apex; two files may not have the same apex.  On
 * error returns DNSD_EZONE with "FILE:LINE: why" or "FILE: why" in err,
 * and *out is NULL; -EINVAL for NULL arguments, -ENOMEM.  The zones are freed with
 * dnsd_zones_free(). */
int dnsd_zones_load(const char *const *files, size_t n, dnsd_zones **out, char *err,
                    size_t errlen);
void dnsd_zones_free(dnsd_zones *z);
/** Number of zones. */
size_t dnsd_zones_count(const dnsd_zones *z);

/** Carry the SOA serials served from prev (the zones in use) over to next
 * (the same files read again), before next is served.
 *
 * A zone's SOA serial is its file's serial, plus the policy serial for
 * the community zone (mod 2^32, RFC 1982).  When a zone of next holds
 * other records than the one of the same apex in prev but its file's
 * serial did not move forward, its served serial is moved one past the
 * old one anyway, so that caches and secondaries learn of the change; a
 * serial that went back with records unchanged is served as before.
 * Within a run, a zone's serial thus never goes back.  Zones new in next
 * start at their file's serial.
 *
 * stale receives the apexes (space separated, truncated to len) of the
 * zones that changed without a serial bump, for a warning; it may be NULL
 * if len is 0.  Returns how many there were, or -EINVAL. */
int dnsd_zones_follow(dnsd_zones *next, const dnsd_zones *prev, char *stale, size_t len);

/* ---- the engine ------------------------------------------------------------ */

typedef struct dnsd_engine dnsd_engine;

/** Make an engine over zones and an open policy store; it borrows both,
 * which must outlive it.  One engine serves one thread.  Errors: -ENOMEM,
 * the errors of pdb_read_begin(). */
int dnsd_engine_new(const dnsd_zones *zones, pdb_t *db, dnsd_engine **out);
void dnsd_engine_free(dnsd_engine *e);
/* The answer cache of an engine (one per thread) holds at most this many
 * bytes: the slot table, the answers, their keys and headers, malloc's
 * overhead estimated.  64 MiB keeps about 220,000 unsigned answers. */
#define DNSD_CACHE_SIZE_DEFAULT ((size_t)64 << 20)
#define DNSD_CACHE_SIZE_MIN ((size_t)1 << 20)
#define DNSD_CACHE_SIZE_MAX ((size_t)64 << 30)
/** Give e an empty answer cache of at most bytes (DNSD_CACHE_SIZE_MIN to
 * DNSD_CACHE_SIZE_MAX) in place of its own, whose answers are dropped.
 * Returns 0, -EINVAL (NULL e, bytes out of range), or -ENOMEM (e keeps
 * its cache). */
int dnsd_engine_set_cache_size(dnsd_engine *e, size_t bytes);
/* The view map (under "fallback: allowed": which member a querier's
 * address speaks for) that engines on several threads share, so that a
 * million members' queriers are held once and not once a thread. */
typedef struct dnsd_views dnsd_views;
/** An empty shared view map, built by the first engine that needs it.
 * Returns 0 with *out (freed with dnsd_views_free, after every engine
 * using it), -EINVAL, -ENOMEM. */
int dnsd_views_new(dnsd_views **out);
void dnsd_views_free(dnsd_views *v);
/** Make e use v (borrowed) in place of a view map of its own.  Call before
 * e answers its first query. */
void dnsd_engine_share_views(dnsd_engine *e, dnsd_views *v);
/** Parse a cache-size: setting: a number of bytes with an optional K, M
 * or G (powers of 1024), from DNSD_CACHE_SIZE_MIN to DNSD_CACHE_SIZE_MAX.
 * Returns 0 with *out, or -EINVAL with "why" in err. */
int dnsd_cache_size_parse(const char *s, size_t *out, char *err, size_t errlen);
/* How long a removed member's delegated names are still answered, by
 * default: a week, time for the member to remove its delegations. */
#define DNSD_REMOVED_GRACE_DEFAULT 604800u

/** Serve other zones from the next query on; the caller frees the old
 * ones after this returns (no query is in flight between two calls into
 * the engine). */
void dnsd_engine_set_zones(dnsd_engine *e, const dnsd_zones *zones);

/* Who asked, and how: for views (the source address) and for the size an
 * answer may have. */
struct dnsd_client {
	int family;          /* 4 or 6 */
	uint8_t addr[16];    /* network order */
	bool tcp;
};

/* Space enough for any answer. */
#define DNSD_MSG_MAX 65535

/** Answer one query message q of qlen bytes into out (cap bytes, at least
 * DNSD_MSG_MAX for TCP, 1232 for UDP).  *outlen is 0 when nothing is to be
 * sent back (a response, or too short to answer).  An answer larger than
 * the client takes loses whole RRsets of its additional section first; TC
 * is set only when the rest does not fit.  Every reply to a query with a
 * valid OPT has one.  Returns 0; -EINVAL for a NULL argument or cap below
 * 512; or, with a SERVFAIL in out, a policy store error, -ENOMEM, or
 * -EMSGSIZE for an answer no message could hold. */
int dnsd_answer(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                uint8_t *out, size_t cap, size_t *outlen);

/* ---- metrics ---------------------------------------------------------------- */

struct ch_text;
struct dnsd_rrl_stats;
/** Write the metrics of n engines (the daemon's threads), summed, and of
 * rate limiting (rrl, summed over the servers with
 * dnsd_server_rrl_stats(); NULL: not shown) into t (common/metrics.h).
 * Safe from any thread while the engines live: it only reads counters. */
void dnsd_metrics_render(dnsd_engine *const *engines, size_t n, const struct dnsd_rrl_stats *rrl,
                         struct ch_text *t);

/* ---- DNSSEC: online signing ------------------------------------------------ */

typedef struct dnsd_keyset dnsd_keyset;

/** Sign answers to queries with DO=1 with keys (borrowed: it must outlive
 * the engine or the next call; NULL: answers go out unsigned, the
 * default).  Every RRSIG runs from now - inception_offset to now +
 * validity; a cached signed answer is rendered and signed again once now
 * passes expiration - refresh, or when a key changes state.  The engine
 * reuses a signature it made of the very same RRset, key and TTL until
 * that signature's expiration - refresh or the next key event of its
 * apex, whichever comes first (its inception is then the earlier one).
 * From the next query on; answers and signatures kept before are not
 * served again.  Returns 0;
 * -EINVAL for a NULL e, or with keys, validity 0 or refresh not below
 * validity. */
int dnsd_engine_set_dnssec(dnsd_engine *e, const dnsd_keyset *keys, uint32_t validity,
                           uint32_t inception_offset, uint32_t refresh);

/* ---- zone transfers (AXFR, IXFR, the catalog zone) ------------------------ */

struct dnsd_config;
typedef struct dnsd_xfr_acl dnsd_xfr_acl;

/** Check the transfer: records and catalog: of c against its keys: and
 * build who may transfer what.  path names the configuration file for the
 * messages ("FILE:LINE:COL: why", or "FILE: why").  A record names a key
 * (one of keys:), an address prefix, or both, and optionally a view (a
 * member's name: the view that member's resolvers get; else the default
 * view).  Returns 0 with *out (freed with dnsd_xfr_acl_free; NULL-safe),
 * DNSD_ECONFIG with err, -ENOMEM, -EINVAL. */
int dnsd_xfr_acl_new(const struct dnsd_config *c, const char *path, dnsd_xfr_acl **out,
                     char *err, size_t errlen);
void dnsd_xfr_acl_free(dnsd_xfr_acl *acl);
/** Allow transfers per acl (borrowed, outlives the engine's use; NULL:
 * every transfer and catalog query is refused, the default). */
void dnsd_engine_set_transfer(dnsd_engine *e, const dnsd_xfr_acl *acl);

typedef struct dnsd_xfr dnsd_xfr;

/* A transfer's messages are cut at about this size, before TSIG. */
#define DNSD_XFR_MSG 16000

/** If query q (qlen bytes, over TCP from c) is an AXFR or IXFR, start
 * answering it: *out receives the conversation, whose messages come from
 * dnsd_xfr_next (the first may be a refusal; it then is the only one).
 * It holds its own snapshot of the store until freed.  For any other
 * query *out is NULL and the caller answers it with dnsd_answer.
 * Returns 0, -EINVAL, -ENOMEM or a policy store error. */
int dnsd_xfr_begin(dnsd_engine *e, const uint8_t *q, size_t qlen, const struct dnsd_client *c,
                   dnsd_xfr **out);
/** Write the next message (at most cap bytes, cap at least DNSD_MSG_MAX)
 * to out, *len its length.  Returns 1 if more follow, 0 after the last,
 * -ESTALE if the zones were reloaded since the start (the caller ends the
 * connection; the secondary retries), a store error or -ENOMEM. */
int dnsd_xfr_next(dnsd_xfr *x, uint8_t *out, size_t cap, size_t *len);
/** End a transfer, done or not; NULL is a no-op. */
void dnsd_xfr_free(dnsd_xfr *x);

/* ---- the server ------------------------------------------------------------ */

typedef struct dnsd_server dnsd_server;

/* ---- response rate limiting (rrl.c) ----
 * Over UDP, answers of one kind (a positive answer for a name, NXDOMAIN
 * or NODATA in a zone, a referral, an error, ANY, a large answer) to one
 * source prefix (/24 for IPv4, /56 for IPv6) are limited to rate a second,
 * with a burst of one second's worth.  A limited answer is dropped, except
 * every slip-th one, which goes out as an empty truncated answer (TC) so
 * that a real resolver asks again over TCP, which proves its address and
 * is never limited.  Each server (thread) keeps its own table. */
#define DNSD_RRL_RATE_DEFAULT 20
#define DNSD_RRL_SLIP_DEFAULT 2
#define DNSD_RRL_RATE_MAX 100000
#define DNSD_RRL_SLIP_MAX 100
#define DNSD_RRL_EXEMPT_MAX 16

struct dnsd_rrl_conf {
	unsigned rate;             /* answers a second per bucket; 0: no limiting */
	unsigned slip;             /* every slip-th limited answer is sent TC; 0: none */
	bool exempt_queriers;      /* the queriers of members are never limited */
	size_t nexempt;
	struct pdb_addr exempt[DNSD_RRL_EXEMPT_MAX];  /* prefixes never limited */
};

/* What a server's limiting did, since it started.  Written by the
 * server's own thread only; another thread reads each field with
 * __atomic_load_n(..., __ATOMIC_RELAXED) and sums the servers'. */
struct dnsd_rrl_stats {
	uint64_t dropped;          /* limited answers not sent */
	uint64_t slipped;          /* limited answers sent as TC */
	uint64_t exempted;         /* would have been limited, from an exempt source */
};

/** Fill c with the defaults: rate DNSD_RRL_RATE_DEFAULT, slip
 * DNSD_RRL_SLIP_DEFAULT, nothing exempt. */
void dnsd_rrl_conf_default(struct dnsd_rrl_conf *c);

/** Parse the rrl: setting's fields (NULL: not given, left as in c): rate
 * (0..DNSD_RRL_RATE_MAX), slip (0..DNSD_RRL_SLIP_MAX), exempt-queriers
 * (true or false), exempt (prefixes, separated by spaces or commas, at
 * most DNSD_RRL_EXEMPT_MAX).  Returns 0, or -EINVAL with "why" in err. */
int dnsd_rrl_conf_parse(struct dnsd_rrl_conf *c, const char *rate, const char *slip,
                        const char *exempt_queriers, const char *exempt, char *err,
                        size_t errlen);

struct dnsd_limits {
	unsigned tcp_max;          /* TCP connections at once; 0 = 256 */
	unsigned tcp_idle_ms;      /* a TCP connection silent this long is closed; 0 = 10000 */
	/* A TCP message begun must be whole within this; 0 = 500.  Apart
	 * from the idle timeout, so that a client trickling bytes cannot
	 * hold a connection. */
	unsigned tcp_io_ms;
	unsigned tcp_max_per_source;  /* TCP connections at once from one address; 0 = 16 */
	bool rrl_set;              /* false: rrl is taken as dnsd_rrl_conf_default() */
	struct dnsd_rrl_conf rrl;
};

/** A server on loop answering with engine (borrowed).  lim may be NULL. */
int dnsd_server_init(uv_loop_t *loop, dnsd_engine *engine, const struct dnsd_limits *lim,
                     dnsd_server **out);
#define DNSD_LISTEN_UDP 0x1
#define DNSD_LISTEN_TCP 0x2

/** Listen on "192.0.2.1:53" or "[2001:db8::1]:53" with UDP, TCP or both
 * (what).  UDP sockets are bound with SO_REUSEPORT, so that servers on
 * other threads' loops may listen on the same address and share its
 * queries.  Errors: DNSD_EADDR, -EINVAL, or a libuv or socket error
 * (negative errno). */
int dnsd_server_listen(dnsd_server *s, const char *addr, unsigned what);
/** Add what s's rate limiting did to *sum (fields added, not set).  Any
 * thread may call it while s runs; NULL s adds nothing. */
void dnsd_server_rrl_stats(const dnsd_server *s, struct dnsd_rrl_stats *sum);
/** Stop listening, close every connection, then call cb (may be NULL)
 * once all handles are closed; s is freed after cb. */
void dnsd_server_close(dnsd_server *s, void (*cb)(void *arg), void *arg);

/* ---- configuration ---------------------------------------------------------- */

/* cfg_read() fills the lists, up to CFG_LIST_MAX entries each. */
#define DNSD_CONFIG_LIST_MAX CFG_LIST_MAX

/* ---- NSID (RFC 5001) and Extended DNS Errors (RFC 8914): edns.c ---- */

/* The longest NSID dnsd sends: it must fit in every answer beside the
 * rest. */
#define DNSD_NSID_MAX 128

/** Parse an nsid: setting: "0x" and hex digits for bytes, or else the
 * text itself; 1 to DNSD_NSID_MAX bytes.  Writes out and *len.  Returns
 * 0, or -EINVAL with "why" in err. */
int dnsd_nsid_parse(const char *s, uint8_t *out, size_t *len, char *err, size_t errlen);

/** Answer queries whose OPT asks for the NSID with nsid (len bytes,
 * copied; len 0: never).  Returns 0, or -EINVAL for len above
 * DNSD_NSID_MAX or NULL with len. */
int dnsd_engine_set_nsid(dnsd_engine *e, const uint8_t *nsid, size_t len);
/* DNSSEC (dnssec: in the file), for the key loader and the signer. */
#define DNSD_DNSSEC_VALIDITY_DEFAULT 1209600u    /* 14 days */
#define DNSD_DNSSEC_INCEPTION_DEFAULT 3600u      /* an hour back, for slow clocks */
#define DNSD_DNSSEC_REFRESH_DEFAULT 432000u      /* 5 days */
/* The longest validity taken: a year. */
#define DNSD_DNSSEC_VALIDITY_MAX 31536000u
/* The SPKI pins a clearinghouse host's TLSA may have. */
#define DNSD_TLSA_PINS_MAX 4
struct dnsd_dnssec_config {
	char *keys;                 /* the key directory; NULL: DNSSEC off */
	unsigned validity;          /* seconds a signature is valid */
	unsigned inception_offset;  /* its inception this far before the signing */
	unsigned refresh;           /* re-sign when less than this is left */
	/* TLSA of the clearinghouse hosts: the certificate file (PEM) and/or
	 * a pin (hex or base64 SHA-256 of the SPKI) as written; NULL: none. */
	char *tlsa_cert;
	char *tlsa_pin;
};

/* Settings, from the command line or a file; strings are owned. */
struct dnsd_config {
	char *db;
	char *zones[DNSD_CONFIG_LIST_MAX];
	size_t nzones;
	char *listen[DNSD_CONFIG_LIST_MAX];
	size_t nlisten;
	unsigned threads;           /* 0: one per CPU */
	size_t cache_size;          /* of each thread's answer cache; 0: the default */
	struct dnsd_limits lim;
	unsigned removed_grace_s;   /* removed-grace-s, which must equal the
	                               store's removed-grace; the caller sets
	                               UINT_MAX (not given) before reading */
	/* Zone transfers, as the file gives them; each part checks its own
	 * (the fields are in the order of the field indexes below).
	 *   keys:     [{name, algorithm, secret}]   TSIG keys
	 *   transfer: [{key, address, view}]        who may transfer which view
	 *   notify:   [{address, key}]              whom to tell of a new serial */
	struct cfg_record keys[DNSD_CONFIG_LIST_MAX];
	size_t nkeys;
	struct cfg_record transfer[DNSD_CONFIG_LIST_MAX];
	size_t ntransfer;
	struct cfg_record notify[DNSD_CONFIG_LIST_MAX];
	size_t nnotify;
	char *catalog;              /* the catalog zone's name; NULL: none */
	unsigned journal_max;       /* serials kept for IXFR; the caller sets
	                               the default before reading */
	char *metrics;              /* ADDR:PORT of /metrics; NULL: none */
	/* Least privilege: the user and group to run as after binding, when
	 * started as root (see priv.h); NULL: none given. */
	char *user, *group;
	uint8_t nsid[DNSD_NSID_MAX];  /* nsid: what NSID answers; nsid_len 0: none */
	size_t nsid_len;
	/* dnssec: {keys, validity, inception-offset, refresh, tlsa-cert,
	 * tlsa-pin}; when the file gives it, what it leaves out takes the
	 * defaults above.  Paths are relative to the file's directory. */
	struct dnsd_dnssec_config dnssec;
};

/* Field indexes of the records above. */
enum { DNSD_KEY_NAME, DNSD_KEY_ALGORITHM, DNSD_KEY_SECRET };
enum { DNSD_TRANSFER_KEY, DNSD_TRANSFER_ADDRESS, DNSD_TRANSFER_VIEW };
enum { DNSD_NOTIFY_ADDRESS, DNSD_NOTIFY_KEY };
/* Serials kept for IXFR unless journal-max says otherwise. */
#define DNSD_JOURNAL_MAX_DEFAULT 1000

/** Read a YAML configuration file into c (settings it does not give are
 * left as they are; lists it gives are appended).  Relative paths are
 * taken from the file's directory.  Errors: DNSD_ECONFIG with
 * "FILE:LINE:COL: why" in err, -ENOMEM, -EINVAL.  Free with
 * dnsd_config_free() either way. */
int dnsd_config_read(const char *path, struct dnsd_config *c, char *err, size_t errlen);
void dnsd_config_free(struct dnsd_config *c);

/** The SPKI pins (SHA-256, 32 bytes each) of c's tlsa-cert and
 * tlsa-pin, for dnsd_engine_set_tlsa: *n of them (0 to 2).  Returns 0, or
 * DNSD_ECONFIG with "FILE: why" in err (a certificate that cannot be read,
 * a pin that is not 32 bytes in hex or base64); -EINVAL for NULL
 * arguments.  pins must hold DNSD_TLSA_PINS_MAX. */
int dnsd_config_tlsa_pins(const struct dnsd_config *c, uint8_t pins[][32], size_t *n, char *err,
                          size_t errlen);
/** Give the TLSA records 3 1 1 of the clearinghouse hosts (at
 * _<port>._tcp.<host> for each port of each clearinghouse of the
 * community) from n pins (copied; at most DNSD_TLSA_PINS_MAX; 0: none).
 * Answers cached before are dropped.  Returns 0 or -EINVAL. */
int dnsd_engine_set_tlsa(dnsd_engine *e, const uint8_t pins[][32], size_t n);

/** Parse a removed-grace-s value, from the command line or a file:
 * seconds, 0 to PDB_REMOVED_KEEP.  Returns 0, or -EINVAL with a message
 * in err. */
int dnsd_config_grace(const char *s, unsigned *out, char *err, size_t errlen);

/* ---- NOTIFY (RFC 1996) ------------------------------------------------------ */

typedef struct dnsd_notify dnsd_notify;
struct dnsd_tsig_keys;

struct dnsd_notify_opts {
	unsigned interval_ms;   /* how often serials are looked at: a burst of
	                           commits within it is one NOTIFY (1000) */
	unsigned retry_ms;      /* the first gap before a NOTIFY is sent again;
	                           each next gap is twice the last (1000) */
	unsigned tries;         /* sends before giving up, 1..16 (5) */
};

/** Fill o with the defaults above. */
void dnsd_notify_opts_default(struct dnsd_notify_opts *o);

/** Check c's notify: records: an address ADDR:PORT or [V6]:PORT each, a
 * key (if given) that keys: names.  Returns 0, or DNSD_ECONFIG with
 * "PATH:LINE:COL: why" in err (path is the configuration file's, for the
 * message; NULL says "(config)"); -EINVAL for a NULL c. */
int dnsd_notify_check(const struct dnsd_config *c, const char *path, char *err, size_t errlen);

/** Tell c's notify: targets, over UDP from loop, of every served serial
 * that moves: the policy store's (db, borrowed) and the zones' (borrowed;
 * see dnsd_notify_set_zones), and the catalog zone c->catalog's when the
 * list of member apexes changes.  keys (borrowed, may be NULL: every
 * NOTIFY unsigned) signs a target's NOTIFY with its key.  opts may be
 * NULL for the defaults.  c must have passed dnsd_notify_check(); it is
 * not kept, but the key names are: c must outlive the handle.  The serials
 * of the first look, at the first tick, are only taken note of.
 * Returns 0; -EINVAL, -ENOMEM, a policy store error, or a libuv error
 * (negative errno).  When *out is set on error, close it with
 * dnsd_notify_close(). */
int dnsd_notify_init(uv_loop_t *loop, pdb_t *db, const dnsd_zones *zones,
                     const struct dnsd_config *c, const struct dnsd_tsig_keys *keys,
                     const struct dnsd_notify_opts *opts, dnsd_notify **out);
/** Start looking at the serials, every interval.  Returns 0, -EINVAL. */
int dnsd_notify_start(dnsd_notify *n);
/** Serve zones from now on (after a reload); the caller may free the
 * old ones once this returns. */
void dnsd_notify_set_zones(dnsd_notify *n, const dnsd_zones *zones);
/** Stop, drop what is not yet acknowledged, close the handles, then call
 * cb (may be NULL); n is freed before cb. */
void dnsd_notify_close(dnsd_notify *n, void (*cb)(void *arg), void *arg);

#endif
