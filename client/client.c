/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * liblatch over kernel UDP sockets (include/latch/client.h).
 *
 * One socket carries the caller's requests, their answers and the
 * server's notifications; calls on it are serialized by c->lock. When
 * sessions are on, a keepalive thread refreshes them from a second socket
 * of its own, so a caller blocked in a long wait never lets its sessions
 * lapse. Every datagram received goes through latch_wire_decode() and is
 * dropped unless it is valid, comes from the server's address and carries
 * our client id.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <latch/client.h>

#include "common/wire.h"

/*
 * WRONG_PARTITION answers followed within one call. One is enough when
 * the server's count is stable; a few more ride out a resize.
 */
#define CLIENT_REDIRECTS_MAX 4
/*
 * NOT_LEADER answers naming a leader followed within one call
 * (docs/protocol.md, "Redirects"). One is enough when the follower knows
 * the leader; the others ride out an election that moves it again while
 * we travel. More would mean nodes pointing at each other: a loop.
 */
#define CLIENT_LEADER_REDIRECTS_MAX 3
/*
 * First wait after NOT_LEADER with no leader known, doubled at each such
 * answer of one call up to CLIENT_NO_LEADER_WAIT_MAX_MS: a Raft election
 * takes one or two election timeouts (150-300 ms each, DESIGN.md), so the
 * default 5 retries wait about 1.5 s in all before giving up.
 */
#define CLIENT_NO_LEADER_WAIT_MS     50
#define CLIENT_NO_LEADER_WAIT_MAX_MS 800
/* Notifications remembered to queue each only once: the server keeps
 * retransmitting one until ACKed, a few round trips at most. */
#define CLIENT_SEEN_MAX 32
/* Datagrams drained per wake-up of the keepalive thread: bounds its loop. */
#define CLIENT_DRAIN_MAX 64
#define NS_PER_MS        1000000ull

/* A notification already ACKed: (request_id, token, op) identifies it. */
struct client_seen {
	uint64_t request_id;
	uint64_t token;
	uint8_t op;
};

struct latch_client {
	pthread_mutex_t lock; /* serializes calls on sock */
	int sock;
	/* The server: IPv4 address (host order) in bits 0-31, base port in
	 * bits 32-47, the layout of a NOT_LEADER answer's holder. Atomic:
	 * written by calls (under lock) on a redirect, read by the
	 * keepalive thread too. */
	uint64_t server_ep;
	bool forward;        /* LATCH_F_FORWARD on every request */
	uint16_t partitions; /* >= 1; written under lock, read atomically */
	uint64_t client_id;
	uint32_t timeout_ms;
	uint32_t retries;
	bool session;
	uint32_t session_ms;
	uint64_t request_next; /* atomic: both sockets draw request ids */

	/* Queued notifications and those already seen (ev_lock). */
	pthread_mutex_t ev_lock;
	struct latch_event events[LATCH_CLIENT_EVENTS_MAX];
	unsigned events_head;
	unsigned events_count;
	struct client_seen seen[CLIENT_SEEN_MAX];
	unsigned seen_next;

	/* Sessions: bit p set when partition p's session was opened. */
	uint64_t session_mask;       /* atomic */
	uint32_t session_granted_ms; /* atomic: shortest timeout answered */
	bool keepalive_running;
	pthread_t keepalive_thread;
	int keepalive_sock;
	int keepalive_stop_fd; /* eventfd: written once to stop the thread */
};

_Static_assert(LATCH_PARTITIONS_MAX <= 64, "session mask is one uint64_t");

/* What one call asks: the request's fields before ids and partition. */
struct client_req {
	uint8_t op;
	uint16_t flags;
	uint16_t partition; /* keyless ops only; keyed ops compute it */
	const uint8_t *key;
	uint16_t key_len;
	uint64_t token;
	uint32_t lease_ms;
	uint32_t wait_ms;
};

static uint64_t
client_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
client_next_request_id(struct latch_client *c)
{
	return __atomic_fetch_add(&c->request_next, 1, __ATOMIC_RELAXED);
}

static uint16_t
client_partitions_get(const struct latch_client *c)
{
	return __atomic_load_n(&c->partitions, __ATOMIC_RELAXED);
}

static uint64_t
client_ep_make(uint32_t addr_host, uint16_t port_base)
{
	return (uint64_t)addr_host | (uint64_t)port_base << 32;
}

static uint64_t
client_ep_get(const struct latch_client *c)
{
	return __atomic_load_n(&c->server_ep, __ATOMIC_RELAXED);
}

