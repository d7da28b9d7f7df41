/* What the table library's files share. */
#ifndef TABLE_INTERNAL_H
#define TABLE_INTERNAL_H

#include <stddef.h>

#include "table.h"

/* Write the message into err (truncated to errlen) and return rc, so that
 * a failure says its reason and its code in one statement. */
int table__say(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
