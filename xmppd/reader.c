/* The stream reader: expat, with namespaces, fed in pieces.
 *
 * Expat reports names as "namespace-URI SEP local-name"; with SEP = '\x01'
 * a name can never be confused with one holding a space.  The reader stops
 * the parser (resumably) at every event, so one call reports one event;
 * expat keeps the bytes after it (it copies its input) and the next call
 * resumes on them before taking new ones.
 *
 * Namespace processing costs expat about a fifth of a stream header, and a
 * stream is mostly decided on its header alone.  So a header is first read
 * by a parser without namespaces, which takes only the plain form: the
 * stream element's prefix bound on it to the streams namespace, the default
 * namespace jabber:server, ASCII names, no other prefix but xml.  On such a
 * start tag the namespace parser would find exactly the same (the names
 * are namespace-well-formed and every prefix is bound where it is used).
 * Anything else (another form, an error, a comment, a header that does
 * not come whole in the first bytes read) is read again from its first
 * byte by the namespace parser, which decides; and so is the whole stream
 * once more than its header is read (the <starttls/> after the features).
 * The first bytes are kept for that. */
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
	XML_Parser p;                    /* the one in use: fast or ns */
	XML_Parser fast, ns;             /* without and with namespaces */
	bool plain;                      /* p is fast */
	bool ns_used;                    /* ns has parsed since its last reset */
	bool declined;                   /* fast met what only ns may judge */
	char *seen;                      /* what fast was fed, to replay */
	size_t nseen, seen_cap;
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