/* The server's address in network order, for sockaddr_in. */
static uint32_t
client_ep_addr(uint64_t ep)
{
	return htonl((uint32_t)ep);
}

static uint16_t
client_ep_port(uint64_t ep)
{
	return (uint16_t)(ep >> 32);
}

/*
 * Whether @holder of a NOT_LEADER answer names a leader we can reach:
 * bits 48-63 zero, an address, and a base port that leaves room for every
 * partition's port (as client_parse_server() demands of ours).
 */
static bool
client_ep_valid(uint64_t holder)
{
	uint16_t port = client_ep_port(holder);

	return (holder >> 48) == 0 && (uint32_t)holder != 0 && port != 0 &&
	       port <= 65535u - (LATCH_PARTITIONS_MAX - 1);
}

void
latch_client_config_default(struct latch_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ms = LATCH_CLIENT_TIMEOUT_MS_DEFAULT;
	cfg->retries = LATCH_CLIENT_RETRIES_DEFAULT;
	cfg->session = true;
	cfg->session_ms = LATCH_CLIENT_SESSION_MS_DEFAULT;
}

/*
 * Parse "ADDR[:PORT]" into @addr and @port_base. IPv4 only: latchd's
 * dataplane answers on IPv4 (dataplane/worker.h). Returns 0 or -EINVAL.
 */
static int
client_parse_server(const char *server, struct sockaddr_in *addr,
		    uint16_t *port_base)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon = strrchr(server, ':');
	size_t host_len =
		colon != NULL ? (size_t)(colon - server) : strlen(server);
	unsigned long port = LATCH_PORT_BASE_DEFAULT;

	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, server, host_len);
	host[host_len] = '\0';
	if (colon != NULL) {
		char *end;

		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0)
			return -EINVAL;
	}
	/* Every partition's port must exist: base + LATCH_PARTITIONS_MAX - 1. */
	if (port == 0 || port > 65535u - (LATCH_PARTITIONS_MAX - 1))
		return -EINVAL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return -EINVAL;
	memcpy(addr, res->ai_addr, sizeof(*addr));
	freeaddrinfo(res);
	*port_base = (uint16_t)port;
	return 0;
}

static uint64_t
client_random_id(void)
{
	uint64_t id = 0;

	while (id == 0) {
		if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
			/* No entropy source: mix clock and pid, still non-zero
			 * with overwhelming odds, and the loop guarantees it. */
			id = client_now_ns() ^ ((uint64_t)getpid() << 32);
		}
	}
	return id;
}

static int
client_send(struct latch_client *c, int fd, const void *buf, size_t len,
	    uint16_t partition)
{
	uint64_t ep = client_ep_get(c);
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = client_ep_addr(ep),
	};

	if (partition >= LATCH_PARTITIONS_MAX)
		return -EINVAL;
	to.sin_port = htons((uint16_t)(client_ep_port(ep) + partition));
	if (sendto(fd, buf, len, 0, (const struct sockaddr *)&to, sizeof(to)) <
	    0)
		return -errno;
	return 0;
}

/*
 * Whether a datagram from @from comes from the server we talk to now: its
 * address and one of its partition ports. After a redirect, late answers
 * of the node we left (same address in a one-machine lab, other ports)
 * are not taken for the leader's.
 */
static bool
client_from_server(const struct latch_client *c, const struct sockaddr_in *from,
		   socklen_t from_len)
{
	uint64_t ep = client_ep_get(c);
	uint16_t port;

	if (from_len < sizeof(*from) || from->sin_family != AF_INET ||
	    from->sin_addr.s_addr != client_ep_addr(ep))
		return false;
	port = ntohs(from->sin_port);
	return port >= client_ep_port(ep) &&
	       port < client_ep_port(ep) + LATCH_PARTITIONS_MAX;
}

/*
 * A follower named the leader @holder: talk to it from now on. Sessions
 * live on one node, so the ones we had are left to expire on the node we
 * leave; the next call bound to a session gets NO_SESSION from the leader
 * and opens one there. Under c->lock.
 */
static void
client_server_switch(struct latch_client *c, uint64_t holder)
{
	__atomic_store_n(&c->server_ep, holder, __ATOMIC_RELAXED);
	__atomic_store_n(&c->session_mask, 0, __ATOMIC_RELAXED);
}

/*
 * A GRANTED or LOST from another node than ours: in a replicated cluster a
 * new leader notifies the waiters and holders it inherited, from its own
 * address (docs/protocol.md, "Redirects"). Take it, and talk to that node
 * from now on, as a NOT_LEADER naming it would have made us do; anything
 * else from a stranger is dropped. Returns whether @m is taken.
 */
