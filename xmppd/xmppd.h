/* xmppd: the XMPP server-to-server stream responder of the clearinghouse.
 *
 * It reads an initiating server's stream header, asks the policy store
 * whether 'from' may federate with 'to', and either redirects the peer
 * (<see-other-host/>, RFC 6120 section 4.9.3.19), relays its stream to the
 * real server, or refuses it with a stream error.
 *
 * Conventions, as in policydb.h: functions return 0 or a negative error,
 * errno values passed through as -errno, policydb's PDB_E* codes passed
 * through, and xmppd's own codes, -3001 to -3999 (the ranges are in
 * policydb.h);
 * arguments are checked first (-EINVAL).  Nothing here is thread-safe: one
 * server lives on one libuv loop. */
#ifndef XMPPD_H
#define XMPPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cfg.h"
#include "policydb.h"

enum {
	XMPPD_EADDR = -3001,   /* not an ADDR:PORT with a literal address */
	XMPPD_ECONFIG = -3002, /* the configuration is not valid */
	XMPPD_ETLS = -3003,    /* OpenSSL refused the certificate, key or CA file */
};

/** A constant string for any error this library returns; "unknown
 * error" for a code in no range of policydb.h or of xmppd's. */
const char *xmppd_strerror(int err);

/* ---- the stream reader ------------------------------------------------------
 * A streaming XML reader (expat) for what an initiating server sends before
 * the decision: the stream header and, when STARTTLS was offered, the
 * <starttls/> element.  It refuses what RFC 6120 section 11 forbids (DTDs,
 * comments, processing instructions, so also entity expansion) and stops
 * at a byte budget. */

/* The stream error conditions of RFC 6120 section 4.9.3 that xmppd sends. */
enum xmppd_cond {
	XMPPD_COND_NONE = 0,
	XMPPD_COND_BAD_NAMESPACE_PREFIX,
	XMPPD_COND_CONNECTION_TIMEOUT,
	XMPPD_COND_HOST_UNKNOWN,
	XMPPD_COND_IMPROPER_ADDRESSING,
	XMPPD_COND_INTERNAL_SERVER_ERROR,
	XMPPD_COND_INVALID_FROM,
	XMPPD_COND_INVALID_NAMESPACE,
	XMPPD_COND_NOT_WELL_FORMED,
	XMPPD_COND_POLICY_VIOLATION,
	XMPPD_COND_REMOTE_CONNECTION_FAILED,
	XMPPD_COND_RESOURCE_CONSTRAINT,
	XMPPD_COND_RESTRICTED_XML,
	XMPPD_COND_SEE_OTHER_HOST,
	XMPPD_COND_UNSUPPORTED_STANZA_TYPE,
	XMPPD_COND_UNSUPPORTED_VERSION,
};

/** The element name of a condition ("see-other-host"); "" for NONE. */
const char *xmppd_cond_name(enum xmppd_cond c);

/* Longest 'from' or 'to' kept; longer values are refused as bad names. */
#define XMPPD_NAME_MAX 1023

/* What the reader found in a stream header.  from and to are as sent
 * (not normalised), NUL-terminated. */
struct xmppd_header {
	bool has_from, has_to, has_version;
	char from[XMPPD_NAME_MAX + 1];
	char to[XMPPD_NAME_MAX + 1];
	unsigned version_major, version_minor;
};

enum xmppd_event {
	XMPPD_EV_MORE = 0,     /* nothing complete yet: feed more bytes */
	XMPPD_EV_HEADER,       /* the stream header is complete */
	XMPPD_EV_STARTTLS,     /* a complete <starttls/> (urn:ietf:params:xml:ns:xmpp-tls) */
	XMPPD_EV_ELEMENT,      /* some other complete top-level element */
	XMPPD_EV_CLOSED,       /* </stream:stream> */
	XMPPD_EV_ERROR,        /* the stream is broken: see xmppd_reader_error() */
};

typedef struct xmppd_reader xmppd_reader;

