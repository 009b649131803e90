/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control: the control plane of one latch node (DESIGN.md,
 * "Processes", "The control plane"; docs/operations.md, "latch-control").
 *
 * An ordinary process with one event loop (control/loop.h). It reads the
 * node's profile (the [node], [control] and [peer NAME] sections), opens
 * its durable state (control/store.h), binds its peer socket on the
 * management network (control/peer.h), follows its local latchd through
 * latchd's control socket (control/latchd_chan.h), and serves latchctl
 * (control/api.h) and HTTP /metrics and /status (control/http.h).
 *
 * The Raft core plugs in through control/core.h; until it is integrated
 * the null core runs: term 0, follower, no leader (docs say so).
 *
 * Exit status: 0 clean stop (SIGINT/SIGTERM) or --check-config passed;
 * 1 configuration error; 2 usage error; 3 runtime failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control/api.h"
#include "control/core.h"
#include "control/http.h"
#include "control/latchd_chan.h"
#include "control/loop.h"
#include "control/peer.h"
#include "control/status.h"
#include "control/store.h"
#include "firmware-cfg/profile.h"

#ifndef LATCH_CONTROL_VERSION
#define LATCH_CONTROL_VERSION "unknown"
#endif

/* --set overrides accepted: far more than any command line needs. */
#define MAIN_SETS_MAX 64

enum main_exit {
	MAIN_EXIT_OK = 0,
	MAIN_EXIT_CONFIG = 1,
	MAIN_EXIT_USAGE = 2,
	MAIN_EXIT_RUNTIME = 3,
};

/* The process: every module, and the paths resolved from the profile. */
struct control {
	struct profile profile;
	char state_dir[PROFILE_STR_MAX];
	char api_path[PROFILE_STR_MAX];
	char latchd_path[PROFILE_STR_MAX];
	struct loop *loop;
	struct store *store;
	struct peer_set *peers;
	struct latchd_chan *latchd;
	struct api *api;
	struct http *http;
	const struct core_ops *core_ops;
	void *core;
	int ping_timer;
	int core_timer;
	uint64_t start_ms;
	int failed; /* a step could not be made durable: stop */
};

static void __attribute__((format(printf, 1, 2))) main_log(const char *fmt, ...)
{
	va_list ap;
	char ts[32];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s latch-control: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: latch-control --config PROFILE [--set K=V]... "
		"[--foreground]\n"
		"       latch-control --check-config PROFILE [--set K=V]...\n"
		"       latch-control --help | --version\n"
		"\n"
		"The control plane of one latch node. PROFILE is the node's\n"
		"profile (the one latchd runs); latch-control reads [node],\n"
		"[control] and [peer NAME] (docs/operations.md).\n"
		"\n"
		"  --config PROFILE      run with this profile\n"
		"  --check-config PROFILE  check it, print the resolved\n"
		"                        control settings, exit\n"
		"  --set SECTION.KEY=V   override a profile key (repeatable),\n"
		"                        e.g. --set "
		"control.http=127.0.0.1:7480\n"
		"  --foreground          stay attached (the default: run "
		"under\n"
		"                        a supervisor such as systemd)\n"
		"\n"
		"Exit status: 0 clean stop or config OK; 1 config error;\n"
		"2 usage error; 3 runtime failure.\n");
}

/* Paths the profile leaves empty come from run_dir and state_dir. */
static void
control_resolve(struct control *c)
{
	const struct profile *p = &c->profile;

	if (p->control_state_dir[0] != '\0')
		snprintf(c->state_dir, sizeof(c->state_dir), "%s",
			 p->control_state_dir);
	else
		snprintf(c->state_dir, sizeof(c->state_dir), "%.200s/control",
			 p->state_dir);
	if (p->control_api_socket[0] != '\0')
		snprintf(c->api_path, sizeof(c->api_path), "%s",
			 p->control_api_socket);
	else
		snprintf(c->api_path, sizeof(c->api_path),
			 "%.200s/control.sock", p->run_dir);
	if (p->control_latchd_socket[0] != '\0')
		snprintf(c->latchd_path, sizeof(c->latchd_path), "%s",
			 p->control_latchd_socket);
	else
		snprintf(c->latchd_path, sizeof(c->latchd_path),
			 "%.200s/latchd.sock", p->run_dir);
}

static void
print_addr(const char *key, const struct profile_addr_port *a)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr in = {.s_addr = a->addr_be};

	if (a->addr_be == 0) {
		printf("%-22s (not served)\n", key);
		return;
	}
	inet_ntop(AF_INET, &in, ip, sizeof(ip));
	printf("%-22s %s:%u\n", key, ip, a->port);
}

