/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latchd: the DPDK primary process of one latch node (docs/design.md,
 * "processes").
 *
 * As DPDK's l3fwd: validate the configuration, then create, then launch.
 * The profile is loaded and checked before anything is touched; then the
 * boot epoch is advanced on disk, the EAL started with arguments built
 * from the profile, the ports and workers created, and each worker
 * launched on its lcore. The main lcore then serves the control socket
 * and watches for SIGINT/SIGTERM, blocked in poll() so it never spins.
 * DPDK's telemetry thread serves /latch/ commands beside it.
 *
 * Exit codes: 0 after a clean stop, 2 for usage and profile errors, 1 for
 * everything the environment refused (memory, devices, disk).
 */
#define _GNU_SOURCE /* accept4, pipe2, strsignal */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_version.h>

#include "common/assert.h"
#include "dataplane/control_sock.h"
#include "dataplane/peer_link.h"
#include "dataplane/repl_chan.h"
#include "dataplane/route_conf.h"
#include "dataplane/router_rcu.h"
#include "dataplane/shard_map.h"
#include "dataplane/telemetry.h"
#include "dataplane/worker.h"
#include "drivers/port.h"
#include "firmware-cfg/profile.h"

#ifndef LATCHD_VERSION
#define LATCHD_VERSION "unknown"
#endif

#define EXIT_USAGE   2 /* usage and profile errors */
#define EXIT_RUNTIME 1 /* the environment refused */

/* --set may be given this often; more is surely a mistake in a script. */
#define MAIN_SETS_MAX 64
/* EAL argument vector: ours, eal.args split, and what follows "--". */
#define MAIN_EAL_ARGS_MAX 128
/*
 * The main loop wakes at least this often (ms) to notice a worker lcore
 * that returned: short enough to fail fast, long enough not to spin.
 */
#define MAIN_POLL_MS 100
/* Memory of --no-huge when hugepages cannot be had, in MiB (DESIGN). */
#define MAIN_NOHUGE_MB 512
/*
 * EAL, telemetry and driver memzones besides what the profile sizes, in
 * MiB: measured about 40 MiB with two vdevs; rounded up for margin.
 */
#define MAIN_EAL_BASE_MB 64
/*
 * Fencing tokens are max(last + 1, epoch << LOCK_TOKEN_TERM_SHIFT): the
 * epoch must stay below 2^(64 - shift) for tokens to keep growing.
 */
#define MAIN_EPOCH_MAX ((UINT64_C(1) << (64 - LOCK_TOKEN_TERM_SHIFT)) - 1)