static bool
client_follow_notifier(struct latch_client *c, const struct latch_wire_msg *m,
		       const struct sockaddr_in *from)
{
	uint16_t port = ntohs(from->sin_port);
	uint64_t ep;

	if (m->reply || (m->op != LATCH_OP_GRANTED && m->op != LATCH_OP_LOST) ||
	    from->sin_family != AF_INET || port < m->partition)
		return false;
	ep = client_ep_make(ntohl(from->sin_addr.s_addr),
			    (uint16_t)(port - m->partition));
	if (!client_ep_valid(ep))
		return false;
	client_server_switch(c, ep);
	return true;
}

/*
 * Wait until @deadline_ns (UINT64_MAX: forever; a passed deadline still
 * takes what already arrived) for one valid datagram addressed to us on
 * @fd. Returns 1 with @m decoded from @buf (LATCH_MSG_MAX_LEN + 1 bytes;
 * m->key points into it), 0 at the deadline, -errno on a socket error.
 */
static int
client_recv(struct latch_client *c, int fd, uint64_t deadline_ns, uint8_t *buf,
	    struct latch_wire_msg *m)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct sockaddr_in from;
		socklen_t from_len = sizeof(from);
		bool from_server;
		int wait_ms = -1;
		ssize_t n;
		int rc;

		if (deadline_ns != UINT64_MAX) {
			uint64_t now = client_now_ns();

			wait_ms = now >= deadline_ns
					  ? 0
					  : (int)((deadline_ns - now +
						   NS_PER_MS - 1) /
						  NS_PER_MS);
		}
		rc = poll(&pfd, 1, wait_ms);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (rc == 0)
			return 0;
		/* One byte more than the longest message, so an oversized
		 * datagram is seen as such instead of silently cut. */
		n = recvfrom(fd, buf, LATCH_MSG_MAX_LEN + 1, MSG_DONTWAIT,
			     (struct sockaddr *)&from, &from_len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK || errno == ECONNREFUSED)
				continue;
			return -errno;
		}
		from_server = client_from_server(c, &from, from_len);
		if (latch_wire_decode(buf, (size_t)n, 0, m) != LATCH_WIRE_OK)
			continue;
		if (m->client_id != c->client_id)
			continue;
		if (!from_server && !client_follow_notifier(c, m, &from))
			continue;
		return 1;
	}
}

static bool
client_is_notification(const struct latch_wire_msg *m)
{
	return !m->reply &&
	       (m->op == LATCH_OP_GRANTED || m->op == LATCH_OP_LOST);
}

/*
 * ACK notification @m on @fd (to its partition's port) and remember it.
 * Returns true the first time this notification (request id, token, op)
 * is seen, false for a retransmission. Any thread holding its socket.
 */
static bool
client_ack(struct latch_client *c, int fd, const struct latch_wire_msg *m)
{
	struct latch_wire_msg ack = {
		.op = LATCH_OP_ACK,
		.partition = m->partition,
		.key_len = m->key_len,
		.key = m->key,
		.client_id = c->client_id,
		.request_id = m->request_id,
		.token = m->token,
	};
	uint8_t buf[LATCH_MSG_MAX_LEN];
	size_t len = latch_wire_encode(&ack, buf, sizeof(buf));
	bool fresh = true;
	unsigned i;

	/* Best effort: a lost ACK makes the server send the notification
	 * again, and it is ACKed then. */
	if (len != 0)
		(void)client_send(c, fd, buf, len, m->partition);

	pthread_mutex_lock(&c->ev_lock);
	for (i = 0; i < CLIENT_SEEN_MAX; i++) {
		const struct client_seen *s = &c->seen[i];

		if (s->op == m->op && s->request_id == m->request_id &&
		    s->token == m->token) {
			fresh = false;
			break;
		}
	}
	if (fresh) {
		c->seen[c->seen_next] = (struct client_seen){
			.request_id = m->request_id,
			.token = m->token,
			.op = m->op,
		};
		c->seen_next = (c->seen_next + 1) % CLIENT_SEEN_MAX;
	}
	pthread_mutex_unlock(&c->ev_lock);
	return fresh;
}

