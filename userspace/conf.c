#include "conf.h"
#include "conf_schema.h"
#include "jsonw.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ctx {
	const char *file;
	char *dir; /* for relative paths */
	struct conf_errs *errs;
};

static void err_add(struct ctx *x, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void err_add(struct ctx *x, int line, const char *fmt, ...)
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

static char *path_join(const struct ctx *x, const char *p)
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
	default:
		break;
	}
}

/* Where to point a message about s: its own line, else its parent's. */
static int line_of(const config_setting_t *s)
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
static int parse_addr(struct ctx *x, const char *where, const struct conf_key *k,
		      const config_setting_t *s, struct conf_addr *out)
{
	int line = line_of(s);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err_add(x, line, "%s'%s' must be a string \"HOST:PORT\", not %s", where, k->name,
			type_name(s));
		return -EINVAL;
	}
	const char *text = config_setting_get_string(s);
	const char *why = NULL;
	int err = (k->flags & KF_RESOLVE) ? addr_resolve(text, &out->a, &why)
					  : addr_parse(text, &out->a);
	if (err == -ERANGE)
		err_add(x, line, "%s'%s': bad port in \"%s\" (1-65535)", where, k->name, text);
	else if (err == -EHOSTUNREACH)
		err_add(x, line, "%s'%s': cannot resolve \"%s\": %s", where, k->name, text, why);
	else if (err)
		err_add(x, line, "%s'%s': bad address \"%s\" (expected %s)", where, k->name, text,
			(k->flags & KF_RESOLVE) ? "HOST:PORT or [IPv6]:PORT"
						: "IP:PORT, [IPv6]:PORT or *:PORT");
	if (err)
		return err;
	out->text = strdup(text);
	out->line = line;
	return out->text ? 0 : -ENOMEM;
}

/* A list setting with a count in k's bounds; return its length or -errno (reported). */
static int list_len(struct ctx *x, const char *where, const struct conf_key *k,
		    const config_setting_t *s, const char *what)
{
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) {
		err_add(x, line_of(s), "%s'%s' must be a list of %s, not %s", where, k->name, what,
			type_name(s));
		return -EINVAL;
	}
	int n = config_setting_length(s);
	if (n < k->min || n > k->max) {
		err_add(x, line_of(s), "%s'%s' must have %lld to %lld entries, not %d", where,
			k->name, k->min, k->max, n);
		return -ERANGE;
	}
	return n;
}

/* Element i of a list of strings, or NULL (reported). */
static const char *list_str(struct ctx *x, const char *where, const struct conf_key *k,
			    const config_setting_t *s, int i)
{
	const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
	if (config_setting_type(e) != CONFIG_TYPE_STRING) {
		err_add(x, line_of(e), "%s'%s': entry %d must be a string, not %s", where, k->name,
			i + 1, type_name(e));
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

static int parse_strlist(struct ctx *x, const char *where, const struct conf_key *k,
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
			err_add(x, line_of(config_setting_get_elem(s, (unsigned)i)),
				"%s'%s': \"%s\" is not an interface name", where, k->name, v);
			rc = -EINVAL;
			continue;
		}
		for (size_t j = 0; j < l->n; j++) {
			if (!strcmp(l->v[j], v)) {
				err_add(x, line_of(s), "%s'%s': \"%s\" is listed twice", where,
					k->name, v);
				rc = -EINVAL;
			}
		}
		if (!(l->v[l->n] = strdup(v)))
			return -ENOMEM;
		l->n++;
	}
	return rc;
}

