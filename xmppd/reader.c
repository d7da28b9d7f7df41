/* The stream reader: expat, with namespaces, fed in pieces.
 *
 * Expat reports names as "namespace-URI SEP local-name"; with SEP = '\x01'
 * a name can never be confused with one holding a space.  The reader stops
 * the parser (resumably) at every event, so one call reports one event;
 * expat keeps the bytes after it (it copies its input) and the next call
 * resumes on them before taking new ones. */
#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "xmppd.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define SEP '\x01'

struct xmppd_reader {
	XML_Parser p;
	size_t max, fed;
	unsigned depth;
	bool header_done;
	bool default_ns_ok;              /* xmlns='jabber:server' on the stream */
	enum xmppd_event pending;        /* what the handlers found */
	enum xmppd_cond cond;
	const char *why;
	bool tls_element;                /* the open top-level element is <starttls/> */
	struct xmppd_header h;
};

static void stop(struct xmppd_reader *r, enum xmppd_event ev)
{
	r->pending = ev;
	XML_StopParser(r->p, ev == XMPPD_EV_ERROR ? XML_FALSE : XML_TRUE);
}

static void refuse(struct xmppd_reader *r, enum xmppd_cond c, const char *why)
{
	if (r->pending == XMPPD_EV_ERROR)
		return;
	r->cond = c;
	r->why = why;
	stop(r, XMPPD_EV_ERROR);
}

/* Does name (URI SEP local) have this namespace and local name? */
static bool is(const char *name, const char *ns, const char *local)
{
	size_t n = strlen(ns);
	return !strncmp(name, ns, n) && name[n] == SEP && !strcmp(name + n + 1, local);
}

/* RFC 6120 4.7.5: version is "major.minor", each a non-negative integer. */
static bool parse_version(const char *v, unsigned *major, unsigned *minor)
{
	char *end;
	unsigned long a, b;

	if (v[0] < '0' || v[0] > '9')
		return false;
	a = strtoul(v, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return false;
	b = strtoul(end + 1, &end, 10);
	if (*end || a > 1000 || b > 1000)
		return false;
	*major = (unsigned)a;
	*minor = (unsigned)b;
	return true;
}

static void header_attrs(struct xmppd_reader *r, const XML_Char **attrs)
{
	for (size_t i = 0; attrs[i]; i += 2) {
		const char *k = attrs[i], *v = attrs[i + 1];
		if (strchr(k, SEP))
			continue;   /* a namespaced attribute: not ours to read */
		if (!strcmp(k, "from") || !strcmp(k, "to")) {
			bool from = k[0] == 'f';
			if (strlen(v) > XMPPD_NAME_MAX) {
				refuse(r, from ? XMPPD_COND_INVALID_FROM : XMPPD_COND_HOST_UNKNOWN,
				       from ? "'from' is too long" : "'to' is too long");
				return;
			}
			strcpy(from ? r->h.from : r->h.to, v);
			*(from ? &r->h.has_from : &r->h.has_to) = true;
		} else if (!strcmp(k, "version")) {
			r->h.has_version = true;
			if (!parse_version(v, &r->h.version_major, &r->h.version_minor)) {
				refuse(r, XMPPD_COND_UNSUPPORTED_VERSION, "the version is not MAJOR.MINOR");
				return;
			}
		}
	}
}

static void XMLCALL on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct xmppd_reader *r = arg;

	r->depth++;
	if (r->depth == 1) {
		if (!is(name, NS_STREAMS, "stream")) {
			refuse(r, XMPPD_COND_INVALID_NAMESPACE,
			       "the root element is not <stream> in " NS_STREAMS);
			return;
		}
		if (!r->default_ns_ok) {
			refuse(r, XMPPD_COND_INVALID_NAMESPACE,
			       "the default namespace is not jabber:server");
			return;
		}
		header_attrs(r, attrs);
		if (r->pending != XMPPD_EV_ERROR) {
			r->header_done = true;
			stop(r, XMPPD_EV_HEADER);
		}
	} else if (r->depth == 2) {
		r->tls_element = is(name, NS_TLS, "starttls");
	}
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
	struct xmppd_reader *r = arg;

	(void)name;
	if (r->depth == 2)
		stop(r, r->tls_element ? XMPPD_EV_STARTTLS : XMPPD_EV_ELEMENT);
	else if (r->depth == 1)
		stop(r, XMPPD_EV_CLOSED);
	r->depth--;
}

static void XMLCALL on_ns(void *arg, const XML_Char *prefix, const XML_Char *uri)
{
	struct xmppd_reader *r = arg;

	/* Only the stream element's own declarations decide its content namespace. */
	if (r->depth == 0 && !prefix)
		r->default_ns_ok = uri && !strcmp(uri, "jabber:server");
}

static void XMLCALL on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	refuse(arg, XMPPD_COND_RESTRICTED_XML, "a document type declaration");
}

static void XMLCALL on_comment(void *arg, const XML_Char *data)
{
	(void)data;
	refuse(arg, XMPPD_COND_RESTRICTED_XML, "a comment");
}

static void XMLCALL on_pi(void *arg, const XML_Char *target, const XML_Char *data)
{
	(void)target, (void)data;
	refuse(arg, XMPPD_COND_RESTRICTED_XML, "a processing instruction");
}

/* Entities can only be declared in a DTD, which is refused above; this
 * covers the declaration should expat report it first. */
static void XMLCALL on_entity(void *arg, const XML_Char *name, int pe, const XML_Char *value,
                              int len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
	(void)name, (void)pe, (void)value, (void)len, (void)base, (void)sysid, (void)pubid,
		(void)notation;
	refuse(arg, XMPPD_COND_RESTRICTED_XML, "an entity declaration");
}