/* Queue notification @m for latch_poll_event(); the oldest goes if full. */
static void
client_event_push(struct latch_client *c, const struct latch_wire_msg *m)
{
	struct latch_event *ev;
	unsigned slot;

	pthread_mutex_lock(&c->ev_lock);
	if (c->events_count == LATCH_CLIENT_EVENTS_MAX) {
		c->events_head = (c->events_head + 1) % LATCH_CLIENT_EVENTS_MAX;
		c->events_count--;
	}
	slot = (c->events_head + c->events_count) % LATCH_CLIENT_EVENTS_MAX;
	ev = &c->events[slot];
	memset(ev, 0, sizeof(*ev));
	ev->op = m->op;
	ev->status = m->status;
	ev->flags = m->flags & LATCH_F_SHARED;
	ev->token = m->token;
	ev->request_id = m->request_id;
	ev->lease_ms = m->lease_ms;
	ev->key_len = m->key_len;
	memcpy(ev->key, m->key, m->key_len);
	c->events_count++;
	pthread_mutex_unlock(&c->ev_lock);
}

static bool
client_event_pop(struct latch_client *c, struct latch_event *ev)
{
	bool got = false;

	pthread_mutex_lock(&c->ev_lock);
	if (c->events_count != 0) {
		*ev = c->events[c->events_head];
		c->events_head = (c->events_head + 1) % LATCH_CLIENT_EVENTS_MAX;
		c->events_count--;
		got = true;
	}
	pthread_mutex_unlock(&c->ev_lock);
	return got;
}

/* ACK notification @m and queue it unless it was seen before. */
static void
client_notification_stray(struct latch_client *c, int fd,
			  const struct latch_wire_msg *m)
{
	if (client_ack(c, fd, m))
		client_event_push(c, m);
}

static void
client_result_fill(struct latch_result *out, const struct latch_wire_msg *m)
{
	memset(out, 0, sizeof(*out));
	out->status = m->status;
	/* REPLICA: a follower answered a QUERY from its applied state. */
	out->flags = m->flags & (LATCH_F_SHARED | LATCH_F_REPLICA);
	out->token = m->token;
	out->lease_ms = m->lease_ms;
	if (m->reply) {
		out->count = m->count;
		out->holder = m->holder;
		if (m->op == LATCH_OP_QUERY)
			out->waiters = m->wait_ms;
	}
}

/* The server told us its partition count: adopt it. Under c->lock. */
static void
client_partitions_set(struct latch_client *c, uint16_t partitions)
{
	uint64_t keep = partitions >= 64 ? ~0ull : (1ull << partitions) - 1;

	__atomic_store_n(&c->partitions, partitions, __ATOMIC_RELAXED);
	/* Sessions of partitions that no longer exist need no keepalive. */
	__atomic_fetch_and(&c->session_mask, keep, __ATOMIC_RELAXED);
}

static int client_call(struct latch_client *c, const struct client_req *rq,
		       struct latch_result *out);

/*
 * Open (or refresh) the session of @partition, synchronously. Under
 * c->lock. Returns 0 once the server answered OK.
 */
static int
client_session_open(struct latch_client *c, uint16_t partition)
{
	struct client_req rq = {
		.op = LATCH_OP_KEEPALIVE,
		.partition = partition,
		.lease_ms = c->session_ms,
	};
	struct latch_result r;
	uint32_t granted;
	int rc;

	rc = client_call(c, &rq, &r);
	if (rc < 0)
		return rc;
	if (r.status != LATCH_S_OK)
		return -EPROTO;
	/* The server may cut the timeout (its session_max_ms): refresh at a
	 * third of what it granted, not of what we asked. */
	granted = r.lease_ms != 0 ? r.lease_ms : c->session_ms;
	if (granted < __atomic_load_n(&c->session_granted_ms, __ATOMIC_RELAXED))
		__atomic_store_n(&c->session_granted_ms, granted,
				 __ATOMIC_RELAXED);
	__atomic_fetch_or(&c->session_mask, 1ull << partition,
			  __ATOMIC_RELAXED);
	return 0;
}

/*
 * After QUEUED for the waiting acquire @req: wait for its GRANTED
 * notification, ACK it and return its status in @out (0). Returns -EAGAIN
 * when the local wait (the server's wait plus a margin) ran out, so the
 * caller asks again with the same request id; -errno on socket errors.
 */
static int
client_wait_granted(struct latch_client *c, const struct latch_wire_msg *req,
		    const struct latch_wire_msg *queued,
		    struct latch_result *out)
{
	uint8_t buf[LATCH_MSG_MAX_LEN + 1];
	struct latch_wire_msg m;
	uint64_t wait_ms, deadline;
	int rc;

