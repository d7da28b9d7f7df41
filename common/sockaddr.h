/* A socket address as the policy sees it, shared by both daemons: a
 * client or peer on a dual-stack socket is judged by the address it has,
 * so an IPv4-mapped IPv6 address is IPv4. */
#ifndef CH_SOCKADDR_H
#define CH_SOCKADDR_H

#include <stdint.h>
#include <sys/socket.h>

struct ch_addr {
	int family;          /* 4 or 6 */
	uint8_t addr[16];    /* network order; 4 bytes used for IPv4 */
	uint16_t port;       /* network order */
};

/** Fill out from sa (IPv4 or IPv6), ::ffff:a.b.c.d taken as a.b.c.d.
 * Returns 0; -EINVAL for a NULL argument; -EAFNOSUPPORT for another
 * family, with out zeroed (family 0). */
int ch_sockaddr_addr(const struct sockaddr *sa, struct ch_addr *out);

/** The number of address bytes of a (4 or 16). */
static inline unsigned ch_addr_len(const struct ch_addr *a)
{
	return a->family == 4 ? 4 : 16;
}

#endif