static int parse_flags(struct ctx *x, const char *where, const struct conf_key *k,
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
			err_add(x, line_of(config_setting_get_elem(s, (unsigned)i)),
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

static int parse_prefixlist(struct ctx *x, const char *where, const struct conf_key *k,
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
		int line = line_of(config_setting_get_elem(s, (unsigned)i));
		struct conf_prefix *p = &l->v[l->n];
		if (!v) {
			rc = -EINVAL;
			continue;
		}
		if (conf_prefix_parse(v, p, &why)) {
			err_add(x, line, "%s'%s': bad prefix \"%s\": %s", where, k->name, v, why);
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

static int parse_value(struct ctx *x, const char *where, const struct conf_key *k,
		       const config_setting_t *s, void *base)
{
	void *f = (char *)base + k->off;
	int line = line_of(s);
	int t = config_setting_type(s);

	switch (k->kind) {
	case K_INT: {
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
			err_add(x, line, "%s'%s' must be an integer, not %s", where, k->name,
				type_name(s));
			return -EINVAL;
		}
		long long v = config_setting_get_int64(s);
		if (v < k->min || v > k->max) {
			err_add(x, line, "%s'%s' is out of range: %lld (allowed %lld to %lld)", where,
				k->name, v, k->min, k->max);
			return -ERANGE;
		}
		*(int *)f = (int)v;
		return 0;
	}
	case K_BOOL:
		if (t != CONFIG_TYPE_BOOL) {
			err_add(x, line, "%s'%s' must be true or false, not %s", where, k->name,
				type_name(s));
			return -EINVAL;
		}
		*(bool *)f = config_setting_get_bool(s);
		return 0;
	case K_STR: {
		if (t != CONFIG_TYPE_STRING) {
			err_add(x, line, "%s'%s' must be a string, not %s", where, k->name,
				type_name(s));
			return -EINVAL;
		}
		const char *v = config_setting_get_string(s);
		size_t n = strlen(v);
		if ((long long)n < k->min || (long long)n > k->max) {
			err_add(x, line, "%s'%s' must be %lld to %lld characters long", where, k->name,
				k->min, k->max);
			return -ERANGE;
		}
		if ((k->flags & KF_NAME) && !valid_name(v)) {
			err_add(x, line, "%s'%s' may use only letters, digits, '_', '-' and '.': \"%s\"",
				where, k->name, v);
			return -EINVAL;
		}
		char *copy = (k->flags & KF_PATH) ? path_join(x, v) : strdup(v);
		if (!copy)
			return -ENOMEM;
		free(*(char **)f);
		*(char **)f = copy;
		return 0;
	}
	case K_ENUM: {
		if (t != CONFIG_TYPE_STRING) {
			err_add(x, line, "%s'%s' must be a string, not %s", where, k->name,
				type_name(s));
			return -EINVAL;
		}
		const char *v = config_setting_get_string(s);
		for (int i = 0; k->choices[i]; i++) {
			if (!strcmp(v, k->choices[i])) {
				*(int *)f = i;
				return 0;
			}
		}
		char list[256] = "";
		for (int i = 0; k->choices[i]; i++) {
			strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, k->choices[i], sizeof(list) - strlen(list) - 1);
		}
		err_add(x, line, "%s'%s' must be one of %s, not \"%s\"", where, k->name, list, v);
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
			err_add(x, line, "%s'%s' must be a list of strings, not %s", where, k->name,
				type_name(s));
			return -EINVAL;
		}
		int n = config_setting_length(s);
		if (n < k->min || n > k->max) {
			err_add(x, line, "%s'%s' must have %lld to %lld entries, not %d", where,
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
	}
	return -EINVAL;
}

static int apply_default(struct ctx *x, const struct conf_key *k, void *base)
{
	void *f = (char *)base + k->off;
	if (k->flags & (KF_DERIVED | KF_REQUIRED) || !k->def || k->def[0] == '(')
		return 0;
	switch (k->kind) {
	case K_INT:
		*(int *)f = atoi(k->def);
		return 0;
	case K_BOOL:
		*(bool *)f = !strcmp(k->def, "true");
		return 0;
	case K_STR:
		*(char **)f = strdup(k->def);
		return *(char **)f ? 0 : -ENOMEM;
	case K_ENUM: {
		/* def is written quoted, as in a config file */
		for (int i = 0; k->choices[i]; i++)
			if (!strncmp(k->def + 1, k->choices[i], strlen(k->choices[i])) &&
			    k->def[1 + strlen(k->choices[i])] == '"')
				*(int *)f = i;
		return 0;
	}
	default:
		return 0;
	}
}

/* Parse a group against a key table; unknown keys and missing required keys are errors. */
static int parse_group(struct ctx *x, const char *where, const config_setting_t *g,
		       const struct conf_key *keys, size_t nkeys, void *base)
{
	int rc = 0;
	bool seen[32] = {false};
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
			err_add(x, line_of(s), "%sunknown key '%s'", where, name ? name : "?");
			rc = -EINVAL;
			continue;
		}
		seen[k] = true;
		if (parse_value(x, where, &keys[k], s, base))
			rc = -EINVAL;
	}
	for (size_t k = 0; k < nkeys; k++) {
		if ((keys[k].flags & KF_REQUIRED) && !seen[k]) {
			err_add(x, line_of(g), "%smissing required key '%s'", where, keys[k].name);
			rc = -EINVAL;
		}
	}
	return rc;
}

struct conf_listener *conf_listener_ref(struct conf_listener *l)
{
	__atomic_add_fetch(&l->refcnt, 1, __ATOMIC_RELAXED);
	return l;
}

void conf_listener_unref(struct conf_listener *l)
{
	if (!l || __atomic_sub_fetch(&l->refcnt, 1, __ATOMIC_ACQ_REL))
		return;
	for (size_t k = 0; k < conf_nlistener_keys; k++)
		field_free(&conf_listener_keys[k], l);
	free(l);
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nlisteners; i++)
		conf_listener_unref(c->listeners[i]);
	free(c->listeners);
	for (size_t k = 0; k < conf_nglobal_keys; k++)
		field_free(&conf_global_keys[k], &c->global);
	free(c->path);
	free(c);
}

static int parse_listeners(struct ctx *x, const config_setting_t *s, struct conf *c)
{
	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		err_add(x, line_of(s), "'listeners' must be a list of groups: ( { ... }, ... )");
		return -EINVAL;
	}
	int rc = 0, n = config_setting_length(s);
	c->listeners = calloc((size_t)(n ? n : 1), sizeof(*c->listeners));
	if (!c->listeners)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		if (!config_setting_is_group(g)) {
			err_add(x, line_of(g), "listener #%d must be a group { ... }", i + 1);
			rc = -EINVAL;
			continue;
		}
		struct conf_listener *l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->refcnt = 1;
		l->line = line_of(g);
		c->listeners[c->nlisteners++] = l;
		const char *name = NULL;
		config_setting_lookup_string(g, "name", &name);
		char where[96];
		if (name)
			snprintf(where, sizeof(where), "listener \"%s\": ", name);
		else
			snprintf(where, sizeof(where), "listener #%d: ", i + 1);
		if (parse_group(x, where, g, conf_listener_keys,
				conf_nlistener_keys, l)) {
			l->invalid = true;
			rc = -EINVAL;
		}
	}
	return rc;
}

