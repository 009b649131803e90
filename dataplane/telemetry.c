/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latchd's DPDK telemetry commands (see telemetry.h).
 *
 * DPDK 22.11's telemetry callbacks take no context argument, so the view
 * is a file-scope pointer, guarded by a mutex: the telemetry thread holds
 * it while it reads the workers, and telemetry_fini() takes it to clear
 * the pointer, so no callback can read a worker being destroyed. Neither
 * side is on the fast path.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "dataplane/telemetry.h"

static pthread_mutex_t telemetry_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct latchd_view *telemetry_view;

/*
 * Parse the worker index of "/latch/stats,W". Returns 0 and sets *@w,
 * -ENOENT when there is no parameter, -EINVAL when it is not a worker.
 */
static int
telemetry_worker_param(const struct latchd_view *v, const char *params,
		       uint16_t *w)
{
	unsigned long n;
	char *end;

	if (params == NULL || *params == '\0')
		return -ENOENT;
	errno = 0;
	n = strtoul(params, &end, 10);
	if (errno != 0 || end == params || *end != '\0' ||
	    n >= v->workers_count)
		return -EINVAL;
	*w = (uint16_t)n;
	return 0;
}

static uint64_t
telemetry_drops_total(const struct worker_stats *s)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < WORKER_DROP_MAX; i++)
		sum += s->drops[i];
	return sum;
}

/* Router decisions by reason, as "route_<reason>" (names stay unique). */
static void
telemetry_route_reasons(struct rte_tel_data *d, const struct worker_stats *s)
{
	char name[64];
	unsigned i;

	for (i = 0; i < ROUTER_R_MAX; i++) {
		snprintf(name, sizeof(name), "route_%s",
			 router_reason_names[i]);
		rte_tel_data_add_dict_u64(d, name, s->route_reasons[i]);
	}
}

/* Every counter of @s as one flat dict: names are unique across lists. */
static void
telemetry_stats_dict(struct rte_tel_data *d, const struct worker_stats *s)
{
#define TEL_COUNTER(name) rte_tel_data_add_dict_u64(d, #name, s->name);
	WORKER_COUNTER_LIST(TEL_COUNTER)
#undef TEL_COUNTER
#define TEL_LOCK(name) rte_tel_data_add_dict_u64(d, #name, s->lock.name);
	LOCK_COUNTER_LIST(TEL_LOCK)
#undef TEL_LOCK
	rte_tel_data_add_dict_u64(d, "drops", telemetry_drops_total(s));
	rte_tel_data_add_dict_u64(d, "locks", s->gauges.locks);
	rte_tel_data_add_dict_u64(d, "holders", s->gauges.holders);
	rte_tel_data_add_dict_u64(d, "waiters", s->gauges.waiters);
	rte_tel_data_add_dict_u64(d, "sessions", s->gauges.sessions);
	rte_tel_data_add_dict_u64(d, "notify_pending", s->notify_pending);
	telemetry_route_reasons(d, s);
}

static void
telemetry_sum(const struct latchd_view *v, struct worker_stats *total)
{
	struct worker_stats one;
	uint16_t w;

	memset(total, 0, sizeof(*total));
	for (w = 0; w < v->workers_count; w++) {
		worker_stats_read(v->workers[w], &one);
		latchd_stats_add(total, &one);
	}
}

static int
telemetry_cb_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct latchd_view *v;
	struct worker_stats s;
	uint16_t w = 0;
	int ret = 0;

	pthread_mutex_lock(&telemetry_lock);
	v = telemetry_view;
	if (v == NULL) {
		ret = -ENODEV;
		goto out;
	}
	ret = telemetry_worker_param(v, params, &w);
	if (ret == -EINVAL)
		goto out;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "node", v->profile->name);
	rte_tel_data_add_dict_u64(d, "epoch", v->epoch);
	rte_tel_data_add_dict_u64(d, "uptime_s", latchd_view_uptime_s(v));
	rte_tel_data_add_dict_u64(d, "partitions", v->workers_count);
	if (ret == 0) {
		rte_tel_data_add_dict_u64(d, "worker", w);
		rte_tel_data_add_dict_u64(d, "lcore", v->worker_lcores[w]);
		worker_stats_read(v->workers[w], &s);
	} else {
		telemetry_sum(v, &s);
	}
	telemetry_stats_dict(d, &s);
	ret = 0;
out:
	pthread_mutex_unlock(&telemetry_lock);
	return ret;
}

