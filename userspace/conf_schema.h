/*
 * The config schema: one row per key (type, bounds, default, field offset,
 * documentation). conf_keys.c loads groups against it, conf.c and
 * conf_tunnel.c drive and cross-check the sections; conf_schema.c holds the
 * tables and writes them as Markdown for docs/config.md. Internal to those.
 */
#ifndef KFWD_CONF_SCHEMA_H
#define KFWD_CONF_SCHEMA_H
#include "conf.h"

#include <libconfig.h>
#include <stddef.h>

enum conf_kind {
	K_INT,        /* int field */
	K_INT64,      /* long long field */
	K_BOOL,       /* bool field */
	K_STR,        /* char * field; min/max bound the length */
	K_ENUM,       /* int field holding min + the index of the choice in choices */
	K_ADDR,       /* struct conf_addr field, numeric only */
	K_ADDRLIST,   /* struct conf_addrlist field */
	K_STRLIST,    /* struct conf_strlist field; min/max bound the count */
	K_FLAGS,      /* int field: a list of choices, bit (1 << index) each */
	K_PREFIXLIST, /* struct conf_prefixlist field; min/max bound the count */
	K_GROUP       /* a nested group: the section named def, its fields at off + theirs */
};

#define KF_REQUIRED 0x1   /* must be present */
#define KF_RESOLVE  0x2   /* addresses may be host names, resolved at load */
#define KF_PATH     0x4   /* a path: relative ones are taken from the config's folder */
#define KF_DERIVED  0x8   /* default is computed after parsing; def is its description */
#define KF_NAME     0x10  /* restricted to [A-Za-z0-9_.-] */
#define KF_IFNAME   0x20  /* list elements are interface names */
#define KF_READABLE 0x40  /* K_STR path: must name a readable regular file at load */
#define KF_HOSTPORT 0x80  /* K_STR: "host:port" or "[v6]:port", not resolved at load */
#define KF_ACL      0x100 /* K_STRLIST: every element is an ACL pattern (acl.h) */
#define KF_NODOT    0x200 /* KF_NAME without '.': it names bpffs entries, which refuse dots */

struct conf_key {
	const char *name;
	enum conf_kind kind;
	unsigned flags;
	size_t off;
	long long min, max;
	const char *def;            /* default as written in a config (or description) */
	const char *const *choices; /* K_ENUM */
	const char *doc;
};

struct section {
	const char *name;
	const struct conf_key *keys;
	size_t nkeys;
	const char *doc;
};

extern const struct conf_key conf_global_keys[];
extern const size_t conf_nglobal_keys;
extern const struct conf_key conf_listener_keys[];
extern const size_t conf_nlistener_keys;
extern const struct conf_key conf_tunnel_keys[];
extern const size_t conf_ntunnel_keys;
extern const struct conf_key conf_upstreams_keys[];
extern const size_t conf_nupstreams_keys;

/* The section of that name ("tunnel.tls"), or NULL. */
const struct section *conf_section(const char *name);

/*
 * Loader internals shared by conf.c and conf_tunnel.c.
 */
struct conf_ctx {
	const char *file;
	char *dir; /* for relative paths */
	struct conf_errs *errs;
};

/* Record "FILE:LINE: message" in x->errs (dropped silently when out of memory). */
void conf_err(struct conf_ctx *x, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The line of s, else of its nearest parent that has one. */
int conf_line_of(const config_setting_t *s);

/*
 * conf_keys.c: load group g into base against keys, defaults first; where
 * prefixes every message ("listener \"web\": "). Unknown keys and missing
 * required ones are errors. Return 0, -EINVAL (reported) or -ENOMEM.
 */
int conf_parse_group(struct conf_ctx *x, const char *where, const config_setting_t *g,
                     const struct conf_key *keys, size_t nkeys, void *base);

/* Set every key's default (nested groups too), as for an absent group. 0 or -ENOMEM. */
int conf_apply_defaults(const struct conf_key *keys, size_t nkeys, void *base);

/* Whether every field the keys describe is equal in a and b (nested groups too). */
bool conf_fields_equal(const struct conf_key *keys, size_t nkeys, const void *a, const void *b);

/* Free what the keys' fields own (nested groups too); the fields are left empty. */
void conf_fields_free(const struct conf_key *keys, size_t nkeys, void *base);

/* conf_tunnel.c: checks of the tunnel, upstreams and via/target keys that span
 * sections. Return 0 or -EINVAL, every problem reported. */
int conf_check_tunnel(struct conf_ctx *x, struct conf *c);

/* conf_proxy.c: checks of the CONNECT proxy's keys; compiles its ACLs and
 * loads its users file into each mode connect listener. 0 or -EINVAL. */
int conf_check_proxy(struct conf_ctx *x, struct conf *c);

#endif
