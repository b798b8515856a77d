/*
 * The tunnel's UDP side: socket options (buffers, GRO, ECN, PMTU), receiving
 * GRO super-datagrams and handing each packet to its connection, and the
 * write loop that packs ngtcp2's packets into GSO batches, paced.
 */
#include "log.h"
#include "tunnel_int.h"

#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define RX_BUDGET 64 /* recvmsg calls per readiness event before yielding */

uint64_t tun_ts(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NGTCP2_SECONDS + (uint64_t)ts.tv_nsec;
}

/*
 * The UDP payload sizes PMTU discovery tries, in order, up to max: ngtcp2's
 * own list for common tunnelled and PPPoE paths, then Ethernet, jumbo frames
 * and larger (loopback, some virtual links), then max itself. A size that is
 * lost three times ends the climb. Return how many were written to out.
 */
size_t tun_pmtud_probes(size_t max, uint16_t *out, size_t cap)
{
	static const uint16_t ladder[] = {1406, 1342, 1232, 1444, 1452, 8952, 16336, 32720};
	size_t n = 0;
	for (size_t i = 0; i < sizeof(ladder) / sizeof(ladder[0]) && n < cap; i++)
		if (ladder[i] <= max)
			out[n++] = ladder[i];
	if (n < cap && (!n || out[n - 1] < max) && max > NGTCP2_MAX_UDP_PAYLOAD_SIZE)
		out[n++] = (uint16_t)max;
	return n;
}

int tio_socket(struct tunnel *t, int family)
{
	const struct conf_transport *tr = &t->tc->transport;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (tr->udp_rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &tr->udp_rcvbuf, sizeof(int)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tr->udp_rcvbuf, sizeof(int));
	if (tr->udp_sndbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &tr->udp_sndbuf, sizeof(int)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &tr->udp_sndbuf, sizeof(int));
	if (t->gro && setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one))) {
		log_warn("tunnel: UDP_GRO unavailable (%s); receiving datagram by datagram",
		         strerror(errno));
		t->gro = false;
	}
	/* ECN marks arrive as cmsgs; DF set so that PMTU discovery probes mean something. */
	if (family == AF_INET) {
		int pmtu = IP_PMTUDISC_PROBE;
		setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	} else {
		int pmtu = IPV6_PMTUDISC_PROBE;
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	}
	return fd;
}

/* Fill h with the cmsg that makes a reply leave from local (a server on a
 * wildcard address). Return the control bytes used. */
static size_t put_source(struct cmsghdr *h, const struct addr *local)
{
	if (addr_family(local) == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst = local->u.in4.sin_addr};
		h->cmsg_level = IPPROTO_IP;
		h->cmsg_type = IP_PKTINFO;
		h->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(h), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	struct in6_pktinfo pi = {.ipi6_addr = local->u.in6.sin6_addr};
	h->cmsg_level = IPPROTO_IPV6;
	h->cmsg_type = IPV6_PKTINFO;
	h->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(h), &pi, sizeof(pi));
	return CMSG_SPACE(sizeof(pi));
}

/* Send one batch: nseg packets of seglen bytes (the last may be shorter). */
static void tio_send(struct tconn *c, const uint8_t *buf, size_t len, size_t seglen, size_t nseg,
                     int ecn)
{
	struct tunnel *t = c->t;
	int fd = t->udp.fd;
	if (ecn != c->ecn) {
		/* The ECN codepoint lives in the TOS/traffic class byte. */
		if (addr_family(&c->remote) == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_TOS, &ecn, sizeof(ecn));
		else
			setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &ecn, sizeof(ecn));
		c->ecn = ecn;
	}
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf};
	struct cmsghdr *h = (struct cmsghdr *)cm.buf;
	if (t->server) {
		m.msg_name = (void *)&c->remote.u.sa;
		m.msg_namelen = c->remote.len;
	}
	if (nseg > 1) {
		h->cmsg_level = IPPROTO_UDP;
		h->cmsg_type = UDP_SEGMENT;
		h->cmsg_len = CMSG_LEN(sizeof(uint16_t));
		uint16_t s = (uint16_t)seglen;
		memcpy(CMSG_DATA(h), &s, sizeof(s));
		m.msg_controllen += CMSG_SPACE(sizeof(uint16_t));
		h = (struct cmsghdr *)(cm.buf + m.msg_controllen);
	}
	if (t->server && t->pktinfo)
		m.msg_controllen += put_source(h, &c->local);
	if (!m.msg_controllen)
		m.msg_control = NULL;
	ssize_t n = sendmsg(fd, &m, 0);
	if (n >= 0) {
		t->st.bytes_tx += (uint64_t)n;
		return;
	}
	if (nseg > 1 && (errno == EIO || errno == EINVAL)) {
		/* The device cannot segment: fall back to one datagram per packet. */
		log_warn("tunnel: UDP GSO refused (%s); sending datagram by datagram",
		         strerror(errno));
		t->gso = false;
		for (size_t off = 0; off < len; off += seglen)
			tio_send(c, buf + off, len - off < seglen ? len - off : seglen, seglen, 1,
			         ecn);
		return;
	}
	/* EAGAIN and the like: the packets are lost, QUIC's recovery resends them. */
	log_debug("tunnel: sendmsg: %s", strerror(errno));
}