/** Make a reader that refuses a stream once it has read more than max
 * bytes (header and elements together).  Returns 0, -EINVAL, -ENOMEM.
 * Free with xmppd_reader_free(). */
int xmppd_reader_new(size_t max, xmppd_reader **out);
/** Free r; up to 32 freed readers are kept (per thread) and made new again
 * by the next xmppd_reader_new(), as parsers are costly to make. */
void xmppd_reader_free(xmppd_reader *r);
/** Free the readers kept by xmppd_reader_free() on this thread (at exit,
 * so that nothing is left for a leak checker). */
void xmppd_reader_pool_drain(void);

/** Start over, for the new stream after STARTTLS (RFC 6120 5.4.3.3): the
 * budget is renewed.  Returns 0 or -ENOMEM. */
int xmppd_reader_reset(xmppd_reader *r);

/** Read up to len bytes.  Stops after the first event; *used (may be
 * NULL) says how many bytes were taken, so the caller feeds the rest
 * again.  After XMPPD_EV_ERROR every call returns it again.
 * The header stays readable with xmppd_reader_header() until a reset. */
enum xmppd_event xmppd_reader_feed(xmppd_reader *r, const void *buf, size_t len,
                                   size_t *used);

const struct xmppd_header *xmppd_reader_header(const xmppd_reader *r);

/** After XMPPD_EV_ERROR: the condition to send and a short reason
 * (a static string). */
enum xmppd_cond xmppd_reader_error(const xmppd_reader *r, const char **why);

/* ---- the decision and the answer -------------------------------------------- */

/* How the connection reached xmppd: what the peer has proven. */
struct xmppd_peer {
	bool tls;                 /* STARTTLS done, or direct TLS */
	bool direct_tls;          /* XEP-0368: redirect to the direct-TLS targets */
	bool cert_checked;        /* tls, and the identity below was computed */
	bool cert_valid_for_from; /* RFC 6125 DNS-ID/SRV-ID for from, chain valid */
	bool has_spki;
	uint8_t spki[PDB_PIN_LEN];/* SHA-256 of the peer certificate's SPKI */
};

/* What to do with a stream whose header is complete. */
struct xmppd_verdict {
	enum xmppd_cond cond;     /* SEE_OTHER_HOST, POLICY_VIOLATION, ... */
	bool relay;               /* relay mode and allowed: connect to targets */
	char from[PDB_NAME_MAX + 1], to[PDB_NAME_MAX + 1];  /* normalised, or "" */
	char text[512];           /* the <text/>, or "" */
	char target[PDB_NAME_MAX + 16];   /* see-other-host: host:port */
	/* relay: the targets in the order to try */
	unsigned ntargets;
	struct { char host[PDB_NAME_MAX + 1]; uint16_t port; } targets[PDB_MAX_TARGETS];
	const char *outcome;      /* "allow", "deny", "unknown", "error" */
	const char *rule;         /* the policy rule, or what was wrong */
};

enum xmppd_mode { XMPPD_REDIRECT = 0, XMPPD_RELAY = 1 };

/** Decide on a complete header h, seen on a connection with what peer
 * says, in mode, at Unix time now, reading the store db (one snapshot).
 * Always fills *v.  Returns 0, or a policydb error after which v holds
 * internal-server-error. */
int xmppd_decide(pdb_t *db, const struct xmppd_header *h, const struct xmppd_peer *peer,
                 enum xmppd_mode mode, int64_t now, struct xmppd_verdict *v);
/** The same within txn, a snapshot the caller holds (begun or renewed),
 * so that a server deciding stream after stream keeps one reader slot
 * and one transaction instead of making them anew each time. */
int xmppd_decide_in(pdb_txn *txn, const struct xmppd_header *h, const struct xmppd_peer *peer,
                    enum xmppd_mode mode, int64_t now, struct xmppd_verdict *v);

/** Write the whole answer: our stream header (from = the requested domain
 * when it was a valid name, to = the peer's from), the stream error of v
 * with its text, and </stream:stream>.  If header_sent, only the error and
 * the closing tag.  Returns the length, or -ENOSPC if cap is too small. */
