/* Leveled logging over one printf-checked function; text or JSON lines on stderr. */
#ifndef KFWD_LOG_H
#define KFWD_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FMT_TEXT, LOG_FMT_JSON };

/* Set the threshold and output format; both are process-wide. */
void log_setup(enum log_level level, enum log_format fmt);
/* Parse "error|warn|info|debug" / "text|json"; return 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);
/* Route libbpf's own messages through log_msg (warn and above, debug with -v). */
void log_route_libbpf(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_enabled(enum log_level level);

/*
 * One access-log record at info level: obj is a complete JSON object (no
 * newline). Text format: "<stamp> info  access <obj>"; JSON format: the
 * usual line with "access":<obj> in place of "msg", so both stay one line
 * a tool can parse.
 */
void log_access(const char *obj);

#define log_err(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

#endif