static void tconn_arm(struct tconn *c)
{
	uint64_t exp = ngtcp2_conn_get_expiry(c->conn), now = tun_ts();
	uint64_t ms = exp <= now ? 0 : (exp - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS;
	if (exp == UINT64_MAX)
		ms = 3600000;
	loop_timer_set(c->t->loop, &c->timer, ms);
}

/* Ask nghttp3 for the next stream data to send. Return vec count or < 0. */
static nghttp3_ssize next_h3_data(struct tconn *c, int64_t *sid, int *fin, nghttp3_vec *vec,
                                  size_t n)
{
	*sid = -1;
	*fin = 0;
	if (!c->h3 || !ngtcp2_conn_get_max_data_left(c->conn))
		return 0;
	return nghttp3_conn_writev_stream(c->h3, sid, fin, vec, n);
}

int tconn_write(struct tconn *c)
{
	struct tunnel *t = c->t;
	if (c->state >= TC_CLOSING)
		return 0;
	uint64_t ts = tun_ts();
	/* Room for the largest packet (a PMTU probe); batches sized by the path's. */
	size_t mtu = ngtcp2_conn_get_max_tx_udp_payload_size(c->conn);
	size_t quantum = ngtcp2_conn_get_send_quantum(c->conn) /
	                 ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
	size_t maxseg = t->gso ? TUN_TX_BATCH : 1;
	if (quantum < maxseg)
		maxseg = quantum ? quantum : 1;
	uint8_t *base = t->txbuf, *p = base;
	size_t nseg = 0, seglen = 0, lim = 1; /* lim: segments this batch may hold */
	size_t npkts = 0;                     /* written in this call, of maxseg */
	int becn = 0;
	ngtcp2_path_storage ps;
	ngtcp2_path_storage_zero(&ps);
	for (;;) {
		int64_t sid;
		int fin;
		nghttp3_vec vec[16];
		nghttp3_ssize nvec = next_h3_data(c, &sid, &fin, vec, 16);
		if (nvec < 0) {
			tconn_fail(c, nghttp3_strerror((int)nvec));
			return -EPROTO;
		}
		ngtcp2_ssize ndata = -1;
		ngtcp2_pkt_info pi;
		uint32_t flags =
		    NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
		ngtcp2_ssize nw =
		    ngtcp2_conn_writev_stream(c->conn, &ps.path, &pi, p, mtu, &ndata, flags, sid,
		                              (const ngtcp2_vec *)vec, (size_t)nvec, ts);
		if (nw < 0) {
			switch (nw) {
			case NGTCP2_ERR_STREAM_DATA_BLOCKED:
				nghttp3_conn_block_stream(c->h3, sid);
				continue;
			case NGTCP2_ERR_STREAM_SHUT_WR:
				nghttp3_conn_shutdown_stream_write(c->h3, sid);
				continue;
			case NGTCP2_ERR_WRITE_MORE:
				if (nghttp3_conn_add_write_offset(c->h3, sid, (uint64_t)ndata)) {
					tconn_fail(c, "nghttp3 write offset");
					return -EPROTO;
				}
				continue;
			default:
				ngtcp2_ccerr_set_liberr(&c->ccerr, (int)nw, NULL, 0);
				tconn_fail(c, ngtcp2_strerror((int)nw));
				return -EPROTO;
			}
		}
		if (ndata >= 0 && nghttp3_conn_add_write_offset(c->h3, sid, (uint64_t)ndata)) {
			tconn_fail(c, "nghttp3 write offset");
			return -EPROTO;
		}
		if (nw == 0)
			break;
		if (nseg && ((size_t)nw > seglen || pi.ecn != becn)) {
			/* A GSO batch is equal segments (the last may be shorter), one ECN
			 * mark, at most one IP datagram's worth of bytes. */
			tio_send(c, base, (size_t)(p - base), seglen, nseg, becn);
			memmove(base, p, (size_t)nw);
			p = base;
			nseg = 0;
		}
		if (!nseg) {
			seglen = (size_t)nw;
			becn = pi.ecn;
			lim = TUN_GSO_MAX / seglen < maxseg ? TUN_GSO_MAX / seglen : maxseg;
			if (!lim)
				lim = 1;
		}
		p += nw;
		nseg++;
		npkts++;
		if ((size_t)nw < seglen || nseg >= lim || npkts >= maxseg) {
			bool full = npkts >= maxseg;
			tio_send(c, base, (size_t)(p - base), seglen, nseg, becn);
			p = base;
			nseg = 0;
			if (full) {
				/* A send quantum is out: let other events run, then go on
				 * (pacing at the loop's pace; its timers are too coarse). */
				loop_pending_add(t->loop, &c->tx_more);
				break;
			}
		}
	}
	if (nseg)
		tio_send(c, base, (size_t)(p - base), seglen, nseg, becn);
	ngtcp2_conn_update_pkt_tx_time(c->conn, ts);
	tconn_arm(c);
	return 0;
}

/* Timer: loss detection, delayed acks, idle timeout, pacing. */
void tconn_timer_cb(struct loop *l, struct loop_timer *tm)
{
	struct tconn *c = container_of(tm, struct tconn, timer);
	if (c->state >= TC_CLOSING)
		return;
	int rv = ngtcp2_conn_handle_expiry(c->conn, tun_ts());
	if (rv) {
		if (rv == NGTCP2_ERR_IDLE_CLOSE)
			tconn_gone(c, "idle timeout: no packet from the peer");
		else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT)
			tconn_gone(c, "handshake timeout");
		else
			tconn_gone(c, ngtcp2_strerror(rv));
		return;
	}
	tconn_write(c);
}

