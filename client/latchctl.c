/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latchctl: the operator CLI.
 *
 * Lock commands go to latchd over liblatch (kernel UDP, sessions off: a
 * lock taken from a shell lives for its lease, not for the process);
 * `stats` asks latchd's control socket (a Unix stream socket speaking one
 * JSON object per line). With --json every command prints exactly one
 * JSON object on stdout, so scripts and tests can parse it.
 *
 * Exit status (also in --help): 0 the request succeeded (granted,
 * released, renewed, a query or stats answer); 1 the server refused or
 * postponed it (busy, queued, timeout, not_held, stale_token); 2 usage
 * error; 3 no answer or another error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <latch/client.h>

#ifndef LATCHCTL_VERSION
#define LATCHCTL_VERSION "unknown"
#endif

/* The lab node's dataplane address (README, "the lab machine"). */
#define LATCHCTL_SERVER_DEFAULT  "198.18.0.1:7400"
#define LATCHCTL_CONTROL_DEFAULT "/run/latch/lab1/latchd.sock"
/* latch-control's API socket of the lab node ([node] run_dir). */
#define LATCHCTL_API_DEFAULT "/run/latch/lab1/control.sock"
/* How long stats waits for latchd's control socket to answer: it sums
 * counters from every worker, which takes well under a second. */
#define LATCHCTL_CONTROL_TIMEOUT_MS 5000
/* Longest control-socket reply accepted (one JSON line). */
#define LATCHCTL_REPLY_MAX (1u << 20)
/* Rows and columns of the stats table: bounds, not expectations. */
#define LATCHCTL_TABLE_ROWS_MAX 512
#define LATCHCTL_TABLE_COLS_MAX 64

enum latchctl_exit {
	LATCHCTL_EXIT_OK = 0,
	LATCHCTL_EXIT_REFUSED = 1,
	LATCHCTL_EXIT_USAGE = 2,
	LATCHCTL_EXIT_ERROR = 3,
};

/* Command-specific options, to refuse them where they mean nothing. */
enum latchctl_opt_bit {
	OPT_SHARED = 1u << 0,
	OPT_WAIT = 1u << 1,
	OPT_LEASE = 1u << 2,
	OPT_TOKEN = 1u << 3,
	OPT_MATCH = 1u << 4,
	OPT_KEY = 1u << 5,
	OPT_POOL = 1u << 6,
	OPT_DEFAULT = 1u << 7,
	OPT_TABLE_SIZE = 1u << 8,
	OPT_CONNTRACK = 1u << 9,
	OPT_CONNTRACK_IDLE = 1u << 10,
	OPT_ADDR = 1u << 11,
	OPT_MAC = 1u << 12,
	OPT_PORT = 1u << 13,
	OPT_VIA = 1u << 14,
	OPT_WEIGHT = 1u << 15,
	OPT_DOWN = 1u << 16,
};

struct latchctl {
	const char *server;
	const char *control;
	const char *api; /* latch-control's API socket */
	uint64_t client_id;
	uint16_t partitions;
	uint32_t timeout_ms;
	bool json;
	bool forward; /* --forward: LATCH_F_FORWARD on requests */
	bool help;
	bool version;
	/* command options */
	unsigned given; /* enum latchctl_opt_bit */
	uint32_t wait_ms;
	uint32_t lease_ms;
	uint64_t token;
	/* route add */
	const char *match;
	const char *route_key;
	const char *pool;
	const char *default_backend;
	uint32_t table_size;
	uint32_t conntrack_idle_ms;
	/* backend add (and --pool above) */
	const char *addr;
	const char *mac;
	const char *via;
	uint16_t udp_port;
	uint16_t weight;
};

static const char usage_text[] =
	"usage: latchctl [OPTIONS] COMMAND\n"
	"\n"
	"Commands:\n"
	"  lock acquire KEY [--shared] [--wait MS] [--lease MS]\n"
	"                        take KEY (exclusive unless --shared); --wait\n"
	"                        queues for up to MS ms (0: server default)\n"
	"  lock release KEY --token T   give KEY back\n"
	"  lock renew KEY --token T [--lease MS]   extend the lease\n"
	"  lock query KEY        who holds KEY\n"
	"  stats                 latchd's counters (from --control)\n"
	"  route add NAME --match PORTS --key KIND --pool POOL\n"
	"            [--default BACKEND] [--table-size M]\n"
	"            [--conntrack [--conntrack-idle MS]]\n"
	"                        route UDP to PORTS (8000 or 8000-8010) to a\n"
	"                        backend of POOL chosen by Maglev over KIND:\n"
	"                        5tuple, latch or payload:OFFSET:LEN;\n"
	"                        --conntrack (5tuple): flows keep their\n"
	"                        backend while it stays up (idle MS, 30000)\n"
	"  route del NAME        remove a route\n"
	"  route list            routes, pools and their counters\n"
	"  backend up NAME       put a backend back in its pool's tables\n"
	"  backend down NAME     take a backend out; flows move to the others\n"
	"  backend add NAME --pool POOL --addr IPV4 --mac MAC [--port P]\n"
	"            [--via PORTNAME] [--weight W] [--down]\n"
	"                        a new backend joins POOL (port: the pool's,\n"
	"                        if all its backends share one; weight 1)\n"
	"  backend del NAME      remove a backend from its pool (refused for "
	"a\n"
	"                        route's default or a used pool's last one)\n"
	"                        (route and backend commands answer once no\n"
	"                        packet can still use the old table)\n"
	"  cluster status        the cluster as latch-control sees it: term,\n"
	"                        role, leader, members and their liveness,\n"
	"                        the local latchd (from --api)\n"
	"  cluster members       the members alone\n"
	"  cluster add NAME, cluster remove NAME, cluster transfer NAME\n"
	"                        (also add-member, remove-member,\n"
	"                        transfer-leader) at the leader: add NAME as\n"
	"                        a learner (promoted once caught up), remove\n"
	"                        NAME (learner or voter; the leader itself\n"
	"                        steps down once its removal commits), hand\n"
	"                        leadership to NAME; one change at a time\n"
	"  help                  this text\n"
	"\n"
	"Options:\n"
	"  --server ADDR[:PORT]  latchd address and base UDP port\n"
	"                        (env LATCH_SERVER, "
	"default " LATCHCTL_SERVER_DEFAULT ")\n"
	"  --client-id N         client id (env LATCH_CLIENT_ID, default "
	"random)\n"
	"  --partitions N        server's partition count (default: discover)\n"
	"  --timeout MS          per attempt, 5 retries (default 200)\n"
	"  --control PATH        latchd control socket (env LATCH_CONTROL,\n"
	"                        default " LATCHCTL_CONTROL_DEFAULT ")\n"
	"  --api PATH            latch-control API socket (env LATCH_API,\n"
	"                        default " LATCHCTL_API_DEFAULT ")\n"
	"  --json                print exactly one JSON object\n"
	"  --forward             ask a follower to forward to the leader\n"
	"                        (default: follow its NOT_LEADER redirect)\n"
	"  --help, --version\n"
	"\n"
	"Keys are 1 to 64 bytes. Locks taken here are not bound to a session:\n"
	"they live for their lease. Release and renew may need the same\n"
	"--client-id as the acquire (it is printed with every answer).\n"
	"\n"
	"Exit status:\n"
	"  0  granted, released, renewed, query or stats answered; route or\n"
	"     backend command done\n"
	"  1  busy, queued, timeout, not_held, stale_token; route or backend\n"
	"     command refused by latchd\n"
	"  2  usage error\n"
	"  3  no answer from the server, or another error\n";

