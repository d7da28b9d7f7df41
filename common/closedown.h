/* A server's close-down, shared by both daemons: closing a server closes
 * its listeners and connections, each of which ends in a libuv close
 * callback at some later turn of the loop; the server is freed when the
 * last of them is gone.  This counts what is still open and says when
 * that moment has come. */
#ifndef CH_CLOSEDOWN_H
#define CH_CLOSEDOWN_H

#include <stdbool.h>

struct ch_closedown {
	unsigned open;              /* things not yet closed and freed */
	bool closing;
	void (*cb)(void *arg);      /* called by the owner once all is gone */
	void *arg;
};

/** Begin closing: keep cb and arg (either may be NULL) for the end, and
 * hold one count while the caller starts closing what is open, so that
 * nothing it closes can end the close-down under it; the caller gives the
 * count back with ch_closedown_release() when it has started them all.
 * Returns 0; -EINVAL for a NULL d; -EALREADY if closing has begun. */
int ch_closedown_start(struct ch_closedown *d, void (*cb)(void *arg), void *arg);

/** One thing less open.  Returns true when closing has begun and nothing
 * is left: the caller then frees its server and calls the cb kept in d
 * (copy it out first if d lives in what is freed).  Returns false
 * otherwise, and for a NULL d. */
bool ch_closedown_release(struct ch_closedown *d);

#endif
