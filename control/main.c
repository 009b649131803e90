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
 * The Raft core (control/core_raft.h over control/raft/) plugs in through
 * control/core.h; it talks to latchd's workers through the replication
 * channel (control/repl_chan.h, `<run_dir>/repl.sock`) and to the other
 * control planes over UDP (control/peer.h). docs/cluster.md, "control
 * plane".
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
#include "control/core_raft.h"
#include "control/http.h"
#include "control/latchd_chan.h"
#include "control/loop.h"
#include "control/peer.h"
#include "control/repl_chan.h"
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
	char repl_path[PROFILE_STR_MAX];
	struct loop *loop;
	struct store *store;
	struct peer_set *peers;
	struct latchd_chan *latchd;
	struct repl_chan *repl;
	struct api *api;
	struct http *http;
	const struct core_ops *core_ops;
	void *core;
	struct core_raft *raft;
	struct core_step step; /* one step at a time: the loop's thread */
	uint64_t step_drops;   /* messages beyond a step's bounds */
	int ping_timer;
	int core_timer;
	uint64_t start_ms;
	int failed; /* a step could not be made durable: stop */
	/* What the log last said of the core: a line on every change. */
	uint64_t said_term;
	const char *said_role;
	int said_leader;
};

/* The beacon period in force: control.beacon_ms, 0 meaning the
 * heartbeat's. */
static uint32_t
control_beacon_ms(const struct profile *p)
{
	return p->control_beacon_ms != 0 ? p->control_beacon_ms
					 : p->control_heartbeat_ms;
}

static void __attribute__((format(printf, 1, 2))) main_log(const char *fmt, ...)
{
	va_list ap;
	char ts[32];
	struct timespec now;
	struct tm tm;

	/* Milliseconds: an election takes a few of them. */
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ latch-control: ", ts, now.tv_nsec / 1000000);
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
	/* latchd serves its replication channel in its run_dir
	 * (docs/cluster.md, "control plane"). */
	snprintf(c->repl_path, sizeof(c->repl_path), "%.200s/repl.sock",
		 p->run_dir);
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
	printf("replication channel    %s\n", c->repl_path);
	printf("control.bootstrap      %s\n",
	       p->control_bootstrap ? "yes" : "no");
	print_addr("control.http", &p->control_http);
	print_addr("control.mgmt_addr", &p->control_mgmt);
	printf("control.election_ms    %u\n", p->control_election_ms);
	printf("control.heartbeat_ms   %u\n", p->control_heartbeat_ms);
	printf("control.beacon_ms      %u\n", control_beacon_ms(p));
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

	/* Entries the core compacted into its snapshot are committed and
	 * already on disk: rewrite from the first one it still holds. */
	while (from <= last && ops->meta_get(core, from, &e) == -ENOENT)
		from++;
	rc = store_meta_truncate_from(c->store, from);
	for (i = from; rc == 0 && i <= last; i++) {
		rc = ops->meta_get(core, i, &e);
		if (rc == 0)
			rc = store_meta_append(c->store, i, &e);
	}
	return rc != 0 ? rc : store_sync(c->store);
}

static int
io_chan(void *ctx, const struct raft_chan_down *d)
{
	struct control *c = ctx;

	return repl_chan_send(c->repl, d);
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
	.chan = io_chan,
	.send = io_send,
};

/* Log every change of term, role or known leader: the operator's record
 * of elections (and of how long each took). */
static void
control_say_role(struct control *c)
{
	struct core_view v;

	c->core_ops->view(c->core, &v);
	if (v.term == c->said_term && v.leader == c->said_leader &&
	    c->said_role != NULL && strcmp(v.role, c->said_role) == 0)
		return;
	c->said_term = v.term;
	c->said_role = v.role;
	c->said_leader = v.leader;
	if (v.leader == CORE_NO_LEADER)
		main_log("term %llu: %s, no leader known.",
			 (unsigned long long)v.term, v.role);
	else
		main_log("term %llu: %s, leader node %d.",
			 (unsigned long long)v.term, v.role, v.leader);
}

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
	c->step_drops += st->dropped;
	control_say_role(c);
}

/* A fresh step; the struct is large (whole messages), so it lives in
 * struct control rather than on the stack. */
static struct core_step *
control_step(struct control *c)
{
	memset(&c->step, 0, sizeof(c->step));
	return &c->step;
}

