/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latchd's control socket (see control_sock.h).
 *
 * Requests are one JSON object per line with a "cmd" string; a small
 * hand-written scanner reads them (the requests are flat, and the main
 * lcore needs no JSON library for it). Answers are built with the
 * X-macro counter lists of worker.h and lock_table.h, so a counter added
 * there appears here with no change.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include "dataplane/control_req.h"
#include "dataplane/control_sock.h"

/*
 * Largest answer kept for one client. A stats answer is about 2 KiB per
 * worker, so LATCH_PARTITIONS_MAX workers fit with room to spare; a client
 * that lets more pile up without reading is closed.
 */
#define CONTROL_OUT_MAX (1u << 20)
/* Longest "cmd" value we recognise; longer ones are unknown anyway. */
#define CONTROL_CMD_MAX 32

struct control_client {
	int fd;   /* -1: free slot */
	bool eof; /* peer shut its side: answer, then close */
	size_t in_len;
	char in[CONTROL_LINE_MAX];
	char *out; /* answers not yet sent, kept between answers */
	size_t out_cap;
	size_t out_len;
	size_t out_off;
};

struct control_sock {
	int listen_fd;
	const struct latchd_view *view;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_client clients[CONTROL_CLIENTS_MAX];
	/* poll_slot[i]: client slot polled at fds[i] (i >= 1) */
	int poll_slot[CONTROL_POLLFDS_MAX];
};

/* A growing output buffer; on allocation failure it stops growing. */
struct jbuf {
	char *p;
	size_t len;
	size_t cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3)))
jbuf_printf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p == NULL ? NULL : b->p + b->len, room, fmt,
			      ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap == 0 ? 4096 : b->cap * 2;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		if (cap > CONTROL_OUT_MAX) {
			b->failed = true;
			return;
		}
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* A JSON string: quotes, and escapes for what JSON forbids raw. */
static void
jbuf_string(struct jbuf *b, const char *s)
{
	jbuf_printf(b, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jbuf_printf(b, "\\%c", c);
		else if (c < 0x20)
			jbuf_printf(b, "\\u%04x", c);
		else
			jbuf_printf(b, "%c", c);
	}
	jbuf_printf(b, "\"");
}

uint64_t
latchd_view_uptime_s(const struct latchd_view *view)
{
	struct timespec ts;
	uint64_t now_ns;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return now_ns > view->start_ns
		       ? (now_ns - view->start_ns) / 1000000000ull
		       : 0;
}

void
latchd_stats_add(struct worker_stats *sum, const struct worker_stats *one)
{
	unsigned i;

#define STATS_ADD(name) sum->name += one->name;
	WORKER_COUNTER_LIST(STATS_ADD)
#undef STATS_ADD
#define STATS_ADD_LOCK(name) sum->lock.name += one->lock.name;
	LOCK_COUNTER_LIST(STATS_ADD_LOCK)
#undef STATS_ADD_LOCK
	for (i = 0; i < WORKER_DROP_MAX; i++)
		sum->drops[i] += one->drops[i];
	for (i = 0; i < ROUTER_R_MAX; i++)
		sum->route_reasons[i] += one->route_reasons[i];
	for (i = 0; i < WORKER_ROUTES_MAX; i++) {
		sum->route_forwarded[i] += one->route_forwarded[i];
		sum->route_dropped[i] += one->route_dropped[i];
	}
	for (i = 0; i < WORKER_BACKENDS_MAX; i++)
		sum->backend_forwarded[i] += one->backend_forwarded[i];
	sum->gauges.locks += one->gauges.locks;
	sum->gauges.holders += one->gauges.holders;
	sum->gauges.waiters += one->gauges.waiters;
	sum->gauges.sessions += one->gauges.sessions;
	sum->notify_pending += one->notify_pending;
}

