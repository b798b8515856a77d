/*
 * Loading one libconfig group against a key table of the schema: type and
 * bounds checks, defaults, paths made absolute, and the per-kind parsers
 * (addresses, lists, prefixes, nested groups). Every problem is recorded as
 * "FILE:LINE: message" with the line of the value at fault. conf.c drives it
 * section by section.
 */
#include "acl.h"
#include "conf.h"
#include "conf_schema.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void conf_err(struct conf_ctx *x, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char *full = NULL;
	if (asprintf(&full, "%s:%d: %s", x->file, line, msg) < 0)
		return;
	char **v = realloc(x->errs->msg, (x->errs->n + 1) * sizeof(*v));
	if (!v) {
		free(full);
		return;
	}
	v[x->errs->n++] = full;
	x->errs->msg = v;
}

void conf_errs_free(struct conf_errs *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
}

static bool valid_name(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

static char *path_join(const struct conf_ctx *x, const char *p)
{
	char *out = NULL;
	if (p[0] == '/' || !x->dir)
		return strdup(p);
	if (asprintf(&out, "%s/%s", strcmp(x->dir, "/") ? x->dir : "", p) < 0)
		return NULL;
	return out;
}

static void free_addrlist(struct conf_addrlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void free_strlist(struct conf_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void free_prefixlist(struct conf_prefixlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void field_free(const struct conf_key *k, void *base)
{
	void *f = (char *)base + k->off;
	switch (k->kind) {
	case K_STR:
		free(*(char **)f);
		*(char **)f = NULL;
		break;
	case K_ADDR:
		free(((struct conf_addr *)f)->text);
		((struct conf_addr *)f)->text = NULL;
		break;
	case K_ADDRLIST:
		free_addrlist(f);
		break;
	case K_STRLIST:
		free_strlist(f);
		break;
	case K_PREFIXLIST:
		free_prefixlist(f);
		break;
	case K_GROUP: {
		const struct section *sub = conf_section(k->def);
		conf_fields_free(sub->keys, sub->nkeys, f);
		break;
	}
	default:
		break;
	}
}

void conf_fields_free(const struct conf_key *keys, size_t nkeys, void *base)
{
	for (size_t k = 0; k < nkeys; k++)
		field_free(&keys[k], base);
}

/* Where to point a message about s: its own line, else its parent's. */
int conf_line_of(const config_setting_t *s)
{
	while (s) {
		int l = config_setting_source_line(s);
		if (l > 0)
			return l;
		s = config_setting_parent(s);
	}
	return 0;
}

static const char *type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "something else";
	}
}

/* Parse one address; element lines are reported where the text stands. */
static int parse_addr(struct conf_ctx *x, const char *where, const struct conf_key *k,
                      const config_setting_t *s, struct conf_addr *out)
{
	int line = conf_line_of(s);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(x, line, "%s'%s' must be a string \"HOST:PORT\", not %s", where, k->name,
		         type_name(s));
		return -EINVAL;
	}
	const char *text = config_setting_get_string(s);
	const char *why = NULL;
	int err =
	    (k->flags & KF_RESOLVE) ? addr_resolve(text, &out->a, &why) : addr_parse(text, &out->a);
	if (err == -ERANGE)
		conf_err(x, line, "%s'%s': bad port in \"%s\" (1-65535)", where, k->name, text);
	else if (err == -EHOSTUNREACH)
		conf_err(x, line, "%s'%s': cannot resolve \"%s\": %s", where, k->name, text, why);
	else if (err)
		conf_err(x, line, "%s'%s': bad address \"%s\" (expected %s)", where, k->name, text,
		         (k->flags & KF_RESOLVE) ? "HOST:PORT or [IPv6]:PORT"
		                                 : "IP:PORT, [IPv6]:PORT or *:PORT");
	if (err)
		return err;
	out->text = strdup(text);
	out->line = line;
	return out->text ? 0 : -ENOMEM;
}

/* A list setting with a count in k's bounds; return its length or -errno (reported). */
static int list_len(struct conf_ctx *x, const char *where, const struct conf_key *k,
                    const config_setting_t *s, const char *what)
{
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) {
		conf_err(x, conf_line_of(s), "%s'%s' must be a list of %s, not %s", where, k->name,
		         what, type_name(s));
		return -EINVAL;
	}
	int n = config_setting_length(s);
	if (n < k->min || n > k->max) {
		conf_err(x, conf_line_of(s), "%s'%s' must have %lld to %lld entries, not %d", where,
		         k->name, k->min, k->max, n);
		return -ERANGE;
	}
	return n;
}

