/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-demo: N processes increment one counter in a file, each increment
 * under a latch lock, and the parent checks that none was lost.
 *
 * Each child loops: acquire the key (waiting), read "value token" from the
 * shared file, check that its fencing token is larger than the token the
 * last writer recorded (a stale holder would be caught here, docs/design.md
 * "lock semantics"), write "value+1 token" to a temporary file, fsync and
 * rename it over the shared file, release. Lost updates or a fencing
 * violation make the demo fail loudly.
 *
 * Children report through a shared anonymous mapping: their progress (read
 * by the parent once a second) and their acquire/release latency
 * histograms (merged by the parent at the end).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <latch/client.h>

#include "common/hist.h"

/* Fork bound: the lab machine has 2 cores; 64 is plenty to show queueing. */
#define DEMO_CLIENTS_MAX 64
/* How long one acquire may stay queued (the brief of the demo: 10 s). */
#define DEMO_WAIT_MS 10000
/*
 * Lease asked: the work under the lock is one read, one write and one
 * fsync, a few ms at worst; 5 s leaves a loaded machine ample margin.
 */
#define DEMO_LEASE_MS 5000
/* Failed acquires (timeouts, no answer) a child tolerates before giving up. */
#define DEMO_ERRORS_MAX     10
#define DEMO_SERVER_DEFAULT "198.18.0.1:7400"
#define DEMO_KEY_DEFAULT    "latch-demo"

/* One child's report, in memory shared with the parent. */
struct demo_slot {
	volatile uint64_t done;       /* iterations finished */
	volatile uint64_t violations; /* fencing checks that failed */
	volatile uint64_t errors;     /* failed acquires or releases */
	uint64_t start_ns;            /* before the first acquire */
	uint64_t end_ns;              /* after the last release */
	uint64_t last_token;          /* largest token granted to the child */
	struct hist acquire;
	struct hist release;
};

struct demo_opts {
	unsigned clients;
	unsigned iterations;
	const char *file;
	const char *key;
	const char *server;
	bool json;
};

static uint64_t
demo_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
demo_usage(FILE *f)
{
	fprintf(f,
		"usage: latch-demo [--clients N] [--iterations M] [--file "
		"PATH]\n"
		"                  [--key K] [--server ADDR[:PORT]] [--json]\n"
		"\n"
		"Forks N client processes (default 4). Each one, M times "
		"(default\n"
		"500): takes the lock K (default \"" DEMO_KEY_DEFAULT "\"), "
		"reads \"value token\"\n"
		"from PATH (default: a temporary file), checks its fencing "
		"token\n"
		"is larger than the one in the file, writes value+1 and its "
		"token,\n"
		"and releases. At the end the value must be exactly N*M.\n"
		"\n"
		"  --server   latchd's address (default $LATCH_SERVER, else "
		"%s)\n"
		"  --json     also print the latency histograms as JSON\n"
		"\n"
		"Exit status: 0 when the value is exactly right and no "
		"fencing\n"
		"check failed, 1 otherwise, 2 for bad arguments.\n",
		DEMO_SERVER_DEFAULT);
}

static int
demo_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Read "value token" from @path. 0 or -errno. */
static int
demo_file_read(const char *path, uint64_t *value, uint64_t *token)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	if (sscanf(buf, "%" SCNu64 " %" SCNu64, value, token) != 2)
		return -EIO;
	return 0;
}

/*
 * Replace @path's content by "value token": write a temporary file next to
 * it, fsync, rename. A reader never sees a half-written file. 0 or -errno.
 */
static int
demo_file_write(const char *path, uint64_t value, uint64_t token)
{
	char tmp[4096], buf[64];
	int fd, len, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	len = snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64 "\n", value,
		       token);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len || fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* One child's loop. Returns its exit status. */