/* The fields of one worker (or of the total), without braces. */
static void
render_worker_stats(struct jbuf *b, const struct worker_stats *s)
{
	const char *sep = "";
	unsigned i;

#define RENDER_COUNTER(name) \
	jbuf_printf(b, "\"" #name "\":%" PRIu64 ",", s->name);
	WORKER_COUNTER_LIST(RENDER_COUNTER)
#undef RENDER_COUNTER
	jbuf_printf(b, "\"drops\":{");
	for (i = 0; i < WORKER_DROP_MAX; i++)
		jbuf_printf(b, "%s\"%s\":%" PRIu64, i == 0 ? "" : ",",
			    worker_drop_names[i], s->drops[i]);
	jbuf_printf(b, "},\"route_reasons\":{");
	for (i = 0; i < ROUTER_R_MAX; i++)
		jbuf_printf(b, "%s\"%s\":%" PRIu64, i == 0 ? "" : ",",
			    router_reason_names[i], s->route_reasons[i]);
	jbuf_printf(b, "},\"lock\":{");
#define RENDER_LOCK(name)                                              \
	jbuf_printf(b, "%s\"" #name "\":%" PRIu64, sep, s->lock.name); \
	sep = ",";
	LOCK_COUNTER_LIST(RENDER_LOCK)
#undef RENDER_LOCK
	jbuf_printf(b,
		    "},\"gauges\":{\"locks\":%" PRIu32 ",\"holders\":%" PRIu32
		    ",\"waiters\":%" PRIu32 ",\"sessions\":%" PRIu32
		    "},\"notify_pending\":%" PRIu32,
		    s->gauges.locks, s->gauges.holders, s->gauges.waiters,
		    s->gauges.sessions, s->notify_pending);
}

static void
render_addr(struct jbuf *b, uint32_t addr_be)
{
	char text[INET_ADDRSTRLEN];
	struct in_addr in = {.s_addr = addr_be};

	if (inet_ntop(AF_INET, &in, text, sizeof(text)) == NULL)
		snprintf(text, sizeof(text), "?");
	jbuf_string(b, text);
}

/* "ports":[...] with identity and, if @counters, the ethdev counters. */
static void
render_ports(struct jbuf *b, const struct latchd_view *v, bool counters)
{
	uint16_t i;

	jbuf_printf(b, "\"ports\":[");
	for (i = 0; i < v->ports_count; i++) {
		const struct port *port = &v->ports[i];
		char mac[RTE_ETHER_ADDR_FMT_SIZE];

		rte_ether_format_addr(mac, sizeof(mac), &port->mac);
		jbuf_printf(b, "%s{\"name\":", i == 0 ? "" : ",");
		jbuf_string(b, port->cfg->name);
		jbuf_printf(b, ",\"devargs\":");
		jbuf_string(b, port->cfg->devargs);
		jbuf_printf(b, ",\"role\":\"%s\",\"port_id\":%u,\"addr\":",
			    profile_port_role_name(port->cfg->role),
			    port->port_id);
		render_addr(b, port->cfg->addr_be);
		jbuf_printf(b, ",\"mac\":\"%s\",\"queues\":%u,\"rss\":%s", mac,
			    port->queues, port->rss ? "true" : "false");
		jbuf_printf(b, ",\"link\":\"%s\"",
			    port_link_up(port) ? "up" : "down");
		if (port->cfg->role == PROFILE_PORT_PEER) {
			jbuf_printf(b, ",\"peer\":");
			jbuf_string(b, port->cfg->peer);
		}
		if (counters) {
			struct rte_eth_stats st;

			memset(&st, 0, sizeof(st));
			rte_eth_stats_get(port->port_id, &st);
			jbuf_printf(b,
				    ",\"rx_packets\":%" PRIu64
				    ",\"tx_packets\":%" PRIu64
				    ",\"rx_missed\":%" PRIu64
				    ",\"rx_errors\":%" PRIu64
				    ",\"tx_errors\":%" PRIu64
				    ",\"rx_nombuf\":%" PRIu64,
				    st.ipackets, st.opackets, st.imissed,
				    st.ierrors, st.oerrors, st.rx_nombuf);
		}
		jbuf_printf(b, "}");
	}
	jbuf_printf(b, "]");
}

static void render_routes(struct jbuf *b, const struct route_conf *rc,
			  const struct worker_stats *sum);

static void
render_stats(struct jbuf *b, const struct latchd_view *v)
{
	struct worker_stats total, one;
	uint16_t w;

	memset(&total, 0, sizeof(total));
	jbuf_printf(b, "{\"node\":");
	jbuf_string(b, v->profile->name);
	jbuf_printf(b,
		    ",\"epoch\":%" PRIu64 ",\"uptime_s\":%" PRIu64
		    ",\"partitions\":%u,\"workers\":[",
		    v->epoch, latchd_view_uptime_s(v), v->workers_count);
	for (w = 0; w < v->workers_count; w++) {
		worker_stats_read(v->workers[w], &one);
		latchd_stats_add(&total, &one);
		jbuf_printf(b, "%s{\"worker\":%u,\"lcore\":%u,",
			    w == 0 ? "" : ",", w, v->worker_lcores[w]);
		render_worker_stats(b, &one);
		jbuf_printf(b, "}");
	}
	jbuf_printf(b, "],\"total\":{");
	render_worker_stats(b, &total);
	jbuf_printf(b, "},");
	render_ports(b, v, true);
	if (v->routes != NULL) {
		jbuf_printf(b, ",");
		render_routes(b, v->routes, &total);
	}
	jbuf_printf(b, "}\n");
}

static void
render_status(struct jbuf *b, const struct latchd_view *v)
{
	const struct profile *p = v->profile;
	uint32_t addr_be = p->ports_count > 0 ? p->ports[0].addr_be : 0;
	uint16_t i;

	/* The node's address is that of its first client-facing port. */
	for (i = 0; i < p->ports_count; i++) {
		if (p->ports[i].role == PROFILE_PORT_CLIENT) {
			addr_be = p->ports[i].addr_be;
			break;
		}
	}
	jbuf_printf(b, "{\"node\":");
	jbuf_string(b, p->name);
	jbuf_printf(b,
		    ",\"node_id\":%" PRIu32 ",\"state\":\"running\",\"pid\":%ld"
		    ",\"epoch\":%" PRIu64 ",\"uptime_s\":%" PRIu64 ",\"addr\":",
		    p->node_id, (long)getpid(), v->epoch,
		    latchd_view_uptime_s(v));
	render_addr(b, addr_be);
	jbuf_printf(b, ",\"port_base\":%u,\"partitions\":%u,", p->port_base,
		    v->workers_count);
	render_ports(b, v, false);
	jbuf_printf(b, "}\n");
}

/* ---- routing ----------------------------------------------------------- */

_Static_assert(WORKER_BACKENDS_MAX >= ROUTE_CONF_BACKENDS_MAX,
	       "every backend slot has a counter in worker_stats");

uint64_t
latchd_route_forwarded(const struct route_conf *rc, uint16_t i,
		       const struct worker_stats *sum)
{
	uint8_t slot = rc->route_slot[i];

	return sum->route_forwarded[slot] - rc->base_forwarded[slot];
}

uint64_t
latchd_route_dropped(const struct route_conf *rc, uint16_t i,
		     const struct worker_stats *sum)
{
	uint8_t slot = rc->route_slot[i];

	return sum->route_dropped[slot] - rc->base_dropped[slot];
}

uint64_t
latchd_backend_forwarded(const struct route_conf *rc, uint16_t j,
			 const struct worker_stats *sum)
{
	return route_conf_backend_forwarded(rc, j, sum->backend_forwarded);
}

static void
control_stats_sum(const struct latchd_view *v, struct worker_stats *total)
{
	struct worker_stats one;
	uint16_t w;

	memset(total, 0, sizeof(*total));
	for (w = 0; w < v->workers_count; w++) {
		worker_stats_read(v->workers[w], &one);
		latchd_stats_add(total, &one);
	}
}

static void
render_mac(struct jbuf *b, const uint8_t mac[6])
{
	jbuf_printf(b, "\"%02x:%02x:%02x:%02x:%02x:%02x\"", mac[0], mac[1],
		    mac[2], mac[3], mac[4], mac[5]);
}

/* One backend with its counter, for route_list and stats. */
static void
render_backend(struct jbuf *b, const struct route_conf *rc, uint16_t j,
	       const struct worker_stats *sum)
{
	const struct profile_backend *be = &rc->backends[j];

	jbuf_printf(b, "{\"name\":");
	jbuf_string(b, be->name);
	jbuf_printf(b, ",\"pool\":");
	jbuf_string(b, be->pool);
	jbuf_printf(b, ",\"addr\":");
	render_addr(b, be->addr_be);
	jbuf_printf(b, ",\"port\":%u,\"mac\":", be->udp_port);
	render_mac(b, be->mac);
	jbuf_printf(b, ",\"weight\":%u,\"state\":\"%s\",\"via\":", be->weight,
		    be->up ? "up" : "down");
	jbuf_string(b, be->via);
	jbuf_printf(b, ",\"forwarded\":%" PRIu64 "}",
		    latchd_backend_forwarded(rc, j, sum));
}

/* "routes":[...] with each route's pool and counters (summed). */
static void
render_routes(struct jbuf *b, const struct route_conf *rc,
	      const struct worker_stats *sum)
{
	char key[40];
	uint16_t i, j;
	bool first;

	jbuf_printf(b, "\"generation\":%" PRIu64 ",\"routes\":[",
		    rc->generation);
	for (i = 0; i < rc->routes_count; i++) {
		const struct profile_route *r = &rc->routes[i];

		profile_route_key_text(&r->key, key, sizeof(key));
		jbuf_printf(b, "%s{\"name\":", i == 0 ? "" : ",");
		jbuf_string(b, r->name);
		jbuf_printf(b, ",\"match\":\"%u-%u\",\"key\":\"%s\",\"pool\":",
			    r->match.first, r->match.last, key);
		jbuf_string(b, r->pool);
		jbuf_printf(b, ",\"default\":");
		jbuf_string(b, r->default_backend);
		jbuf_printf(
			b,
			",\"table_size\":%u,\"conntrack\":%s"
			",\"conntrack_idle_ms\":%u,\"slot\":%u"
			",\"forwarded\":%" PRIu64 ",\"dropped\":%" PRIu64
			",\"backends\":[",
			r->table_size != 0 ? r->table_size
					   : MAGLEV_SIZE_DEFAULT,
			r->conntrack ? "true" : "false",
			r->conntrack_idle_ms != 0 ? r->conntrack_idle_ms
						  : CONNTRACK_IDLE_MS_DEFAULT,
			rc->route_slot[i], latchd_route_forwarded(rc, i, sum),
			latchd_route_dropped(rc, i, sum));
		first = true;
		for (j = 0; j < rc->backends_count; j++) {
			if (strcmp(rc->backends[j].pool, r->pool) != 0)
				continue;
			if (!first)
				jbuf_printf(b, ",");
			render_backend(b, rc, j, sum);
			first = false;
		}
		jbuf_printf(b, "]}");
	}
	jbuf_printf(b, "],\"backends\":[");
	for (j = 0; j < rc->backends_count; j++) {
		if (j > 0)
			jbuf_printf(b, ",");
		render_backend(b, rc, j, sum);
	}
	/* Connection tracking of 5-tuple routes, summed over the workers'
	 * flow tables (docs/routing.md, "connection tracking"). */
	jbuf_printf(b,
		    "],\"conntrack\":{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
		    ",\"evictions\":%" PRIu64 ",\"expired\":%" PRIu64
		    ",\"moved\":%" PRIu64 "}",
		    sum->conntrack_hits, sum->conntrack_misses,
		    sum->conntrack_evictions, sum->conntrack_expired,
		    sum->conntrack_moved);
}

static void
render_route_list(struct jbuf *b, const struct latchd_view *v)
{
	struct worker_stats total;

	control_stats_sum(v, &total);
	jbuf_printf(b, "{\"node\":");
	jbuf_string(b, v->profile->name);
	jbuf_printf(b, ",");
	render_routes(b, v->routes, &total);
	jbuf_printf(b, "}\n");
}

static uint64_t
control_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Apply a routing command: change a copy of the routes, build its table
 * off the fast path, publish it with router_swap() (which returns once no
 * worker can still use the old table), then commit the copy. Answers only
 * after the swap: when the answer arrives, every packet latchd receives
 * from then on is routed by the new table (docs/routing.md).
 */
static void
control_route_cmd(struct control_sock *cs, const char *cmd,
		  const struct control_req *req, struct jbuf *b)
{
	const struct latchd_view *v = cs->view;
	struct route_conf *next;
	struct route_table *t;
	struct worker_stats total;
	struct profile_route r;
	struct profile_backend be;
	char text[256];
	const char *why = NULL, *name = NULL;
	uint64_t t0, t1;
	int ret = 0, i, route = -1;
	uint8_t slot;

	if (v->routes == NULL || v->router == NULL) {
		jbuf_printf(b, "{\"error\":\"routing is not set up\"}\n");
		return;
	}
	next = malloc(sizeof(*next));
	if (next == NULL) {
		jbuf_printf(b, "{\"error\":\"out of memory\"}\n");
		return;
	}
	*next = *v->routes;
	if (!strcmp(cmd, "route_add")) {
		ret = control_req_route(req, &r, &why);
		if (ret == 0) {
			name = r.name;
			ret = route_conf_route_add(next, &r, &why);
		}
		if (ret == 0) {
			/* The new route's counters start from 0. */
			control_stats_sum(v, &total);
			i = next->routes_count - 1;
			slot = next->route_slot[i];
			next->base_forwarded[slot] =
				total.route_forwarded[slot];
			next->base_dropped[slot] = total.route_dropped[slot];
		}
	} else if (!strcmp(cmd, "backend_add")) {
		ret = control_req_backend(req, &be, &why);
		if (ret == 0) {
			/* Its slot may have counted for a deleted backend,
			 * whose last table is gone (its delete answered
			 * after the swap): the new one starts from 0. */
			control_stats_sum(v, &total);
			name = be.name;
			ret = route_conf_backend_add(
				next, &be, total.backend_forwarded, &why);
		}
	} else {
		name = control_req_str(req, "name");
		if (name == NULL || name[0] == '\0') {
			ret = -EINVAL;
			why = "name: give the name of a route or backend";
		} else if (!strcmp(cmd, "route_del")) {
			ret = route_conf_route_del(next, name);
			why = "no route of that name";
		} else if (!strcmp(cmd, "backend_del")) {
			ret = route_conf_backend_del(next, name, &why, &route);
		} else {
			ret = route_conf_backend_set(
				next, name, !strcmp(cmd, "backend_up"));
			why = "no backend of that name";
		}
	}
	if (ret != 0) {
		if (why == NULL)
			why = strerror(-ret);
		jbuf_printf(b, "{\"error\":");
		if (route >= 0) {
			/* backend_del: name the route that needs it. */
			snprintf(text, sizeof(text), "route %s: %s",
				 next->routes[route].name, why);
			jbuf_string(b, text);
			jbuf_printf(b, ",\"route\":");
			jbuf_string(b, next->routes[route].name);
		} else {
			jbuf_string(b, why);
		}
		jbuf_printf(b, "}\n");
		goto free_next;
	}
	t = route_conf_build(next, &why);
	if (t == NULL) {
		jbuf_printf(b, "{\"error\":");
		jbuf_string(b, why != NULL ? why : "cannot build the table");
		jbuf_printf(b, "}\n");
		goto free_next;
	}
	next->generation = t->generation;
	t0 = control_now_ns();
	router_swap(v->router, t);
	t1 = control_now_ns();
	pthread_mutex_lock(v->routes_lock);
	*v->routes = *next;
	pthread_mutex_unlock(v->routes_lock);
	jbuf_printf(b, "{\"ok\":true,\"cmd\":\"%s\",\"name\":", cmd);
	jbuf_string(b, name);
	jbuf_printf(b,
		    ",\"generation\":%" PRIu64
		    ",\"routes\":%u,\"backends\":%u,\"swap_us\":%" PRIu64 "}\n",
		    next->generation, next->routes_count, next->backends_count,
		    (t1 - t0) / 1000);
free_next:
	free(next);
}

static void
control_answer(struct control_sock *cs, const char *line, size_t len,
	       struct jbuf *b)
{
	struct control_req req;
	const char *cmd;
	int ret;

	ret = control_req_parse(line, len, &req);
	cmd = ret == 0 ? control_req_str(&req, "cmd") : NULL;
	if (ret != 0)
		jbuf_printf(b, "{\"error\":\"malformed request\"}\n");
	else if (cmd == NULL)
		jbuf_printf(b, "{\"error\":\"missing cmd\"}\n");
	else if (strcmp(cmd, "stats") == 0)
		render_stats(b, cs->view);
	else if (strcmp(cmd, "status") == 0)
		render_status(b, cs->view);
	else if (strcmp(cmd, "route_list") == 0 && cs->view->routes != NULL)
		render_route_list(b, cs->view);
	else if (strcmp(cmd, "route_add") == 0 ||
		 strcmp(cmd, "route_del") == 0 ||
		 strcmp(cmd, "backend_up") == 0 ||
		 strcmp(cmd, "backend_down") == 0 ||
		 strcmp(cmd, "backend_add") == 0 ||
		 strcmp(cmd, "backend_del") == 0 ||
		 strcmp(cmd, "route_list") == 0)
		control_route_cmd(cs, cmd, &req, b);
	else
		jbuf_printf(b, "{\"error\":\"unknown command\"}\n");
}

static void
client_close(struct control_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Answer every complete line in c->in; keep the unfinished tail. */
static int
client_answer_lines(struct control_sock *cs, struct control_client *c,
		    bool flush_tail)
{
	struct jbuf b = {.p = c->out, .len = c->out_len, .cap = c->out_cap};
	size_t start = 0, i;

	for (i = 0; i < c->in_len; i++) {
		if (c->in[i] != '\n')
			continue;
		if (i > start)
			control_answer(cs, c->in + start, i - start, &b);
		start = i + 1;
	}
	if (flush_tail && start < c->in_len) {
		control_answer(cs, c->in + start, c->in_len - start, &b);
		start = c->in_len;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	c->out = b.p;
	c->out_cap = b.cap;
	c->out_len = b.len;
	return b.failed ? -ENOBUFS : 0;
}

static void
client_read(struct control_sock *cs, struct control_client *c)
{
	ssize_t n;

	n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c);
		return;
	}
	if (n == 0) {
		c->eof = true;
		if (client_answer_lines(cs, c, true) < 0)
			client_close(c);
		return;
	}
	c->in_len += (size_t)n;
	if (client_answer_lines(cs, c, false) < 0) {
		client_close(c);
		return;
	}
	if (c->in_len == sizeof(c->in)) {
		/* A line longer than CONTROL_LINE_MAX: not a client of ours. */
		client_close(c);
	}
}

static void
client_write(struct control_client *c)
{
	ssize_t n;

	n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		 MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len) {
		c->out_off = 0;
		c->out_len = 0; /* keep the buffer for the next answer */
	}
}

static void
control_accept(struct control_sock *cs)
{
	unsigned i;
	int fd;

	for (;;) {
		fd = accept4(cs->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a client that already left */
		for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
			if (cs->clients[i].fd < 0)
				break;
		if (i == CONTROL_CLIENTS_MAX) {
			close(fd); /* full: the client sees EOF and retries */
			continue;
		}
		cs->clients[i].fd = fd;
	}
}

struct control_sock *
control_sock_create(const char *path, const struct latchd_view *view)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct control_sock *cs;
	unsigned i;
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	cs = calloc(1, sizeof(*cs));
	if (cs == NULL)
		return NULL;
	cs->view = view;
	memcpy(cs->path, path, strlen(path) + 1);
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		cs->clients[i].fd = -1;

	/* A socket file that nobody answers is left by a crash: replace it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err_free;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		errno = EADDRINUSE;
		goto err_free;
	}
	close(fd);
	unlink(path);

	cs->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cs->listen_fd < 0)
		goto err_free;
	if (bind(cs->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto err_close;
	if (chmod(path, 0660) < 0 || listen(cs->listen_fd, 16) < 0)
		goto err_unlink;
	return cs;

err_unlink:
	err = errno;
	unlink(path);
	errno = err;
err_close:
	err = errno;
	close(cs->listen_fd);
	errno = err;
err_free:
	err = errno;
	free(cs);
	errno = err;
	return NULL;
}

void
control_sock_destroy(struct control_sock *cs)
{
	unsigned i;

	if (cs == NULL)
		return;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (cs->clients[i].fd >= 0)
			client_close(&cs->clients[i]);
	close(cs->listen_fd);
	unlink(cs->path);
	free(cs);
}

unsigned
control_sock_pollfds(struct control_sock *cs, struct pollfd *fds)
{
	unsigned i, n = 1;

	fds[0].fd = cs->listen_fd;
	fds[0].events = POLLIN;
	fds[0].revents = 0;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct control_client *c = &cs->clients[i];

		if (c->fd < 0)
			continue;
		if (c->out_len == 0 && c->eof) {
			client_close(c); /* answered everything it asked */
			continue;
		}
		fds[n].fd = c->fd;
		/* Read the next request only once the last is sent. */
		fds[n].events = c->out_len > 0 ? POLLOUT : POLLIN;
		fds[n].revents = 0;
		cs->poll_slot[n] = (int)i;
		n++;
	}
	return n;
}

void
control_sock_process(struct control_sock *cs, const struct pollfd *fds,
		     unsigned n)
{
	unsigned i;

	for (i = 1; i < n; i++) {
		struct control_client *c = &cs->clients[cs->poll_slot[i]];

		if (fds[i].revents == 0 || c->fd != fds[i].fd)
			continue;
		if (fds[i].revents & POLLOUT)
			client_write(c);
		else if (fds[i].revents & POLLIN)
			client_read(cs, c);
		else if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL))
			client_close(c);
	}
	if (n > 0 && (fds[0].revents & POLLIN))
		control_accept(cs);
}