/* Element i of a list of strings, or NULL (reported). */
static const char *list_str(struct conf_ctx *x, const char *where, const struct conf_key *k,
                            const config_setting_t *s, int i)
{
	const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
	if (config_setting_type(e) != CONFIG_TYPE_STRING) {
		conf_err(x, conf_line_of(e), "%s'%s': entry %d must be a string, not %s", where,
		         k->name, i + 1, type_name(e));
		return NULL;
	}
	return config_setting_get_string(e);
}

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return false;
	return true;
}

/* Element i of list s must compile as an ACL pattern (acl.h). */
static int check_acl_pattern(struct conf_ctx *x, const char *where, const struct conf_key *k,
                             const config_setting_t *s, int i, const char *v)
{
	struct acl *a;
	char why[256];
	int err = acl_compile(&v, 1, &a, why, sizeof(why));
	if (err == -EINVAL)
		conf_err(x, conf_line_of(config_setting_get_elem(s, (unsigned)i)), "%s'%s': %s",
		         where, k->name, why);
	acl_free(a);
	return err;
}

static int parse_strlist(struct conf_ctx *x, const char *where, const struct conf_key *k,
                         const config_setting_t *s, struct conf_strlist *l)
{
	int n = list_len(x, where, k, s, "strings");
	if (n < 0)
		return n;
	free_strlist(l);
	l->v = calloc((size_t)(n ? n : 1), sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *v = list_str(x, where, k, s, i);
		if (!v) {
			rc = -EINVAL;
			continue;
		}
		if ((k->flags & KF_IFNAME) && !valid_ifname(v)) {
			conf_err(x, conf_line_of(config_setting_get_elem(s, (unsigned)i)),
			         "%s'%s': \"%s\" is not an interface name", where, k->name, v);
			rc = -EINVAL;
			continue;
		}
		if ((k->flags & KF_ACL) && check_acl_pattern(x, where, k, s, i, v)) {
			rc = -EINVAL;
			continue;
		}
		for (size_t j = 0; j < l->n; j++) {
			if (!strcmp(l->v[j], v)) {
				conf_err(x, conf_line_of(s), "%s'%s': \"%s\" is listed twice",
				         where, k->name, v);
				rc = -EINVAL;
			}
		}
		if (!(l->v[l->n] = strdup(v)))
			return -ENOMEM;
		l->n++;
	}
	return rc;
}

static int parse_flags(struct conf_ctx *x, const char *where, const struct conf_key *k,
                       const config_setting_t *s, int *out)
{
	int n = list_len(x, where, k, s, "strings");
	if (n < 0)
		return n;
	int rc = 0, bits = 0;
	for (int i = 0; i < n; i++) {
		const char *v = list_str(x, where, k, s, i);
		int c;
		if (!v) {
			rc = -EINVAL;
			continue;
		}
		for (c = 0; k->choices[c]; c++)
			if (!strcmp(v, k->choices[c]))
				break;
		if (!k->choices[c]) {
			char list[256] = "";
			for (int j = 0; k->choices[j]; j++) {
				strncat(list, j ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, k->choices[j], sizeof(list) - strlen(list) - 1);
			}
			conf_err(x, conf_line_of(config_setting_get_elem(s, (unsigned)i)),
			         "%s'%s': \"%s\" is not one of %s", where, k->name, v, list);
			rc = -EINVAL;
			continue;
		}
		bits |= 1 << c;
	}
	*out = bits;
	return rc;
}

/*
 * "ADDR/LEN" or "ADDR" (a host prefix). Return 0, or -EINVAL with a reason
 * in *why. Bits beyond the length must be zero: "10.1.2.3/8" is a mistake.
 */
