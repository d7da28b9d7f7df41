/* UTC dates and instants: strptime() and strftime() in one place. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "date.h"

/* Formats are literals at each strftime() call, so the compiler checks
 * them. */
static struct tm *gm_tm(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;
	return gmtime_r(&tt, tm);
}

void ch_instant_format(int64_t t, char out[CH_INSTANT_LEN])
{
	struct tm tm;

	if (!gm_tm(t, &tm) || strftime(out, CH_INSTANT_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) !=
	                              CH_INSTANT_LEN - 1)
		strcpy(out, "1970-01-01T00:00:00Z");
}

void ch_date_format(int64_t t, char out[CH_DATE_LEN])
{
	struct tm tm;

	if (!gm_tm(t, &tm) || strftime(out, CH_DATE_LEN, "%Y-%m-%d", &tm) != CH_DATE_LEN - 1)
		strcpy(out, "1970-01-01");
}

/* timegm() quietly turns February 30 into March 2; a time whose fields do
 * not come back unchanged was not a time. */
static int parse_as(const char *s, const char *fmt, size_t want, int64_t *out)
{
	struct tm tm, back;
	const char *end;
	time_t t;

	if (!s || !out)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != want || !(end = strptime(s, fmt, &tm)) || *end)
		return -EINVAL;
	struct tm asked = tm;
	if ((t = timegm(&tm)) == (time_t)-1 || t < 0 || !gmtime_r(&t, &back))
		return -EINVAL;
	if (back.tm_year != asked.tm_year || back.tm_mon != asked.tm_mon ||
	    back.tm_mday != asked.tm_mday || back.tm_hour != asked.tm_hour ||
	    back.tm_min != asked.tm_min || back.tm_sec != asked.tm_sec)
		return -EINVAL;
	*out = (int64_t)t;
	return 0;
}

int ch_instant_parse(const char *s, int64_t *out)
{
	return parse_as(s, "%Y-%m-%dT%H:%M:%SZ", CH_INSTANT_LEN - 1, out);
}

int ch_date_parse(const char *s, int64_t *out)
{
	return parse_as(s, "%Y-%m-%d", CH_DATE_LEN - 1, out);
}
