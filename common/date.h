/* Dates and instants as the project writes them: UTC, ISO 8601, whole
 * seconds.  One parser and one formatter, so that the policy file, the
 * policy table and policyctl's output spell a time the same way. */
#ifndef CH_DATE_H
#define CH_DATE_H

#include <stdint.h>

#define CH_INSTANT_LEN 21   /* "2027-12-31T12:00:00Z" and its NUL */
#define CH_DATE_LEN 11      /* "2027-12-31" and its NUL */

/** Write Unix time t as 2027-12-31T12:00:00Z into out.  A t that gmtime()
 * cannot break down is written as 1970-01-01T00:00:00Z. */
void ch_instant_format(int64_t t, char out[CH_INSTANT_LEN]);

/** Write the day of Unix time t as 2027-12-31 into out (1970-01-01 for a
 * t that gmtime() cannot break down). */
void ch_date_format(int64_t t, char out[CH_DATE_LEN]);

/** Parse exactly YYYY-MM-DDTHH:MM:SSZ (20 characters) into Unix time.
 * Returns 0, or -EINVAL for anything else: another length or layout, a
 * field out of range (February 30, hour 24), or a time before 1970.
 * *out is written only on success. */
int ch_instant_parse(const char *s, int64_t *out);

/** Parse exactly YYYY-MM-DD (10 characters) into the Unix time of that
 * day's first second.  Returns 0 or -EINVAL, as ch_instant_parse(). */
int ch_date_parse(const char *s, int64_t *out);

#endif
