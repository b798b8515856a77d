/*
 * Config checks for the QUIC tunnel that span keys or sections: what each
 * role needs, the transport knobs that bound each other, `upstreams`, and the
 * listeners' `via`, `target` and `mode` combinations. The keys themselves
 * (types, bounds, readable TLS files, HOST:PORT syntax) are checked by the
 * schema in conf_schema.c.
 */
#include "conf.h"
#include "conf_schema.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int check_role(struct conf_ctx *x, const struct conf_tunnel *t)
{
	int rc = 0;
	if (t->role == TUNNEL_CLIENT) {
		if (!t->peer) {
			conf_err(x, t->line,
			         "tunnel: role \"client\" needs 'peer' (HOST:PORT of the server)");
			rc = -EINVAL;
		}
		if (t->bind.text) {
			conf_err(x, t->bind.line,
			         "tunnel: 'bind' applies to role \"server\" (a client sends from "
			         "any local port)");
			rc = -EINVAL;
		}
	} else if (t->role == TUNNEL_SERVER) {
		if (!t->bind.text) {
			conf_err(
			    x, t->line,
			    "tunnel: role \"server\" needs 'bind' (the UDP address to listen on)");
			rc = -EINVAL;
		}
		if (t->peer) {
			conf_err(
			    x, t->line,
			    "tunnel: 'peer' applies to role \"client\" (a server waits for its "
			    "peer)");
			rc = -EINVAL;
		}
	}
	return rc;
}

/* Knobs that only make sense relative to each other. */
static int check_transport(struct conf_ctx *x, const struct conf_tunnel *t)
{
	const struct conf_transport *tr = &t->transport;
	int rc = 0;
	if (tr->keep_alive_ms && tr->keep_alive_ms >= tr->max_idle_timeout_ms) {
		conf_err(x, t->line,
		         "tunnel.transport: keep_alive_ms (%d) must be below max_idle_timeout_ms "
		         "(%d), or the tunnel closes between two pings",
		         tr->keep_alive_ms, tr->max_idle_timeout_ms);
		rc = -EINVAL;
	}
	if (tr->initial_max_data > tr->max_window) {
		conf_err(x, t->line,
		         "tunnel.transport: initial_max_data (%d) is above max_window (%d)",
		         tr->initial_max_data, tr->max_window);
		rc = -EINVAL;
	}
	if (tr->initial_max_stream_data > tr->max_stream_window) {
		conf_err(x, t->line,
		         "tunnel.transport: initial_max_stream_data (%d) is above "
		         "max_stream_window (%d)",
		         tr->initial_max_stream_data, tr->max_stream_window);
		rc = -EINVAL;
	}
	return rc;
}

static int check_upstreams(struct conf_ctx *x, const struct conf *c)
{
	const struct conf_upstreams *u = &c->upstreams;
	if (!u->line || c->tunnel.role == TUNNEL_SERVER)
		return 0;
	if (c->tunnel.invalid)
		return 0; /* its role may be the one reported already */
	conf_err(x, u->line, "'upstreams' needs a tunnel section with role = \"server\"%s",
	         c->tunnel.role == TUNNEL_CLIENT ? " (this one is \"client\")" : "");
	return -EINVAL;
}

/* A listener via the tunnel: the tunnel client carries it; forward needs target. */
static int check_via_tunnel(struct conf_ctx *x, const struct conf *c, const struct conf_listener *l)
{
	int rc = 0;
	if (l->proto == PROTO_UDP) {
		conf_err(x, l->line,
		         "listener \"%s\": proto \"udp\" cannot go via the tunnel (TCP only)",
		         l->name);
		return -EINVAL;
	}
	if (!c->tunnel.line) {
		conf_err(x, l->line,
		         "listener \"%s\": via = \"tunnel\" needs a 'tunnel' section with role = "
		         "\"client\"",
		         l->name);
		rc = -EINVAL;
	} else if (c->tunnel.role == TUNNEL_SERVER && !c->tunnel.invalid) {
		conf_err(x, l->line,
		         "listener \"%s\": via = \"tunnel\" needs role = \"client\" in the tunnel "
		         "section (line %d), not \"server\"",
		         l->name, c->tunnel.line);
		rc = -EINVAL;
	}
	if (l->mode == MODE_FORWARD && !l->target) {
		conf_err(
		    x, l->line,
		    "listener \"%s\": mode \"forward\" via the tunnel needs 'target' (HOST:PORT "
		    "the peer connects to)",
		    l->name);
		rc = -EINVAL;
	} else if (l->mode != MODE_FORWARD && l->target) {
		conf_err(x, l->line, "listener \"%s\": 'target' applies to mode \"forward\"",
		         l->name);
		rc = -EINVAL;
	}
	if (l->backends.n) {
		conf_err(x, l->backends.v[0].line,
		         "listener \"%s\": 'backends' does not apply via the tunnel (the peer "
		         "connects to %s)",
		         l->name,
		         l->mode == MODE_FORWARD ? "'target'" : "what its 'upstreams' allow");
		rc = -EINVAL;
	}
	return rc;
}

static int check_listener(struct conf_ctx *x, const struct conf *c, const struct conf_listener *l)
{
	int rc = 0;
	if (l->via == VIA_TUNNEL) {
		rc = check_via_tunnel(x, c, l);
	} else if (l->mode == MODE_HTTP) {
		conf_err(x, l->line,
		         "listener \"%s\": mode \"%s\" without via = \"tunnel\" is not implemented "
		         "yet",
		         l->name, conf_mode_name(l->mode));
		rc = -EINVAL;
	} else if (l->target) {
		conf_err(x, l->line,
		         "listener \"%s\": 'target' applies to via = \"tunnel\" (direct forwards "
		         "use 'backends')",
		         l->name);
		rc = -EINVAL;
	}
	if (l->forwarded && l->mode != MODE_HTTP) {
		conf_err(x, l->line, "listener \"%s\": 'forwarded' applies to mode \"http\"",
		         l->name);
		rc = -EINVAL;
	}
	return rc;
}

int conf_check_tunnel(struct conf_ctx *x, struct conf *c)
{
	int rc = 0;
	/* A tunnel section whose own keys failed gets no follow-up messages. */
	if (c->tunnel.line && !c->tunnel.invalid) {
		if (check_role(x, &c->tunnel))
			rc = -EINVAL;
		if (check_transport(x, &c->tunnel))
			rc = -EINVAL;
	}
	if (check_upstreams(x, c))
		rc = -EINVAL;
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct conf_listener *l = c->listeners[i];
		/* A listener whose own keys failed gets no follow-up messages. */
		if (l->name && !l->invalid && check_listener(x, c, l))
			rc = -EINVAL;
	}
	return rc;
}

bool conf_tunnel_same(const struct conf *a, const struct conf *b)
{
	return conf_fields_equal(conf_tunnel_keys, conf_ntunnel_keys, &a->tunnel, &b->tunnel);
}
