/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's status pages (see status.h).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/status.h"

static const char *
addr_text(uint32_t addr_be, uint16_t port, char *buf, size_t size)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = addr_be};

	if (addr_be == 0)
		return NULL;
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	if (port != 0)
		snprintf(buf, size, "%s:%u", ip, port);
	else
		snprintf(buf, size, "%s", ip);
	return buf;
}

static void
add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k,
			       v == NULL ? NULL : json_object_new_string(v));
}

/* A member's role as the core's configuration says (the null core knows
 * none: every configured node reads as a voter). */
static const char *
member_role(const struct core_view *v, unsigned id)
{
	if (!v->integrated || v->voters == 0)
		return "voter";
	if (id < 8 && (v->voters & (1u << id)))
		return "voter";
	if (id < 8 && (v->learners & (1u << id)))
		return "learner";
	return "none";
}

/* Self first (liveness from latchd: this node is up if we answer), then
 * the [peer] sections, with the roles of the configuration in force. */
static struct json_object *
members_array(const struct status_src *s)
{
	const struct profile *p = s->profile;
	struct json_object *arr = json_object_new_array();
	struct json_object *m;
	char buf[32];
	unsigned i;
	uint32_t data_be = 0;
	struct core_view v;

	s->core_ops->view(s->core, &v);
	for (i = 0; i < p->ports_count; i++)
		if (p->ports[i].role == PROFILE_PORT_CLIENT) {
			data_be = p->ports[i].addr_be;
			break;
		}
	m = json_object_new_object();
	add_str(m, "name", p->name);
	json_object_object_add(m, "id", json_object_new_int64(p->node_id));
	add_str(m, "role", member_role(&v, p->node_id));
	add_str(m, "mgmt",
		addr_text(p->control_mgmt.addr_be, p->control_mgmt.port, buf,
			  sizeof(buf)));
	add_str(m, "data", addr_text(data_be, 0, buf, sizeof(buf)));
	add_str(m, "state", "up");
	json_object_object_add(m, "self", json_object_new_boolean(1));
	json_object_object_add(m, "last_contact_ms", json_object_new_int64(0));
	json_object_array_add(arr, m);
	for (i = 0; i < peer_count(s->peers); i++) {
		const struct peer *pr = peer_at(s->peers, i);
		enum peer_state st = peer_state_at(pr, s->now_ms, s->start_ms,
						   p->control_election_ms);

		m = json_object_new_object();
		add_str(m, "name", pr->name);
		json_object_object_add(m, "id", json_object_new_int64(pr->id));
		add_str(m, "role", member_role(&v, pr->id));
		add_str(m, "mgmt",
			addr_text(pr->mgmt.sin_addr.s_addr,
				  ntohs(pr->mgmt.sin_port), buf, sizeof(buf)));
		add_str(m, "data", addr_text(pr->data_be, 0, buf, sizeof(buf)));
		add_str(m, "state", peer_state_name(st));
		json_object_object_add(m, "self", json_object_new_boolean(0));
		json_object_object_add(
			m, "last_contact_ms",
			pr->last_contact_ms == 0
				? NULL
				: json_object_new_int64(
					  (int64_t)(s->now_ms -
						    pr->last_contact_ms)));
		json_object_array_add(arr, m);
	}
	return arr;
}

const char *
status_member_name(const struct status_src *s, int id)
{
	unsigned i;

	if (id == CORE_NO_LEADER)
		return NULL;
	if ((uint32_t)id == s->profile->node_id)
		return s->profile->name;
	for (i = 0; i < peer_count(s->peers); i++)
		if (peer_at(s->peers, i)->id == id)
			return peer_at(s->peers, i)->name;
	return NULL;
}

int
status_member_id(const struct status_src *s, const char *name)
{
	unsigned i;

	if (!strcmp(name, s->profile->name))
		return (int)s->profile->node_id;
	for (i = 0; i < peer_count(s->peers); i++)
		if (!strcmp(peer_at(s->peers, i)->name, name))
			return peer_at(s->peers, i)->id;
	return -1;
}