/* Expat salts its hash tables against collision floods, reading
 * /dev/urandom-like sources for every parser; one secret salt per process
 * gives the same protection without two system calls per connection. */
static unsigned long hash_salt(void)
{
	static unsigned long salt;
	while (!salt && RAND_bytes((unsigned char *)&salt, sizeof(salt)) == 1)
		;
	return salt;
}

/* Readers freed, kept for the next connections: making an expat parser
 * and freeing it cost more than parsing a stream header, and a reset
 * parser keeps its memory.  Per thread, as expat parsers are. */
#define POOL_MAX 32
static __thread struct {
	struct xmppd_reader *v[POOL_MAX];
	unsigned n;
} pool;

/* A parser as new: r's own after a reset (it keeps its namespace
 * separator), or a new one. */
static int setup(struct xmppd_reader *r)
{
	if (r->p && XML_ParserReset(r->p, "UTF-8") != XML_TRUE) {
		XML_ParserFree(r->p);
		r->p = NULL;
	}
	if (!r->p && !(r->p = XML_ParserCreateNS("UTF-8", SEP)))
		return -ENOMEM;
	XML_SetHashSalt(r->p, hash_salt());
	XML_SetUserData(r->p, r);
	XML_SetElementHandler(r->p, on_start, on_end);
	XML_SetStartNamespaceDeclHandler(r->p, on_ns);
	XML_SetStartDoctypeDeclHandler(r->p, on_doctype);
	XML_SetCommentHandler(r->p, on_comment);
	XML_SetProcessingInstructionHandler(r->p, on_pi);
	XML_SetEntityDeclHandler(r->p, on_entity);
	/* No external entities, ever. */
	XML_SetParamEntityParsing(r->p, XML_PARAM_ENTITY_PARSING_NEVER);
	r->fed = 0;
	r->depth = 0;
	r->header_done = false;
	r->default_ns_ok = false;
	r->pending = XMPPD_EV_MORE;
	r->cond = XMPPD_COND_NONE;
	r->why = NULL;
	r->tls_element = false;
	memset(&r->h, 0, sizeof(r->h));
	return 0;
}

int xmppd_reader_new(size_t max, xmppd_reader **out)
{
	struct xmppd_reader *r;

	if (!out || max == 0 || max > (1u << 30))
		return -EINVAL;
	if (pool.n)
		r = pool.v[--pool.n];
	else if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->max = max;
	if (setup(r) != 0) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void xmppd_reader_free(xmppd_reader *r)
{
	if (!r)
		return;
	if (pool.n < POOL_MAX) {
		pool.v[pool.n++] = r;
		return;
	}
	XML_ParserFree(r->p);
	free(r);
}

void xmppd_reader_pool_drain(void)
{
	while (pool.n) {
		struct xmppd_reader *r = pool.v[--pool.n];
		XML_ParserFree(r->p);
		free(r);
	}
}

int xmppd_reader_reset(xmppd_reader *r)
{
	if (!r)
		return -EINVAL;
	return setup(r);
}

static enum xmppd_cond cond_of(enum XML_Error e, const char **why)
{
	switch (e) {
	case XML_ERROR_UNBOUND_PREFIX:
		*why = "an undeclared namespace prefix";
		return XMPPD_COND_BAD_NAMESPACE_PREFIX;
	case XML_ERROR_UNDEFINED_ENTITY:
	case XML_ERROR_RECURSIVE_ENTITY_REF:
	case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
		*why = "an entity reference";
		return XMPPD_COND_RESTRICTED_XML;
	default:
		*why = XML_ErrorString(e);
		return XMPPD_COND_NOT_WELL_FORMED;
	}
}

enum xmppd_event xmppd_reader_feed(xmppd_reader *r, const void *buf, size_t len, size_t *used)
{
	size_t take;
	enum XML_Status st;

	if (used)
		*used = 0;
	if (!r || (!buf && len))
		return XMPPD_EV_ERROR;
	if (r->pending == XMPPD_EV_ERROR)
		return XMPPD_EV_ERROR;
	XML_ParsingStatus ps;
	XML_GetParsingStatus(r->p, &ps);
	r->pending = XMPPD_EV_MORE;
	if (ps.parsing == XML_SUSPENDED) {
		/* Expat holds the rest of the last buffer: finish it first. */
		st = XML_ResumeParser(r->p);
		take = 0;
	} else {
		if (len > r->max - r->fed) {
			/* Take what the budget allows; more is refused below. */
			take = r->max - r->fed;
		} else {
			take = len;
		}
		if (take == 0 && len > 0) {
			r->cond = XMPPD_COND_POLICY_VIOLATION;
			r->why = r->header_done ? "too much data before the decision"
			                        : "the stream header is too long";
			return r->pending = XMPPD_EV_ERROR;
		}
		r->fed += take;
		st = XML_Parse(r->p, buf, (int)take, XML_FALSE);
	}
	if (used)
		*used = take;
	if (st == XML_STATUS_ERROR && r->pending != XMPPD_EV_ERROR) {
		enum XML_Error e = XML_GetErrorCode(r->p);
		if (e == XML_ERROR_ABORTED)
			return XMPPD_EV_ERROR;
		r->cond = cond_of(e, &r->why);
		r->pending = XMPPD_EV_ERROR;
	}
	return r->pending;
}

const struct xmppd_header *xmppd_reader_header(const xmppd_reader *r)
{
	return r && r->header_done ? &r->h : NULL;
}

enum xmppd_cond xmppd_reader_error(const xmppd_reader *r, const char **why)
{
	if (why)
		*why = r ? r->why : NULL;
	return r ? r->cond : XMPPD_COND_NONE;
}