static void __attribute__((format(printf, 1, 2))) main_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("latchd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

struct main_opts {
	const char *profile_path;
	bool check_only;
	bool foreground;
	const char *sets[MAIN_SETS_MAX];
	unsigned sets_count;
	char **extra_eal; /* after "--" */
	int extra_eal_count;
};

static void
main_usage(FILE *out)
{
	fprintf(out,
		"Usage: latchd --profile PATH [--set SECTION.KEY=VALUE]... "
		"[--foreground]\n"
		"              [-- EXTRA_EAL_ARGS...]\n"
		"       latchd --check-config PATH [--set "
		"SECTION.KEY=VALUE]...\n"
		"       latchd --help | --version\n"
		"\n"
		"The latch dataplane: serves locks on the ports of the "
		"profile.\n"
		"\n"
		"  --profile PATH        the node's profile (firmware-cfg/"
		"lab.conf is the lab's)\n"
		"  --set S.K=V           override a profile key; a port's is "
		"port.NAME.KEY=V\n"
		"  --foreground          stay attached; without it latchd "
		"returns once ready\n"
		"  --check-config PATH   check the profile, print every error, "
		"and exit\n"
		"  -- ARGS               extra DPDK EAL arguments, after those "
		"of the profile\n"
		"\n"
		"Exit status: 0 clean stop or valid profile, 2 usage or "
		"profile error,\n"
		"1 runtime failure. Control socket: <node.run_dir>/latchd.sock."
		"\n");
}

/* Returns 0, or EXIT_USAGE after printing why. */
static int
main_parse_args(int argc, char **argv, struct main_opts *o)
{
	enum {
		OPT_PROFILE = 256,
		OPT_SET,
		OPT_FOREGROUND,
		OPT_CHECK,
		OPT_VERSION
	};
	static const struct option longopts[] = {
		{"profile", required_argument, NULL, OPT_PROFILE},
		{"set", required_argument, NULL, OPT_SET},
		{"foreground", no_argument, NULL, OPT_FOREGROUND},
		{"check-config", required_argument, NULL, OPT_CHECK},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	/* '+': stop at the first non-option, so "--" ends our options. */
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PROFILE:
		case OPT_CHECK:
			if (o->profile_path != NULL) {
				main_log("give one profile, with --profile or "
					 "--check-config.");
				return EXIT_USAGE;
			}
			o->profile_path = optarg;
			o->check_only = c == OPT_CHECK;
			break;
		case OPT_SET:
			if (o->sets_count == MAIN_SETS_MAX) {
				main_log("at most %d --set options.",
					 MAIN_SETS_MAX);
				return EXIT_USAGE;
			}
			o->sets[o->sets_count++] = optarg;
			break;
		case OPT_FOREGROUND:
			o->foreground = true;
			break;
		case 'h':
			main_usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("latchd %s (%s)\n", LATCHD_VERSION,
			       rte_version());
			exit(0);
		case ':':
			main_log("option '%s' needs a value.",
				 argv[optind - 1]);
			return EXIT_USAGE;
		default:
			main_log("unknown option '%s'; see latchd --help.",
				 argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0) {
		main_log("unexpected argument '%s'; EAL arguments go after "
			 "'--'.",
			 argv[optind]);
		return EXIT_USAGE;
	}
	o->extra_eal = argv + optind;
	o->extra_eal_count = argc - optind;
	if (o->profile_path == NULL) {
		main_log("no profile: give --profile PATH (or --check-config "
			 "PATH); see latchd --help.");
		return EXIT_USAGE;
	}
	if (o->check_only && o->extra_eal_count > 0) {
		main_log("--check-config takes no EAL arguments.");
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * Count the lcores of an EAL --lcores value in its plain forms ("0@0,1@1",
 * "1-3", "0,1,2"). Returns -1 for forms left to the EAL to judge (groups
 * in parentheses).
 */
static int
main_lcores_count(const char *spec)
{
	const char *s = spec;
	int count = 0;

	while (*s != '\0') {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;

		if (end == s)
			return -1;
		s = end;
		if (*s == '-') {
			b = strtoul(s + 1, &end, 10);
			if (end == s + 1 || b < a)
				return -1;
			s = end;
		}
		count += (int)(b - a + 1);
		if (*s == '@') /* CPU set: skip to the next lcore */
			s += strcspn(s, ",");
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return -1;
	}
	return count;
}

/*
 * Checks that need latchd's view of the profile rather than the parser's:
 * how lcores are laid out and how paths fit the sockets made of them.
 * Adds sentences to @errs. Returns the number of errors added.
 */
static unsigned
main_check_profile(const struct profile *p, struct profile_errors *errs)
{
	unsigned before = errs->count;
	char path[PROFILE_STR_MAX + 32];
	int lcores = main_lcores_count(p->eal_lcores);
	uint16_t i;

#define MAIN_ERR(...)                                                \
	do {                                                         \
		if (errs->count < PROFILE_ERRORS_MAX)                \
			snprintf(errs->msg[errs->count++],           \
				 sizeof(errs->msg[0]), __VA_ARGS__); \
	} while (0)

	if (p->workers == 0 || p->workers > LATCH_PARTITIONS_MAX)
		MAIN_ERR("workers.count %u must be between 1 and %d.",
			 p->workers, LATCH_PARTITIONS_MAX);
	if (lcores > 0 && (lcores < 2 || lcores > p->workers + 1))
		MAIN_ERR("eal.lcores '%.40s' names %d lcores: latchd needs "
			 "the main one and 1 to %u worker lcores "
			 "(workers.count).",
			 p->eal_lcores, lcores, p->workers);
	snprintf(path, sizeof(path), "%s/latchd.sock", p->run_dir);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		MAIN_ERR("node.run_dir '%.40s...' is too long: the control "
			 "socket "
			 "path must fit in %zu bytes.",
			 p->run_dir,
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (p->run_dir[0] != '/')
		MAIN_ERR("node.run_dir '%.80s' must be an absolute path.",
			 p->run_dir);
	if (p->state_dir[0] != '/')
		MAIN_ERR("node.state_dir '%.80s' must be an absolute path.",
			 p->state_dir);
	for (i = 0; i < p->ports_count; i++) {
		char name[RTE_ETH_NAME_MAX_LEN];

		if (port_dev_name(p->ports[i].devargs, name, sizeof(name)) < 0)
			MAIN_ERR("[port %s] device name in '%.60s' is longer "
				 "than "
				 "%d characters.",
				 p->ports[i].name, p->ports[i].devargs,
				 RTE_ETH_NAME_MAX_LEN - 1);
	}
	/* What only building the tables tells: Maglev sizes (primes, at
	 * least 100 x the pool), identities. Built and thrown away. */
	if (errs->count == before) {
		struct route_conf *rc = malloc(sizeof(*rc));
		struct route_table *t;
		struct shard_map *map;
		const char *why = "out of memory";

		if (rc == NULL || route_conf_from_profile(rc, p, &why) != 0) {
			MAIN_ERR("routes: %s.", why);
		} else {
			t = route_conf_build(rc, &why);
			if (t == NULL)
				MAIN_ERR("routes: the route table cannot be "
					 "built: %s.",
					 why);
			router_table_destroy(t);
		}
		free(rc);
		map = route_conf_shard_map(p, &why);
		if (map == NULL && errno != 0)
			MAIN_ERR("groups: the shard map cannot be built: %s.",
				 why);
		shard_map_destroy(map);
	}
#undef MAIN_ERR
	return errs->count - before;
}

/* Returns 0, or EXIT_USAGE after printing every error. */
static int
main_load_profile(const struct main_opts *o, struct profile *p)
{
	struct profile_errors errs;
	unsigned i;
	int ret;

	ret = profile_load(p, o->profile_path, o->sets, o->sets_count, &errs);
	if (ret == 0 || ret == -EINVAL)
		main_check_profile(p, &errs);
	if (errs.count == 0 && ret != 0)
		main_log("%s: cannot load the profile: %s.", o->profile_path,
			 strerror(-ret));
	for (i = 0; i < errs.count; i++)
		main_log("%s", errs.msg[i]);
	if (errs.count > 0 || ret != 0) {
		main_log("%s: %u error%s; latchd did not start.",
			 o->profile_path, errs.count,
			 errs.count == 1 ? "" : "s");
		return EXIT_USAGE;
	}
	return 0;
}

static void
main_addr_text(uint32_t addr_be, char *out, size_t size)
{
	const uint8_t *b = (const uint8_t *)&addr_be;

	snprintf(out, size, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
}

static void
main_print_summary(const struct profile *p, const char *path)
{
	int lcores = main_lcores_count(p->eal_lcores);
	uint16_t i;

	/* How the partitions share the worker lcores, when the form of
	 * eal.lcores lets us count them (main_check_profile). */
	printf("%s: valid: node %s (id %" PRIu32 "), %u workers", path, p->name,
	       p->node_id, p->workers);
	if (lcores > 1 && lcores - 1 < p->workers)
		printf(" sharing %d worker lcore%s (lcores %s)", lcores - 1,
		       lcores - 1 == 1 ? "" : "s", p->eal_lcores);
	else
		printf(" on lcores %s", p->eal_lcores);
	printf(", UDP ports %u-%u, %u port%s:", p->port_base,
	       p->port_base + p->workers - 1, p->ports_count,
	       p->ports_count == 1 ? "" : "s");
	for (i = 0; i < p->ports_count; i++) {
		char addr[16];

		main_addr_text(p->ports[i].addr_be, addr, sizeof(addr));
		printf("%s %s (%s, %s)", i == 0 ? "" : ",", p->ports[i].name,
		       p->ports[i].is_vdev ? "vdev" : "pci", addr);
	}
	printf("\n");
}

/* mkdir -p @path with @mode for the directories it creates. 0 or -errno. */
static int
main_mkdir_p(const char *path, mode_t mode)
{
	char buf[PROFILE_STR_MAX];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

/* Write @text to @path atomically: temp file, fsync, rename, fsync dir. */
static int
main_write_durable(const char *dir, const char *name, const char *text)
{
	char tmp[PROFILE_STR_MAX + 32], path[PROFILE_STR_MAX + 32];
	size_t len = strlen(text);
	int fd, dfd, ret = 0;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		ret = errno != 0 ? -errno : -EIO;
		close(fd);
		goto err_unlink;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	/* The rename is durable only once the directory is. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		ret = -errno;
	close(dfd);
	return ret;

err_unlink:
	unlink(tmp);
	return ret;
}

/*
 * Advance the boot epoch kept in <state_dir>/epoch and return the new one
 * in @epoch (docs/design.md, "fencing tokens"): tokens are
 * max(last + 1, epoch << 40), so a restart that lost the lock table still
 * hands out larger tokens. The new value is on disk before any token can
 * be made from it. 0, or -errno after logging why.
 */
static int
main_epoch_advance(const char *state_dir, uint64_t *epoch)
{
	char path[PROFILE_STR_MAX + 16], text[32];
	uint64_t last = 0;
	FILE *f;
	int ret;

	ret = main_mkdir_p(state_dir, 0700);
	if (ret < 0) {
		main_log("cannot create node.state_dir %s: %s.", state_dir,
			 strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), "%s/epoch", state_dir);
	f = fopen(path, "re");
	if (f != NULL) {
		char extra;
		int n = fscanf(f, "%" SCNu64 " %c", &last, &extra);

		fclose(f);
		if (n != 1) {
			main_log("%s does not hold one number; latchd will not "
				 "guess an epoch, since fencing tokens could "
				 "repeat. Restore it, or write a number larger "
				 "than any epoch used before.",
				 path);
			return -EINVAL;
		}
	} else if (errno != ENOENT) {
		ret = -errno;
		main_log("cannot read %s: %s.", path, strerror(errno));
		return ret;
	}
	if (last >= MAIN_EPOCH_MAX) {
		main_log("%s is %" PRIu64 ": the epoch has reached its limit "
			 "%" PRIu64 " and fencing tokens cannot grow further.",
			 path, last, MAIN_EPOCH_MAX);
		return -ERANGE;
	}
	*epoch = last + 1;
	snprintf(text, sizeof(text), "%" PRIu64 "\n", *epoch);
	ret = main_write_durable(state_dir, "epoch", text);
	if (ret < 0) {
		main_log("cannot write the boot epoch to %s: %s; latchd will "
			 "not hand out fencing tokens that could repeat.",
			 path, strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * net_memif in server role creates its socket at probe time, inside
 * rte_eal_init(), and fails if the socket's directory is missing (the lab
 * keeps it in the run directory). Create the directory of every vdev's
 * "socket=" path. 0, or -errno after logging.
 */
static int
main_vdev_socket_dirs(const struct profile *p)
{
	uint16_t i;

	for (i = 0; i < p->ports_count; i++) {
		const char *arg = strstr(p->ports[i].devargs, ",socket=");
		char dir[PROFILE_STR_MAX];
		size_t len;
		char *slash;
		int ret;

		if (!p->ports[i].is_vdev || arg == NULL)
			continue;
		arg += strlen(",socket=");
		len = strcspn(arg, ",");
		if (len == 0 || len >= sizeof(dir) || arg[0] != '/')
			continue; /* abstract or relative: nothing to create */
		memcpy(dir, arg, len);
		dir[len] = '\0';
		slash = strrchr(dir, '/');
		if (slash == dir)
			continue;
		*slash = '\0';
		ret = main_mkdir_p(dir, 0755);
		if (ret < 0) {
			main_log("[port %s]: cannot create %s for its socket: "
				 "%s.",
				 p->ports[i].name, dir, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/*
 * Refuse to start twice: a pid file naming a live latchd means another
 * one runs with this run_dir. A zombie is not live: a killed latchd whose
 * parent has not reaped it yet holds nothing (memory, hugepages, sockets
 * are released at exit) but still answers kill(pid, 0). 0, or -EEXIST
 * after logging.
 */
static int
main_check_running(const char *run_dir)
{
	char path[PROFILE_STR_MAX + 16], stat_path[64], stat[128];
	const char *comm, *end;
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/latchd.pid", run_dir);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) < 0)
		return 0; /* stale */
	/* "pid (comm) state ...": comm may hold spaces and parentheses. */
	snprintf(stat_path, sizeof(stat_path), "/proc/%ld/stat", pid);
	f = fopen(stat_path, "re");
	if (f == NULL)
		return 0;
	if (fgets(stat, sizeof(stat), f) == NULL)
		stat[0] = '\0';
	fclose(f);
	comm = strchr(stat, '(');
	end = strrchr(stat, ')');
	if (comm == NULL || end == NULL || end < comm ||
	    strncmp(comm + 1, "latchd", 6) != 0)
		return 0; /* the pid was reused by another program */
	if (end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X'))
		return 0; /* exited, not yet reaped */
	main_log("another latchd (pid %ld) runs with node.run_dir %s; stop it "
		 "first.",
		 pid, run_dir);
	return -EEXIST;
}

static int
main_write_pid(const char *run_dir)
{
	char text[32];
	int ret;

	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	ret = main_write_durable(run_dir, "latchd.pid", text);
	if (ret < 0)
		main_log("cannot write %s/latchd.pid: %s.", run_dir,
			 strerror(-ret));
	return ret;
}

/*
 * Hugepage memory the profile needs, in MiB: an estimate from the sizes
 * it gives (mbufs of every port, every worker's tables and rings) plus
 * MAIN_EAL_BASE_MB. Per-item bytes are rounded up from the structures:
 * an mbuf is its data room plus about 256 bytes of headers; a lock slot
 * with its rte_hash entry about 256.
 */
static uint64_t
main_memory_need_mb(const struct profile *p)
{
	uint64_t bytes = 0, per_worker;
	uint16_t i;

	for (i = 0; i < p->ports_count; i++) {
		uint64_t room =
			p->ports[i].mtu > 1500 ? p->ports[i].mtu + 512u : 2176u;

		bytes += (uint64_t)p->mbufs * (room + 256u);
	}
	per_worker =
		(uint64_t)p->locks_max * 256u + (uint64_t)p->holders_max * 64u +
		(uint64_t)p->waiters_max * 128u +
		(uint64_t)p->sessions_max * 64u +
		(uint64_t)p->dedup_max * 128u + (uint64_t)p->notify_max * 192u +
		(uint64_t)p->timer_slots * 16u +
		(uint64_t)p->workers * p->ring_size * 8u;
	bytes += per_worker * p->workers;
	return bytes / (1024 * 1024) + 1 + MAIN_EAL_BASE_MB;
}

/* Free hugepage memory in MiB, or 0 if hugetlbfs is not mounted. */
static uint64_t
main_hugepages_free_mb(void)
{
	uint64_t free_pages = 0, page_kb = 0, v;
	char line[128];
	struct statfs fs;
	bool mounted = false;
	FILE *f;

	f = fopen("/proc/mounts", "re");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, " hugetlbfs ") != NULL)
				mounted = true;
		fclose(f);
	}
	if (!mounted && !(statfs("/dev/hugepages", &fs) == 0 &&
			  fs.f_type == 0x958458f6 /* HUGETLBFS_MAGIC */))
		return 0;
	f = fopen("/proc/meminfo", "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "HugePages_Free: %" SCNu64, &v) == 1)
			free_pages = v;
		else if (sscanf(line, "Hugepagesize: %" SCNu64, &v) == 1)
			page_kb = v;
	}
	fclose(f);
	return free_pages * page_kb / 1024;
}

struct main_eal_args {
	int argc;
	char *argv[MAIN_EAL_ARGS_MAX + 1];
	char words[PROFILE_STR_MAX]; /* eal.args, split in place */
	char file_prefix[64];
	char mem_mb[24];
};

static int
main_eal_push(struct main_eal_args *a, const char *arg)
{
	if (a->argc >= MAIN_EAL_ARGS_MAX) {
		main_log("more than %d EAL arguments.", MAIN_EAL_ARGS_MAX);
		return -E2BIG;
	}
	a->argv[a->argc++] = (char *)arg;
	a->argv[a->argc] = NULL;
	return 0;
}

static bool
main_eal_has(const struct main_eal_args *a, int from, const char *opt)
{
	size_t len = strlen(opt);
	int i;

	for (i = from; i < a->argc; i++)
		if (strncmp(a->argv[i], opt, len) == 0 &&
		    (a->argv[i][len] == '\0' || a->argv[i][len] == '='))
			return true;
	return false;
}

/*
 * Build the EAL arguments from the profile (see the file header), the
 * words of eal.args, then @extra. Decides between hugepages and
 * --no-huge unless eal.args or @extra already say. 0 or -errno.
 */
static int
main_eal_build(struct main_eal_args *a, const struct profile *p, char **extra,
	       int extra_count)
{
	bool all_vdev = true;
	int user_from, i, ret = 0;
	uint16_t j;
	char *word, *save = NULL;

	memset(a, 0, sizeof(*a));
	snprintf(a->file_prefix, sizeof(a->file_prefix), "latch-%s", p->name);
	ret |= main_eal_push(a, "latchd");
	ret |= main_eal_push(a, "--lcores");
	ret |= main_eal_push(a, p->eal_lcores);
	ret |= main_eal_push(a, "--file-prefix");
	ret |= main_eal_push(a, a->file_prefix);
	/* EAL's INFO chatter hides our lines; warnings and errors remain. */
	ret |= main_eal_push(a, "--log-level=notice");
	for (j = 0; j < p->ports_count; j++) {
		ret |= main_eal_push(a, p->ports[j].is_vdev ? "--vdev" : "-a");
		ret |= main_eal_push(a, p->ports[j].devargs);
		all_vdev &= p->ports[j].is_vdev;
	}
	if (all_vdev)
		ret |= main_eal_push(a, "--no-pci");

	user_from = a->argc;
	snprintf(a->words, sizeof(a->words), "%s", p->eal_args);
	for (word = strtok_r(a->words, " \t", &save); word != NULL;
	     word = strtok_r(NULL, " \t", &save))
		ret |= main_eal_push(a, word);
	for (i = 0; i < extra_count; i++)
		ret |= main_eal_push(a, extra[i]);
	if (ret != 0)
		return -E2BIG;

	if (main_eal_has(a, user_from, "--no-huge") ||
	    main_eal_has(a, user_from, "--in-memory") ||
	    main_eal_has(a, user_from, "-m") ||
	    main_eal_has(a, user_from, "--socket-mem")) {
		main_log("memory: as eal.args and EAL arguments say.");
		if (!main_eal_has(a, user_from, "--no-huge") &&
		    !main_eal_has(a, user_from, "--in-memory"))
			ret |= main_eal_push(a, "--huge-unlink");
		return ret != 0 ? -E2BIG : 0;
	}
	uint64_t need_mb = main_memory_need_mb(p);
	uint64_t free_mb = main_hugepages_free_mb();

	if (free_mb >= need_mb) {
		main_log("memory: hugepages, %" PRIu64
			 " MiB free, about %" PRIu64 " MiB needed.",
			 free_mb, need_mb);
		ret |= main_eal_push(a, "--huge-unlink");
	} else {
		uint64_t mb =
			need_mb > MAIN_NOHUGE_MB ? need_mb : MAIN_NOHUGE_MB;

		snprintf(a->mem_mb, sizeof(a->mem_mb), "%" PRIu64, mb);
		main_log("memory: only %" PRIu64 " MiB of hugepages free (or "
			 "hugetlbfs not mounted), about %" PRIu64 " MiB "
			 "needed: falling back to --no-huge -m %s.",
			 free_mb, need_mb, a->mem_mb);
		ret |= main_eal_push(a, "--no-huge");
		ret |= main_eal_push(a, "-m");
		ret |= main_eal_push(a, a->mem_mb);
	}
	return ret != 0 ? -E2BIG : 0;
}

/*
 * Without --foreground, latchd forks before the EAL starts (DPDK's
 * threads would not survive a fork), and the parent waits on a pipe until
 * the child reports ready or dies, so "latchd --profile X" returns once
 * latchd serves, with its exit status. Returns the pipe's write end in
 * the child (-1 in the foreground); the parent never returns.
 */
static int
main_daemonize(void)
{
	int fds[2], status;
	pid_t pid;
	char ok;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		main_log("cannot create a pipe: %s.", strerror(errno));
		exit(EXIT_RUNTIME);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		main_log("cannot fork: %s.", strerror(errno));
		exit(EXIT_RUNTIME);
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &ok, 1) == 1)
			exit(0);
		/* The child closed the pipe by exiting: pass its status on. */
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
			exit(WEXITSTATUS(status));
		exit(EXIT_RUNTIME);
	}
	close(fds[0]);
	setsid();
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		close(null_fd);
	}
	return fds[1];
}

/* Every worker lcore id in order: lcore j runs partitions j, j + n, ... */
static unsigned
main_worker_lcores(unsigned *lcores, unsigned max)
{
	unsigned lcore, n = 0;

	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (n < max)
			lcores[n] = lcore;
		n++;
	}
	return n;
}

/*
 * What the main lcore launches on a worker lcore: worker_run() of the
 * partitions it serves, then a flag that says it returned, so the main
 * loop notices a worker lcore that stopped on its own whatever the EAL's
 * lcore states say meanwhile.
 */
struct main_launch {
	unsigned lcore;
	struct worker *workers[LATCH_PARTITIONS_MAX];
	unsigned n;
	volatile bool returned; /* written once by the worker lcore */
	int ret;
};

static int
main_worker_entry(void *arg)
{
	struct main_launch *launch = arg;

	launch->ret = worker_run(launch->workers, launch->n);
	launch->returned = true;
	return launch->ret;
}

/* Everything latchd creates, for the clean-up at the end. */
struct latchd {
	struct profile profile;
	uint64_t epoch;
	volatile bool stop;
	int signal_fd;
	unsigned ports_ready;
	struct port ports[PROFILE_PORTS_MAX];
	struct worker_shared shared;
	bool shared_ready;
	struct worker *workers[LATCH_PARTITIONS_MAX];
	unsigned worker_lcores[LATCH_PARTITIONS_MAX]; /* by worker */
	/* launch[j]: worker lcore j and the partitions it runs, j < lcores */
	struct main_launch launch[LATCH_PARTITIONS_MAX];
	unsigned lcores;
	bool launched;
	bool pid_written;
	struct control_sock *control;
	struct repl_chan *repl;  /* replicated mode only */
	struct peer_links links; /* ports of role peer */
	/* Worker lcores' wake words under the sleep idle policy (wake.h),
	 * wake[j] for lcore j, and wake_of[w] for worker w's lcore. */
	struct wake wake[LATCH_PARTITIONS_MAX];
	struct wake *wake_of[LATCH_PARTITIONS_MAX];
	uint16_t wakes_ready;
	bool telemetry;
	struct latchd_view view;
	/* Routing: the operator's routes, the tables' RCU, shard groups. */
	struct route_conf *routes;
	struct router_rcu *router;
	struct shard_map *shards;
	pthread_mutex_t routes_lock; /* routes, vs. the telemetry thread */
};

/*
 * Index of the worker lcore that runs partition @w: the partitions are
 * dealt to the worker lcores in turn (docs/design.md, "Partitions and
 * lcores"). The one place of that rule; valid once main_create() has set
 * l->lcores.
 */
static unsigned
main_lcore_of(const struct latchd *l, uint16_t w)
{
	return w % l->lcores;
}

static void
main_log_port(const struct port *port)
{
	char mac[RTE_ETHER_ADDR_FMT_SIZE], addr[16];

	rte_ether_format_addr(mac, sizeof(mac), &port->mac);
	main_addr_text(port->cfg->addr_be, addr, sizeof(addr));
	main_log("port %s: %s, port id %u, MAC %s, address %s, role %s, "
		 "%u RX/TX queues of %u/%u descriptors, RSS %s, socket %d.",
		 port->cfg->name, port->cfg->devargs, port->port_id, mac, addr,
		 profile_port_role_name(port->cfg->role), port->queues,
		 port->rx_desc, port->tx_desc, port->rss ? "on" : "off",
		 port->socket_id);
}

/*
 * The first route table (from the profile) behind a new RCU variable, and
 * the shard map with a hop per group, into @l->shared. Before the workers
 * are launched (docs/routing.md, "integration"). 0 or EXIT_* code.
 */
static int
main_routing_create(struct latchd *l, int socket)
{
	const struct profile *p = &l->profile;
	struct worker_shared *sh = &l->shared;
	struct route_table *t0;
	const char *why = "out of memory";
	uint16_t i;
	int via;

	l->routes = malloc(sizeof(*l->routes));
	if (l->routes == NULL || route_conf_from_profile(l->routes, p, &why)) {
		main_log("routes: %s.", why);
		return EXIT_USAGE;
	}
	t0 = route_conf_build(l->routes, &why);
	if (t0 == NULL) {
		main_log("routes: the route table cannot be built: %s.", why);
		return errno == EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	}
	l->routes->generation = t0->generation;
	l->router = router_rcu_create(p->workers, socket, t0);
	if (l->router == NULL) {
		router_table_destroy(t0);
		main_log("routes: cannot create the RCU variable: %s.",
			 rte_strerror(rte_errno));
		return EXIT_RUNTIME;
	}
	sh->router = l->router;
	if (t0->routes_count > 0)
		main_log("routes: %u from the profile, %u backends.",
			 t0->routes_count, l->routes->backends_count);

	l->shards = route_conf_shard_map(p, &why);
	if (l->shards == NULL && errno != 0) {
		main_log("groups: the shard map cannot be built: %s.", why);
		return EXIT_RUNTIME;
	}
	if (l->shards == NULL)
		return 0;
	for (i = 0; i < p->groups_count; i++) {
		const struct profile_group *g = &p->groups[i];
		struct worker_group_hop *hop = &sh->hops[i];

		LATCH_ASSERT(l->shards->group_ids[i] == g->id);
		hop->id = g->id;
		memcpy(hop->be.mac, g->mac, 6);
		hop->be.ip_be = g->addr_be;
		via = g->via[0] != '\0' ? profile_port_index(p, g->via) : -1;
		hop->via = via < 0 ? WORKER_VIA_RX : (uint8_t)via;
	}
	sh->group_id = p->group;
	sh->shards = l->shards;
	main_log("groups: %u shard groups, this node in group %" PRIu32 ".",
		 p->groups_count, p->group);
	return 0;
}

/*
 * Replicated mode (docs/cluster.md) when the profile has a [peer]: who
 * the nodes are (address and MAC on the client port), our id, the
 * replication ports. 0 or EXIT_* code.
 */
static int
main_repl_shared(struct latchd *l)
{
	const struct profile *p = &l->profile;
	struct worker_shared *sh = &l->shared;
	struct worker_node *self;
	uint16_t i;
	int slot = -1;

	if (p->peers_count == 0)
		return 0;
	for (i = 0; i < p->ports_count && slot < 0; i++)
		if (p->ports[i].role == PROFILE_PORT_CLIENT)
			slot = i;
	if (slot < 0) {
		main_log("[peer] sections need a port with role client: peer "
			 "dataplanes replicate over it.");
		return EXIT_USAGE;
	}
	sh->replicated = true;
	sh->node_id = (uint8_t)p->node_id;
	sh->client_slot = (uint8_t)slot;
	sh->repl_port_base = profile_repl_port_base(p);
	sh->repl_heartbeat_ms =
		p->control_heartbeat_ms != 0 ? p->control_heartbeat_ms : 100;
	for (i = 0; i < RAFT_NODES_MAX; i++)
		sh->nodes[i].link_slot = WORKER_PORT_NONE;
	self = &sh->nodes[sh->node_id];
	self->known = true;
	self->ip_be = p->ports[slot].addr_be;
	memcpy(self->mac, l->ports[slot].mac.addr_bytes, 6);
	for (i = 0; i < p->peers_count; i++) {
		const struct profile_peer *peer = &p->peers[i];
		struct worker_node *n = &sh->nodes[peer->id];
		static const uint8_t zero[6];

		n->known = true;
		n->ip_be = peer->data_be;
		memcpy(n->mac, peer->mac, 6);
		if (peer->data_be == 0 || memcmp(peer->mac, zero, 6) == 0)
			main_log("[peer %s] has no data address or mac: "
				 "partitions cannot replicate to it.",
				 peer->name);
	}
	/* profile_check: each link names a [peer], at most one a peer. */
	for (i = 0; i < p->ports_count; i++) {
		int j = profile_peer_index(p, p->ports[i].peer);

		if (p->ports[i].role == PROFILE_PORT_PEER && j >= 0)
			sh->nodes[p->peers[j].id].link_slot = (uint8_t)i;
	}
	main_log("replicated mode: node id %u, %u peers, replication on "
		 "port %s, UDP ports %u-%u.",
		 sh->node_id, p->peers_count, p->ports[slot].name,
		 sh->repl_port_base, sh->repl_port_base + p->workers - 1);
	return 0;
}

/* Ports, shared state and workers, in that order. 0 or EXIT_* code. */
static int
main_create(struct latchd *l)
{
	const struct profile *p = &l->profile;
	unsigned lcores[LATCH_PARTITIONS_MAX];
	unsigned count;
	uint16_t i, w;
	int ret;

	count = main_worker_lcores(lcores, LATCH_PARTITIONS_MAX);
	if (count == 0 || count > p->workers) {
		main_log("the EAL gave %u worker lcores (eal.lcores '%s' less "
			 "the main one) but workers.count is %u; give one to "
			 "%u.",
			 count, p->eal_lcores, p->workers, p->workers);
		return EXIT_USAGE;
	}
	l->lcores = count;
	for (w = 0; w < count; w++)
		l->launch[w].lcore = lcores[w];
	for (w = 0; w < p->workers; w++)
		l->worker_lcores[w] = l->launch[main_lcore_of(l, w)].lcore;
	for (i = 0; i < p->ports_count; i++) {
		ret = port_init(&l->ports[i], &p->ports[i], p->workers,
				p->mbufs, p->burst,
				p->idle == PROFILE_IDLE_SLEEP);
		if (ret < 0)
			return EXIT_RUNTIME;
		l->ports_ready = i + 1u;
		main_log_port(&l->ports[i]);
	}

	l->shared.profile = p;
	l->shared.workers = p->workers;
	l->shared.ports_count = p->ports_count;
	for (i = 0; i < p->ports_count; i++) {
		struct worker_port *wp = &l->shared.ports[i];

		wp->port_id = l->ports[i].port_id;
		wp->role = p->ports[i].role;
		wp->addr_be = p->ports[i].addr_be;
		wp->mac = l->ports[i].mac;
		wp->pool = l->ports[i].pool;
		for (w = 0; w < LATCH_PARTITIONS_MAX; w++)
			wp->rx_intr_fd[w] = port_rx_intr_fd(&l->ports[i], w);
	}
	/* A sleeping worker lcore is woken by whoever gives one of its
	 * partitions work (wake.h). */
	if (p->idle == PROFILE_IDLE_SLEEP) {
		for (w = 0; w < l->lcores; w++) {
			ret = wake_init(&l->wake[w]);
			if (ret < 0) {
				main_log("cannot create lcore %u's wake-up "
					 "eventfd: %s.",
					 l->launch[w].lcore, strerror(-ret));
				return EXIT_RUNTIME;
			}
			l->wakes_ready = w + 1u;
		}
		for (w = 0; w < p->workers; w++)
			l->wake_of[w] = &l->wake[main_lcore_of(l, w)];
		l->shared.wake = l->wake_of;
	}
	l->shared.tsc_hz = rte_get_tsc_hz();
	l->shared.epoch = l->epoch;
	ret = main_repl_shared(l);
	if (ret != 0)
		return ret;
	l->shared.stop = &l->stop;
	ret = worker_shared_init(&l->shared);
	if (ret < 0) {
		main_log("cannot create the handoff rings: %s.",
			 rte_strerror(-ret));
		return EXIT_RUNTIME;
	}
	l->shared_ready = true;
	{
		int socket = l->ports[0].socket_id;

		if (socket == SOCKET_ID_ANY)
			socket = (int)rte_lcore_to_socket_id(
				l->worker_lcores[0]);
		ret = main_routing_create(l, socket);
		if (ret != 0)
			return ret;
	}
	/* The router's QSBR marks the workers' pass boundaries. */
	peer_links_init(&l->links, l->ports, p->ports_count, l->shared.port_on,
			l->router->qsbr);

	for (w = 0; w < p->workers; w++) {
		unsigned lcore = l->worker_lcores[w];
		int socket = l->ports[0].socket_id;

		/* Vdevs have no socket: use the worker's own. */
		if (socket == SOCKET_ID_ANY)
			socket = (int)rte_lcore_to_socket_id(lcore);
		l->workers[w] = worker_create(&l->shared, w, socket);
		if (l->workers[w] == NULL) {
			main_log("cannot create worker %u on socket %d: %s.", w,
				 socket, rte_strerror(rte_errno));
			return EXIT_RUNTIME;
		}
	}
	return 0;
}

static void
main_destroy(struct latchd *l)
{
	uint16_t w;
	unsigned i;

	l->stop = true;
	if (l->launched)
		rte_eal_mp_wait_lcore();
	if (l->telemetry)
		telemetry_fini();
	control_sock_destroy(l->control);
	l->control = NULL;
	if (l->repl != NULL) {
		struct repl_chan_counters rc;

		repl_chan_counters(l->repl, &rc);
		main_log("repl.sock: %" PRIu64 " connections, %" PRIu64
			 " messages relayed, %" PRIu64 " refused, %" PRIu64
			 " ring full; %" PRIu64 " reports sent, %" PRIu64
			 " dropped.",
			 rc.connections, rc.down_relayed, rc.down_bad,
			 rc.down_full, rc.reports_sent, rc.reports_dropped);
		repl_chan_destroy(l->repl);
		l->repl = NULL;
	}
	/* The workers have stopped: no table can be in use. */
	router_rcu_destroy(l->router);
	l->router = NULL;
	shard_map_destroy(l->shards);
	l->shards = NULL;
	free(l->routes);
	l->routes = NULL;
	for (w = 0; w < LATCH_PARTITIONS_MAX; w++)
		if (l->workers[w] != NULL)
			worker_destroy(l->workers[w]);
	if (l->shared_ready)
		worker_shared_fini(&l->shared);
	for (w = 0; w < l->wakes_ready; w++)
		wake_fini(&l->wake[w]);
	for (i = 0; i < l->ports_ready; i++)
		port_stop_close(&l->ports[i]);
}

static uint64_t
main_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The main lcore's loop: poll the signal fd and the control socket with a
 * timeout, so it sleeps when nothing happens. Returns the exit code.
 */
static int
main_loop(struct latchd *l)
{
	struct pollfd fds[1 + CONTROL_POLLFDS_MAX + REPL_CHAN_POLLFDS_MAX];
	uint16_t w;

	while (!l->stop) {
		unsigned n, rn = 0;
		int ret;

		fds[0].fd = l->signal_fd;
		fds[0].events = POLLIN;
		fds[0].revents = 0;
		n = control_sock_pollfds(l->control, fds + 1);
		/* Views arrive on repl.sock and reports ring its eventfd:
		 * both wake the poll, so no short timeout is needed. */
		if (l->repl != NULL)
			rn = repl_chan_pollfds(l->repl, fds + 1 + n);
		ret = poll(fds, n + rn + 1, MAIN_POLL_MS);
		if (ret < 0 && errno != EINTR) {
			main_log("poll failed: %s.", strerror(errno));
			return EXIT_RUNTIME;
		}
		if (ret > 0 && (fds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(l->signal_fd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si)) {
				main_log("%s received: stopping.",
					 strsignal((int)si.ssi_signo));
				l->stop = true;
				break;
			}
		}
		if (ret > 0)
			control_sock_process(l->control, fds + 1, n);
		/* Every pass: reports wait in the rings whether or not poll
		 * saw anything. */
		if (l->repl != NULL)
			repl_chan_process(l->repl, fds + 1 + n,
					  ret > 0 ? rn : 0);

		if (l->links.count > 0)
			peer_links_tend(&l->links, main_now_ns() / 1000000);

		/* A worker lcore that returns leaves its partitions
		 * unserved. */
		for (w = 0; w < l->lcores; w++) {
			if (!l->launch[w].returned)
				continue;
			main_log("worker lcore %u stopped on its own (returned "
				 "%d): stopping latchd.",
				 l->launch[w].lcore, l->launch[w].ret);
			l->stop = true;
			return EXIT_RUNTIME;
		}
	}
	return 0;
}

/* Real-time signals: see main_signals_block(). Never called. */
static void
main_rtsig_ignore(int sig)
{
	(void)sig;
}

static int
main_signals_block(void)
{
	struct sigaction rt = {.sa_handler = main_rtsig_ignore};
	int sig;
	sigset_t set;
	int fd;

	/*
	 * Blocked before rte_eal_init(), so every DPDK thread inherits the
	 * mask and the signals reach only the main lcore's signalfd.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN); /* control clients may leave mid-answer */
	signal(SIGHUP, SIG_IGN);  /* the terminal may go; latchd stays */
	/*
	 * The TAP PMD skips reading a queue until a signal told it a frame
	 * arrived: it takes the first real-time signal with no handler and
	 * has the kernel send it for every frame written to the TAP. In the
	 * 3-node lab the senders' kill_fasync and the deliveries took 29 %
	 * of both CPUs. With every real-time signal taken it logs "No Rx
	 * trigger signal available" and reads each time instead: an empty
	 * poll costs one readv, and a sleeping worker waits on the queue's
	 * fd (wake.h). latchd itself uses no real-time signal.
	 */
	for (sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaction(sig, &rt, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int
main(int argc, char **argv)
{
	static struct latchd l; /* large: ports, workers; zeroed */
	struct main_eal_args eal;
	char sock_path[PROFILE_STR_MAX + 16];
	struct main_opts opts;
	int ready_fd = -1, code, ret, i;
	uint16_t w;

	code = main_parse_args(argc, argv, &opts);
	if (code != 0)
		return code;
	code = main_load_profile(&opts, &l.profile);
	if (code != 0)
		return code;
	if (opts.check_only) {
		main_print_summary(&l.profile, opts.profile_path);
		return 0;
	}
	const struct profile *p = &l.profile;

	ret = main_mkdir_p(p->run_dir, 0755);
	if (ret < 0) {
		main_log("cannot create node.run_dir %s: %s.", p->run_dir,
			 strerror(-ret));
		return EXIT_RUNTIME;
	}
	if (main_check_running(p->run_dir) < 0 || main_vdev_socket_dirs(p) < 0)
		return EXIT_RUNTIME;
	if (main_epoch_advance(p->state_dir, &l.epoch) < 0)
		return EXIT_RUNTIME;

	main_log("starting latchd %s: profile %s, node %s (id %" PRIu32
		 "), epoch %" PRIu64 ".",
		 LATCHD_VERSION, opts.profile_path, p->name, p->node_id,
		 l.epoch);
	ret = main_eal_build(&eal, p, opts.extra_eal, opts.extra_eal_count);
	if (ret < 0)
		return EXIT_USAGE;
	if (!opts.foreground)
		ready_fd = main_daemonize();
	l.signal_fd = main_signals_block();
	if (l.signal_fd < 0) {
		main_log("cannot set up signals: %s.", strerror(-l.signal_fd));
		return EXIT_RUNTIME;
	}

	{
		char line[1024] = "";
		size_t off = 0;

		for (i = 1; i < eal.argc && off < sizeof(line); i++)
			off += (size_t)snprintf(line + off, sizeof(line) - off,
						" %s", eal.argv[i]);
		main_log("EAL arguments:%s", line);
	}
	ret = rte_eal_init(eal.argc, eal.argv);
	if (ret < 0) {
		main_log("the EAL did not start%s%s; see its messages above.",
			 rte_errno != 0 ? ": " : "",
			 rte_errno != 0 ? rte_strerror(rte_errno) : "");
		return EXIT_RUNTIME;
	}
	l.view.start_ns = main_now_ns();

	code = main_create(&l);
	if (code != 0)
		goto out;
	if (main_write_pid(p->run_dir) < 0) {
		code = EXIT_RUNTIME;
		goto out;
	}
	l.pid_written = true;

	l.view.profile = p;
	l.view.epoch = l.epoch;
	l.view.workers_count = p->workers;
	l.view.workers = l.workers;
	l.view.worker_lcores = l.worker_lcores;
	l.view.ports_count = p->ports_count;
	l.view.ports = l.ports;
	pthread_mutex_init(&l.routes_lock, NULL);
	l.view.router = l.router;
	l.view.routes = l.routes;
	l.view.routes_lock = &l.routes_lock;
	snprintf(sock_path, sizeof(sock_path), "%s/latchd.sock", p->run_dir);
	l.control = control_sock_create(sock_path, &l.view);
	if (l.control == NULL) {
		main_log("cannot serve the control socket %s: %s.", sock_path,
			 strerror(errno));
		code = EXIT_RUNTIME;
		goto out;
	}
	if (l.shared.replicated) {
		char repl_path[PROFILE_STR_MAX + 16];

		snprintf(repl_path, sizeof(repl_path), "%s/repl.sock",
			 p->run_dir);
		l.repl = repl_chan_create(repl_path, l.shared.chan_down,
					  l.shared.chan_up, l.shared.wake,
					  p->workers);
		if (l.repl == NULL) {
			main_log("cannot serve the replication channel %s: "
				 "%s.",
				 repl_path, strerror(errno));
			code = EXIT_RUNTIME;
			goto out;
		}
		l.shared.chan_up_wake = repl_chan_wake_fd(l.repl);
		main_log("replication channel: %s (latch-control connects "
			 "here).",
			 repl_path);
	}
	ret = telemetry_init(&l.view);
	if (ret < 0)
		main_log("telemetry commands not registered (%s); going on "
			 "without them.",
			 strerror(-ret));
	l.telemetry = ret == 0;

	for (w = 0; w < p->workers; w++) {
		struct main_launch *launch = &l.launch[main_lcore_of(&l, w)];

		launch->workers[launch->n++] = l.workers[w];
		main_log("worker %u: partition %u, lcore %u, UDP port %u.", w,
			 w, l.worker_lcores[w], p->port_base + w);
	}
	for (w = 0; w < l.lcores; w++) {
		ret = rte_eal_remote_launch(main_worker_entry, &l.launch[w],
					    l.launch[w].lcore);
		if (ret < 0) {
			main_log("cannot launch lcore %u: %s.",
				 l.launch[w].lcore, strerror(-ret));
			code = EXIT_RUNTIME;
			goto out;
		}
		l.launched = true;
	}
	main_log("latchd ready: node %s, %u workers, epoch %" PRIu64
		 ", control socket %s, telemetry prefix %s.",
		 p->name, p->workers, l.epoch, sock_path, eal.file_prefix);
	if (ready_fd >= 0) {
		if (write(ready_fd, "", 1) != 1)
			main_log("could not tell the parent we are ready: %s.",
				 strerror(errno));
		close(ready_fd);
		ready_fd = -1;
	}

	code = main_loop(&l);
out:
	main_destroy(&l);
	rte_eal_cleanup();
	if (l.pid_written) {
		char pid_path[PROFILE_STR_MAX + 16];

		snprintf(pid_path, sizeof(pid_path), "%s/latchd.pid",
			 p->run_dir);
		unlink(pid_path);
	}
	main_log("latchd stopped (exit %d).", code);
	return code;
}