/* ---- output ---------------------------------------------------------- */

/*
 * Length of the well-formed UTF-8 sequence at @s (RFC 3629, table 3-7 of
 * Unicode: no overlongs, no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t
utf8_sequence_len(const uint8_t *s, size_t left)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Print @len bytes as a JSON string: quote, backslash and control
 * characters escaped, valid UTF-8 kept, any other byte as \u00XX (so the
 * output is always valid JSON, whatever bytes a key holds).
 */
static void
json_string(FILE *out, const void *bytes, size_t len)
{
	const uint8_t *s = bytes;
	size_t i = 0;

	putc('"', out);
	while (i < len) {
		uint8_t c = s[i];
		size_t n;

		switch (c) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\b':
			fputs("\\b", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				fprintf(out, "\\u%04x", c);
			} else if (c < 0x80) {
				putc(c, out);
			} else if ((n = utf8_sequence_len(s + i, len - i)) !=
				   0) {
				fwrite(s + i, 1, n, out);
				i += n;
				continue;
			} else {
				fprintf(out, "\\u%04x", c);
			}
		}
		i++;
	}
	putc('"', out);
}

/* Print a key for the one-line output: printable ASCII, else \xNN. */
static void
text_key(FILE *out, const void *bytes, size_t len)
{
	const uint8_t *s = bytes;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] > 0x20 && s[i] < 0x7f && s[i] != '\\')
			putc(s[i], out);
		else
			fprintf(out, "\\x%02x", s[i]);
	}
}

/* Report an error: one JSON object or one line on stderr. */
static int report_error(const struct latchctl *ctl, int code, const char *key,
			const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
report_error(const struct latchctl *ctl, int code, const char *key,
	     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctl->json) {
		fputs("{\"status\": \"error\"", stdout);
		if (key != NULL) {
			fputs(", \"key\": ", stdout);
			json_string(stdout, key, strlen(key));
		}
		fputs(", \"error\": ", stdout);
		json_string(stdout, msg, strlen(msg));
		fputs("}\n", stdout);
	}
	fprintf(stderr, "latchctl: %s\n", msg);
	return code;
}