static void
on_repl_report(void *ctx, const struct raft_chan_report *rep, uint64_t now_ms)
{
	struct control *c = ctx;
	struct core_step *st = control_step(c);

	c->core_ops->on_report(c->core, rep, now_ms, st);
	control_carry(c, st);
}

/* Operator commands of the API: carried out like any step. */
static int
control_command(struct control *c,
		int (*cmd)(void *core, uint8_t node, uint64_t now_ms,
			   struct core_step *st),
		uint8_t node)
{
	struct core_step *st = control_step(c);
	int rc;

	rc = cmd(c->core, node, loop_now_ms(c->loop), st);
	control_carry(c, st);
	return rc;
}

static int
api_transfer(void *ctx, uint8_t node)
{
	struct control *c = ctx;

	return control_command(c, c->core_ops->transfer, node);
}

static int
api_add_learner(void *ctx, uint8_t node)
{
	struct control *c = ctx;

	return control_command(c, c->core_ops->add_learner, node);
}

static int
api_remove_member(void *ctx, uint8_t node)
{
	struct control *c = ctx;

	return control_command(c, c->core_ops->remove_member, node);
}

static void
on_core_timer(void *ctx, uint64_t now_ms)
{
	struct control *c = ctx;
	struct core_step *st = control_step(c);

	c->core_ops->on_timer(c->core, now_ms, st);
	control_carry(c, st);
}

static void
on_peer_message(void *ctx, const struct raft_msg *m, uint64_t now_ms)
{
	struct control *c = ctx;
	struct core_step *st = control_step(c);

	c->core_ops->on_message(c->core, m, now_ms, st);
	control_carry(c, st);
}

static void
on_peer_gone(void *ctx, uint8_t node, uint64_t now_ms)
{
	struct control *c = ctx;
	struct core_step *st = control_step(c);
	struct core_view v;

	c->core_ops->view(c->core, &v);
	if (v.leader == node && v.role != NULL &&
	    strcmp(v.role, "follower") == 0)
		main_log("leader node %u refused our beacon (ICMP port "
			 "unreachable): its latch-control is gone.",
			 (unsigned)node);
	c->core_ops->on_peer_gone(c->core, node, now_ms, st);
	control_carry(c, st);
}

static void
on_latchd_report(void *ctx, const struct latchd_report *r, uint64_t now_ms)
{
	struct control *c = ctx;
	struct core_step *st;
	static bool was_up;

	if (r->up != was_up || r->epoch_changed)
		main_log("latchd %s (epoch %llu)%s.", r->up ? "up" : "down",
			 (unsigned long long)r->epoch,
			 r->epoch_changed ? ", restarted" : "");
	was_up = r->up;
	st = control_step(c);
	c->core_ops->on_latchd(c->core, r, now_ms, st);
	control_carry(c, st);
}

static void
on_ping(void *ctx, uint64_t now_ms)
{
	struct control *c = ctx;

	peer_ping_all(c->peers, now_ms, c->profile.control_heartbeat_ms);
	loop_timer_arm_in(c->loop, c->ping_timer,
			  control_beacon_ms(&c->profile));
}

