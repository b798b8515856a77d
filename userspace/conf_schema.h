/*
 * The config schema: one row per key (type, bounds, default, field offset,
 * documentation). conf.c loads files against it; conf_schema.c holds the
 * tables and writes them as Markdown for docs/config.md. Internal to those two.
 */
#ifndef KFWD_CONF_SCHEMA_H
#define KFWD_CONF_SCHEMA_H
#include "conf.h"

#include <stddef.h>

enum conf_kind {
	K_INT,     /* int field */
	K_BOOL,    /* bool field */
	K_STR,     /* char * field; min/max bound the length */
	K_ENUM,    /* int field holding an index into choices */
	K_ADDR,    /* struct conf_addr field, numeric only */
	K_ADDRLIST, /* struct conf_addrlist field */
	K_STRLIST,  /* struct conf_strlist field; min/max bound the count */
	K_FLAGS,    /* int field: a list of choices, bit (1 << index) each */
	K_PREFIXLIST /* struct conf_prefixlist field; min/max bound the count */
};

#define KF_REQUIRED 0x1 /* must be present */
#define KF_RESOLVE  0x2 /* addresses may be host names, resolved at load */
#define KF_PATH     0x4 /* a path: relative ones are taken from the config's folder */
#define KF_DERIVED  0x8 /* default is computed after parsing; def is its description */
#define KF_NAME     0x10 /* restricted to [A-Za-z0-9_.-] */
#define KF_IFNAME   0x20 /* list elements are interface names */

struct conf_key {
	const char *name;
	enum conf_kind kind;
	unsigned flags;
	size_t off;
	long long min, max;
	const char *def;             /* default as written in a config (or description) */
	const char *const *choices;  /* K_ENUM */
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

#endif