static int usage_error(const struct latchctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
usage_error(const struct latchctl *ctl, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_error(ctl, LATCHCTL_EXIT_USAGE, NULL, "%s (see latchctl --help)",
		     msg);
	return LATCHCTL_EXIT_USAGE;
}

/* ---- arguments ------------------------------------------------------- */

static bool
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

enum {
	LONGOPT_SERVER = 256,
	LONGOPT_CLIENT_ID,
	LONGOPT_PARTITIONS,
	LONGOPT_TIMEOUT,
	LONGOPT_CONTROL,
	LONGOPT_JSON,
	LONGOPT_SHARED,
	LONGOPT_WAIT,
	LONGOPT_LEASE,
	LONGOPT_TOKEN,
	LONGOPT_MATCH,
	LONGOPT_KEY,
	LONGOPT_POOL,
	LONGOPT_DEFAULT,
	LONGOPT_TABLE_SIZE,
	LONGOPT_CONNTRACK,
	LONGOPT_CONNTRACK_IDLE,
	LONGOPT_FORWARD,
	LONGOPT_API,
	LONGOPT_ADDR,
	LONGOPT_MAC,
	LONGOPT_PORT,
	LONGOPT_VIA,
	LONGOPT_WEIGHT,
	LONGOPT_DOWN,
};

static const struct option latchctl_options[] = {
	{"server", required_argument, NULL, LONGOPT_SERVER},
	{"client-id", required_argument, NULL, LONGOPT_CLIENT_ID},
	{"partitions", required_argument, NULL, LONGOPT_PARTITIONS},
	{"timeout", required_argument, NULL, LONGOPT_TIMEOUT},
	{"control", required_argument, NULL, LONGOPT_CONTROL},
	{"json", no_argument, NULL, LONGOPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"shared", no_argument, NULL, LONGOPT_SHARED},
	{"wait", required_argument, NULL, LONGOPT_WAIT},
	{"lease", required_argument, NULL, LONGOPT_LEASE},
	{"token", required_argument, NULL, LONGOPT_TOKEN},
	{"match", required_argument, NULL, LONGOPT_MATCH},
	{"key", required_argument, NULL, LONGOPT_KEY},
	{"pool", required_argument, NULL, LONGOPT_POOL},
	{"default", required_argument, NULL, LONGOPT_DEFAULT},
	{"table-size", required_argument, NULL, LONGOPT_TABLE_SIZE},
	{"conntrack", no_argument, NULL, LONGOPT_CONNTRACK},
	{"conntrack-idle", required_argument, NULL, LONGOPT_CONNTRACK_IDLE},
	{"forward", no_argument, NULL, LONGOPT_FORWARD},
	{"api", required_argument, NULL, LONGOPT_API},
	{"addr", required_argument, NULL, LONGOPT_ADDR},
	{"mac", required_argument, NULL, LONGOPT_MAC},
	{"port", required_argument, NULL, LONGOPT_PORT},
	{"via", required_argument, NULL, LONGOPT_VIA},
	{"weight", required_argument, NULL, LONGOPT_WEIGHT},
	{"down", no_argument, NULL, LONGOPT_DOWN},
	{NULL, 0, NULL, 0},
};

/*
 * Parse options from @argv into @ctl. With @stop_at_command, stop at the
 * first non-option (the command); else permute, so options may follow
 * KEY. Returns 0, or LATCHCTL_EXIT_USAGE after reporting.
 */
static int
parse_options(struct latchctl *ctl, int argc, char **argv, bool stop_at_command)
{
	uint64_t v;
	int opt;

	optind = 0; /* glibc: full re-initialization */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, stop_at_command ? "+:hV" : ":hV",
				  latchctl_options, NULL)) != -1) {
		switch (opt) {
		case LONGOPT_SERVER:
			ctl->server = optarg;
			break;
		case LONGOPT_CLIENT_ID:
			if (!parse_u64(optarg, UINT64_MAX, &v) || v == 0)
				return usage_error(ctl, "bad --client-id '%s'",
						   optarg);
			ctl->client_id = v;
			break;
		case LONGOPT_PARTITIONS:
			if (!parse_u64(optarg, LATCH_PARTITIONS_MAX, &v))
				return usage_error(ctl, "bad --partitions '%s'",
						   optarg);
			ctl->partitions = (uint16_t)v;
			break;
		case LONGOPT_TIMEOUT:
			if (!parse_u64(optarg, 3600000, &v) || v == 0)
				return usage_error(ctl, "bad --timeout '%s'",
						   optarg);
			ctl->timeout_ms = (uint32_t)v;
			break;
		case LONGOPT_CONTROL:
			ctl->control = optarg;
			break;
		case LONGOPT_JSON:
			ctl->json = true;
			break;
		case LONGOPT_API:
			ctl->api = optarg;
			break;
		case LONGOPT_FORWARD:
			ctl->forward = true;
			break;
		case 'h':
			ctl->help = true;
			break;
		case 'V':
			ctl->version = true;
			break;
		case LONGOPT_SHARED:
			ctl->given |= OPT_SHARED;
			break;
		case LONGOPT_WAIT:
			if (!parse_u64(optarg, UINT32_MAX, &v))
				return usage_error(ctl, "bad --wait '%s'",
						   optarg);
			ctl->wait_ms = (uint32_t)v;
			ctl->given |= OPT_WAIT;
			break;
		case LONGOPT_LEASE:
			if (!parse_u64(optarg, UINT32_MAX, &v))
				return usage_error(ctl, "bad --lease '%s'",
						   optarg);
			ctl->lease_ms = (uint32_t)v;
			ctl->given |= OPT_LEASE;
			break;
		case LONGOPT_TOKEN:
			if (!parse_u64(optarg, UINT64_MAX, &v))
				return usage_error(ctl, "bad --token '%s'",
						   optarg);
			ctl->token = v;
			ctl->given |= OPT_TOKEN;
			break;
		case LONGOPT_MATCH:
			ctl->match = optarg;
			ctl->given |= OPT_MATCH;
			break;
		case LONGOPT_KEY:
			ctl->route_key = optarg;
			ctl->given |= OPT_KEY;
			break;
		case LONGOPT_POOL:
			ctl->pool = optarg;
			ctl->given |= OPT_POOL;
			break;
		case LONGOPT_DEFAULT:
			ctl->default_backend = optarg;
			ctl->given |= OPT_DEFAULT;
			break;
		case LONGOPT_TABLE_SIZE:
			if (!parse_u64(optarg, 1u << 24, &v))
				return usage_error(ctl, "bad --table-size '%s'",
						   optarg);
			ctl->table_size = (uint32_t)v;
			ctl->given |= OPT_TABLE_SIZE;
			break;
		case LONGOPT_CONNTRACK:
			ctl->given |= OPT_CONNTRACK;
			break;
		case LONGOPT_CONNTRACK_IDLE:
			/* CONNTRACK_IDLE_MS_MAX (dataplane/conntrack.h). */
			if (!parse_u64(optarg, 86400000u, &v) || v == 0)
				return usage_error(ctl,
						   "bad --conntrack-idle '%s'",
						   optarg);
			ctl->conntrack_idle_ms = (uint32_t)v;
			ctl->given |= OPT_CONNTRACK_IDLE;
			break;
		case LONGOPT_ADDR:
			ctl->addr = optarg;
			ctl->given |= OPT_ADDR;
			break;
		case LONGOPT_MAC:
			ctl->mac = optarg;
			ctl->given |= OPT_MAC;
			break;
		case LONGOPT_PORT:
			if (!parse_u64(optarg, 65535, &v) || v == 0)
				return usage_error(ctl, "bad --port '%s'",
						   optarg);
			ctl->udp_port = (uint16_t)v;
			ctl->given |= OPT_PORT;
			break;
		case LONGOPT_VIA:
			ctl->via = optarg;
			ctl->given |= OPT_VIA;
			break;
		case LONGOPT_WEIGHT:
			/* ROUTE_CONF_WEIGHT_MAX (dataplane/route_conf.h). */
			if (!parse_u64(optarg, 1000, &v))
				return usage_error(ctl, "bad --weight '%s'",
						   optarg);
			ctl->weight = (uint16_t)v;
			ctl->given |= OPT_WEIGHT;
			break;
		case LONGOPT_DOWN:
			ctl->given |= OPT_DOWN;
			break;
		case ':':
			return usage_error(ctl, "option '%s' needs a value",
					   argv[optind - 1]);
		default:
			return usage_error(ctl, "unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	return 0;
}

/* ---- lock commands ---------------------------------------------------- */

/*
 * A client id for one shell command: random in [1, 2^53) so that it
 * survives JSON tools that read numbers as doubles (jq) and can be
 * passed back with --client-id.
 */
static uint64_t
latchctl_random_client_id(void)
{
	uint64_t id = 0;

	while (id == 0) {
		if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			id = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^
			     (uint64_t)getpid() << 40;
		}
		id &= (1ull << 53) - 1;
	}
	return id;
}

/* Name and exit code of an answer's status for command @op. */
static const char *
lock_status_word(uint8_t op, uint16_t status, int *code)
{
	*code = LATCHCTL_EXIT_REFUSED;
	switch (status) {
	case LATCH_S_OK:
		*code = LATCHCTL_EXIT_OK;
		return op == LATCH_OP_ACQUIRE   ? "granted"
		       : op == LATCH_OP_RELEASE ? "released"
		       : op == LATCH_OP_RENEW   ? "renewed"
						: "ok";
	case LATCH_S_BUSY:
		return "busy";
	case LATCH_S_QUEUED:
		return "queued";
	case LATCH_S_TIMEOUT:
		return "timeout";
	case LATCH_S_NOT_HELD:
		return "not_held";
	case LATCH_S_STALE_TOKEN:
		return "stale_token";
	default:
		*code = LATCHCTL_EXIT_ERROR;
		return "error";
	}
}

static void
print_u64_field(bool json, const char *name, uint64_t v)
{
	if (json)
		printf(", \"%s\": %" PRIu64, name, v);
	else
		printf(" %s=%" PRIu64, name, v);
}

/* Print the answer to a lock command and return the exit code. */
static int
lock_print(const struct latchctl *ctl, uint8_t op, const char *key,
	   uint64_t client_id, const struct latch_result *r)
{
	size_t key_len = strlen(key);
	int code;
	const char *word = lock_status_word(op, r->status, &code);
	const char *mode = (r->flags & LATCH_F_SHARED) ? "shared" : "exclusive";

	if (ctl->json) {
		printf("{\"status\": \"%s\", \"key\": ", word);
		json_string(stdout, key, key_len);
	} else {
		printf("%s key=", word);
		text_key(stdout, key, key_len);
	}
	if (code == LATCHCTL_EXIT_ERROR) {
		if (ctl->json)
			printf(", \"error\": \"%s\"",
			       latch_status_name(r->status));
		else
			printf(" error=%s", latch_status_name(r->status));
	}
	if (op == LATCH_OP_QUERY && r->status == LATCH_S_OK) {
		bool held = r->count > 0;

		if (ctl->json)
			printf(", \"held\": %s, \"mode\": \"%s\"",
			       held ? "true" : "false", mode);
		else
			printf(" held=%s mode=%s", held ? "true" : "false",
			       mode);
		print_u64_field(ctl->json, "holders", r->count);
		print_u64_field(ctl->json, "holder", r->holder);
		print_u64_field(ctl->json, "token", r->token);
		print_u64_field(ctl->json, "lease_ms", r->lease_ms);
		print_u64_field(ctl->json, "waiters", r->waiters);
		/* A follower's applied state, which may lag the leader's
		 * (docs/protocol.md, "Replica reads"). */
		if (ctl->json)
			printf(", \"replica\": %s",
			       (r->flags & LATCH_F_REPLICA) ? "true" : "false");
		else if (r->flags & LATCH_F_REPLICA)
			printf(" replica=true");
	} else {
		print_u64_field(ctl->json, "token", r->token);
		print_u64_field(ctl->json, "lease_ms", r->lease_ms);
		if (op == LATCH_OP_ACQUIRE && r->status == LATCH_S_OK) {
			if (ctl->json)
				printf(", \"mode\": \"%s\"", mode);
			else
				printf(" mode=%s", mode);
		}
		if (r->status == LATCH_S_QUEUED)
			print_u64_field(ctl->json, "position", r->count);
		if (r->status == LATCH_S_BUSY && r->holder != 0)
			print_u64_field(ctl->json, "holder", r->holder);
	}
	print_u64_field(ctl->json, "client_id", client_id);
	fputs(ctl->json ? "}\n" : "\n", stdout);
	return code;
}

static int
cmd_lock(struct latchctl *ctl, int argc, char **argv)
{
	struct latch_client_config cfg;
	struct latch_client *c;
	struct latch_result r;
	const char *sub, *key;
	unsigned allowed;
	uint8_t op;
	int rc;

	/* argv: "lock" SUB KEY, options already taken out. */
	if (argc < 2)
		return usage_error(ctl, "lock needs a subcommand");
	sub = argv[1];
	if (strcmp(sub, "acquire") == 0) {
		op = LATCH_OP_ACQUIRE;
		allowed = OPT_SHARED | OPT_WAIT | OPT_LEASE;
	} else if (strcmp(sub, "release") == 0) {
		op = LATCH_OP_RELEASE;
		allowed = OPT_TOKEN;
	} else if (strcmp(sub, "renew") == 0) {
		op = LATCH_OP_RENEW;
		allowed = OPT_TOKEN | OPT_LEASE;
	} else if (strcmp(sub, "query") == 0) {
		op = LATCH_OP_QUERY;
		allowed = 0;
	} else {
		return usage_error(ctl, "unknown lock subcommand '%s'", sub);
	}
	if (argc != 3)
		return usage_error(ctl, "lock %s needs exactly one KEY", sub);
	key = argv[2];
	if (key[0] == '\0' || strlen(key) > LATCH_KEY_MAX)
		return usage_error(ctl, "KEY must be 1 to %d bytes",
				   LATCH_KEY_MAX);
	if ((ctl->given & ~allowed) != 0)
		return usage_error(ctl, "option not valid for lock %s", sub);
	if ((op == LATCH_OP_RELEASE || op == LATCH_OP_RENEW) &&
	    !(ctl->given & OPT_TOKEN))
		return usage_error(ctl, "lock %s needs --token", sub);

	latch_client_config_default(&cfg);
	cfg.server = ctl->server;
	cfg.client_id = ctl->client_id != 0 ? ctl->client_id
					    : latchctl_random_client_id();
	cfg.partitions = ctl->partitions;
	cfg.timeout_ms = ctl->timeout_ms;
	cfg.session = false;
	cfg.forward = ctl->forward;
	c = latch_client_create(&cfg);
	if (c == NULL)
		return report_error(ctl,
				    errno == EINVAL ? LATCHCTL_EXIT_USAGE
						    : LATCHCTL_EXIT_ERROR,
				    key, "cannot use server '%s': %s",
				    ctl->server, strerror(errno));

	switch (op) {
	case LATCH_OP_ACQUIRE:
		rc = latch_acquire(
			c, key, strlen(key),
			((ctl->given & OPT_SHARED) ? LATCH_F_SHARED : 0) |
				((ctl->given & OPT_WAIT) ? LATCH_F_WAIT : 0),
			ctl->wait_ms, ctl->lease_ms, &r);
		break;
	case LATCH_OP_RELEASE:
		rc = latch_release(c, key, strlen(key), ctl->token, &r);
		break;
	case LATCH_OP_RENEW:
		rc = latch_renew(c, key, strlen(key), ctl->token, ctl->lease_ms,
				 &r);
		break;
	default:
		rc = latch_query(c, key, strlen(key), &r);
		break;
	}
	if (rc == -ETIMEDOUT)
		rc = report_error(ctl, LATCHCTL_EXIT_ERROR, key,
				  "no answer from %s (%u attempts of %u ms)",
				  ctl->server, LATCH_CLIENT_RETRIES_DEFAULT + 1,
				  ctl->timeout_ms);
	else if (rc < 0)
		rc = report_error(ctl, LATCHCTL_EXIT_ERROR, key,
				  "request to %s failed: %s", ctl->server,
				  strerror(-rc));
	else
		rc = lock_print(ctl, op, key, cfg.client_id, &r);
	latch_client_destroy(c);
	return rc;
}

/* ---- stats ------------------------------------------------------------ */

/*
 * Ask the control socket at @path for stats; return the reply line (no
 * newline, caller frees) or NULL with @err set.
 */
static char *
control_ask(const char *path, const char *request, char *err, size_t err_len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t len = 0, cap = 4096;
	char *buf = NULL;
	int fd;
	struct timespec start, now;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, err_len, "control socket path too long: %s",
			 path);
		return NULL;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_len, "socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		snprintf(err, err_len,
			 "cannot connect to control socket %s: %s", path,
			 strerror(errno));
		goto close_fd;
	}
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) !=
	    (ssize_t)strlen(request)) {
		snprintf(err, err_len, "cannot write to control socket %s: %s",
			 path, strerror(errno));
		goto close_fd;
	}
	buf = malloc(cap);
	if (buf == NULL) {
		snprintf(err, err_len, "out of memory");
		goto close_fd;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long spent_ms;
		ssize_t n;
		char *nl;

		clock_gettime(CLOCK_MONOTONIC, &now);
		spent_ms = (now.tv_sec - start.tv_sec) * 1000 +
			   (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent_ms >= LATCHCTL_CONTROL_TIMEOUT_MS ||
		    poll(&pfd, 1,
			 (int)(LATCHCTL_CONTROL_TIMEOUT_MS - spent_ms)) == 0) {
			snprintf(err, err_len,
				 "no answer from control socket %s in %d ms",
				 path, LATCHCTL_CONTROL_TIMEOUT_MS);
			goto free_buf;
		}
		if (len + 1 >= cap) {
			char *bigger;

			if (cap >= LATCHCTL_REPLY_MAX) {
				snprintf(err, err_len,
					 "reply from %s longer than %u bytes",
					 path, LATCHCTL_REPLY_MAX);
				goto free_buf;
			}
			bigger = realloc(buf, cap * 2);
			if (bigger == NULL) {
				snprintf(err, err_len, "out of memory");
				goto free_buf;
			}
			buf = bigger;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, err_len, "reading control socket %s: %s",
				 path, strerror(errno));
			goto free_buf;
		}
		buf[len + (size_t)n] = '\0';
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl != NULL) {
			*nl = '\0';
			break;
		}
		if (n == 0) {
			if (len == 0) {
				snprintf(err, err_len,
					 "control socket %s closed without "
					 "answering",
					 path);
				goto free_buf;
			}
			break; /* a last line without newline */
		}
	}
	close(fd);
	return buf;