/* Find the connection a packet with this destination CID belongs to. */
static struct tconn *find_conn(struct tunnel *t, const uint8_t *dcid, size_t len)
{
	for (struct tconn *c = t->conns; c; c = c->next) {
		if (c->state == TC_DEAD)
			continue;
		if (c->odcid.datalen == len && !memcmp(c->odcid.data, dcid, len))
			return c;
		ngtcp2_cid ids[16];
		size_t n = ngtcp2_conn_get_scid(c->conn, NULL);
		if (n > 16)
			n = 16;
		ngtcp2_conn_get_scid(c->conn, ids);
		for (size_t i = 0; i < n; i++)
			if (ids[i].datalen == len && !memcmp(ids[i].data, dcid, len))
				return c;
	}
	return NULL;
}

static void deliver(struct tunnel *t, const struct addr *from, const struct addr *to,
                    const uint8_t *pkt, size_t len, int ecn)
{
	struct tconn *c = NULL;
	if (!t->server) {
		c = t->client;
	} else {
		ngtcp2_version_cid vc;
		int rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, TUN_SCID_LEN);
		if (rv)
			return; /* not QUIC, or a version we do not speak: ignore */
		c = find_conn(t, vc.dcid, vc.dcidlen);
		if (!c) {
			c = tconn_accept(t, from, to, pkt, len);
			if (!c)
				return;
		}
	}
	if (!c || c->state >= TC_CLOSING)
		return;
	if (t->server && !addr_equal(from, &c->remote))
		c->remote = *from; /* the peer's NAT rebinding: ngtcp2 validates the path */
	if (t->server && !addr_equal(to, &c->local))
		c->local = *to; /* the peer migrated to another of our addresses */
	ngtcp2_path path = {
	    .local = {.addr = &c->local.u.sa, .addrlen = c->local.len},
	    .remote = {.addr = (struct sockaddr *)&from->u.sa, .addrlen = from->len},
	};
	ngtcp2_pkt_info pi = {.ecn = (uint8_t)ecn};
	int rv = ngtcp2_conn_read_pkt(c->conn, &path, &pi, pkt, len, tun_ts());
	if (rv)
		tconn_read_error(c, rv);
	c->dirty = true;
}

void tio_recv_cb(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct tunnel *t = container_of(io, struct tunnel, udp);
	for (int i = 0; i < RX_BUDGET; i++) {
		struct addr from = {0}, to = t->bind;
		struct iovec iov = {.iov_base = t->rxbuf, .iov_len = TUN_RX_BUF};
		union {
			char buf[CMSG_SPACE(sizeof(int)) * 3 +
			         CMSG_SPACE(sizeof(struct in6_pktinfo))];
			struct cmsghdr align;
		} cm;
		struct msghdr m = {.msg_name = &from.u.ss,
		                   .msg_namelen = sizeof(from.u.ss),
		                   .msg_iov = &iov,
		                   .msg_iovlen = 1,
		                   .msg_control = cm.buf,
		                   .msg_controllen = sizeof(cm.buf)};
		ssize_t n = recvmsg(io->fd, &m, 0);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("tunnel: recvmsg: %s", strerror(errno));
			if (errno != EINTR)
				break;
			continue;
		}
		from.len = m.msg_namelen;
		t->st.bytes_rx += (uint64_t)n;
		size_t seg = (size_t)n;
		int ecn = 0;
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
			int v = 0;
			if (h->cmsg_level == IPPROTO_UDP && h->cmsg_type == UDP_GRO) {
				memcpy(&v, CMSG_DATA(h), sizeof(v));
				if (v > 0)
					seg = (size_t)v;
			} else if ((h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_TOS)) {
				ecn = *(unsigned char *)CMSG_DATA(h) & 3;
			} else if (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_TCLASS) {
				memcpy(&v, CMSG_DATA(h), sizeof(v));
				ecn = v & 3;
			} else if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(h), sizeof(pi));
				to.u.in4.sin_addr = pi.ipi_addr;
			} else if (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;
				memcpy(&pi, CMSG_DATA(h), sizeof(pi));
				to.u.in6.sin6_addr = pi.ipi6_addr;
			}
		}
		for (size_t off = 0; off < (size_t)n; off += seg)
			deliver(t, &from, &to, t->rxbuf + off,
			        (size_t)n - off < seg ? (size_t)n - off : seg, ecn);
		if (i == RX_BUDGET - 1)
			loop_pending_add(l, &t->rx_more);
	}
	tun_flush(t);
}
