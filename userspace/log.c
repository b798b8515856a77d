#include "log.h"
#include "jsonw.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level g_level = LOG_INFO;
static enum log_format g_fmt = LOG_FMT_TEXT;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, enum log_format fmt)
{
	g_level = level;
	g_fmt = fmt;
}

int log_enabled(enum log_level level)
{
	return level <= g_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (!strcmp(s, "text"))
		*out = LOG_FMT_TEXT;
	else if (!strcmp(s, "json"))
		*out = LOG_FMT_JSON;
	else
		return -EINVAL;
	return 0;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[96];
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

	if (g_fmt == LOG_FMT_JSON) {
		struct buf b;
		buf_init(&b);
		buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", stamp, level_names[level]);
		buf_json_str(&b, msg);
		buf_put(&b, "}\n", 2);
		if (b.data)
			fputs(b.data, stderr);
		buf_free(&b);
	} else {
		/* One fprintf call so lines from worker threads do not interleave. */
		fprintf(stderr, "%s %-5s %s\n", stamp, level_names[level], msg);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_access(const char *obj)
{
	if (!log_enabled(LOG_INFO))
		return;
	struct timespec ts;
	struct tm tm;
	char stamp[96];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	/* One fprintf call so lines from worker threads do not interleave. */
	if (g_fmt == LOG_FMT_JSON)
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"info\",\"access\":%s}\n", stamp, obj);
	else
		fprintf(stderr, "%s %-5s access %s\n", stamp, "info", obj);
}

static int libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	enum log_level l = lvl == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG;
	if (!log_enabled(l))
		return 0;
	log_vmsg(l, fmt, ap);
	return 0;
}

void log_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