free_buf:
	free(buf);
close_fd:
	close(fd);
	return NULL;
}

/* One row of the stats table: a flattened field name and its cells. */
struct stats_row {
	char name[128];
	char cells[LATCHCTL_TABLE_COLS_MAX][24];
	bool present[LATCHCTL_TABLE_COLS_MAX];
	bool integer; /* every cell an integer: a total makes sense */
	int64_t total;
};

struct stats_table {
	struct stats_row *rows;
	unsigned rows_count;
	unsigned cols;
};

static struct stats_row *
stats_row_get(struct stats_table *t, const char *name)
{
	struct stats_row *row;
	unsigned i;

	for (i = 0; i < t->rows_count; i++)
		if (strcmp(t->rows[i].name, name) == 0)
			return &t->rows[i];
	if (t->rows_count == LATCHCTL_TABLE_ROWS_MAX)
		return NULL;
	row = &t->rows[t->rows_count++];
	memset(row, 0, sizeof(*row));
	snprintf(row->name, sizeof(row->name), "%s", name);
	row->integer = true;
	return row;
}

/* Add the numeric leaves of @obj (nested objects as a.b) to column @col. */
static void
stats_flatten(struct stats_table *t, unsigned col, const char *prefix,
	      struct json_object *obj)
{
	json_object_object_foreach(obj, name, val)
	{
		char full[128];
		struct stats_row *row;
		enum json_type type = json_object_get_type(val);

		snprintf(full, sizeof(full), "%s%s%s", prefix,
			 prefix[0] != '\0' ? "." : "", name);
		if (type == json_type_object) {
			stats_flatten(t, col, full, val);
			continue;
		}
		if (type != json_type_int && type != json_type_double)
			continue;
		row = stats_row_get(t, full);
		if (row == NULL)
			continue;
		row->present[col] = true;
		if (type == json_type_int) {
			int64_t v = json_object_get_int64(val);

			snprintf(row->cells[col], sizeof(row->cells[col]),
				 "%" PRId64, v);
			row->total += v;
		} else {
			snprintf(row->cells[col], sizeof(row->cells[col]),
				 "%.3f", json_object_get_double(val));
			row->integer = false;
		}
	}
}