/* Checks that span keys or listeners. */
static int check_listeners(struct ctx *x, struct conf *c)
{
	int rc = 0;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *l = c->listeners[i];
		if (!l->name)
			continue; /* already reported */
		/* One message per cause: a listener whose keys were already reported
		 * gets no follow-up about what those keys failed to provide. */
		if (l->mode == MODE_FORWARD && !l->backends.v && !l->invalid) {
			err_add(x, l->line, "listener \"%s\": mode \"forward\" needs 'backends'",
				l->name);
			rc = -EINVAL;
		}
		bool dup_name = false;
		for (size_t j = 0; j < i; j++) {
			struct conf_listener *o = c->listeners[j];
			if (!o->name)
				continue;
			if (!strcmp(o->name, l->name) && !dup_name) {
				err_add(x, l->line,
					"duplicate listener name \"%s\" (first defined at line %d)",
					l->name, o->line);
				dup_name = true;
				rc = -EINVAL;
			}
			if (o->bind.text && l->bind.text && conf_listener_same_socket(o, l)) {
				err_add(x, l->bind.line,
					"listener \"%s\": bind %s/%s is already used by listener "
					"\"%s\" (line %d)",
					l->name, l->bind.text, conf_proto_name(l->proto), o->name,
					o->bind.line);
				rc = -EINVAL;
			}
		}
	}
	return rc;
}

/* Whether p and q are the same prefix. */
static bool prefix_equal(const struct conf_prefix *p, const struct conf_prefix *q)
{
	return p->family == q->family && p->len == q->len && !memcmp(p->addr, q->addr, 16);
}

