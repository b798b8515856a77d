/*
 * Loading a config file: the sections in order, checks that span listeners,
 * derived globals, and errors sorted by line. Per-key parsing is in
 * conf_keys.c, the tunnel's cross-checks in conf_tunnel.c.
 */
#include "acl.h"
#include "auth.h"
#include "conf.h"
#include "conf_schema.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct conf_listener *conf_listener_ref(struct conf_listener *l)
{
	__atomic_add_fetch(&l->refcnt, 1, __ATOMIC_RELAXED);
	return l;
}

void conf_listener_unref(struct conf_listener *l)
{
	if (!l || __atomic_sub_fetch(&l->refcnt, 1, __ATOMIC_ACQ_REL))
		return;
	acl_free(l->acl_allow);
	acl_free(l->acl_deny);
	acl_free(l->acl_default);
	auth_db_free(l->auth_db);
	free(l->dns.servers);
	conf_fields_free(conf_listener_keys, conf_nlistener_keys, l);
	free(l);
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nlisteners; i++)
		conf_listener_unref(c->listeners[i]);
	free(c->listeners);
	conf_fields_free(conf_global_keys, conf_nglobal_keys, &c->global);
	conf_fields_free(conf_tunnel_keys, conf_ntunnel_keys, &c->tunnel);
	conf_fields_free(conf_upstreams_keys, conf_nupstreams_keys, &c->upstreams);
	free(c->path);
	free(c);
}

static int parse_listeners(struct conf_ctx *x, const config_setting_t *s, struct conf *c)
{
	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		conf_err(x, conf_line_of(s),
		         "'listeners' must be a list of groups: ( { ... }, ... )");
		return -EINVAL;
	}
	int rc = 0, n = config_setting_length(s);
	c->listeners = calloc((size_t)(n ? n : 1), sizeof(*c->listeners));
	if (!c->listeners)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		if (!config_setting_is_group(g)) {
			conf_err(x, conf_line_of(g), "listener #%d must be a group { ... }", i + 1);
			rc = -EINVAL;
			continue;
		}
		struct conf_listener *l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->refcnt = 1;
		l->line = conf_line_of(g);
		c->listeners[c->nlisteners++] = l;
		const char *name = NULL;
		config_setting_lookup_string(g, "name", &name);
		char where[96];
		if (name)
			snprintf(where, sizeof(where), "listener \"%s\": ", name);
		else
			snprintf(where, sizeof(where), "listener #%d: ", i + 1);
		if (conf_parse_group(x, where, g, conf_listener_keys, conf_nlistener_keys, l)) {
			l->invalid = true;
			rc = -EINVAL;
		}
	}
	return rc;
}