int conf_prefix_parse(const char *text, struct conf_prefix *p, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hl = slash ? (size_t)(slash - text) : strlen(text);
	memset(p, 0, sizeof(*p));
	*why = "expected ADDRESS/LENGTH, e.g. 10.0.0.0/8 or fd00::/8";
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hl);
	host[hl] = 0;
	if (inet_pton(AF_INET, host, p->addr) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, host, p->addr) == 1)
		p->family = AF_INET6;
	else
		return -EINVAL;
	int max = p->family == AF_INET ? 32 : 128;
	p->len = max;
	if (slash) {
		char *end;
		long v = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || !isdigit((unsigned char)slash[1]) || v < 0 || v > max) {
			*why = p->family == AF_INET ? "the length must be 0 to 32"
			                            : "the length must be 0 to 128";
			return -EINVAL;
		}
		p->len = (int)v;
	}
	for (int b = p->len; b < max; b++) {
		if (p->addr[b / 8] & (0x80 >> (b % 8))) {
			*why = "address bits beyond the prefix length are set";
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_prefixlist(struct conf_ctx *x, const char *where, const struct conf_key *k,
                            const config_setting_t *s, struct conf_prefixlist *l)
{
	int n = list_len(x, where, k, s, "prefixes");
	if (n < 0)
		return n;
	free_prefixlist(l);
	l->v = calloc((size_t)(n ? n : 1), sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *v = list_str(x, where, k, s, i), *why;
		int line = conf_line_of(config_setting_get_elem(s, (unsigned)i));
		struct conf_prefix *p = &l->v[l->n];
		if (!v) {
			rc = -EINVAL;
			continue;
		}
		if (conf_prefix_parse(v, p, &why)) {
			conf_err(x, line, "%s'%s': bad prefix \"%s\": %s", where, k->name, v, why);
			rc = -EINVAL;
			continue;
		}
		p->line = line;
		if (!(p->text = strdup(v)))
			return -ENOMEM;
		l->n++;
	}
	return rc;
}

/* Letters, digits, '-' and '_' in dot-separated labels of 1 to 63 characters; a
 * trailing dot (the root) is allowed. */
static bool valid_dns_name(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 254 || (n == 254 && s[n - 1] != '.') || !strcmp(s, "."))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* A name or address and a port, for the peer to resolve: "db.internal:5432". */
static int check_hostport(struct conf_ctx *x, const char *where, const struct conf_key *k, int line,
                          const char *v)
{
	char host[256];
	unsigned port;
	int err = addr_split(v, host, sizeof(host), &port);
	if (err == -ERANGE) {
		conf_err(x, line, "%s'%s': bad port in \"%s\" (1-65535)", where, k->name, v);
		return err;
	}
	struct in6_addr a6;
	bool v6 = inet_pton(AF_INET6, host, &a6) == 1;
	if (err || (!v6 && !valid_dns_name(host))) {
		conf_err(x, line, "%s'%s': bad \"%s\" (expected HOST:PORT or [IPv6]:PORT)", where,
		         k->name, v);
		return -EINVAL;
	}
	return 0;
}

/* Files the daemon reads later (certificates) are checked now, so that
 * `kfwd check` finds a typo or a permission problem before a restart does. */
static int check_readable(struct conf_ctx *x, const char *where, const struct conf_key *k, int line,
                          const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		conf_err(x, line, "%s'%s': cannot read %s: %s", where, k->name, path,
		         strerror(errno));
		return -EINVAL;
	}
	int rc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? 0 : -EINVAL;
	close(fd);
	if (rc)
		conf_err(x, line, "%s'%s': %s is not a regular file", where, k->name, path);
	return rc;
}

static int parse_value(struct conf_ctx *x, const char *where, const struct conf_key *k,
                       const config_setting_t *s, void *base)
{
	void *f = (char *)base + k->off;
	int line = conf_line_of(s);
	int t = config_setting_type(s);

	switch (k->kind) {
	case K_INT:
	case K_INT64: {
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
			conf_err(x, line, "%s'%s' must be an integer, not %s", where, k->name,
			         type_name(s));
			return -EINVAL;
		}
		long long v = config_setting_get_int64(s);
		if (v < k->min || v > k->max) {
			conf_err(x, line, "%s'%s' is out of range: %lld (allowed %lld to %lld)",
			         where, k->name, v, k->min, k->max);
			return -ERANGE;
		}
		if (k->kind == K_INT64)
			*(long long *)f = v;
		else
			*(int *)f = (int)v;
		return 0;
	}
	case K_BOOL:
		if (t != CONFIG_TYPE_BOOL) {
			conf_err(x, line, "%s'%s' must be true or false, not %s", where, k->name,
			         type_name(s));
			return -EINVAL;
		}
		*(bool *)f = config_setting_get_bool(s);
		return 0;
	case K_STR: {
		if (t != CONFIG_TYPE_STRING) {
			conf_err(x, line, "%s'%s' must be a string, not %s", where, k->name,
			         type_name(s));
			return -EINVAL;
		}
		const char *v = config_setting_get_string(s);
		size_t n = strlen(v);
		if ((long long)n < k->min || (long long)n > k->max) {
			conf_err(x, line, "%s'%s' must be %lld to %lld characters long", where,
			         k->name, k->min, k->max);
			return -ERANGE;
		}
		if ((k->flags & KF_NAME) && !valid_name(v)) {
			conf_err(x, line,
			         "%s'%s' may use only letters, digits, '_', '-' and '.': \"%s\"",
			         where, k->name, v);
			return -EINVAL;
		}
		if ((k->flags & KF_NODOT) && strchr(v, '.')) {
			conf_err(x, line,
			         "%s'%s' may not contain '.' (it names a folder on the BPF "
			         "filesystem, which refuses dots): \"%s\"",
			         where, k->name, v);
			return -EINVAL;
		}
		if ((k->flags & KF_HOSTPORT) && check_hostport(x, where, k, line, v))
			return -EINVAL;
		char *copy = (k->flags & KF_PATH) ? path_join(x, v) : strdup(v);
		if (!copy)
			return -ENOMEM;
		if ((k->flags & KF_READABLE) && check_readable(x, where, k, line, copy)) {
			free(copy);
			return -EINVAL;
		}
		free(*(char **)f);
		*(char **)f = copy;
		return 0;
	}
	case K_ENUM: {
		if (t != CONFIG_TYPE_STRING) {
			conf_err(x, line, "%s'%s' must be a string, not %s", where, k->name,
			         type_name(s));
			return -EINVAL;
		}
		const char *v = config_setting_get_string(s);
		for (int i = 0; k->choices[i]; i++) {
			if (!strcmp(v, k->choices[i])) {
				*(int *)f = (int)k->min + i;
				return 0;
			}
		}
		char list[256] = "";
		for (int i = 0; k->choices[i]; i++) {
			strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, k->choices[i], sizeof(list) - strlen(list) - 1);
		}
		conf_err(x, line, "%s'%s' must be one of %s, not \"%s\"", where, k->name, list, v);
		return -EINVAL;
	}
	case K_ADDR: {
		struct conf_addr tmp = {0};
		int err = parse_addr(x, where, k, s, &tmp);
		if (err)
			return err;
		free(((struct conf_addr *)f)->text);
		*(struct conf_addr *)f = tmp;
		return 0;
	}
	case K_ADDRLIST: {
		if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) {
			conf_err(x, line, "%s'%s' must be a list of strings, not %s", where,
			         k->name, type_name(s));
			return -EINVAL;
		}
		int n = config_setting_length(s);
		if (n < k->min || n > k->max) {
			conf_err(x, line, "%s'%s' must have %lld to %lld entries, not %d", where,
			         k->name, k->min, k->max, n);
			return -ERANGE;
		}
		struct conf_addrlist *l = f;
		free_addrlist(l);
		l->v = calloc((size_t)n, sizeof(*l->v));
		if (!l->v)
			return -ENOMEM;
		int bad = 0;
		for (int i = 0; i < n; i++) {
			if (parse_addr(x, where, k, config_setting_get_elem(s, (unsigned)i),
			               &l->v[l->n]))
				bad = -EINVAL;
			else
				l->n++;
		}
		return bad;
	}
	case K_STRLIST:
		return parse_strlist(x, where, k, s, f);
	case K_FLAGS:
		return parse_flags(x, where, k, s, f);
	case K_PREFIXLIST:
		return parse_prefixlist(x, where, k, s, f);
	case K_GROUP: {
		if (t != CONFIG_TYPE_GROUP) {
			conf_err(x, line, "%s'%s' must be a group { ... }, not %s", where, k->name,
			         type_name(s));
			return -EINVAL;
		}
		const struct section *sub = conf_section(k->def);
		char subwhere[64];
		snprintf(subwhere, sizeof(subwhere), "%s: ", sub->name);
		return conf_parse_group(x, subwhere, s, sub->keys, sub->nkeys, f);
	}
	}
	return -EINVAL;
}