static void
control_print(const struct control *c)
{
	const struct profile *p = &c->profile;
	unsigned i;

	printf("node                   %s (id %u)\n", p->name, p->node_id);
	printf("control.state_dir      %s\n", c->state_dir);
	printf("control.api_socket     %s\n", c->api_path);
	printf("control.latchd_socket  %s\n", c->latchd_path);
	print_addr("control.http", &p->control_http);
	print_addr("control.mgmt_addr", &p->control_mgmt);
	printf("control.election_ms    %u\n", p->control_election_ms);
	printf("control.heartbeat_ms   %u\n", p->control_heartbeat_ms);
	printf("control.latchd_poll_ms %u\n", p->control_latchd_poll_ms);
	for (i = 0; i < p->peers_count; i++) {
		char key[64];

		snprintf(key, sizeof(key), "peer %s (id %u)", p->peers[i].name,
			 p->peers[i].id);
		print_addr(key, &p->peers[i].mgmt);
	}
}

/* ---- the seam: carrying out a core step ------------------------------- */

static int
io_persist_state(void *ctx, const struct store_state *s)
{
	struct control *c = ctx;

	return store_save_state(c->store, s);
}

static int
io_persist_meta(void *ctx, const struct core_ops *ops, const void *core,
		uint64_t from)
{
	struct control *c = ctx;
	struct lock_entry e;
	uint64_t i, last = ops->meta_last(core);
	int rc;

	rc = store_meta_truncate_from(c->store, from);
	for (i = from; rc == 0 && i <= last; i++) {
		rc = ops->meta_get(core, i, &e);
		if (rc == 0)
			rc = store_meta_append(c->store, i, &e);
	}
	return rc != 0 ? rc : store_sync(c->store);
}

static int
io_set_dataplane_term(void *ctx, uint64_t term)
{
	(void)ctx;
	(void)term;
	/*
	 * latchd has no command to set its term yet (control_req.c): that
	 * arrives with the Raft split. The null core never asks for it.
	 */
	return -ENOSYS;
}

static int
io_send(void *ctx, const struct raft_msg *m)
{
	struct control *c = ctx;

	return peer_send(c->peers, m);
}

static const struct core_io control_io = {
	.persist_state = io_persist_state,
	.persist_meta = io_persist_meta,
	.set_dataplane_term = io_set_dataplane_term,
	.send = io_send,
};

static void
control_carry(struct control *c, struct core_step *st)
{
	int rc = core_step_carry(&control_io, c, c->core_ops, c->core, st);

	if (rc != 0) {
		main_log("cannot carry out a Raft step (%s): stopping, since "
			 "what the disk or latchd holds is not what the step "
			 "needs.",
			 strerror(-rc));
		c->failed = 1;
		loop_stop(c->loop);
		return;
	}
	if (st->timer_ms != 0)
		loop_timer_arm(c->loop, c->core_timer, st->timer_ms);
}

static void
on_core_timer(void *ctx, uint64_t now_ms)
{
	struct control *c = ctx;
	struct core_step st;

	memset(&st, 0, sizeof(st));
	c->core_ops->on_timer(c->core, now_ms, &st);
	control_carry(c, &st);
}

static void
on_peer_message(void *ctx, const struct raft_msg *m, uint64_t now_ms)
{
	struct control *c = ctx;
	struct core_step st;

	memset(&st, 0, sizeof(st));
	c->core_ops->on_message(c->core, m, now_ms, &st);
	control_carry(c, &st);
}

static void
on_latchd_report(void *ctx, const struct latchd_report *r, uint64_t now_ms)
{
	struct control *c = ctx;
	struct core_step st;
	static bool was_up;

	if (r->up != was_up || r->epoch_changed)
		main_log("latchd %s (epoch %llu)%s.", r->up ? "up" : "down",
			 (unsigned long long)r->epoch,
			 r->epoch_changed ? ", restarted" : "");
	was_up = r->up;
	memset(&st, 0, sizeof(st));
	c->core_ops->on_latchd(c->core, r, now_ms, &st);
	control_carry(c, &st);
}

static void
on_ping(void *ctx, uint64_t now_ms)
{
	struct control *c = ctx;

	(void)now_ms;
	peer_ping_all(c->peers);
	loop_timer_arm_in(c->loop, c->ping_timer,
			  c->profile.control_heartbeat_ms);
}

static void
control_snapshot(void *ctx, struct status_src *out)
{
	struct control *c = ctx;

	out->profile = &c->profile;
	out->peers = c->peers;
	out->latchd = c->latchd;
	out->core_ops = c->core_ops;
	out->core = c->core;
	out->start_ms = c->start_ms;
	out->now_ms = loop_clock_ms();
}

/* ---- start and stop ---------------------------------------------------- */