/* Checks that span keys or listeners. */
static int check_listeners(struct conf_ctx *x, struct conf *c)
{
	int rc = 0;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *l = c->listeners[i];
		if (!l->name)
			continue; /* already reported */
		/* One message per cause: a listener whose keys were already reported
		 * gets no follow-up about what those keys failed to provide. */
		if (l->mode == MODE_FORWARD && l->via == VIA_DIRECT && !l->backends.v &&
		    !l->invalid) {
			conf_err(x, l->line, "listener \"%s\": mode \"forward\" needs 'backends'",
			         l->name);
			rc = -EINVAL;
		}
		bool dup_name = false;
		for (size_t j = 0; j < i; j++) {
			struct conf_listener *o = c->listeners[j];
			if (!o->name)
				continue;
			if (!strcmp(o->name, l->name) && !dup_name) {
				conf_err(
				    x, l->line,
				    "duplicate listener name \"%s\" (first defined at line %d)",
				    l->name, o->line);
				dup_name = true;
				rc = -EINVAL;
			}
			if (o->bind.text && l->bind.text && conf_listener_same_socket(o, l)) {
				conf_err(x, l->bind.line,
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
static int check_xdp(struct conf_ctx *x, struct conf *c)
{
	int rc = 0;
	for (size_t i = 0; i < c->nlisteners; i++) {
		struct conf_listener *l = c->listeners[i];
		if (!l->name || l->invalid)
			continue;
		bool udp = l->proto == PROTO_UDP;
		if (l->sanitize && !udp) {
			conf_err(x, l->line, "listener \"%s\": sanitize applies to UDP listeners",
			         l->name);
			rc = -EINVAL;
		} else if (l->accept && !udp) {
			conf_err(x, l->line, "listener \"%s\": 'accept' applies to UDP listeners",
			         l->name);
			rc = -EINVAL;
		} else if (l->sanitize && !l->accept) {
			conf_err(x, l->line,
			         "listener \"%s\": sanitize = true needs 'accept' (quic, "
			         "wireguard, other)",
			         l->name);
			rc = -EINVAL;
		}
		if (l->new_flow_burst && !l->new_flow_rate) {
			conf_err(x, l->line, "listener \"%s\": new_flow_burst needs new_flow_rate",
			         l->name);
			rc = -EINVAL;
		}
		for (size_t a = 0; a < l->allow_sources.n; a++)
			for (size_t d = 0; d < l->deny_sources.n; d++)
				if (prefix_equal(&l->allow_sources.v[a], &l->deny_sources.v[d])) {
					conf_err(x, l->deny_sources.v[d].line,
					         "listener \"%s\": %s is in allow_sources and in "
					         "deny_sources",
					         l->name, l->deny_sources.v[d].text);
					rc = -EINVAL;
				}
		bool door =
		    l->sanitize || l->allow_sources.n || l->deny_sources.n || l->new_flow_rate;
		if (door && !c->global.interfaces.n) {
			conf_err(x, l->line,
			         "listener \"%s\": sanitize, allow_sources, deny_sources and "
			         "new_flow_rate work in XDP: set global.interfaces",
			         l->name);
			rc = -EINVAL;
		}
	}
	return rc;
}

static int derive_globals(struct conf_ctx *x, struct conf *c)
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
			if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
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
		conf_err(x, 1, "global: control socket path is longer than 107 characters: %s",
		         g->control_socket);
		return -EINVAL;
	}
	return 0;
}

/* A top-level group described by the section of that name. */
static int parse_section(struct conf_ctx *x, const config_setting_t *s, const char *name,
                         void *base)
{
	const struct section *sec = conf_section(name);
	char where[64];
	if (!config_setting_is_group(s)) {
		conf_err(x, conf_line_of(s), "'%s' must be a group { ... }", name);
		return -EINVAL;
	}
	snprintf(where, sizeof(where), "%s: ", name);
	return conf_parse_group(x, where, s, sec->keys, sec->nkeys, base);
}

static int conf_parse(config_t *cfg, struct conf_ctx *x, struct conf *c)
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
		} else if (!strcmp(name, "tunnel")) {
			c->tunnel.line = conf_line_of(s);
			if (parse_section(x, s, "tunnel", &c->tunnel)) {
				c->tunnel.invalid = true;
				rc = -EINVAL;
			}
		} else if (!strcmp(name, "upstreams")) {
			c->upstreams.line = conf_line_of(s);
			if (parse_section(x, s, "upstreams", &c->upstreams))
				rc = -EINVAL;
		} else {
			conf_err(x, conf_line_of(s),
			         "unknown section '%s' (expected global, listeners, tunnel or "
			         "upstreams)",
			         name);
			rc = -EINVAL;
		}
	}
	if (glob) {
		if (!config_setting_is_group(glob)) {
			conf_err(x, conf_line_of(glob), "'global' must be a group { ... }");
			rc = -EINVAL;
		} else if (conf_parse_group(x, "global: ", glob, conf_global_keys,
		                            conf_nglobal_keys, &c->global)) {
			rc = -EINVAL;
		}
	} else {
		if (conf_apply_defaults(conf_global_keys, conf_nglobal_keys, &c->global))
			return -ENOMEM;
	}
	/* A tunnel server serves its peer's requests: it needs no listeners. (A
	 * tunnel section with errors may be meant as one: no follow-up message.) */
	bool server = c->tunnel.role == TUNNEL_SERVER || c->tunnel.invalid;
	if (!lsns && !server) {
		conf_err(x, 1, "no 'listeners' section: nothing to do");
		rc = -EINVAL;
	} else if (lsns && !server && c->listeners && c->nlisteners == 0 &&
	           config_setting_length(lsns) == 0) {
		conf_err(x, conf_line_of(lsns), "'listeners' is empty: nothing to do");
		rc = -EINVAL;
	}
	if (check_listeners(x, c))
		rc = -EINVAL;
	if (conf_check_tunnel(x, c))
		rc = -EINVAL;
	if (check_xdp(x, c))
		rc = -EINVAL;
	if (conf_check_proxy(x, c))
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
static void errs_sort(struct conf_ctx *x)
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

static int conf_finish(config_t *cfg, struct conf_ctx *x, const char *path, bool parsed,
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

static void ctx_init(struct conf_ctx *x, const char *path, struct conf_errs *errs)
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
	struct conf_ctx x;
	config_init(&cfg);
	ctx_init(&x, path, errs);
	if (x.dir)
		config_set_include_dir(&cfg, x.dir);
	FILE *f = fopen(path, "r");
	if (!f) {
		conf_err(&x, 0, "cannot open: %s", strerror(errno));
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
	struct conf_ctx x;
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