/* Print an array of objects as a table: one row per field, one column
 * per element, and a total column. */
static void
stats_print_table(const char *title, struct json_object *arr)
{
	struct stats_table t = {0};
	size_t n = json_object_array_length(arr);
	unsigned width = 5, cell_width = 5, i, j;

	t.cols = n > LATCHCTL_TABLE_COLS_MAX ? LATCHCTL_TABLE_COLS_MAX
					     : (unsigned)n;
	t.rows = calloc(LATCHCTL_TABLE_ROWS_MAX, sizeof(*t.rows));
	if (t.rows == NULL)
		return;
	for (j = 0; j < t.cols; j++) {
		struct json_object *el = json_object_array_get_idx(arr, j);

		if (json_object_get_type(el) == json_type_object)
			stats_flatten(&t, j, "", el);
	}
	for (i = 0; i < t.rows_count; i++) {
		char tot[24];

		if (strlen(t.rows[i].name) > width)
			width = (unsigned)strlen(t.rows[i].name);
		for (j = 0; j < t.cols; j++)
			if (strlen(t.rows[i].cells[j]) > cell_width)
				cell_width =
					(unsigned)strlen(t.rows[i].cells[j]);
		snprintf(tot, sizeof(tot), "%" PRId64, t.rows[i].total);
		if (strlen(tot) > cell_width)
			cell_width = (unsigned)strlen(tot);
	}
	printf("%s:\n%-*s", title, (int)width, "field");
	for (j = 0; j < t.cols; j++) {
		char head[16];

		snprintf(head, sizeof(head), "[%u]", j);
		printf("  %*s", (int)cell_width, head);
	}
	if (t.cols > 1)
		printf("  %*s", (int)cell_width, "total");
	putchar('\n');
	for (i = 0; i < t.rows_count; i++) {
		const struct stats_row *row = &t.rows[i];

		printf("%-*s", (int)width, row->name);
		for (j = 0; j < t.cols; j++)
			printf("  %*s", (int)cell_width,
			       row->present[j] ? row->cells[j] : "-");
		if (t.cols > 1) {
			if (row->integer)
				printf("  %*" PRId64, (int)cell_width,
				       row->total);
			else
				printf("  %*s", (int)cell_width, "");
		}
		putchar('\n');
	}
	free(t.rows);
}

/* Print scalar leaves of @obj as "a.b: value" lines. */
static void
stats_print_scalars(const char *prefix, struct json_object *obj)
{
	json_object_object_foreach(obj, name, val)
	{
		char full[128];
		enum json_type type = json_object_get_type(val);

		snprintf(full, sizeof(full), "%s%s%s", prefix,
			 prefix[0] != '\0' ? "." : "", name);
		if (type == json_type_object)
			stats_print_scalars(full, val);
		else if (type != json_type_array)
			printf("%s: %s\n", full,
			       json_object_to_json_string_ext(
				       val, JSON_C_TO_STRING_PLAIN));
	}
}

/* Tables for the arrays of objects in @obj (e.g. per-worker counters). */
static void
stats_print_arrays(const char *prefix, struct json_object *obj)
{
	json_object_object_foreach(obj, name, val)
	{
		char full[128];
		enum json_type type = json_object_get_type(val);

		snprintf(full, sizeof(full), "%s%s%s", prefix,
			 prefix[0] != '\0' ? "." : "", name);
		if (type == json_type_object) {
			stats_print_arrays(full, val);
		} else if (type == json_type_array &&
			   json_object_array_length(val) > 0 &&
			   json_object_get_type(json_object_array_get_idx(
				   val, 0)) == json_type_object) {
			putchar('\n');
			stats_print_table(full, val);
		}
	}
}