static int apply_default(struct conf_ctx *x, const struct conf_key *k, void *base)
{
	void *f = (char *)base + k->off;
	if (k->kind == K_GROUP) {
		/* An absent group still gets its keys' defaults. */
		const struct section *sub = conf_section(k->def);
		for (size_t i = 0; i < sub->nkeys; i++)
			if (apply_default(x, &sub->keys[i], f))
				return -ENOMEM;
		return 0;
	}
	if (k->flags & (KF_DERIVED | KF_REQUIRED) || !k->def || k->def[0] == '(')
		return 0;
	switch (k->kind) {
	case K_INT:
		*(int *)f = atoi(k->def);
		return 0;
	case K_INT64:
		*(long long *)f = atoll(k->def);
		return 0;
	case K_BOOL:
		*(bool *)f = !strcmp(k->def, "true");
		return 0;
	case K_STR:
		free(*(char **)f);
		*(char **)f = strdup(k->def);
		return *(char **)f ? 0 : -ENOMEM;
	case K_ENUM: {
		/* def is written quoted, as in a config file */
		for (int i = 0; k->choices[i]; i++)
			if (!strncmp(k->def + 1, k->choices[i], strlen(k->choices[i])) &&
			    k->def[1 + strlen(k->choices[i])] == '"')
				*(int *)f = (int)k->min + i;
		return 0;
	}
	default:
		return 0;
	}
}

