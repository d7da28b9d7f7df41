/* xmppd's parts, shared between its files only. */
#ifndef XMPPD_INTERNAL_H
#define XMPPD_INTERNAL_H

#include <openssl/ssl.h>

#include "xmppd.h"

/* ---- tls.c ---- */

/** A server-side SSL on memory BIOs (the socket is libuv's), asking for the
 * peer's certificate without failing on it: what it proves is judged
 * later, against the 'from' the peer claims.  NULL when out of memory. */
SSL *xmppd__tls_accept(xmppd_tls *t);

/** After a completed handshake: fill peer's cert_* fields for the claim
 * from (a normalised name). */
void xmppd__tls_identity(xmppd_tls *t, SSL *ssl, const char *from, struct xmppd_peer *peer);

/* Reading a ClientHello's SNI without answering it (relay mode). */
typedef struct xmppd__peek xmppd__peek;
int xmppd__peek_new(xmppd__peek **out);
void xmppd__peek_free(xmppd__peek *p);

/** Feed ClientHello bytes.  Returns 1 with the server name (normalised, or
 * "" when the hello has none) in name, 0 to wait for more, or -1 if
 * this is not a TLS ClientHello. */
int xmppd__peek_feed(xmppd__peek *p, const void *buf, size_t len,
                     char name[PDB_NAME_MAX + 1]);

/* ---- decide.c ---- */

/** The text of a deny or unknown d in v->text: the rule that fired, or a
 * plain refusal, as the community c wants peers told. */
void xmppd__deny_text(const struct pdb_community *c, const struct pdb_decision *d,
                      struct xmppd_verdict *v);

/* ---- owners.c ---- */

/** The member whose listed addresses include this peer address (family 4
 * or 6, bytes in network order), for direct-TLS relay where no stream
 * header names the peer.  Writes the name and returns 0, or PDB_ENOTFOUND,
 * or a store error.  The index is rebuilt when the store changes. */
typedef struct xmppd__owners xmppd__owners;
int xmppd__owners_new(xmppd__owners **out);
void xmppd__owners_free(xmppd__owners *o);
int xmppd__owner_of(xmppd__owners *o, pdb_t *db, int family, const uint8_t *addr,
                    char name[PDB_NAME_MAX + 1]);

#endif
