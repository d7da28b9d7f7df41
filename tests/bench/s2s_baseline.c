/* The baseline for the xmppd benchmark: the least a stream responder can
 * do.  One thread, blocking: accept, (TLS handshake,) read once, write a
 * fixed stream error, close.  No parsing, no policy, no timers.
 *
 *   s2s_baseline ADDR:PORT [CERT KEY]
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "cfg.h"

static const char answer[] =
	"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	"xmlns:stream='http://etherx.jabber.org/streams' from='b.example' to='a.example' "
	"id='0123456789abcdef01234567' version='1.0'><stream:error><see-other-host "
	"xmlns='urn:ietf:params:xml:ns:xmpp-streams'>xmpp.b.example:5269</see-other-host>"
	"</stream:error></stream:stream>";

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	SSL_CTX *ctx = NULL;
	char buf[8192];
	int one = 1, ls;

	if (argc < 2 || cfg_addr_parse(argv[1], &ss) != 0) {
		fprintf(stderr, "usage: s2s_baseline ADDR:PORT [CERT KEY]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "s2s_baseline: cannot load %s / %s\n", argv[2], argv[3]);
			return 2;
		}
	}
	ls = socket(ss.ss_family, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&ss, ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                                               : sizeof(struct sockaddr_in)) ||
	    listen(ls, 511)) {
		perror("s2s_baseline");
		return 3;
	}
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			continue;
		if (ctx) {
			SSL *ssl = SSL_new(ctx);
			SSL_set_fd(ssl, c);
			if (SSL_accept(ssl) == 1 && SSL_read(ssl, buf, sizeof(buf)) > 0) {
				SSL_write(ssl, answer, sizeof(answer) - 1);
				SSL_shutdown(ssl);
			}
			SSL_free(ssl);
		} else if (read(c, buf, sizeof(buf)) > 0) {
			if (write(c, answer, sizeof(answer) - 1) < 0)
				perror("write");
		}
		close(c);
	}
}
