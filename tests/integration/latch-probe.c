/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-probe: a liblatch program for the integration tests. It does what
 * latchctl cannot show from one command: hold a lock and report the LOST
 * notification when the lease runs out, or hold it with a live session
 * until it is killed.
 *
 *   latch-probe [OPTIONS] hold KEY [--lease MS] [--wait MS]
 *                             [--until lost|killed]
 *   latch-probe [OPTIONS] wait KEY [--wait MS] [--lease MS] [--release]
 *
 * OPTIONS: --server ADDR[:PORT] (default $LATCH_SERVER), --client-id N,
 * --session-ms MS, --no-session, --timeout MS (hold --until lost: how long
 * to wait for LOST, default 30000).
 *
 * Every event is one JSON line on stdout, flushed at once, so a test can
 * follow it from a file:
 *   {"event":"granted","key":K,"token":N,"lease_ms":N,"client_id":N}
 *   {"event":"lost","key":K,"status":"expired","token":N}
 *   {"event":"acquire","key":K,"status":S,"token":N}
 *   {"event":"released","key":K,"status":S}
 * Exit status: 0 when the awaited event came, 1 when it did not, 2 for
 * bad arguments, 3 when the server did not answer.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <latch/client.h>

struct probe_opts {
	const char *server;
	uint64_t client_id;
	bool session;
	uint32_t session_ms;
	uint32_t lease_ms;
	uint32_t wait_ms;
	int timeout_ms;
	bool until_killed;
	bool release;
};

static void
probe_usage(FILE *f)
{
	fputs("usage: latch-probe [--server A] [--client-id N] [--session-ms "
	      "MS]\n"
	      "                   [--no-session] [--timeout MS]\n"
	      "                   hold KEY [--lease MS] [--wait MS]\n"
	      "                            [--until lost|killed]\n"
	      "       latch-probe [...] wait KEY [--wait MS] [--lease MS] "
	      "[--release]\n",
	      f);
}

static uint64_t
probe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
probe_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' ? -EINVAL : 0;
}

/* hold: take KEY (try), print granted, then await LOST or a kill. */
static int
probe_hold(struct latch_client *c, const struct probe_opts *o, const char *key)
{
	size_t len = strlen(key);
	struct latch_result res;
	struct latch_event ev;
	uint64_t deadline;
	int rc;

	/* With --wait, queue behind the holder: the test orders waiters. */
	rc = latch_acquire(c, key, len, o->wait_ms != 0 ? LATCH_F_WAIT : 0,
			   o->wait_ms, o->lease_ms, &res);
	if (rc != 0) {
		fprintf(stderr, "latch-probe: acquire: %s\n", strerror(-rc));
		return 3;
	}
	if (res.status != LATCH_S_OK) {
		printf("{\"event\":\"acquire\",\"key\":\"%s\",\"status\":\"%"
		       "s\"}\n",
		       key, latch_status_name(res.status));
		fflush(stdout);
		return 1;
	}
	printf("{\"event\":\"granted\",\"key\":\"%s\",\"token\":%" PRIu64
	       ",\"lease_ms\":%u,\"client_id\":%" PRIu64 "}\n",
	       key, res.token, res.lease_ms, latch_client_id(c));
	fflush(stdout);
	if (o->until_killed) {
		/* The keepalive thread keeps the session alive meanwhile. */
		for (;;)
			pause();
	}
	deadline = probe_now_ms() + (uint64_t)o->timeout_ms;
	for (;;) {
		uint64_t now = probe_now_ms();

		if (now >= deadline)
			break;
		rc = latch_poll_event(c, &ev, (int)(deadline - now));
		if (rc < 0) {
			fprintf(stderr, "latch-probe: poll: %s\n",
				strerror(-rc));
			return 3;
		}
		if (rc == 0)
			break;
		printf("{\"event\":\"%s\",\"key\":\"%.*s\",\"status\":\"%s\","
		       "\"token\":%" PRIu64 "}\n",
		       ev.op == LATCH_OP_LOST ? "lost" : "notification",
		       (int)ev.key_len, (const char *)ev.key,
		       latch_status_name(ev.status), ev.token);
		fflush(stdout);
		if (ev.op == LATCH_OP_LOST && ev.key_len == len &&
		    memcmp(ev.key, key, len) == 0)
			return 0;
	}
	printf("{\"event\":\"no_lost\",\"key\":\"%s\"}\n", key);
	fflush(stdout);
	return 1;
}