/* The XDP front door's keys: what they apply to and what they need. */
static int check_xdp(struct ctx *x, struct conf *c)
{
	int rc = 0;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *l = c->listeners[i];
		if (!l->name || l->invalid)
			continue;
		bool udp = l->proto == PROTO_UDP;
		if (l->sanitize && !udp) {
			err_add(x, l->line, "listener \"%s\": sanitize applies to UDP listeners", l->name);
			rc = -EINVAL;
		} else if (l->accept && !udp) {
			err_add(x, l->line, "listener \"%s\": 'accept' applies to UDP listeners", l->name);
			rc = -EINVAL;
		} else if (l->sanitize && !l->accept) {
			err_add(x, l->line,
				"listener \"%s\": sanitize = true needs 'accept' (quic, wireguard, other)",
				l->name);
			rc = -EINVAL;
		}
		if (l->new_flow_burst && !l->new_flow_rate) {
			err_add(x, l->line, "listener \"%s\": new_flow_burst needs new_flow_rate",
				l->name);
			rc = -EINVAL;
		}
		for (size_t a = 0; a < l->allow_sources.n; a++)
			for (size_t d = 0; d < l->deny_sources.n; d++)
				if (prefix_equal(&l->allow_sources.v[a], &l->deny_sources.v[d])) {
					err_add(x, l->deny_sources.v[d].line,
						"listener \"%s\": %s is in allow_sources and in "
						"deny_sources",
						l->name, l->deny_sources.v[d].text);
					rc = -EINVAL;
				}
		bool door = l->sanitize || l->allow_sources.n || l->deny_sources.n || l->new_flow_rate;
		if (door && !c->global.interfaces.n) {
			err_add(x, l->line,
				"listener \"%s\": sanitize, allow_sources, deny_sources and "
				"new_flow_rate work in XDP: set global.interfaces",
				l->name);
			rc = -EINVAL;
		}
	}
	return rc;
}

static int derive_globals(struct ctx *x, struct conf *c)
{
	struct conf_global *g = &c->global;
	if (!g->instance) {
		const char *base = strrchr(c->path, '/');
		base = base ? base + 1 : c->path;
		g->instance = strdup(base);
		if (!g->instance)
			return -ENOMEM;
		char *dot = strrchr(g->instance, '.');
		if (dot && dot != g->instance)
			*dot = 0;
		if (strlen(g->instance) > 64)
			g->instance[64] = 0; /* the same bound as a written 'instance' */
		for (char *p = g->instance; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
				*p = '_';
	}
	if (!g->control_socket) {
		if (asprintf(&g->control_socket, "/run/kfwd/%s.sock", g->instance) < 0) {
			g->control_socket = NULL;
			return -ENOMEM;
		}
	}
	/* A relative path grows when joined to the config's folder: check the result. */
	if (strlen(g->control_socket) > 107) {
		err_add(x, 1, "global: control socket path is longer than 107 characters: %s",
			g->control_socket);
		return -EINVAL;
	}
	return 0;
}

static int conf_parse(config_t *cfg, struct ctx *x, struct conf *c)
{
	int rc = 0;
	const config_setting_t *root = config_root_setting(cfg);
	const config_setting_t *glob = NULL, *lsns = NULL;
	int n = config_setting_length(root);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		if (!strcmp(name, "global")) {
			glob = s;
		} else if (!strcmp(name, "listeners")) {
			lsns = s;
			if (parse_listeners(x, s, c))
				rc = -EINVAL;
		} else {
			err_add(x, line_of(s), "unknown section '%s' (expected global or listeners)",
				name);
			rc = -EINVAL;
		}
	}
	if (glob) {
		if (!config_setting_is_group(glob)) {
			err_add(x, line_of(glob), "'global' must be a group { ... }");
			rc = -EINVAL;
		} else if (parse_group(x, "global: ", glob, conf_global_keys,
				       conf_nglobal_keys, &c->global)) {
			rc = -EINVAL;
		}
	} else {
		for (size_t k = 0; k < conf_nglobal_keys; k++)
			if (apply_default(x, &conf_global_keys[k], &c->global))
				return -ENOMEM;
	}
	if (!lsns) {
		err_add(x, 1, "no 'listeners' section: nothing to do");
		rc = -EINVAL;
	} else if (c->listeners && c->nlisteners == 0 && config_setting_length(lsns) == 0) {
		err_add(x, line_of(lsns), "'listeners' is empty: nothing to do");
		rc = -EINVAL;
	}
	if (check_listeners(x, c))
		rc = -EINVAL;
	if (check_xdp(x, c))
		rc = -EINVAL;
	if (derive_globals(x, c))
		rc = -EINVAL;
	return rc;
}