/* Names of the per-worker arrays of /latch/workers, in output order. */
enum telemetry_col {
	TEL_COL_lcore,
#define TEL_COL_ENUM(name) TEL_COL_##name,
	WORKER_COUNTER_LIST(TEL_COL_ENUM) LOCK_COUNTER_LIST(TEL_COL_ENUM)
#undef TEL_COL_ENUM
		TEL_COL_drops,
	TEL_COL_locks,
	TEL_COL_holders,
	TEL_COL_waiters,
	TEL_COL_sessions,
	TEL_COL_notify_pending,
	TEL_COL_MAX
};

static const char *const telemetry_col_names[TEL_COL_MAX] = {
	[TEL_COL_lcore] = "lcore",
#define TEL_COL_NAME(name) [TEL_COL_##name] = #name,
	WORKER_COUNTER_LIST(TEL_COL_NAME) LOCK_COUNTER_LIST(TEL_COL_NAME)
#undef TEL_COL_NAME
		[TEL_COL_drops] = "drops",
	[TEL_COL_locks] = "locks",
	[TEL_COL_holders] = "holders",
	[TEL_COL_waiters] = "waiters",
	[TEL_COL_sessions] = "sessions",
	[TEL_COL_notify_pending] = "notify_pending",
};

_Static_assert(TEL_COL_MAX <= RTE_TEL_MAX_DICT_ENTRIES,
	       "every column fits one telemetry dict");
_Static_assert(LATCH_PARTITIONS_MAX <= RTE_TEL_MAX_ARRAY_ENTRIES,
	       "every worker fits one telemetry array");

static void
telemetry_columns(const struct worker_stats *s, unsigned lcore,
		  uint64_t col[TEL_COL_MAX])
{
	col[TEL_COL_lcore] = lcore;
#define TEL_COL_SET(name) col[TEL_COL_##name] = s->name;
	WORKER_COUNTER_LIST(TEL_COL_SET)
#undef TEL_COL_SET
#define TEL_COL_SET_LOCK(name) col[TEL_COL_##name] = s->lock.name;
	LOCK_COUNTER_LIST(TEL_COL_SET_LOCK)
#undef TEL_COL_SET_LOCK
	col[TEL_COL_drops] = telemetry_drops_total(s);
	col[TEL_COL_locks] = s->gauges.locks;
	col[TEL_COL_holders] = s->gauges.holders;
	col[TEL_COL_waiters] = s->gauges.waiters;
	col[TEL_COL_sessions] = s->gauges.sessions;
	col[TEL_COL_notify_pending] = s->notify_pending;
}

/*
 * /latch/workers: {"rx_packets": [w0, w1, ...], ...}. DPDK 22.11 allows
 * only arrays inside a dict, hence one array per counter. Its 16 KiB
 * answer holds a few dozen workers; beyond that use /latch/stats,W.
 */
static int
telemetry_cb_workers(const char *cmd, const char *params,
		     struct rte_tel_data *d)
{
	struct rte_tel_data *arrays[TEL_COL_MAX] = {NULL};
	uint64_t col[TEL_COL_MAX];
	const struct latchd_view *v;
	struct worker_stats s;
	unsigned c;
	uint16_t w;
	int ret = 0;

	pthread_mutex_lock(&telemetry_lock);
	v = telemetry_view;
	if (v == NULL) {
		ret = -ENODEV;
		goto out;
	}
	for (c = 0; c < TEL_COL_MAX; c++) {
		arrays[c] = rte_tel_data_alloc();
		if (arrays[c] == NULL) {
			ret = -ENOMEM;
			goto out_free;
		}
		rte_tel_data_start_array(arrays[c], RTE_TEL_U64_VAL);
	}
	for (w = 0; w < v->workers_count; w++) {
		worker_stats_read(v->workers[w], &s);
		telemetry_columns(&s, v->worker_lcores[w], col);
		for (c = 0; c < TEL_COL_MAX; c++)
			rte_tel_data_add_array_u64(arrays[c], col[c]);
	}
	rte_tel_data_start_dict(d);
	for (c = 0; c < TEL_COL_MAX; c++) {
		/* keep = 0: the library frees the array with @d */
		if (rte_tel_data_add_dict_container(d, telemetry_col_names[c],
						    arrays[c], 0) < 0)
			rte_tel_data_free(arrays[c]);
		arrays[c] = NULL;
	}
	goto out;
out_free:
	for (c = 0; c < TEL_COL_MAX; c++)
		rte_tel_data_free(arrays[c]);
out:
	pthread_mutex_unlock(&telemetry_lock);
	return ret;
}

