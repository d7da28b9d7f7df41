/* The ceiling for the UDP benchmark: what one thread can answer when
 * answering costs nothing.  Each query comes back as its own answer (the
 * QR bit set, nothing else changed), taken and sent in batches with
 * recvmmsg and sendmmsg as dnsd does; no parsing, no lookup, no cache.
 *
 *   udp_echo ADDR:PORT
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"

#define BATCH 20
#define SIZE 1232

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	static unsigned char buf[BATCH][SIZE];
	struct sockaddr_storage ss, from[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	int fd;

	if (argc != 2 || cfg_addr_parse(argv[1], &ss) != 0) {
		fprintf(stderr, "usage: udp_echo ADDR:PORT\n");
		return 2;
	}
	/* Without SA_RESTART, so that the signal ends a recvmmsg waiting for
	 * a query (signal() would have it restarted, and the echo would stop
	 * only at the next datagram). */
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((fd = socket(ss.ss_family, SOCK_DGRAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sizeof(ss)) != 0) {
		perror("udp_echo");
		return 1;
	}
	while (!stop) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ .iov_base = buf[i], .iov_len = SIZE };
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &from[i],
			                                         .msg_namelen = sizeof(from[i]),
			                                         .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			iov[i].iov_len = msgs[i].msg_len;
			if (msgs[i].msg_len > 2)
				buf[i][2] |= 0x80;
		}
		sendmmsg(fd, msgs, (unsigned)n, 0);
	}
	close(fd);
	return 0;
}
