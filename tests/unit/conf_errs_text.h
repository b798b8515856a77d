/* For assertion messages of config tests: every collected problem, one per line. */
#ifndef KFWD_TEST_CONF_ERRS_TEXT_H
#define KFWD_TEST_CONF_ERRS_TEXT_H
#include "conf.h"

#include <stdio.h>

static inline const char *conf_errs_text(const struct conf_errs *e)
{
	static char s[8192];
	size_t n = 0;
	s[0] = 0;
	for (size_t i = 0; i < e->n && n < sizeof(s); i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "\n  %s", e->msg[i]);
	return e->n ? s : " (none)";
}

#endif
