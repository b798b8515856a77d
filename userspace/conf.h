/*
 * Configuration: a libconfig file checked against a declarative schema
 * (key, type, bounds, default, field offset). Every problem is reported as
 * "FILE:LINE: message"; loading collects all of them rather than stopping at
 * the first.
 */
#ifndef KFWD_CONF_H
#define KFWD_CONF_H
#include "addr.h"

#include <stdbool.h>
#include <stddef.h>

enum conf_proto { PROTO_TCP, PROTO_UDP };
enum conf_mode { MODE_FORWARD };

struct conf_addr {
	char *text;      /* as written */
	struct addr a;   /* parsed (or resolved at load) */
	int line;
};

struct conf_addrlist {
	struct conf_addr *v;
	size_t n;
};

struct conf_listener {
	int refcnt;              /* atomic; conf_listener_ref/unref */
	int line;                /* where the listener's group starts */
	bool invalid;            /* load only: its own keys had errors */
	char *name;
	struct conf_addr bind;
	int proto;               /* enum conf_proto */
	int mode;                /* enum conf_mode */
	struct conf_addrlist backends;
	int idle_timeout_ms;     /* 0: protocol default (see conf_idle_ms) */
	int connect_timeout_ms;
	int max_flows;
	int buffer_size;
};

struct conf_global {
	int workers;             /* 0: one per online CPU */
	char *instance;
	char *control_socket;
	char *bpf_pin_path;
	int shutdown_grace_ms;
};

struct conf {
	char *path;
	struct conf_global global;
	struct conf_listener **listeners;
	size_t nlisteners;
};

/* Collected problems, each already formatted as "FILE:LINE: message". */
struct conf_errs {
	char **msg;
	size_t n;
};

/*
 * Load and check path. On success return 0 and set *out (free with conf_free).
 * On failure return -EINVAL (or -ENOMEM) with every problem in errs; *out is NULL.
 * errs must be zero-initialized; free it with conf_errs_free.
 */
int conf_load(const char *path, struct conf **out, struct conf_errs *errs);
/* Same, from text; name is used in messages and as the base for relative paths. */
int conf_load_string(const char *name, const char *text, struct conf **out, struct conf_errs *errs);
void conf_free(struct conf *c);
void conf_errs_free(struct conf_errs *e);

/* Listener configs are shared by the workers and outlive a reload while flows use them. */
struct conf_listener *conf_listener_ref(struct conf_listener *l);
void conf_listener_unref(struct conf_listener *l);

/* Whether a and b need the same listening socket (same proto and bind address). */
bool conf_listener_same_socket(const struct conf_listener *a, const struct conf_listener *b);
/* Effective idle timeout in ms. */
int conf_idle_ms(const struct conf_listener *l);
/* Effective worker count. */
int conf_workers(const struct conf *c);

const char *conf_proto_name(int proto);
const char *conf_mode_name(int mode);

/* Write the schema (every key, type, bounds, default, meaning) as Markdown. */
struct buf;
void conf_schema_markdown(struct buf *out);

#endif