static int
cmd_stats(struct latchctl *ctl, int argc, char **argv)
{
	struct json_tokener *tok;
	struct json_object *obj;
	char err[512];
	char *reply;

	(void)argv;
	if (argc != 1)
		return usage_error(ctl, "stats takes no argument");
	if (ctl->given != 0)
		return usage_error(ctl, "option not valid for stats");
	reply = control_ask(ctl->control, "{\"cmd\":\"stats\"}\n", err,
			    sizeof(err));
	if (reply == NULL)
		return report_error(ctl, LATCHCTL_EXIT_ERROR, NULL, "%s", err);

	tok = json_tokener_new();
	if (tok == NULL) {
		free(reply);
		return report_error(ctl, LATCHCTL_EXIT_ERROR, NULL,
				    "out of memory");
	}
	obj = json_tokener_parse_ex(tok, reply, (int)strlen(reply));
	if (obj == NULL || json_object_get_type(obj) != json_type_object ||
	    tok->char_offset != (int)strlen(reply)) {
		json_object_put(obj);
		json_tokener_free(tok);
		free(reply);
		return report_error(ctl, LATCHCTL_EXIT_ERROR, NULL,
				    "control socket %s answered something "
				    "that is not one JSON object",
				    ctl->control);
	}
	json_tokener_free(tok);
	if (ctl->json) {
		/* As latchd wrote it: one object, one line. */
		fputs(reply, stdout);
		putchar('\n');
	} else {
		stats_print_scalars("", obj);
		stats_print_arrays("", obj);
	}
	json_object_put(obj);
	free(reply);
	return LATCHCTL_EXIT_OK;
}

/* ---- routes and backends ---------------------------------------------- */

/*
 * Send @req (a JSON object) as one line to the Unix socket @path of @who
 * (latchd's control socket or latch-control's API) and print the answer:
 * with --json the answer object plus "status" ("ok" or "error"), else
 * through @print_ok. An answer with "error" is a refusal (exit 1). @hint
 * follows a connection error. Exit code.
 */
static int
socket_command(struct latchctl *ctl, const char *path, const char *who,
	       const char *hint, struct json_object *req,
	       void (*print_ok)(struct json_object *answer))
{
	struct json_object *ans, *err_obj;
	char line[2048], err[512];
	char *reply;
	int code;

	snprintf(line, sizeof(line), "%s\n",
		 json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	reply = control_ask(path, line, err, sizeof(err));
	if (reply == NULL)
		return report_error(ctl, LATCHCTL_EXIT_ERROR, NULL, "%s%s", err,
				    hint);
	ans = json_tokener_parse(reply);
	if (ans == NULL || json_object_get_type(ans) != json_type_object) {
		json_object_put(ans);
		free(reply);
		return report_error(ctl, LATCHCTL_EXIT_ERROR, NULL,
				    "%s's socket %s answered something that "
				    "is not one JSON object",
				    who, path);
	}
	if (json_object_object_get_ex(ans, "error", &err_obj)) {
		code = report_error(ctl, LATCHCTL_EXIT_REFUSED, NULL,
				    "%s refused: %s", who,
				    json_object_get_string(err_obj));
	} else {
		code = LATCHCTL_EXIT_OK;
		if (ctl->json) {
			json_object_object_add(ans, "status",
					       json_object_new_string("ok"));
			printf("%s\n", json_object_to_json_string_ext(
					       ans, JSON_C_TO_STRING_PLAIN));
		} else {
			print_ok(ans);
		}
	}
	json_object_put(ans);
	free(reply);
	return code;
}

/*
 * socket_command() to latchd's control socket. Routing commands answer
 * only once latchd has swapped its tables, so a command that returned has
 * taken effect.
 */
static int
control_command(struct latchctl *ctl, struct json_object *req,
		void (*print_ok)(struct json_object *answer))
{
	return socket_command(ctl, ctl->control, "latchd", "", req, print_ok);
}

static const char *
json_get_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return "";
	return json_object_get_string(v);
}

static int64_t
json_get_int(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return 0;
	return json_object_get_int64(v);
}

/* "ok route_add web generation=3 swap_us=12" */
static void
print_route_cmd_ok(struct json_object *a)
{
	printf("ok %s %s generation=%" PRId64 " routes=%" PRId64
	       " swap_us=%" PRId64 "\n",
	       json_get_str(a, "cmd"), json_get_str(a, "name"),
	       json_get_int(a, "generation"), json_get_int(a, "routes"),
	       json_get_int(a, "swap_us"));
}

/* route list as text: one line per route, one indented per backend. */
static void
print_route_list(struct json_object *a)
{
	struct json_object *routes, *r, *bes, *be, *ct;
	size_t i, j;

	printf("generation %" PRId64 "\n", json_get_int(a, "generation"));
	if (json_object_object_get_ex(a, "conntrack", &ct))
		printf("conntrack hits %" PRId64 " misses %" PRId64
		       " evictions %" PRId64 " expired %" PRId64
		       " moved %" PRId64 "\n",
		       json_get_int(ct, "hits"), json_get_int(ct, "misses"),
		       json_get_int(ct, "evictions"),
		       json_get_int(ct, "expired"), json_get_int(ct, "moved"));
	if (!json_object_object_get_ex(a, "routes", &routes) ||
	    json_object_array_length(routes) == 0) {
		printf("no routes\n");
		return;
	}
	for (i = 0; i < json_object_array_length(routes); i++) {
		r = json_object_array_get_idx(routes, i);
		printf("route %s match %s key %s pool %s default %s "
		       "forwarded %" PRId64 " dropped %" PRId64,
		       json_get_str(r, "name"), json_get_str(r, "match"),
		       json_get_str(r, "key"), json_get_str(r, "pool"),
		       json_get_str(r, "default")[0] != '\0'
			       ? json_get_str(r, "default")
			       : "-",
		       json_get_int(r, "forwarded"),
		       json_get_int(r, "dropped"));
		if (strcmp(json_get_str(r, "conntrack"), "true") == 0)
			printf(" conntrack idle %" PRId64 "ms",
			       json_get_int(r, "conntrack_idle_ms"));
		printf("\n");
		if (!json_object_object_get_ex(r, "backends", &bes))
			continue;
		for (j = 0; j < json_object_array_length(bes); j++) {
			be = json_object_array_get_idx(bes, j);
			printf("  backend %s %s %s:%" PRId64 " mac %s weight "
			       "%" PRId64 " forwarded %" PRId64 "\n",
			       json_get_str(be, "name"),
			       json_get_str(be, "state"),
			       json_get_str(be, "addr"),
			       json_get_int(be, "port"),
			       json_get_str(be, "mac"),
			       json_get_int(be, "weight"),
			       json_get_int(be, "forwarded"));
		}
	}
}