	/* The server may say how long it keeps us queued (its wait_max
	 * cut); else what we asked; else the longest default we expect. */
	wait_ms = queued->wait_ms != 0 ? queued->wait_ms
		  : req->wait_ms != 0  ? req->wait_ms
				       : LATCH_CLIENT_WAIT_MS_DEFAULT;
	deadline = client_now_ns() +
		   (wait_ms + LATCH_CLIENT_WAIT_MARGIN_MS) * NS_PER_MS;
	for (;;) {
		rc = client_recv(c, c->sock, deadline, buf, &m);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return -EAGAIN;
		if (client_is_notification(&m)) {
			if (m.op == LATCH_OP_GRANTED &&
			    m.request_id == req->request_id) {
				(void)client_ack(c, c->sock, &m);
				client_result_fill(out, &m);
				return 0;
			}
			client_notification_stray(c, c->sock, &m);
			continue;
		}
		/* A late copy of an answer to our acquire: QUEUED again says
		 * nothing new; anything else is the wait's outcome. */
		if (m.reply && m.op == req->op &&
		    m.request_id == req->request_id &&
		    m.status != LATCH_S_QUEUED) {
			client_result_fill(out, &m);
			return 0;
		}
	}
}

/*
 * Send request @rq and wait for its answer, with retries, partition
 * discovery, session opening and the wait for a queued acquire
 * (client.h). Under c->lock. Returns 0 with @out filled, or -errno.
 */
static int
client_call(struct latch_client *c, const struct client_req *rq,
	    struct latch_result *out)
{
	uint8_t tx[LATCH_MSG_MAX_LEN], rx[LATCH_MSG_MAX_LEN + 1];
	struct latch_wire_msg req = {
		.op = rq->op,
		.flags = rq->flags | (c->forward ? LATCH_F_FORWARD : 0),
		.partition = rq->partition,
		.key_len = rq->key_len,
		.key = rq->key,
		.client_id = c->client_id,
		.token = rq->token,
		.lease_ms = rq->lease_ms,
		.wait_ms = rq->wait_ms,
	};
	bool keyed = latch_wire_op_is_keyed(rq->op);
	bool waiting = rq->op == LATCH_OP_ACQUIRE && (rq->flags & LATCH_F_WAIT);
	unsigned redirects = 0, wait_rounds = 0, leader_redirects = 0;
	uint32_t no_leader_wait_ms = CLIENT_NO_LEADER_WAIT_MS;
	bool session_tried = false, have_not_leader = false;
	struct latch_result not_leader;
	int last_err = -ETIMEDOUT;
	struct latch_wire_msg m;
	uint64_t deadline;
	uint32_t attempt;
	size_t len;
	int rc;

	req.request_id = client_next_request_id(c);
resolve:
	if (keyed)
		req.partition = latch_key_partition(req.key, req.key_len,
						    client_partitions_get(c));
	len = latch_wire_encode(&req, tx, sizeof(tx));
	if (len == 0)
		return -EINVAL;
	attempt = 0;
resend:
	if (attempt > c->retries) {
		/* The last answer said no leader is known: that is what
		 * the caller learns, not a silence. */
		if (have_not_leader) {
			*out = not_leader;
			return 0;
		}
		return last_err;
	}
	attempt++;
	rc = client_send(c, c->sock, tx, len, req.partition);
	/* A failed send is a lost attempt; report its error only if no
	 * attempt gets an answer. */
	last_err = rc < 0 ? rc : -ETIMEDOUT;
	deadline = client_now_ns() + c->timeout_ms * NS_PER_MS;
	for (;;) {
		rc = client_recv(c, c->sock, deadline, rx, &m);
		if (rc < 0)
			return rc;
		if (rc == 0)
			goto resend;
		if (client_is_notification(&m)) {
			/* A GRANTED may overtake the QUEUED it follows. */
			if (waiting && m.op == LATCH_OP_GRANTED &&
			    m.request_id == req.request_id) {
				(void)client_ack(c, c->sock, &m);
				client_result_fill(out, &m);
				return 0;
			}
			client_notification_stray(c, c->sock, &m);
			continue;
		}
		if (!m.reply || m.op != req.op ||
		    m.request_id != req.request_id)
			continue; /* an answer to an older request */

		switch (m.status) {
		case LATCH_S_WRONG_PARTITION:
			/* The answer's count is the server's partition count
			 * (docs/protocol.md); the server recorded nothing, so
			 * the same request id may be sent again. */
			if (m.count == 0 || m.count > LATCH_PARTITIONS_MAX ||
			    m.count == client_partitions_get(c))
				break;
			client_partitions_set(c, (uint16_t)m.count);
			if (keyed && redirects++ < CLIENT_REDIRECTS_MAX)
				goto resolve;
			break;
		case LATCH_S_NO_SESSION:
			if (!(req.flags & LATCH_F_SESSION) || session_tried)
				break;
			session_tried = true;
			if (client_session_open(c, req.partition) != 0)
				break;
			/* NO_SESSION may sit in the server's dedup window:
			 * nothing was granted, so a fresh id is safe. */
			req.request_id = client_next_request_id(c);
			goto resolve;
		case LATCH_S_NOT_LEADER:
			/* The follower recorded nothing: the same request id
			 * goes to the leader (docs/protocol.md, Redirects). */
			if (client_ep_valid(m.holder)) {
				if (leader_redirects >=
				    CLIENT_LEADER_REDIRECTS_MAX)
					break; /* a loop: give the answer */
				leader_redirects++;
				if (m.holder != client_ep_get(c))
					client_server_switch(c, m.holder);
				session_tried = false;
				have_not_leader = false;
				goto resolve;
			}
			/* No leader known (an election): wait, then resend
			 * within this call's retry budget. The wait is spent
			 * reading, so notifications are still ACKed. */
			client_result_fill(&not_leader, &m);
			have_not_leader = true;
			deadline = client_now_ns() +
				   (uint64_t)no_leader_wait_ms * NS_PER_MS;
			no_leader_wait_ms =
				no_leader_wait_ms * 2 >
						CLIENT_NO_LEADER_WAIT_MAX_MS
					? CLIENT_NO_LEADER_WAIT_MAX_MS
					: no_leader_wait_ms * 2;
			continue;
		case LATCH_S_QUEUED:
			if (!waiting)
				break;
			rc = client_wait_granted(c, &req, &m, out);
			if (rc != -EAGAIN)
				return rc;
			/* No notification in time: ask again with the same
			 * request id; the server's dedup window answers with
			 * the wait's outcome, or QUEUED if it goes on. */
			if (wait_rounds++ >= c->retries)
				return -ETIMEDOUT;
			attempt = 0;
			goto resend;
		default:
			break;
		}
		client_result_fill(out, &m);
		return 0;
	}
}