int xmppd_render_error(const struct xmppd_verdict *v, bool header_sent, char *out, size_t cap);

/** Write our stream header and features offering STARTTLS (required).
 * Returns the length or -ENOSPC. */
int xmppd_render_features(const struct xmppd_verdict *v, char *out, size_t cap);

/* ---- TLS --------------------------------------------------------------------- */

typedef struct xmppd_tls xmppd_tls;

/** Load a certificate chain and key (PEM) and, if ca is not NULL, the CA
 * bundle that peers' certificates are checked against.  Returns 0,
 * XMPPD_ETLS (with OpenSSL's reason in err), -EINVAL, -ENOMEM. */
int xmppd_tls_new(const char *cert, const char *key, const char *ca, xmppd_tls **out,
                  char *err, size_t errlen);
void xmppd_tls_free(xmppd_tls *t);

/* ---- the server ----------------------------------------------------------------- */

struct xmppd_limits {
	unsigned header_max;      /* bytes before the decision (8192) */
	unsigned first_byte_ms;   /* from accept to the first byte (5000) */
	unsigned setup_ms;        /* from accept to the decision, TLS included (10000) */
	unsigned conn_max;        /* descriptors held by connections, a relay counting two;
	                             at the cap the oldest connection being set up is cut (4096) */
	unsigned connect_ms;      /* relay: to connect to a target (5000) */
	unsigned relay_idle_ms;   /* relay: a splice with no byte either way is closed (300000) */
};

/** The defaults above. */
void xmppd_limits_default(struct xmppd_limits *l);

typedef struct xmppd_server xmppd_server;

/** Make a server on loop that reads db (not owned; must outlive it).
 * tls (may be NULL: no STARTTLS, no direct TLS) is not owned either.
 * Returns 0, -EINVAL, -ENOMEM. */
int xmppd_server_init(uv_loop_t *loop, pdb_t *db, xmppd_tls *tls, enum xmppd_mode mode,
                      const struct xmppd_limits *lim, xmppd_server **out);

/** Listen on ADDR:PORT, plain s2s (STARTTLS offered when tls is set) or
 * direct TLS (XEP-0368), at most 128 addresses in all.  Errors:
 * XMPPD_EADDR, -EINVAL (direct TLS with no tls in redirect mode, or too many
 * addresses), a libuv error. */
int xmppd_server_listen(xmppd_server *s, const char *addr, bool direct_tls);

struct ch_text;
/** Write the server's metrics into t (common/metrics.h).  Safe from any
 * thread until xmppd_server_close() is called: it only reads counters. */
void xmppd_metrics_render(xmppd_server *s, struct ch_text *t);

/** Stop listening, close every connection, then call cb (may be NULL) once
 * every handle is closed; s is freed after cb. */
void xmppd_server_close(xmppd_server *s, void (*cb)(void *arg), void *arg);

/* ---- configuration -------------------------------------------------------------- */

/* Both lists go whole to xmppd_server_listen(), which takes 128 addresses. */
_Static_assert(2 * CFG_LIST_MAX <= 128, "the listen lists exceed what the server takes");

struct xmppd_config {
	char *db, *cert, *key, *ca, *mode;
	char *listen[CFG_LIST_MAX];
	size_t nlisten;
	char *tls_listen[CFG_LIST_MAX];
	size_t ntls_listen;
	struct xmppd_limits lim;
	char *metrics;            /* ADDR:PORT of /metrics; NULL: none */
	/* Least privilege: the user and group to run as after binding, when
	 * started as root (see priv.h); NULL: none given. */
	char *user, *group;
};

/** Read a YAML configuration file into c (as dnsd_config_read).  Errors:
 * XMPPD_ECONFIG with "FILE:LINE:COL: why" in err, -ENOMEM, -EINVAL.
 * Free with xmppd_config_free() either way. */
int xmppd_config_read(const char *path, struct xmppd_config *c, char *err, size_t errlen);
void xmppd_config_free(struct xmppd_config *c);

#endif
