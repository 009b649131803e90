/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's peers (see peer.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/peer.h"

/* Datagrams read per readiness event: a bound so one busy peer cannot
 * hold the loop; the rest are read in the next pass. */
#define PEER_RX_BURST 64

struct peer_set {
	struct loop *loop;
	int fd; /* -1: no mgmt_addr */
	uint8_t self_id;
	peer_recv_fn fn;
	peer_gone_fn gone;
	void *ctx;
	uint64_t unknown_source;
	unsigned count;
	struct peer peers[PROFILE_PEERS_MAX];
	uint8_t buf[RAFT_WIRE_MAX_LEN + 1]; /* +1: oversize is seen */
};

const char *const peer_drop_names[PEER_DROP_MAX] = {
#define PEER_DROP_NAME(name, text) [PEER_DROP_##name] = text,
	PEER_DROP_LIST(PEER_DROP_NAME)
#undef PEER_DROP_NAME
};

static struct peer *
peer_by_addr(struct peer_set *ps, const struct sockaddr_in *a)
{
	unsigned i;

	for (i = 0; i < ps->count; i++)
		if (ps->peers[i].mgmt.sin_addr.s_addr == a->sin_addr.s_addr &&
		    ps->peers[i].mgmt.sin_port == a->sin_port)
			return &ps->peers[i];
	return NULL;
}

static struct peer *
peer_by_id(struct peer_set *ps, uint8_t id)
{
	unsigned i;

	for (i = 0; i < ps->count; i++)
		if (ps->peers[i].id == id)
			return &ps->peers[i];
	return NULL;
}

/*
 * Read the socket's error queue (IP_RECVERR): an ICMP port unreachable
 * names, in msg_name, the peer a datagram of ours went to. Its host is up
 * and answered, but nothing listens on its mgmt port: that peer's
 * latch-control is gone, which a timeout would only say an election
 * timeout later. Other errors (host or net unreachable, which a lost
 * route also gives) are left to the timeouts.
 */
static void
peer_read_errors(struct peer_set *ps)
{
	unsigned i;

	for (i = 0; i < PEER_RX_BURST; i++) {
		union {
			char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
					    sizeof(struct sockaddr_in))];
			struct cmsghdr align;
		} control;
		struct sockaddr_in to;
		struct msghdr msg = {
			.msg_name = &to,
			.msg_namelen = sizeof(to),
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};
		struct cmsghdr *cm;
		struct peer *pr;

		if (recvmsg(ps->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		pr = peer_by_addr(ps, &to);
		if (pr == NULL)
			continue;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			const struct sock_extended_err *ee;

			if (cm->cmsg_level != IPPROTO_IP ||
			    cm->cmsg_type != IP_RECVERR)
				continue;
			ee = (const struct sock_extended_err *)CMSG_DATA(cm);
			if (ee->ee_origin != SO_EE_ORIGIN_ICMP ||
			    ee->ee_type != ICMP_DEST_UNREACH ||
			    ee->ee_code != ICMP_PORT_UNREACH)
				continue;
			pr->stats.refused++;
			if (ps->gone != NULL)
				ps->gone(ps->ctx, pr->id,
					 loop_now_ms(ps->loop));
		}
	}
}