static bool
client_key_ok(const void *key, size_t len)
{
	return key != NULL && len >= 1 && len <= LATCH_KEY_MAX;
}

static int
client_call_locked(struct latch_client *c, const struct client_req *rq,
		   struct latch_result *out)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = client_call(c, rq, out);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
latch_acquire(struct latch_client *c, const void *key, size_t len,
	      unsigned flags, uint32_t wait_ms, uint32_t lease_ms,
	      struct latch_result *out)
{
	struct client_req rq = {
		.op = LATCH_OP_ACQUIRE,
		.flags = (uint16_t)flags,
		.key = key,
		.key_len = (uint16_t)len,
		.lease_ms = lease_ms,
		.wait_ms = (flags & LATCH_F_WAIT) ? wait_ms : 0,
	};

	if (c == NULL || out == NULL || !client_key_ok(key, len) ||
	    (flags & ~(unsigned)(LATCH_F_SHARED | LATCH_F_WAIT)) != 0)
		return -EINVAL;
	if (c->session)
		rq.flags |= LATCH_F_SESSION;
	return client_call_locked(c, &rq, out);
}

int
latch_release(struct latch_client *c, const void *key, size_t len,
	      uint64_t token, struct latch_result *out)
{
	struct client_req rq = {
		.op = LATCH_OP_RELEASE,
		.key = key,
		.key_len = (uint16_t)len,
		.token = token,
	};

	if (c == NULL || out == NULL || !client_key_ok(key, len))
		return -EINVAL;
	return client_call_locked(c, &rq, out);
}

int
latch_renew(struct latch_client *c, const void *key, size_t len, uint64_t token,
	    uint32_t lease_ms, struct latch_result *out)
{
	struct client_req rq = {
		.op = LATCH_OP_RENEW,
		.key = key,
		.key_len = (uint16_t)len,
		.token = token,
		.lease_ms = lease_ms,
	};

	if (c == NULL || out == NULL || !client_key_ok(key, len))
		return -EINVAL;
	return client_call_locked(c, &rq, out);
}

int
latch_query(struct latch_client *c, const void *key, size_t len,
	    struct latch_result *out)
{
	struct client_req rq = {
		.op = LATCH_OP_QUERY,
		.key = key,
		.key_len = (uint16_t)len,
	};

	if (c == NULL || out == NULL || !client_key_ok(key, len))
		return -EINVAL;
	return client_call_locked(c, &rq, out);
}