static void
control_snapshot(void *ctx, struct status_src *out)
{
	struct control *c = ctx;

	out->profile = &c->profile;
	out->peers = c->peers;
	out->latchd = c->latchd;
	out->repl = c->repl;
	out->step_drops = c->step_drops;
	out->cmd_ctx = c;
	out->transfer = api_transfer;
	out->add_learner = api_add_learner;
	out->remove_member = api_remove_member;
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

/* meta entries for core_raft_create(), from the store. */
static int
core_meta_read(void *ctx, uint64_t index, struct lock_entry *out)
{
	return store_meta_read(ctx, index, out);
}

/*
 * The Raft core from the store: this start's ctl_incarnation (a durable
 * start count), the initial voters (the bootstrap members: this node if
 * control.bootstrap, and every [peer] but those with bootstrap = no), and
 * the persisted term, vote, caught-up incarnation and meta log. 0 or -1
 * (logged).
 */
static int
control_core_start(struct control *c)
{
	const struct profile *p = &c->profile;
	struct core_raft_config cfg;
	uint64_t starts;
	unsigned i;
	int rc;

	if (p->node_id >= RAFT_NODES_MAX) {
		main_log("node.id %u: the Raft core takes node ids 0..%d.",
			 p->node_id, RAFT_NODES_MAX - 1);
		return -1;
	}
	rc = store_start_count(c->store, &starts);
	if (rc != 0) {
		main_log("cannot count this start in %s/starts: %s.",
			 c->state_dir, strerror(-rc));
		return -1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = (uint8_t)p->node_id;
	/* The initial configuration: the bootstrap members, the same set
	 * on every node (a node or [peer] with bootstrap = no joins later
	 * through cluster add-member). */
	cfg.voters = p->control_bootstrap ? (uint8_t)(1u << p->node_id) : 0;
	for (i = 0; i < p->peers_count; i++)
		if (p->peers[i].id < RAFT_NODES_MAX && p->peers[i].bootstrap)
			cfg.voters |= (uint8_t)(1u << p->peers[i].id);
	cfg.partitions = p->workers;
	cfg.election_ms = p->control_election_ms;
	cfg.heartbeat_ms = p->control_heartbeat_ms;
	cfg.beacon_ms = control_beacon_ms(p);
	/* Election timeouts only need to differ between nodes and starts. */
	cfg.seed = loop_clock_ms() ^ (starts << 32) ^ p->node_id;
	cfg.bootstrap = p->control_bootstrap;
	c->raft = core_raft_create(&cfg, store_state(c->store), core_meta_read,
				   c->store, store_meta_first(c->store),
				   store_meta_last(c->store), starts + 1,
				   loop_clock_ms(), control_step(c));
	if (c->raft == NULL) {
		main_log("cannot start the Raft core: %s%s.", strerror(errno),
			 errno == EINVAL || errno == EIO
				 ? " (the meta log on disk cannot be "
				   "restored, or the configuration is not "
				   "one this version runs)"
				 : "");
		return -1;
	}
	c->core_ops = &core_raft_ops;
	c->core = c->raft;
	main_log("Raft core: node %u, voters 0x%02x, %u partition(s), "
		 "election %u ms, heartbeat %u ms, start %llu%s.",
		 cfg.id, cfg.voters, cfg.partitions, cfg.election_ms,
		 cfg.heartbeat_ms, (unsigned long long)starts,
		 cfg.bootstrap ? ", bootstrap member" : "");
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
	main_log("state %s: term %llu, vote %u, meta log %llu..%llu%s%s%s.",
		 c->state_dir, (unsigned long long)s->term, s->voted_for,
		 (unsigned long long)store_meta_first(c->store),
		 (unsigned long long)store_meta_last(c->store),
		 rep.tmp_removed ? ", an unfinished state.tmp ignored" : "",
		 rep.torn_state_slot ? ", a state save torn by a crash ignored"
				     : "",
		 rep.torn_bytes ? ", a torn meta log tail cut" : "");
	if (control_core_start(c) != 0)
		return -1;
	c->core_timer = loop_timer_add(c->loop, on_core_timer, c);
	c->ping_timer = loop_timer_add(c->loop, on_ping, c);
	c->peers = peer_create(c->loop, &c->profile, on_peer_message,
			       on_peer_gone, c);
	if (c->peers == NULL) {
		main_log("cannot bind control.mgmt_addr: %s.", strerror(errno));
		return -1;
	}
	if (peer_count(c->peers) > 0)
		loop_timer_arm_in(c->loop, c->ping_timer, 0);
	c->repl = repl_chan_create(c->loop, c->repl_path, on_repl_report, c);
	if (c->repl == NULL) {
		main_log("cannot use the replication channel %s: %s.",
			 c->repl_path, strerror(errno));
		return -1;
	}
	/* The restart's step names the first election deadline. */
	loop_timer_arm(c->loop, c->core_timer,
		       c->step.timer_ms != 0 ? c->step.timer_ms
					     : loop_now_ms(c->loop));
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
	repl_chan_destroy(c->repl);
	peer_destroy(c->peers);
	core_raft_destroy(c->raft);
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
		/* latchd's spelling: scripts start both the same way. */
		{"profile", required_argument, NULL, OPT_CONFIG},
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
		main_log("ready: node %s (id %u), api %s, latchd %s, "
			 "replication %s, %u peer(s).",
			 c->profile.name, c->profile.node_id, c->api_path,
			 c->latchd_path, c->repl_path, peer_count(c->peers));
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