static int
cmd_route(struct latchctl *ctl, int argc, char **argv)
{
	const unsigned add_opts = OPT_MATCH | OPT_KEY | OPT_POOL | OPT_DEFAULT |
				  OPT_TABLE_SIZE | OPT_CONNTRACK |
				  OPT_CONNTRACK_IDLE;
	struct json_object *req;
	const char *sub;
	int rc;

	if (argc < 2)
		return usage_error(ctl, "route needs add, del or list");
	sub = argv[1];
	req = json_object_new_object();
	if (req == NULL)
		return report_error(ctl, LATCHCTL_EXIT_ERROR, NULL,
				    "out of memory");
	if (strcmp(sub, "list") == 0) {
		rc = LATCHCTL_EXIT_USAGE;
		if (argc != 2)
			usage_error(ctl, "route list takes no argument");
		else if (ctl->given != 0)
			usage_error(ctl, "option not valid for route list");
		else
			rc = 0;
		if (rc == 0) {
			json_object_object_add(
				req, "cmd",
				json_object_new_string("route_list"));
			rc = control_command(ctl, req, print_route_list);
		}
		json_object_put(req);
		return rc;
	}
	if (strcmp(sub, "add") != 0 && strcmp(sub, "del") != 0) {
		json_object_put(req);
		return usage_error(ctl, "unknown route subcommand '%s'", sub);
	}
	if (argc != 3) {
		json_object_put(req);
		return usage_error(ctl, "route %s needs exactly one NAME", sub);
	}
	if (strcmp(sub, "del") == 0 && ctl->given != 0) {
		json_object_put(req);
		return usage_error(ctl, "option not valid for route del");
	}
	if (strcmp(sub, "add") == 0 &&
	    ((ctl->given & ~add_opts) != 0 ||
	     (ctl->given & (OPT_MATCH | OPT_KEY | OPT_POOL)) !=
		     (OPT_MATCH | OPT_KEY | OPT_POOL))) {
		json_object_put(req);
		return usage_error(ctl, "route add needs --match, --key and "
					"--pool (and takes --default, "
					"--table-size, --conntrack, "
					"--conntrack-idle)");
	}
	json_object_object_add(req, "cmd",
			       json_object_new_string(strcmp(sub, "add") == 0
							      ? "route_add"
							      : "route_del"));
	json_object_object_add(req, "name", json_object_new_string(argv[2]));
	if (strcmp(sub, "add") == 0) {
		json_object_object_add(req, "match",
				       json_object_new_string(ctl->match));
		json_object_object_add(req, "key",
				       json_object_new_string(ctl->route_key));
		json_object_object_add(req, "pool",
				       json_object_new_string(ctl->pool));
		if (ctl->given & OPT_DEFAULT)
			json_object_object_add(
				req, "default",
				json_object_new_string(ctl->default_backend));
		if (ctl->given & OPT_TABLE_SIZE)
			json_object_object_add(
				req, "table_size",
				json_object_new_int64(ctl->table_size));
		if (ctl->given & OPT_CONNTRACK)
			json_object_object_add(req, "conntrack",
					       json_object_new_boolean(true));
		if (ctl->given & OPT_CONNTRACK_IDLE)
			json_object_object_add(
				req, "conntrack_idle_ms",
				json_object_new_int64(ctl->conntrack_idle_ms));
	}
	rc = control_command(ctl, req, print_route_cmd_ok);
	json_object_put(req);
	return rc;
}

/*
 * The request of `backend add NAME`: what latchd's control_req_backend()
 * reads. Options left out are left out of the request, so latchd's
 * defaults (docs/operations.md) apply.
 */
static void
backend_add_fields(const struct latchctl *ctl, struct json_object *req)
{
	json_object_object_add(req, "pool", json_object_new_string(ctl->pool));
	json_object_object_add(req, "addr", json_object_new_string(ctl->addr));
	json_object_object_add(req, "mac", json_object_new_string(ctl->mac));
	if (ctl->given & OPT_PORT)
		json_object_object_add(req, "port",
				       json_object_new_int64(ctl->udp_port));
	if (ctl->given & OPT_VIA)
		json_object_object_add(req, "via",
				       json_object_new_string(ctl->via));
	if (ctl->given & OPT_WEIGHT)
		json_object_object_add(req, "weight",
				       json_object_new_int64(ctl->weight));
	if (ctl->given & OPT_DOWN)
		json_object_object_add(req, "state",
				       json_object_new_string("down"));
}

static int
cmd_backend(struct latchctl *ctl, int argc, char **argv)
{
	const unsigned add_opts = OPT_POOL | OPT_ADDR | OPT_MAC | OPT_PORT |
				  OPT_VIA | OPT_WEIGHT | OPT_DOWN;
	const unsigned add_needs = OPT_POOL | OPT_ADDR | OPT_MAC;
	struct json_object *req;
	const char *cmd;
	bool add = false;
	int rc;

	if (argc < 2)
		return usage_error(ctl, "backend needs up, down, add or del");
	if (strcmp(argv[1], "up") == 0) {
		cmd = "backend_up";
	} else if (strcmp(argv[1], "down") == 0) {
		cmd = "backend_down";
	} else if (strcmp(argv[1], "add") == 0) {
		cmd = "backend_add";
		add = true;
	} else if (strcmp(argv[1], "del") == 0) {
		cmd = "backend_del";
	} else {
		return usage_error(ctl, "unknown backend subcommand '%s'",
				   argv[1]);
	}
	if (argc != 3)
		return usage_error(ctl, "backend %s needs exactly one NAME",
				   argv[1]);
	if (add && ((ctl->given & ~add_opts) != 0 ||
		    (ctl->given & add_needs) != add_needs))
		return usage_error(ctl, "backend add needs --pool, --addr and "
					"--mac (and takes --port, --via, "
					"--weight, --down)");
	if (!add && ctl->given != 0)
		return usage_error(ctl, "option not valid for backend %s",
				   argv[1]);
	req = json_object_new_object();
	if (req == NULL)
		return report_error(ctl, LATCHCTL_EXIT_ERROR, NULL,
				    "out of memory");
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	json_object_object_add(req, "name", json_object_new_string(argv[2]));
	if (add)
		backend_add_fields(ctl, req);
	rc = control_command(ctl, req, print_route_cmd_ok);
	json_object_put(req);
	return rc;
}

/* ---- cluster (latch-control's API) ------------------------------------ */

/* One member as a line of the members table. */
static void
print_member(struct json_object *m)
{
	struct json_object *lc;
	/* null (not configured) reads as NULL from json-c. */
	const char *mgmt = json_get_str(m, "mgmt");
	const char *data = json_get_str(m, "data");

	if (mgmt == NULL)
		mgmt = "";
	if (data == NULL)
		data = "";

	printf("  %-12s id %-2lld %-8s %-7s mgmt %-21s data %-15s",
	       json_get_str(m, "name"), (long long)json_get_int(m, "id"),
	       json_get_str(m, "role"), json_get_str(m, "state"),
	       mgmt[0] != '\0' ? mgmt : "-", data[0] != '\0' ? data : "-");
	if (json_object_object_get_ex(m, "self", &lc) &&
	    json_object_get_boolean(lc))
		printf(" (this node)");
	else if (json_object_object_get_ex(m, "last_contact_ms", &lc) &&
		 lc != NULL)
		printf(" heard %lld ms ago",
		       (long long)json_object_get_int64(lc));
	printf("\n");
}

static void
print_members(struct json_object *a)
{
	struct json_object *arr;
	size_t i;

	if (!json_object_object_get_ex(a, "members", &arr) ||
	    json_object_get_type(arr) != json_type_array)
		return;
	printf("members:\n");
	for (i = 0; i < json_object_array_length(arr); i++)
		print_member(json_object_array_get_idx(arr, i));
}