static int
demo_child(const struct demo_opts *o, unsigned index, struct demo_slot *slot)
{
	struct latch_client_config cfg;
	struct latch_client *c;
	struct latch_result res;
	size_t key_len = strlen(o->key);
	uint64_t t0, t1, value, file_token;
	unsigned i;
	int rc;

	latch_client_config_default(&cfg);
	cfg.server = o->server;
	c = latch_client_create(&cfg);
	if (c == NULL) {
		fprintf(stderr,
			"latch-demo[%u]: cannot create client for %s: %s\n",
			index, o->server, strerror(errno));
		return 1;
	}
	slot->start_ns = demo_now_ns();
	for (i = 0; i < o->iterations;) {
		t0 = demo_now_ns();
		rc = latch_acquire(c, o->key, key_len, LATCH_F_WAIT,
				   DEMO_WAIT_MS, DEMO_LEASE_MS, &res);
		t1 = demo_now_ns();
		if (rc != 0 || res.status != LATCH_S_OK) {
			fprintf(stderr, "latch-demo[%u]: acquire: %s\n", index,
				rc != 0 ? strerror(-rc)
					: latch_status_name(res.status));
			if (++slot->errors >= DEMO_ERRORS_MAX)
				goto give_up;
			continue;
		}
		hist_record(&slot->acquire, t1 - t0);
		if (res.token <= slot->last_token) {
			fprintf(stderr,
				"latch-demo[%u]: token %" PRIu64
				" not above my previous %" PRIu64 "\n",
				index, res.token, slot->last_token);
			slot->violations++;
		}
		slot->last_token = res.token;

		rc = demo_file_read(o->file, &value, &file_token);
		if (rc != 0) {
			fprintf(stderr, "latch-demo[%u]: read %s: %s\n", index,
				o->file, strerror(-rc));
			slot->errors++;
			goto release;
		}
		if (res.token <= file_token) {
			fprintf(stderr,
				"latch-demo[%u]: FENCING VIOLATION: my token "
				"%" PRIu64 " <= %" PRIu64
				" written by the last holder\n",
				index, res.token, file_token);
			slot->violations++;
			goto release; /* a fenced storage refuses the write */
		}
		rc = demo_file_write(o->file, value + 1, res.token);
		if (rc != 0) {
			fprintf(stderr, "latch-demo[%u]: write %s: %s\n", index,
				o->file, strerror(-rc));
			slot->errors++;
		}
	release:
		t0 = demo_now_ns();
		rc = latch_release(c, o->key, key_len, res.token, &res);
		t1 = demo_now_ns();
		if (rc != 0 || res.status != LATCH_S_OK) {
			/* Our lease ran out: another holder may have written. */
			fprintf(stderr, "latch-demo[%u]: release: %s\n", index,
				rc != 0 ? strerror(-rc)
					: latch_status_name(res.status));
			slot->errors++;
		} else {
			hist_record(&slot->release, t1 - t0);
		}
		i++;
		slot->done = i;
		if (slot->errors >= DEMO_ERRORS_MAX)
			goto give_up;
	}
	slot->end_ns = demo_now_ns();
	latch_client_destroy(c);
	return slot->errors == 0 && slot->violations == 0 ? 0 : 1;

give_up:
	slot->end_ns = demo_now_ns();
	fprintf(stderr, "latch-demo[%u]: giving up after %" PRIu64 " errors\n",
		index, slot->errors);
	latch_client_destroy(c);
	return 1;
}

static uint64_t
demo_done(const struct demo_slot *slots, unsigned n)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		sum += slots[i].done;
	return sum;
}

/* Fork the children and wait for them, printing progress each second. */
static int
demo_run(const struct demo_opts *o, struct demo_slot *slots)
{
	uint64_t start = demo_now_ns(), next = start + 1000000000ull;
	uint64_t total = (uint64_t)o->clients * o->iterations;
	unsigned i, alive = 0, failed = 0;
	pid_t pids[DEMO_CLIENTS_MAX];
	int status;

	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < o->clients; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			fprintf(stderr, "latch-demo: fork: %s\n",
				strerror(errno));
			failed++;
			continue;
		}
		if (pids[i] == 0)
			_exit(demo_child(o, i, &slots[i]));
		alive++;
	}
	while (alive > 0) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			alive--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
			continue;
		}
		if (pid < 0 && errno != EINTR)
			break;
		if (demo_now_ns() >= next) {
			printf("  [%" PRIu64 " s] %" PRIu64 "/%" PRIu64
			       " iterations\n",
			       (uint64_t)((demo_now_ns() - start) /
					  1000000000u),
			       demo_done(slots, o->clients), total);
			fflush(stdout);
			next += 1000000000ull;
		}
		usleep(20000); /* 20 ms: progress granularity, idle parent */
	}
	return failed == 0 ? 0 : -1;
}

