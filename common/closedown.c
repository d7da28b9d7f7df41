/* A server's close-down, counted. */
#include <errno.h>
#include <stddef.h>

#include "closedown.h"

int ch_closedown_start(struct ch_closedown *d, void (*cb)(void *arg), void *arg)
{
	if (!d)
		return -EINVAL;
	if (d->closing)
		return -EALREADY;
	d->closing = true;
	d->cb = cb;
	d->arg = arg;
	d->open++;
	return 0;
}

bool ch_closedown_release(struct ch_closedown *d)
{
	if (!d || !d->open)
		return false;
	return --d->open == 0 && d->closing;
}