static void
print_cluster_status(struct json_object *a)
{
	struct json_object *leader, *ld, *epoch;
	const char *name;

	printf("node %s (id %lld): term %lld, %s, leader %s\n",
	       json_get_str(a, "node"), (long long)json_get_int(a, "id"),
	       (long long)json_get_int(a, "term"), json_get_str(a, "role"),
	       json_object_object_get_ex(a, "leader", &leader) && leader != NULL
		       ? json_object_get_string(leader)
		       : "none");
	if (json_object_object_get_ex(a, "latchd", &ld)) {
		name = json_get_str(ld, "state");
		printf("latchd: %s", name);
		if (json_object_object_get_ex(ld, "epoch", &epoch) &&
		    epoch != NULL)
			printf(", epoch %lld",
			       (long long)json_object_get_int64(epoch));
		printf("\n");
	}
	print_members(a);
}

/*
 * latchctl cluster status|members|add|remove|transfer: ask latch-control's
 * API socket (--api). add/remove/transfer are carried out by the leader's
 * core; a refusal (not the leader, naming it; a change under way) is
 * printed (exit 1).
 */
static int
cmd_cluster(struct latchctl *ctl, int argc, char **argv)
{
	struct json_object *req;
	const char *sub, *api_cmd;
	int code;

	if (argc < 2)
		return usage_error(ctl, "cluster needs status, members, add, "
					"remove or transfer");
	if (ctl->given != 0)
		return usage_error(ctl, "option not valid for cluster %s",
				   argv[1]);
	sub = argv[1];
	if (strcmp(sub, "status") == 0 || strcmp(sub, "members") == 0) {
		if (argc != 2)
			return usage_error(ctl, "cluster %s takes no argument",
					   sub);
		api_cmd = strcmp(sub, "status") == 0 ? "cluster_status"
						     : "members";
	} else if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0 ||
		   strcmp(sub, "transfer") == 0 ||
		   strcmp(sub, "add-member") == 0 ||
		   strcmp(sub, "remove-member") == 0 ||
		   strcmp(sub, "transfer-leader") == 0) {
		if (argc != 3)
			return usage_error(ctl, "cluster %s needs NAME", sub);
		/* add-member etc.: the API's names, accepted as well. */
		api_cmd = strncmp(sub, "add", 3) == 0      ? "add_member"
			  : strncmp(sub, "remove", 6) == 0 ? "remove_member"
							   : "transfer_leader";
	} else {
		return usage_error(ctl, "unknown cluster command '%s'", sub);
	}
	req = json_object_new_object();
	if (req == NULL)
		return report_error(ctl, LATCHCTL_EXIT_ERROR, NULL,
				    "out of memory");
	json_object_object_add(req, "cmd", json_object_new_string(api_cmd));
	if (argc == 3)
		json_object_object_add(req, "name",
				       json_object_new_string(argv[2]));
	code = socket_command(ctl, ctl->api, "latch-control",
			      " (is latch-control running?)", req,
			      strcmp(api_cmd, "cluster_status") == 0
				      ? print_cluster_status
				      : print_members);
	json_object_put(req);
	return code;
}

/* ---- main -------------------------------------------------------------- */

static void
latchctl_defaults(struct latchctl *ctl)
{
	const char *env;
	uint64_t v;

	memset(ctl, 0, sizeof(*ctl));
	env = getenv("LATCH_SERVER");
	ctl->server =
		env != NULL && *env != '\0' ? env : LATCHCTL_SERVER_DEFAULT;
	env = getenv("LATCH_CONTROL");
	ctl->control =
		env != NULL && *env != '\0' ? env : LATCHCTL_CONTROL_DEFAULT;
	env = getenv("LATCH_API");
	ctl->api = env != NULL && *env != '\0' ? env : LATCHCTL_API_DEFAULT;
	env = getenv("LATCH_CLIENT_ID");
	if (env != NULL && parse_u64(env, UINT64_MAX, &v) && v != 0)
		ctl->client_id = v;
	ctl->timeout_ms = LATCH_CLIENT_TIMEOUT_MS_DEFAULT;
}

int
main(int argc, char **argv)
{
	struct latchctl ctl;
	const char *cmd;
	int cmd_argc, rc;
	char **cmd_argv;

	latchctl_defaults(&ctl);
	/* See --json wherever it is, so even a usage error is JSON. */
	for (rc = 1; rc < argc; rc++)
		if (strcmp(argv[rc], "--json") == 0)
			ctl.json = true;
	if (getenv("LATCH_CLIENT_ID") != NULL && ctl.client_id == 0)
		return usage_error(&ctl, "bad LATCH_CLIENT_ID '%s'",
				   getenv("LATCH_CLIENT_ID"));

	rc = parse_options(&ctl, argc, argv, true);
	if (rc != 0)
		return rc;
	cmd_argc = argc - optind;
	cmd_argv = argv + optind;
	if (cmd_argc > 0) {
		/* Options may also follow the command (lock acquire K --wait). */
		char **args = calloc((size_t)cmd_argc + 2, sizeof(*args));
		int n = 0, i;

		if (args == NULL)
			return report_error(&ctl, LATCHCTL_EXIT_ERROR, NULL,
					    "out of memory");
		args[0] = argv[0];
		for (i = 0; i < cmd_argc; i++)
			args[i + 1] = cmd_argv[i];
		rc = parse_options(&ctl, cmd_argc + 1, args, false);
		if (rc != 0)
			return rc;
		/* getopt moved the non-options to the end. */
		for (i = optind; i < cmd_argc + 1; i++)
			cmd_argv[n++] = args[i];
		cmd_argc = n;
		free(args);
	}

	if (ctl.version) {
		if (ctl.json)
			printf("{\"version\": \"%s\", \"wire_version\": %d}\n",
			       LATCHCTL_VERSION, LATCH_VERSION);
		else
			printf("latchctl %s (wire version %d)\n",
			       LATCHCTL_VERSION, LATCH_VERSION);
		return LATCHCTL_EXIT_OK;
	}
	if (ctl.help || (cmd_argc > 0 && strcmp(cmd_argv[0], "help") == 0)) {
		if (ctl.json) {
			fputs("{\"usage\": ", stdout);
			json_string(stdout, usage_text, strlen(usage_text));
			fputs("}\n", stdout);
		} else {
			fputs(usage_text, stdout);
		}
		return LATCHCTL_EXIT_OK;
	}
	if (cmd_argc == 0)
		return usage_error(&ctl, "no command");
	cmd = cmd_argv[0];
	if (strcmp(cmd, "lock") == 0)
		return cmd_lock(&ctl, cmd_argc, cmd_argv);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(&ctl, cmd_argc, cmd_argv);
	if (strcmp(cmd, "route") == 0)
		return cmd_route(&ctl, cmd_argc, cmd_argv);
	if (strcmp(cmd, "backend") == 0)
		return cmd_backend(&ctl, cmd_argc, cmd_argv);
	if (strcmp(cmd, "cluster") == 0)
		return cmd_cluster(&ctl, cmd_argc, cmd_argv);
	return usage_error(&ctl, "unknown command '%s'", cmd);
}