/* Parse a group against a key table; unknown keys and missing required keys are errors. */
int conf_apply_defaults(const struct conf_key *keys, size_t nkeys, void *base)
{
	for (size_t i = 0; i < nkeys; i++)
		if (apply_default(NULL, &keys[i], base))
			return -ENOMEM;
	return 0;
}

int conf_parse_group(struct conf_ctx *x, const char *where, const config_setting_t *g,
                     const struct conf_key *keys, size_t nkeys, void *base)
{
	int rc = 0;
	bool seen[32] = {false};
	if (nkeys > sizeof(seen) / sizeof(seen[0]))
		return -E2BIG; /* a schema table outgrew this function: a build-time mistake */
	for (size_t i = 0; i < nkeys; i++)
		if (apply_default(x, &keys[i], base))
			return -ENOMEM;
	int n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		size_t k;
		for (k = 0; k < nkeys; k++)
			if (name && !strcmp(name, keys[k].name))
				break;
		if (k == nkeys) {
			conf_err(x, conf_line_of(s), "%sunknown key '%s'", where,
			         name ? name : "?");
			rc = -EINVAL;
			continue;
		}
		seen[k] = true;
		if (parse_value(x, where, &keys[k], s, base))
			rc = -EINVAL;
	}
	for (size_t k = 0; k < nkeys; k++) {
		if ((keys[k].flags & KF_REQUIRED) && !seen[k]) {
			conf_err(x, conf_line_of(g), "%smissing required key '%s'", where,
			         keys[k].name);
			rc = -EINVAL;
		}
	}
	return rc;
}

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool conf_fields_equal(const struct conf_key *keys, size_t nkeys, const void *a, const void *b)
{
	for (size_t i = 0; i < nkeys; i++) {
		const struct conf_key *k = &keys[i];
		const void *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
		switch (k->kind) {
		case K_INT:
		case K_ENUM:
		case K_FLAGS:
			if (*(const int *)fa != *(const int *)fb)
				return false;
			break;
		case K_INT64:
			if (*(const long long *)fa != *(const long long *)fb)
				return false;
			break;
		case K_BOOL:
			if (*(const bool *)fa != *(const bool *)fb)
				return false;
			break;
		case K_STR:
			if (!str_equal(*(char *const *)fa, *(char *const *)fb))
				return false;
			break;
		case K_ADDR: {
			/* A name resolved to another address is a change too. */
			const struct conf_addr *aa = fa, *ab = fb;
			if (!str_equal(aa->text, ab->text) ||
			    (aa->text && !addr_equal(&aa->a, &ab->a)))
				return false;
			break;
		}
		case K_ADDRLIST: {
			const struct conf_addrlist *la = fa, *lb = fb;
			if (la->n != lb->n)
				return false;
			for (size_t j = 0; j < la->n; j++)
				if (!str_equal(la->v[j].text, lb->v[j].text) ||
				    !addr_equal(&la->v[j].a, &lb->v[j].a))
					return false;
			break;
		}
		case K_STRLIST: {
			const struct conf_strlist *la = fa, *lb = fb;
			if (la->n != lb->n)
				return false;
			for (size_t j = 0; j < la->n; j++)
				if (!str_equal(la->v[j], lb->v[j]))
					return false;
			break;
		}
		case K_PREFIXLIST: {
			const struct conf_prefixlist *la = fa, *lb = fb;
			if (la->n != lb->n)
				return false;
			for (size_t j = 0; j < la->n; j++)
				if (!str_equal(la->v[j].text, lb->v[j].text))
					return false;
			break;
		}
		case K_GROUP: {
			const struct section *sub = conf_section(k->def);
			if (!conf_fields_equal(sub->keys, sub->nkeys, fa, fb))
				return false;
			break;
		}
		}
	}
	return true;
}