/* wait: take KEY, queueing up to wait_ms; optionally release it after. */
static int
probe_wait(struct latch_client *c, const struct probe_opts *o, const char *key)
{
	size_t len = strlen(key);
	struct latch_result res;
	uint64_t token;
	int rc;

	rc = latch_acquire(c, key, len, LATCH_F_WAIT, o->wait_ms, o->lease_ms,
			   &res);
	if (rc != 0) {
		fprintf(stderr, "latch-probe: acquire: %s\n", strerror(-rc));
		return 3;
	}
	printf("{\"event\":\"acquire\",\"key\":\"%s\",\"status\":\"%s\","
	       "\"token\":%" PRIu64 "}\n",
	       key, latch_status_name(res.status), res.token);
	fflush(stdout);
	if (res.status != LATCH_S_OK)
		return 1;
	if (!o->release)
		return 0;
	token = res.token;
	rc = latch_release(c, key, len, token, &res);
	if (rc != 0)
		return 3;
	printf("{\"event\":\"released\",\"key\":\"%s\",\"status\":\"%s\"}\n",
	       key, latch_status_name(res.status));
	fflush(stdout);
	return res.status == LATCH_S_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"client-id", required_argument, NULL, 'c'},
		{"session-ms", required_argument, NULL, 'S'},
		{"no-session", no_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 't'},
		{"lease", required_argument, NULL, 'l'},
		{"wait", required_argument, NULL, 'w'},
		{"until", required_argument, NULL, 'u'},
		{"release", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct probe_opts o = {.session = true, .timeout_ms = 30000};
	struct latch_client_config cfg;
	struct latch_client *c;
	const char *cmd, *key;
	uint64_t v;
	int opt, rc;

	o.server = getenv("LATCH_SERVER");
	if (o.server == NULL || o.server[0] == '\0')
		o.server = "198.18.0.1:7400";
	/* '+' is not needed: options may follow the subcommand too. */
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			o.server = optarg;
			break;
		case 'n':
			o.session = false;
			break;
		case 'u':
			if (strcmp(optarg, "killed") == 0)
				o.until_killed = true;
			else if (strcmp(optarg, "lost") != 0)
				goto usage;
			break;
		case 'r':
			o.release = true;
			break;
		case 'h':
			probe_usage(stdout);
			return 0;
		case 'c':
		case 'S':
		case 't':
		case 'l':
		case 'w':
			if (probe_parse_u64(optarg, &v) != 0 || v > INT32_MAX)
				goto usage;
			if (opt == 'c')
				o.client_id = v;
			else if (opt == 'S')
				o.session_ms = (uint32_t)v;
			else if (opt == 't')
				o.timeout_ms = (int)v;
			else if (opt == 'l')
				o.lease_ms = (uint32_t)v;
			else
				o.wait_ms = (uint32_t)v;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	cmd = argv[optind];
	key = argv[optind + 1];
	if (strlen(key) == 0 || strlen(key) > LATCH_KEY_MAX)
		goto usage;

	latch_client_config_default(&cfg);
	cfg.server = o.server;
	cfg.client_id = o.client_id;
	cfg.session = o.session;
	cfg.session_ms = o.session_ms;
	c = latch_client_create(&cfg);
	if (c == NULL) {
		fprintf(stderr, "latch-probe: client for %s: %s\n", o.server,
			strerror(errno));
		return 3;
	}
	if (strcmp(cmd, "hold") == 0) {
		rc = probe_hold(c, &o, key);
	} else if (strcmp(cmd, "wait") == 0) {
		rc = probe_wait(c, &o, key);
	} else {
		latch_client_destroy(c);
		goto usage;
	}
	latch_client_destroy(c);
	return rc;

usage:
	probe_usage(stderr);
	return 2;
}