static int err_line(const char *file, const char *msg)
{
	return atoi(msg + strlen(file) + 1);
}

/* Report problems in file order (stable: one line's messages keep their order). */
static void errs_sort(struct ctx *x)
{
	size_t n = x->errs->n;
	for (size_t i = 1; i < n; i++) {
		char *m = x->errs->msg[i];
		size_t j = i;
		while (j > 0 && err_line(x->file, x->errs->msg[j - 1]) > err_line(x->file, m)) {
			x->errs->msg[j] = x->errs->msg[j - 1];
			j--;
		}
		x->errs->msg[j] = m;
	}
}

static int conf_finish(config_t *cfg, struct ctx *x, const char *path, bool parsed,
		       struct conf **out)
{
	int rc = -EINVAL;
	struct conf *c = NULL;
	*out = NULL;
	if (!parsed) {
		const char *file = config_error_file(cfg);
		char *full = NULL;
		if (asprintf(&full, "%s:%d: %s", file ? file : path, config_error_line(cfg),
			     config_error_text(cfg)) >= 0) {
			char **v = realloc(x->errs->msg, (x->errs->n + 1) * sizeof(*v));
			if (v) {
				v[x->errs->n++] = full;
				x->errs->msg = v;
			} else {
				free(full);
			}
		}
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		rc = -ENOMEM;
		goto out;
	}
	rc = conf_parse(cfg, x, c);
	errs_sort(x);
	if (rc == 0) {
		*out = c;
		c = NULL;
	}
out:
	conf_free(c);
	free(x->dir);
	config_destroy(cfg);
	return rc;
}

static void ctx_init(struct ctx *x, const char *path, struct conf_errs *errs)
{
	x->file = path;
	x->errs = errs;
	x->dir = NULL;
	const char *slash = strrchr(path, '/');
	if (slash)
		x->dir = strndup(path, (size_t)(slash - path == 0 ? 1 : slash - path));
}

int conf_load(const char *path, struct conf **out, struct conf_errs *errs)
{
	config_t cfg;
	struct ctx x;
	config_init(&cfg);
	ctx_init(&x, path, errs);
	if (x.dir)
		config_set_include_dir(&cfg, x.dir);
	FILE *f = fopen(path, "r");
	if (!f) {
		err_add(&x, 0, "cannot open: %s", strerror(errno));
		free(x.dir);
		config_destroy(&cfg);
		*out = NULL;
		return -EINVAL;
	}
	bool ok = config_read(&cfg, f) == CONFIG_TRUE;
	fclose(f);
	return conf_finish(&cfg, &x, path, ok, out);
}

int conf_load_string(const char *name, const char *text, struct conf **out, struct conf_errs *errs)
{
	config_t cfg;
	struct ctx x;
	config_init(&cfg);
	ctx_init(&x, name, errs);
	bool ok = config_read_string(&cfg, text) == CONFIG_TRUE;
	return conf_finish(&cfg, &x, name, ok, out);
}

bool conf_listener_same_socket(const struct conf_listener *a, const struct conf_listener *b)
{
	return a->proto == b->proto && addr_equal(&a->bind.a, &b->bind.a);
}

int conf_idle_ms(const struct conf_listener *l)
{
	if (l->idle_timeout_ms)
		return l->idle_timeout_ms;
	return l->proto == PROTO_UDP ? 30000 : 3600000;
}

int conf_workers(const struct conf *c)
{
	if (c->global.workers > 0)
		return c->global.workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)(n > 256 ? 256 : n) : 1;
}