/* The fast parser leaves this stream to the namespace parser. */
static void decline(struct xmppd_reader *r)
{
	r->declined = true;
	XML_StopParser(r->p, XML_FALSE);
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
		if (strchr(k, r->plain ? ':' : SEP))
			continue;   /* a namespaced attribute (or a declaration): not ours to read */
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

/* An NCName of ASCII letters, digits, '-', '.', '_' (n bytes): stricter
 * than XML, so that whatever passes is a name to both parsers. */
static bool plain_ncname(const char *s, size_t n)
{
	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

/* The stream's start tag read without namespaces (name as written, the
 * attributes with the declarations among them): is it the plain form, in
 * which the namespace parser would see <stream> in NS_STREAMS with the
 * default namespace jabber:server and no unbound prefix?  Declarations
 * that bind xml or xmlns, bind to their namespaces, or undeclare a prefix
 * are left to it, as is any prefixed attribute but xml's. */
static bool plain_header(const char *name, const XML_Char **attrs)
{
	const char *colon = strchr(name, ':');
	size_t plen = colon ? (size_t)(colon - name) : 0;
	bool dflt = false, bound = false;

	if (!colon || !plain_ncname(name, plen) || strcmp(colon + 1, "stream"))
		return false;
	for (size_t i = 0; attrs[i]; i += 2) {
		const char *k = attrs[i], *v = attrs[i + 1], *c = strchr(k, ':');
		if (!c) {
			if (!plain_ncname(k, strlen(k)))
				return false;
			if (!strcmp(k, "xmlns")) {
				if (strcmp(v, "jabber:server"))
					return false;
				dflt = true;
			}
			continue;
		}
		const char *local = c + 1;
		size_t klen = (size_t)(c - k);
		if (!plain_ncname(local, strlen(local)))
			return false;
		if (klen == 3 && !strncmp(k, "xml", 3))
			continue;   /* xml:lang: bound by XML Namespaces itself */
		if (klen != 5 || strncmp(k, "xmlns", 5))
			return false;
		if (!strcmp(local, "xml") || !strcmp(local, "xmlns") || !*v ||
		    !strcmp(v, "http://www.w3.org/XML/1998/namespace") ||
		    !strcmp(v, "http://www.w3.org/2000/xmlns/"))
			return false;
		if (strlen(local) == plen && !strncmp(local, name, plen)) {
			if (strcmp(v, NS_STREAMS))
				return false;
			bound = true;
		}
	}
	return dflt && bound;
}

static void XMLCALL on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct xmppd_reader *r = arg;

	r->depth++;
	if (r->plain) {
		/* the stream element: fast stops here, one way or the other */
		if (!plain_header(name, attrs)) {
			decline(r);
			return;
		}
		header_attrs(r, attrs);
		if (r->pending != XMPPD_EV_ERROR) {
			r->header_done = true;
			stop(r, XMPPD_EV_HEADER);
		}
		return;
	}
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

/* Restricted XML is judged by the namespace parser: the fast one may not
 * see the same (a name that is not namespace-well-formed comes first). */
static void restricted(struct xmppd_reader *r, const char *why)
{
	if (r->plain)
		decline(r);
	else
		refuse(r, XMPPD_COND_RESTRICTED_XML, why);
}

static void XMLCALL on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	restricted(arg, "a document type declaration");
}

static void XMLCALL on_comment(void *arg, const XML_Char *data)
{
	(void)data;
	restricted(arg, "a comment");
}

static void XMLCALL on_pi(void *arg, const XML_Char *target, const XML_Char *data)
{
	(void)target, (void)data;
	restricted(arg, "a processing instruction");
}

/* Entities can only be declared in a DTD, which is refused above; this
 * covers the declaration should expat report it first. */
static void XMLCALL on_entity(void *arg, const XML_Char *name, int pe, const XML_Char *value,
                              int len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
	(void)name, (void)pe, (void)value, (void)len, (void)base, (void)sysid, (void)pubid,
		(void)notation;
	restricted(arg, "an entity declaration");
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

/* Make *pp a parser as new, with namespaces or without, and ours: reset
 * if it has parsed since (dirty), made if there is none. */
static int prepare(struct xmppd_reader *r, XML_Parser *pp, bool ns, bool dirty)
{
	XML_Parser p = *pp;

	if (p && dirty && XML_ParserReset(p, "UTF-8") != XML_TRUE) {
		XML_ParserFree(p);
		p = NULL;
	}
	if (!p && !(p = ns ? XML_ParserCreateNS("UTF-8", SEP) : XML_ParserCreate("UTF-8"))) {
		*pp = NULL;
		return -ENOMEM;
	}
	*pp = p;
	XML_SetHashSalt(p, hash_salt());
	XML_SetUserData(p, r);
	XML_SetElementHandler(p, on_start, on_end);
	if (ns)
		XML_SetStartNamespaceDeclHandler(p, on_ns);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetCommentHandler(p, on_comment);
	XML_SetProcessingInstructionHandler(p, on_pi);
	XML_SetEntityDeclHandler(p, on_entity);
	/* No external entities, ever. */
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	return 0;
}

/* The reader as new, on the fast parser.  The namespace parser is reset
 * only when it is next needed. */
static int setup(struct xmppd_reader *r)
{
	if (prepare(r, &r->fast, false, true) != 0)
		return -ENOMEM;
	r->p = r->fast;
	r->plain = true;
	r->declined = false;
	r->nseen = 0;
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

/* Go over to the namespace parser, at the first byte. */
static int to_ns(struct xmppd_reader *r)
{
	if (prepare(r, &r->ns, true, r->ns_used) != 0)
		return -ENOMEM;
	r->ns_used = true;
	r->p = r->ns;
	r->plain = false;
	r->declined = false;
	r->depth = 0;
	r->default_ns_ok = false;
	r->tls_element = false;
	r->pending = XMPPD_EV_MORE;
	return 0;
}

static void destroy(struct xmppd_reader *r)
{
	XML_ParserFree(r->fast);
	XML_ParserFree(r->ns);
	free(r->seen);
	free(r);
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
		destroy(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

/* What a pooled reader keeps of its replay buffer: a header's worth. */
#define SEEN_KEEP 16384

void xmppd_reader_free(xmppd_reader *r)
{
	if (!r)
		return;
	if (pool.n < POOL_MAX) {
		if (r->seen_cap > SEEN_KEEP) {
			free(r->seen);
			r->seen = NULL;
			r->seen_cap = 0;
		}
		pool.v[pool.n++] = r;
		return;
	}
	destroy(r);
}

void xmppd_reader_pool_drain(void)
{
	while (pool.n)
		destroy(pool.v[--pool.n]);
}

int xmppd_reader_reset(xmppd_reader *r)
{
	if (!r)
		return -EINVAL;
	return setup(r);
}

/* Keep what the fast parser is fed, to replay it. */
static int keep(struct xmppd_reader *r, const char *p, size_t n)
{
	if (n == 0)
		return 0;   /* nothing kept yet is no buffer at all */
	if (n > r->seen_cap - r->nseen) {
		size_t cap = r->seen_cap ? r->seen_cap : 512;
		while (cap - r->nseen < n)
			cap *= 2;
		char *q = realloc(r->seen, cap);
		if (!q)
			return -ENOMEM;
		r->seen = q;
		r->seen_cap = cap;
	}
	memcpy(r->seen + r->nseen, p, n);
	r->nseen += n;
	return 0;
}

/* Everything the fast parser took, read again by the namespace parser. */
static enum XML_Status replay(struct xmppd_reader *r)
{
	if (to_ns(r) != 0)
		return XML_STATUS_ERROR;
	r->header_done = false;
	memset(&r->h, 0, sizeof(r->h));
	return XML_Parse(r->p, r->seen, (int)r->nseen, XML_FALSE);
}

static enum xmppd_event out_of_memory(struct xmppd_reader *r)
{
	r->cond = XMPPD_COND_INTERNAL_SERVER_ERROR;
	r->why = "out of memory";
	return r->pending = XMPPD_EV_ERROR;
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
	size_t take = 0;
	enum XML_Status st;

	if (used)
		*used = 0;
	if (!r || (!buf && len))
		return XMPPD_EV_ERROR;
	if (r->pending == XMPPD_EV_ERROR)
		return XMPPD_EV_ERROR;
	if (r->plain && r->header_done) {
		/* More than the header: the namespace parser takes the stream
		 * over, and stops where the fast one did, on the header again,
		 * which was told already. */
		st = replay(r);
		if (r->plain)
			return out_of_memory(r);
		if (st != XML_STATUS_SUSPENDED || r->pending != XMPPD_EV_HEADER)
			goto judged;   /* cannot be, as it read the same bytes */
	}
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
		if (r->plain && keep(r, buf, take) != 0)
			return out_of_memory(r);
		st = XML_Parse(r->p, buf, (int)take, XML_FALSE);
		if (r->plain && (r->declined ||
		                 (r->pending != XMPPD_EV_HEADER && r->pending != XMPPD_EV_ERROR) ||
		                 (st == XML_STATUS_ERROR && r->pending != XMPPD_EV_ERROR))) {
			/* Not the plain form, not XML, not the whole header in
			 * the first bytes, or the stream closed in its header
			 * (<stream/>): the namespace parser judges.  Only a whole
			 * start tag shows that its names are namespace-well-formed,
			 * where the namespace parser refuses a bad name at its
			 * first wrong byte. */
			st = replay(r);
			if (r->plain)
				return out_of_memory(r);
		}
	}
judged:
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