struct json_object *
status_cluster(const struct status_src *s)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ld = json_object_new_object();
	struct latchd_report r;
	struct core_view v;

	s->core_ops->view(s->core, &v);
	latchd_chan_report(s->latchd, s->now_ms, &r);
	add_str(o, "node", s->profile->name);
	json_object_object_add(o, "id",
			       json_object_new_int64(s->profile->node_id));
	json_object_object_add(o, "term",
			       json_object_new_int64((int64_t)v.term));
	add_str(o, "role", v.role);
	add_str(o, "leader", status_member_name(s, v.leader));
	json_object_object_add(o, "leader_id",
			       v.leader == CORE_NO_LEADER
				       ? NULL
				       : json_object_new_int64(v.leader));
	json_object_object_add(o, "raft_integrated",
			       json_object_new_boolean(v.integrated));
	json_object_object_add(o, "amnesic",
			       json_object_new_boolean(v.amnesic));
	json_object_object_add(
		o, "ctl_incarnation",
		json_object_new_int64((int64_t)v.ctl_incarnation));
	json_object_object_add(
		o, "dp_incarnation",
		json_object_new_int64((int64_t)v.dp_incarnation));
	json_object_object_add(
		o, "caught_up_incarnation",
		json_object_new_int64((int64_t)v.caught_up_incarnation));
	json_object_object_add(o, "meta_last",
			       json_object_new_int64((int64_t)v.meta_last));
	json_object_object_add(o, "meta_commit",
			       json_object_new_int64((int64_t)v.meta_commit));
	if (v.reports != NULL) {
		struct json_object *parts = json_object_new_array();
		unsigned k;

		for (k = 0; k < v.partitions; k++) {
			struct json_object *pj = json_object_new_object();

			json_object_object_add(pj, "partition",
					       json_object_new_int64(k));
			json_object_object_add(
				pj, "commit",
				json_object_new_int64(
					(int64_t)v.reports[k].commit));
			json_object_object_add(
				pj, "applied",
				json_object_new_int64(
					(int64_t)v.reports[k].applied));
			json_object_object_add(
				pj, "last_index",
				json_object_new_int64(
					(int64_t)v.reports[k].last.index));
			json_object_array_add(parts, pj);
		}
		json_object_object_add(o, "partitions", parts);
	}
	json_object_object_add(o, "members", members_array(s));
	add_str(ld, "state", r.up ? "up" : "down");
	json_object_object_add(
		ld, "epoch",
		r.epoch == 0 ? NULL : json_object_new_int64((int64_t)r.epoch));
	json_object_object_add(
		ld, "last_answer_ms",
		r.last_answer_ms == 0
			? NULL
			: json_object_new_int64(
				  (int64_t)(s->now_ms - r.last_answer_ms)));
	json_object_object_add(o, "latchd", ld);
	json_object_object_add(
		o, "uptime_s",
		json_object_new_int64(
			(int64_t)((s->now_ms - s->start_ms) / 1000)));
	return o;
}

struct json_object *
status_members(const struct status_src *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "members", members_array(s));
	return o;
}

/* Role as a number for the gauge: the order of enum raft_role. */
static int
role_number(const char *role)
{
	static const char *const roles[] = {"follower", "pre-candidate",
					    "candidate", "leader"};
	unsigned i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(role, roles[i]))
			return (int)i + 1;
	return 0;
}

/* Per-peer counters of struct peer_stats, one metric each. */
static const struct {
	const char *name;
	const char *help;
	size_t offset;
} peer_counters[] = {
	{"latch_control_peer_sent_total", "Datagrams sent to the peer.",
	 offsetof(struct peer_stats, sent)},
	{"latch_control_peer_send_errors_total",
	 "Datagrams to the peer that sendto() refused.",
	 offsetof(struct peer_stats, send_errors)},
	{"latch_control_peer_received_total",
	 "Datagrams from the peer accepted.",
	 offsetof(struct peer_stats, received)},
	{"latch_control_peer_refused_total",
	 "ICMP port unreachable from the peer's host: its process was gone.",
	 offsetof(struct peer_stats, refused)},
};

#define METRIC_HEAD(f, name, type, help) \
	fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")
/* A metric of one sample: its name written once, so the two lines agree. */
#define METRIC(f, name, type, help, value) \
	(METRIC_HEAD(f, name, type, help), \
	 fprintf(f, name " %" PRId64 "\n", (int64_t)(value)))