/* Merge, check and print. Returns the exit status. */
static int
demo_report(const struct demo_opts *o, struct demo_slot *slots, int run_rc)
{
	uint64_t expected = (uint64_t)o->clients * o->iterations;
	uint64_t value = 0, token = 0, violations = 0, errors = 0;
	uint64_t first = UINT64_MAX, last = 0, ops;
	static struct hist acquire, release;
	double secs;
	unsigned i;
	int rc;
	bool ok;

	hist_init(&acquire);
	hist_init(&release);
	for (i = 0; i < o->clients; i++) {
		hist_merge(&acquire, &slots[i].acquire);
		hist_merge(&release, &slots[i].release);
		violations += slots[i].violations;
		errors += slots[i].errors;
		if (slots[i].start_ns != 0 && slots[i].start_ns < first)
			first = slots[i].start_ns;
		if (slots[i].end_ns > last)
			last = slots[i].end_ns;
	}
	rc = demo_file_read(o->file, &value, &token);
	if (rc != 0)
		fprintf(stderr, "latch-demo: read %s: %s\n", o->file,
			strerror(-rc));
	ok = rc == 0 && value == expected && violations == 0 && run_rc == 0;
	if (ok) {
		printf("final value %" PRIu64 " = %u clients x %u iterations: "
		       "exactly right (no lost update, no fencing violation)\n",
		       value, o->clients, o->iterations);
	} else {
		printf("FAILURE: final value %" PRIu64 ", expected %" PRIu64
		       "; %" PRIu64 " fencing violations, %" PRIu64
		       " errors%s\n",
		       value, expected, violations, errors,
		       run_rc != 0 ? ", a client failed" : "");
	}
	ops = hist_count(&acquire) + hist_count(&release);
	secs = last > first ? (double)(last - first) / 1e9 : 0.0;
	printf("lock ops/s: %.0f (%" PRIu64 " acquires + releases in %.2f s)\n",
	       secs > 0 ? (double)ops / secs : 0.0, ops, secs);
	printf("acquire latency: p50 %.1f us, p99 %.1f us, max %.1f us "
	       "(includes waiting for the other clients)\n",
	       (double)hist_percentile(&acquire, 50) / 1e3,
	       (double)hist_percentile(&acquire, 99) / 1e3,
	       (double)hist_max(&acquire) / 1e3);
	printf("release latency: p50 %.1f us, p99 %.1f us\n",
	       (double)hist_percentile(&release, 50) / 1e3,
	       (double)hist_percentile(&release, 99) / 1e3);
	if (o->json) {
		printf("{\"ok\":%s,\"value\":%" PRIu64 ",\"expected\":%" PRIu64
		       ",\"violations\":%" PRIu64 ",\"errors\":%" PRIu64
		       ",\"ops_per_s\":%.0f,\"acquire\":",
		       ok ? "true" : "false", value, expected, violations,
		       errors, secs > 0 ? (double)ops / secs : 0.0);
		hist_write_json(&acquire, stdout);
		fputs(",\"release\":", stdout);
		hist_write_json(&release, stdout);
		fputs("}\n", stdout);
	}
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"clients", required_argument, NULL, 'c'},
		{"iterations", required_argument, NULL, 'i'},
		{"file", required_argument, NULL, 'f'},
		{"key", required_argument, NULL, 'k'},
		{"server", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct demo_opts o = {
		.clients = 4,
		.iterations = 500,
		.key = DEMO_KEY_DEFAULT,
	};
	char tmpl[] = "/tmp/latch-demo.XXXXXX";
	struct demo_slot *slots;
	size_t slots_len;
	bool own_file = false;
	int opt, rc, fd;

	o.server = getenv("LATCH_SERVER");
	if (o.server == NULL || o.server[0] == '\0')
		o.server = DEMO_SERVER_DEFAULT;
	while ((opt = getopt_long(argc, argv, "c:i:f:k:s:jh", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (demo_parse_uint(optarg, 1, DEMO_CLIENTS_MAX,
					    &o.clients) != 0) {
				fprintf(stderr,
					"latch-demo: --clients: 1..%d\n",
					DEMO_CLIENTS_MAX);
				return 2;
			}
			break;
		case 'i':
			if (demo_parse_uint(optarg, 1, 100000000,
					    &o.iterations) != 0) {
				fprintf(stderr, "latch-demo: --iterations: "
						"1..100000000\n");
				return 2;
			}
			break;
		case 'f':
			o.file = optarg;
			break;
		case 'k':
			o.key = optarg;
			if (strlen(o.key) == 0 ||
			    strlen(o.key) > LATCH_KEY_MAX) {
				fprintf(stderr,
					"latch-demo: --key: 1..%d bytes\n",
					LATCH_KEY_MAX);
				return 2;
			}
			break;
		case 's':
			o.server = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			demo_usage(stdout);
			return 0;
		default:
			demo_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		demo_usage(stderr);
		return 2;
	}

	if (o.file == NULL) {
		fd = mkstemp(tmpl);
		if (fd < 0) {
			fprintf(stderr, "latch-demo: mkstemp: %s\n",
				strerror(errno));
			return 1;
		}
		close(fd);
		o.file = tmpl;
		own_file = true;
	}
	rc = demo_file_write(o.file, 0, 0);
	if (rc != 0) {
		fprintf(stderr, "latch-demo: cannot write %s: %s\n", o.file,
			strerror(-rc));
		goto remove_file;
	}
	slots_len = sizeof(*slots) * o.clients;
	slots = mmap(NULL, slots_len, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED) {
		fprintf(stderr, "latch-demo: mmap: %s\n", strerror(errno));
		rc = -errno;
		goto remove_file;
	}
	for (unsigned i = 0; i < o.clients; i++) {
		memset(&slots[i], 0, sizeof(slots[i]));
		hist_init(&slots[i].acquire);
		hist_init(&slots[i].release);
	}

	printf("latch-demo: %u clients x %u iterations on key \"%s\" at %s, "
	       "file %s\n",
	       o.clients, o.iterations, o.key, o.server, o.file);
	rc = demo_report(&o, slots, demo_run(&o, slots));
	munmap(slots, slots_len);
	if (own_file)
		unlink(o.file);
	return rc;

remove_file:
	if (own_file)
		unlink(o.file);
	return 1;
}