int
latch_poll_event(struct latch_client *c, struct latch_event *ev, int timeout_ms)
{
	uint8_t buf[LATCH_MSG_MAX_LEN + 1];
	struct latch_wire_msg m;
	uint64_t deadline;
	int rc;

	if (c == NULL || ev == NULL)
		return -EINVAL;
	deadline = timeout_ms < 0
			   ? UINT64_MAX
			   : client_now_ns() + (uint64_t)timeout_ms * NS_PER_MS;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (client_event_pop(c, ev)) {
			rc = 1;
			break;
		}
		rc = client_recv(c, c->sock, deadline, buf, &m);
		if (rc <= 0)
			break;
		if (client_is_notification(&m))
			client_notification_stray(c, c->sock, &m);
		/* Anything else answers a call that gave up: dropped. */
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
latch_client_fd(const struct latch_client *c)
{
	return c != NULL ? c->sock : -EINVAL;
}

uint64_t
latch_client_id(const struct latch_client *c)
{
	return c->client_id;
}

uint16_t
latch_client_partitions(const struct latch_client *c)
{
	return client_partitions_get(c);
}

int
latch_client_server(const struct latch_client *c, char *buf, size_t len)
{
	uint64_t ep;
	uint32_t a;
	int n;

	if (c == NULL || buf == NULL || len == 0)
		return -EINVAL;
	ep = client_ep_get(c);
	a = (uint32_t)ep;
	n = snprintf(buf, len, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 0xff,
		     (a >> 8) & 0xff, a & 0xff, client_ep_port(ep));
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* Send one KEEPALIVE (with @flags) to every partition with a session. */
static void
client_keepalive_send(struct latch_client *c, int fd, uint16_t flags,
		      uint32_t lease_ms)
{
	uint64_t mask = __atomic_load_n(&c->session_mask, __ATOMIC_RELAXED);
	uint16_t p;

	for (p = 0; p < LATCH_PARTITIONS_MAX; p++) {
		struct latch_wire_msg ka = {
			.op = LATCH_OP_KEEPALIVE,
			.flags = flags | (c->forward ? LATCH_F_FORWARD : 0),
			.partition = p,
			.client_id = c->client_id,
			.lease_ms = lease_ms,
		};
		uint8_t buf[LATCH_MSG_MAX_LEN];
		size_t len;

		if (!(mask & (1ull << p)))
			continue;
		ka.request_id = client_next_request_id(c);
		len = latch_wire_encode(&ka, buf, sizeof(buf));
		if (len != 0)
			(void)client_send(c, fd, buf, len, p);
	}
}

/*
 * The keepalive thread: every third of the session timeout, refresh each
 * open session from keepalive_sock; drain that socket's answers
 * (notifications that land there are ACKed and queued). Stops when
 * keepalive_stop_fd becomes readable.
 */
static void *
client_keepalive_main(void *arg)
{
	struct latch_client *c = arg;
	uint8_t buf[LATCH_MSG_MAX_LEN + 1];
	struct latch_wire_msg m;
	uint64_t period_ns, next, now;

	period_ns = (uint64_t)c->session_ms * NS_PER_MS / 3;
	next = client_now_ns() + period_ns;
	for (;;) {
		struct pollfd pfd[2] = {
			{.fd = c->keepalive_stop_fd, .events = POLLIN},
			{.fd = c->keepalive_sock, .events = POLLIN},
		};
		unsigned drained;
		int wait_ms;

		now = client_now_ns();
		wait_ms = next > now ? (int)((next - now + NS_PER_MS - 1) /
					     NS_PER_MS)
				     : 0;
		if (poll(pfd, 2, wait_ms) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents != 0)
			break;
		for (drained = 0; drained < CLIENT_DRAIN_MAX; drained++) {
			if (client_recv(c, c->keepalive_sock, 0, buf, &m) <= 0)
				break;
			if (client_is_notification(&m))
				client_notification_stray(c, c->keepalive_sock,
							  &m);
		}
		now = client_now_ns();
		if (now < next)
			continue;
		client_keepalive_send(c, c->keepalive_sock, 0, c->session_ms);
		period_ns = (uint64_t)__atomic_load_n(&c->session_granted_ms,
						      __ATOMIC_RELAXED) *
			    NS_PER_MS / 3;
		if (period_ns == 0)
			period_ns = NS_PER_MS;
		next += period_ns;
		if (next <= now)
			next = now + period_ns;
	}
	return NULL;
}

static int
client_keepalive_start(struct latch_client *c)
{
	sigset_t all, old;
	int rc;

	c->keepalive_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->keepalive_sock < 0)
		return -errno;
	c->keepalive_stop_fd = eventfd(0, EFD_CLOEXEC);
	if (c->keepalive_stop_fd < 0) {
		rc = -errno;
		goto close_sock;
	}
	/* The thread takes no signals: they belong to the application. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&c->keepalive_thread, NULL, client_keepalive_main,
			     c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		goto close_stop_fd;
	c->keepalive_running = true;
	return 0;

close_stop_fd:
	close(c->keepalive_stop_fd);
	c->keepalive_stop_fd = -1;
close_sock:
	close(c->keepalive_sock);
	c->keepalive_sock = -1;
	return rc;
}

static void
client_keepalive_stop(struct latch_client *c)
{
	uint64_t one = 1;

	if (!c->keepalive_running)
		return;
	if (write(c->keepalive_stop_fd, &one, sizeof(one)) != sizeof(one))
		abort(); /* an eventfd write of 1 cannot fail */
	pthread_join(c->keepalive_thread, NULL);
	c->keepalive_running = false;
	close(c->keepalive_stop_fd);
	close(c->keepalive_sock);
}

struct latch_client *
latch_client_create(const struct latch_client_config *cfg)
{
	struct latch_client *c;
	struct sockaddr_in server;
	struct timespec ts;
	uint16_t port_base;
	int rc;

	if (cfg == NULL || cfg->server == NULL ||
	    cfg->partitions > LATCH_PARTITIONS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->sock = -1;
	c->keepalive_sock = -1;
	c->keepalive_stop_fd = -1;
	rc = client_parse_server(cfg->server, &server, &port_base);
	if (rc < 0)
		goto free_client;
	c->server_ep = client_ep_make(ntohl(server.sin_addr.s_addr), port_base);
	c->forward = cfg->forward;
	c->partitions = cfg->partitions != 0 ? cfg->partitions : 1;
	c->client_id =
		cfg->client_id != 0 ? cfg->client_id : client_random_id();
	c->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms
					     : LATCH_CLIENT_TIMEOUT_MS_DEFAULT;
	c->retries = cfg->retries;
	c->session = cfg->session;
	c->session_ms = cfg->session_ms != 0 ? cfg->session_ms
					     : LATCH_CLIENT_SESSION_MS_DEFAULT;
	c->session_granted_ms = c->session_ms;
	/*
	 * Request ids start at the wall clock in ns: a process restarted
	 * with the same client id must not reuse ids still in the server's
	 * dedup window, and it cannot have sent one request per ns.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	c->request_next =
		(uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (c->request_next == 0)
		c->request_next = 1;

	rc = -pthread_mutex_init(&c->lock, NULL);
	if (rc != 0)
		goto free_client;
	rc = -pthread_mutex_init(&c->ev_lock, NULL);
	if (rc != 0)
		goto destroy_lock;
	c->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0) {
		rc = -errno;
		goto destroy_ev_lock;
	}
	if (c->session) {
		rc = client_keepalive_start(c);
		if (rc != 0)
			goto close_sock;
	}
	return c;

close_sock:
	close(c->sock);
destroy_ev_lock:
	pthread_mutex_destroy(&c->ev_lock);
destroy_lock:
	pthread_mutex_destroy(&c->lock);
free_client:
	free(c);
	errno = -rc;
	return NULL;
}

/*
 * Close every open session: one KEEPALIVE|CLOSE each, then wait up to one
 * timeout for their answers. Best effort: an unanswered close still ends
 * the session when it times out on the server.
 */
static void
client_sessions_close(struct latch_client *c)
{
	uint64_t mask = __atomic_load_n(&c->session_mask, __ATOMIC_RELAXED);
	uint8_t buf[LATCH_MSG_MAX_LEN + 1];
	struct latch_wire_msg m;
	uint64_t deadline;
	int left = __builtin_popcountll(mask);

	if (left == 0)
		return;
	client_keepalive_send(c, c->sock, LATCH_F_CLOSE, 0);
	deadline = client_now_ns() + c->timeout_ms * NS_PER_MS;
	while (left > 0 && client_recv(c, c->sock, deadline, buf, &m) > 0) {
		if (client_is_notification(&m))
			(void)client_ack(c, c->sock, &m);
		else if (m.reply && m.op == LATCH_OP_KEEPALIVE)
			left--;
	}
	__atomic_store_n(&c->session_mask, 0, __ATOMIC_RELAXED);
}

void
latch_client_destroy(struct latch_client *c)
{
	if (c == NULL)
		return;
	client_keepalive_stop(c);
	pthread_mutex_lock(&c->lock);
	client_sessions_close(c);
	pthread_mutex_unlock(&c->lock);
	close(c->sock);
	pthread_mutex_destroy(&c->ev_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