char *
status_metrics(const struct status_src *s, size_t *len)
{
	const struct latchd_chan_stats *ls = latchd_chan_stats(s->latchd);
	struct latchd_report r;
	struct core_view v;
	char *text = NULL;
	unsigned i, k;
	FILE *f;

	f = open_memstream(&text, len);
	if (f == NULL)
		return NULL;
	s->core_ops->view(s->core, &v);
	latchd_chan_report(s->latchd, s->now_ms, &r);
	METRIC(f, "latch_control_term", "gauge", "Current Raft term.", v.term);
	METRIC(f, "latch_control_role", "gauge",
	       "Raft role: 1 follower, 2 pre-candidate, 3 candidate, "
	       "4 leader.",
	       role_number(v.role));
	METRIC(f, "latch_control_raft_integrated", "gauge",
	       "1 if the Raft core runs, 0 for the placeholder core.",
	       v.integrated ? 1 : 0);
	METRIC(f, "latch_control_leader_id", "gauge",
	       "Node id of the leader this node knows; -1: none.", v.leader);
	METRIC(f, "latch_control_amnesic", "gauge",
	       "1 while this node is not caught up (diskless rule).",
	       v.amnesic ? 1 : 0);
	METRIC(f, "latch_control_meta_commit", "gauge",
	       "Commit index of the meta log.", v.meta_commit);
	METRIC_HEAD(f, "latch_control_partition_commit", "gauge",
		    "Commit index of a partition log, from latchd's latest "
		    "report.");
	for (k = 0; v.reports != NULL && k < v.partitions; k++)
		fprintf(f,
			"latch_control_partition_commit{partition=\"%u\"} "
			"%" PRIu64 "\n",
			k, v.reports[k].commit);
	METRIC_HEAD(f, "latch_control_partition_applied", "gauge",
		    "Applied index of a partition log, from latchd's latest "
		    "report.");
	for (k = 0; v.reports != NULL && k < v.partitions; k++)
		fprintf(f,
			"latch_control_partition_applied{partition=\"%u\"} "
			"%" PRIu64 "\n",
			k, v.reports[k].applied);
	if (s->repl != NULL) {
		const struct repl_chan_stats *rs = repl_chan_stats(s->repl);

		METRIC(f, "latch_control_repl_connected", "gauge",
		       "1 while the replication channel to latchd is "
		       "connected.",
		       repl_chan_is_connected(s->repl) ? 1 : 0);
		METRIC(f, "latch_control_repl_reports_total", "counter",
		       "REPORTs received from latchd.", rs->reports);
		METRIC(f, "latch_control_repl_bad_reports_total", "counter",
		       "Datagrams from latchd that were not one REPORT.",
		       rs->bad_reports);
		METRIC(f, "latch_control_repl_sent_total", "counter",
		       "VIEW and PULL messages handed to latchd.", rs->sent);
		METRIC(f, "latch_control_repl_send_drops_total", "counter",
		       "VIEW and PULL messages latchd could not take.",
		       rs->send_drops);
	}
	METRIC(f, "latch_control_step_drops_total", "counter",
	       "Messages of a Raft step beyond the step's bounds.",
	       s->step_drops);
	METRIC(f, "latch_control_uptime_seconds", "gauge",
	       "Seconds since latch-control started.",
	       (s->now_ms - s->start_ms) / 1000);
	METRIC(f, "latch_control_latchd_up", "gauge",
	       "1 if the local latchd answered status recently.", r.up ? 1 : 0);
	METRIC(f, "latch_control_latchd_epoch", "gauge",
	       "Epoch (incarnation) of the local latchd; 0 if unknown.",
	       r.epoch);
	METRIC(f, "latch_control_latchd_connects_total", "counter",
	       "Connections made to latchd's control socket.", ls->connects);
	METRIC(f, "latch_control_latchd_disconnects_total", "counter",
	       "Connections to latchd's control socket lost or closed.",
	       ls->disconnects);
	METRIC(f, "latch_control_latchd_bad_answers_total", "counter",
	       "Answers from latchd that were not the JSON expected.",
	       ls->bad_answers);
	METRIC_HEAD(f, "latch_control_peer_up", "gauge",
		    "1 if the peer was heard from within election_ms.");
	for (i = 0; i < peer_count(s->peers); i++) {
		const struct peer *pr = peer_at(s->peers, i);

		fprintf(f, "latch_control_peer_up{peer=\"%s\"} %d\n", pr->name,
			peer_state_at(pr, s->now_ms, s->start_ms,
				      s->profile->control_election_ms) ==
					PEER_UP
				? 1
				: 0);
	}
	for (k = 0; k < sizeof(peer_counters) / sizeof(peer_counters[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n",
			peer_counters[k].name, peer_counters[k].help,
			peer_counters[k].name);
		for (i = 0; i < peer_count(s->peers); i++) {
			const struct peer *pr = peer_at(s->peers, i);

			fprintf(f, "%s{peer=\"%s\"} %" PRIu64 "\n",
				peer_counters[k].name, pr->name,
				*(const uint64_t *)((const char *)&pr->stats +
						    peer_counters[k].offset));
		}
	}
	METRIC_HEAD(f, "latch_control_peer_dropped_total", "counter",
		    "Datagrams from the peer refused, by reason.");
	for (i = 0; i < peer_count(s->peers); i++) {
		const struct peer *pr = peer_at(s->peers, i);

		for (k = 1; k < RAFT_WIRE_V_MAX; k++)
			fprintf(f,
				"latch_control_peer_dropped_total{peer=\"%s\","
				"reason=\"%s\"} %" PRIu64 "\n",
				pr->name, raft_wire_verdict_names[k],
				pr->stats.decode_errors[k]);
		for (k = 0; k < PEER_DROP_MAX; k++)
			fprintf(f,
				"latch_control_peer_dropped_total{peer=\"%s\","
				"reason=\"%s\"} %" PRIu64 "\n",
				pr->name, peer_drop_names[k],
				pr->stats.drops[k]);
	}
	METRIC(f, "latch_control_unknown_source_total", "counter",
	       "Datagrams on the management socket from no known peer.",
	       peer_unknown_source(s->peers));
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