static int
mkdir_parents(const char *path)
{
	char buf[PROFILE_STR_MAX];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int
control_start(struct control *c)
{
	struct store_report rep;
	const struct store_state *s;

	c->loop = loop_create();
	if (c->loop == NULL) {
		main_log("cannot create the event loop: %s.", strerror(errno));
		return -1;
	}
	c->start_ms = loop_clock_ms();
	if (mkdir_parents(c->state_dir) != 0 ||
	    (c->store = store_open(c->state_dir, &rep)) == NULL) {
		main_log("cannot open the state in %s: %s%s.", c->state_dir,
			 strerror(errno),
			 errno == EIO
				 ? " (the state file is corrupt: a node "
				   "that forgot its vote could vote twice, "
				   "so it will not start; see "
				   "docs/operations.md)"
				 : "");
		return -1;
	}
	s = store_state(c->store);
	main_log("state %s: term %llu, vote %u, meta log %llu..%llu%s%s.",
		 c->state_dir, (unsigned long long)s->term, s->voted_for,
		 (unsigned long long)store_meta_first(c->store),
		 (unsigned long long)store_meta_last(c->store),
		 rep.tmp_removed ? ", an unfinished state.tmp ignored" : "",
		 rep.torn_bytes ? ", a torn meta log tail cut" : "");
	c->core_ops = &core_null_ops;
	c->core = NULL;
	c->core_timer = loop_timer_add(c->loop, on_core_timer, c);
	c->ping_timer = loop_timer_add(c->loop, on_ping, c);
	c->peers = peer_create(c->loop, &c->profile, on_peer_message, c);
	if (c->peers == NULL) {
		main_log("cannot bind control.mgmt_addr: %s.", strerror(errno));
		return -1;
	}
	if (peer_count(c->peers) > 0)
		loop_timer_arm_in(c->loop, c->ping_timer, 0);
	c->latchd = latchd_chan_create(c->loop, c->latchd_path,
				       c->profile.control_latchd_poll_ms,
				       on_latchd_report, c);
	if (c->latchd == NULL) {
		main_log("cannot use latchd socket %s: %s.", c->latchd_path,
			 strerror(errno));
		return -1;
	}
	if (mkdir_parents(c->api_path) != 0 ||
	    (c->api = api_create(c->loop, c->api_path, control_snapshot, c)) ==
		    NULL) {
		main_log("cannot serve the API at %s: %s.", c->api_path,
			 strerror(errno));
		return -1;
	}
	if (c->profile.control_http.addr_be != 0) {
		c->http = http_create(c->loop, c->profile.control_http.addr_be,
				      c->profile.control_http.port,
				      control_snapshot, c);
		if (c->http == NULL) {
			main_log("cannot serve HTTP on control.http: %s.",
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void
control_stop(struct control *c)
{
	http_destroy(c->http);
	api_destroy(c->api);
	latchd_chan_destroy(c->latchd);
	peer_destroy(c->peers);
	store_close(c->store);
	loop_destroy(c->loop);
}

enum {
	OPT_CONFIG = 256,
	OPT_CHECK,
	OPT_SET,
	OPT_FOREGROUND,
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, OPT_CONFIG},
		{"check-config", required_argument, NULL, OPT_CHECK},
		{"set", required_argument, NULL, OPT_SET},
		{"foreground", no_argument, NULL, OPT_FOREGROUND},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *sets[MAIN_SETS_MAX];
	unsigned sets_count = 0, i;
	const char *config = NULL;
	bool check = false;
	struct profile_errors errs;
	struct control *c;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_CHECK:
			config = optarg;
			check = true;
			break;
		case OPT_SET:
			if (sets_count == MAIN_SETS_MAX) {
				fprintf(stderr,
					"latch-control: at most %d "
					"--set options.\n",
					MAIN_SETS_MAX);
				return MAIN_EXIT_USAGE;
			}
			sets[sets_count++] = optarg;
			break;
		case OPT_FOREGROUND:
			/* The only mode: supervisors want a child that
			 * stays; accepted for symmetry with latchd. */
			break;
		case 'h':
			usage(stdout);
			return MAIN_EXIT_OK;
		case 'V':
			printf("latch-control %s\n", LATCH_CONTROL_VERSION);
			return MAIN_EXIT_OK;
		default:
			usage(stderr);
			return MAIN_EXIT_USAGE;
		}
	}
	if (config == NULL || optind != argc) {
		usage(stderr);
		return MAIN_EXIT_USAGE;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return MAIN_EXIT_RUNTIME;
	rc = profile_load(&c->profile, config, sets, sets_count, &errs);
	if (rc != 0) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "latch-control: %s\n", errs.msg[i]);
		if (errs.count == 0)
			fprintf(stderr, "latch-control: cannot load %s: %s\n",
				config, strerror(-rc));
		free(c);
		return MAIN_EXIT_CONFIG;
	}
	control_resolve(c);
	if (check) {
		control_print(c);
		printf("%s: OK\n", config);
		free(c);
		return MAIN_EXIT_OK;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = MAIN_EXIT_RUNTIME;
	if (control_start(c) == 0) {
		main_log("ready: node %s (id %u), api %s, latchd %s, %u "
			 "peer(s); Raft core not integrated yet (term 0, "
			 "follower).",
			 c->profile.name, c->profile.node_id, c->api_path,
			 c->latchd_path, peer_count(c->peers));
		if (loop_run(c->loop) == 0 && !c->failed) {
			main_log("stopping (signal %d).",
				 loop_stop_signal(c->loop));
			rc = MAIN_EXIT_OK;
		}
	}
	control_stop(c);
	free(c);
	return rc;
}