static void
peer_readable(void *ctx, int fd, uint32_t events)
{
	struct peer_set *ps = ctx;
	struct raft_msg m;
	unsigned i;

	if (events & EPOLLERR)
		peer_read_errors(ps);
	for (i = 0; i < PEER_RX_BURST; i++) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		enum raft_wire_verdict v;
		struct peer *pr;
		ssize_t n;

		n = recvfrom(fd, ps->buf, sizeof(ps->buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			continue; /* a pending ICMP error, reported once */
		if (n < 0)
			return;
		pr = peer_by_addr(ps, &from);
		if (pr == NULL) {
			ps->unknown_source++;
			continue;
		}
		v = raft_wire_decode(ps->buf, (size_t)n, &m);
		if (v != RAFT_WIRE_V_OK) {
			pr->stats.decode_errors[v]++;
			continue;
		}
		if (m.from != pr->id) {
			pr->stats.drops[PEER_DROP_WRONG_FROM]++;
			continue;
		}
		if (m.to != ps->self_id) {
			pr->stats.drops[PEER_DROP_WRONG_TO]++;
			continue;
		}
		pr->stats.received++;
		pr->last_contact_ms = loop_now_ms(ps->loop);
		if (m.type != RAFT_WIRE_TYPE_PING && ps->fn != NULL)
			ps->fn(ps->ctx, &m, loop_now_ms(ps->loop));
	}
}

struct peer_set *
peer_create(struct loop *l, const struct profile *p, peer_recv_fn fn,
	    peer_gone_fn gone, void *ctx)
{
	struct sockaddr_in sa;
	struct peer_set *ps;
	unsigned i;
	int err, on = 1;

	ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return NULL;
	ps->loop = l;
	ps->fd = -1;
	ps->self_id = (uint8_t)p->node_id;
	ps->fn = fn;
	ps->gone = gone;
	ps->ctx = ctx;
	for (i = 0; i < p->peers_count; i++) {
		struct peer *pr = &ps->peers[i];

		snprintf(pr->name, sizeof(pr->name), "%s", p->peers[i].name);
		pr->id = (uint8_t)p->peers[i].id;
		pr->mgmt.sin_family = AF_INET;
		pr->mgmt.sin_addr.s_addr = p->peers[i].mgmt.addr_be;
		pr->mgmt.sin_port = htons(p->peers[i].mgmt.port);
		pr->data_be = p->peers[i].data_be;
	}
	ps->count = p->peers_count;
	if (p->control_mgmt.addr_be == 0)
		return ps;
	ps->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ps->fd < 0)
		goto free_set;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = p->control_mgmt.addr_be;
	sa.sin_port = htons(p->control_mgmt.port);
	if (bind(ps->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto close_fd;
	/* ICMP errors of an unconnected socket come only this way. */
	if (setsockopt(ps->fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on)) != 0)
		goto close_fd;
	err = loop_fd_add(l, ps->fd, EPOLLIN, peer_readable, ps);
	if (err != 0) {
		errno = -err;
		goto close_fd;
	}
	return ps;

close_fd:
	err = errno;
	close(ps->fd);
	errno = err;
free_set:
	err = errno;
	free(ps);
	errno = err;
	return NULL;
}

void
peer_destroy(struct peer_set *ps)
{
	if (ps == NULL)
		return;
	if (ps->fd >= 0) {
		loop_fd_del(ps->loop, ps->fd);
		close(ps->fd);
	}
	free(ps);
}

/*
 * sendto() that is not refused for an earlier datagram: with IP_RECVERR
 * the socket keeps the last ICMP error pending, and the next call on it
 * returns that error (clearing it) without sending. Our datagram to a
 * live peer must not be lost for a dead one's refusal, so it is sent
 * again once; the error itself was read from the error queue.
 */
static ssize_t
peer_sendto(struct peer_set *ps, const struct peer *pr, const void *buf,
	    size_t len)
{
	ssize_t n;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		n = sendto(ps->fd, buf, len, MSG_DONTWAIT,
			   (const struct sockaddr *)&pr->mgmt,
			   sizeof(pr->mgmt));
		if (n >= 0 || (errno != ECONNREFUSED && errno != EHOSTUNREACH &&
			       errno != ENETUNREACH))
			break;
	}
	return n;
}

int
peer_send(struct peer_set *ps, const struct raft_msg *m)
{
	uint8_t buf[RAFT_WIRE_MAX_LEN];
	struct peer *pr = peer_by_id(ps, m->to);
	int len;

	if (pr == NULL || ps->fd < 0)
		return -ENOENT;
	len = raft_wire_encode(m, buf, sizeof(buf));
	if (len < 0)
		return len;
	if (peer_sendto(ps, pr, buf, (size_t)len) != len) {
		pr->stats.send_errors++;
		return -errno;
	}
	pr->stats.sent++;
	return 0;
}

void
peer_ping_all(struct peer_set *ps, uint64_t now_ms, uint64_t slow_ms)
{
	struct raft_msg m;
	unsigned i;

	memset(&m, 0, sizeof(m));
	m.type = RAFT_WIRE_TYPE_PING;
	m.from = ps->self_id;
	for (i = 0; i < ps->count; i++) {
		struct peer *pr = &ps->peers[i];
		bool live = pr->last_contact_ms != 0 &&
			    now_ms - pr->last_contact_ms <= slow_ms;

		if (!live && pr->last_beacon_ms != 0 &&
		    now_ms - pr->last_beacon_ms < slow_ms)
			continue;
		pr->last_beacon_ms = now_ms;
		m.to = pr->id;
		(void)peer_send(ps, &m); /* counted per peer */
	}
}

unsigned
peer_count(const struct peer_set *ps)
{
	return ps->count;
}

const struct peer *
peer_at(const struct peer_set *ps, unsigned i)
{
	return i < ps->count ? &ps->peers[i] : NULL;
}

uint64_t
peer_unknown_source(const struct peer_set *ps)
{
	return ps->unknown_source;
}

enum peer_state
peer_state_at(const struct peer *pr, uint64_t now_ms, uint64_t start_ms,
	      uint64_t window_ms)
{
	if (pr->last_contact_ms != 0 &&
	    now_ms - pr->last_contact_ms <= window_ms)
		return PEER_UP;
	if (now_ms - start_ms > window_ms)
		return PEER_DOWN;
	return PEER_UNKNOWN;
}

const char *
peer_state_name(enum peer_state s)
{
	switch (s) {
	case PEER_UP:
		return "up";
	case PEER_DOWN:
		return "down";
	default:
		return "unknown";
	}
}