static int
telemetry_cb_drops(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct latchd_view *v;
	struct worker_stats s;
	uint16_t w = 0;
	unsigned i;
	int ret = 0;

	pthread_mutex_lock(&telemetry_lock);
	v = telemetry_view;
	if (v == NULL) {
		ret = -ENODEV;
		goto out;
	}
	ret = telemetry_worker_param(v, params, &w);
	if (ret == -EINVAL)
		goto out;
	if (ret == 0)
		worker_stats_read(v->workers[w], &s);
	else
		telemetry_sum(v, &s);
	rte_tel_data_start_dict(d);
	for (i = 0; i < WORKER_DROP_MAX; i++)
		rte_tel_data_add_dict_u64(d, worker_drop_names[i], s.drops[i]);
	ret = 0;
out:
	pthread_mutex_unlock(&telemetry_lock);
	return ret;
}

/*
 * "<kind>/<name>/<what>" as a telemetry dict name: DPDK allows only
 * letters, digits, '_' and '/' (rte_telemetry.h), so other characters of
 * a profile name become '_'.
 */
static void
telemetry_entry_name(char *out, size_t size, const char *kind, const char *name,
		     const char *what)
{
	char *c;

	snprintf(out, size, "%s/%s/%s", kind, name, what);
	for (c = out; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '/')
			*c = '_';
}

/*
 * /latch/routes: per route "route/<name>/forwarded" and ".../dropped", per
 * backend "backend/<name>/forwarded" and ".../up", and "conntrack/<counter>"
 * of the workers' flow tables, summed over workers. The routes are read
 * under the lock the control socket holds to change them.
 */
static int
telemetry_cb_routes(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct latchd_view *v;
	const struct route_conf *rc;
	struct worker_stats s;
	char name[RTE_TEL_MAX_STRING_LEN];
	unsigned entries = 1;
	uint16_t i;
	int ret = 0;

	pthread_mutex_lock(&telemetry_lock);
	v = telemetry_view;
	if (v == NULL || v->routes == NULL) {
		ret = -ENODEV;
		goto out;
	}
	telemetry_sum(v, &s);
	pthread_mutex_lock(v->routes_lock);
	rc = v->routes;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "generation", rc->generation);
#define TEL_CT(name)                                                          \
	rte_tel_data_add_dict_u64(d, "conntrack/" #name, s.conntrack_##name); \
	entries++;
	CONNTRACK_COUNTER_LIST(TEL_CT)
#undef TEL_CT
	for (i = 0;
	     i < rc->routes_count && entries + 2 <= RTE_TEL_MAX_DICT_ENTRIES;
	     i++, entries += 2) {
		telemetry_entry_name(name, sizeof(name), "route",
				     rc->routes[i].name, "forwarded");
		rte_tel_data_add_dict_u64(d, name,
					  latchd_route_forwarded(rc, i, &s));
		telemetry_entry_name(name, sizeof(name), "route",
				     rc->routes[i].name, "dropped");
		rte_tel_data_add_dict_u64(d, name,
					  latchd_route_dropped(rc, i, &s));
	}
	for (i = 0;
	     i < rc->backends_count && entries + 2 <= RTE_TEL_MAX_DICT_ENTRIES;
	     i++, entries += 2) {
		telemetry_entry_name(name, sizeof(name), "backend",
				     rc->backends[i].name, "forwarded");
		rte_tel_data_add_dict_u64(d, name,
					  latchd_backend_forwarded(rc, i, &s));
		telemetry_entry_name(name, sizeof(name), "backend",
				     rc->backends[i].name, "up");
		rte_tel_data_add_dict_u64(d, name, rc->backends[i].up);
	}
	pthread_mutex_unlock(v->routes_lock);
out:
	pthread_mutex_unlock(&telemetry_lock);
	return ret;
}

int
telemetry_init(const struct latchd_view *view)
{
	int ret;

	pthread_mutex_lock(&telemetry_lock);
	telemetry_view = view;
	pthread_mutex_unlock(&telemetry_lock);

	ret = rte_telemetry_register_cmd(
		"/latch/stats", telemetry_cb_stats,
		"latchd counters summed over workers. Parameters: int worker "
		"(optional)");
	if (ret == 0)
		ret = rte_telemetry_register_cmd(
			"/latch/workers", telemetry_cb_workers,
			"latchd counters, one array per counter indexed by "
			"worker. Takes no parameters");
	if (ret == 0)
		ret = rte_telemetry_register_cmd(
			"/latch/drops", telemetry_cb_drops,
			"latchd drops by reason, summed over workers. "
			"Parameters: int worker (optional)");
	if (ret == 0)
		ret = rte_telemetry_register_cmd(
			"/latch/routes", telemetry_cb_routes,
			"latchd per-route and per-backend counters, summed "
			"over "
			"workers. Takes no parameters");
	if (ret < 0)
		telemetry_fini();
	return ret;
}

void
telemetry_fini(void)
{
	pthread_mutex_lock(&telemetry_lock);
	telemetry_view = NULL;
	pthread_mutex_unlock(&telemetry_lock);
}
