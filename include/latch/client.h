/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * liblatch: the latch client library over kernel UDP sockets.
 *
 * Every call is synchronous: it sends one request, waits up to
 * latch_client_config::timeout_ms for the answer, and resends the same
 * request (same request id) up to latch_client_config::retries more times.
 * The server keeps the first answer to every (client id, request id) for a
 * while, so a retry is answered with that first answer and can never be
 * granted twice.
 *
 * The client finds the server's partition count by itself: it starts from
 * the configured count (or 1), and when the server answers WRONG_PARTITION
 * with its own count, it recomputes the key's partition and resends.
 *
 * Replicated clusters (docs/protocol.md, "Redirects"): a follower answers
 * NOT_LEADER with the leader's address and base port in `holder`. The
 * client then talks to that leader from now on (latch_client_server()
 * tells which node it uses) and resends the same request, same request
 * id, to it; at most 3 such redirects per call, after which the call
 * returns the NOT_LEADER answer (a loop between nodes). NOT_LEADER with
 * holder 0 (no leader known, an election) makes the call wait 50 ms,
 * doubling up to 800 ms, and resend within its retry budget; if the
 * budget runs out the call returns that NOT_LEADER answer (status
 * LATCH_S_NOT_LEADER, return value 0). With
 * latch_client_config::forward, requests carry LATCH_F_FORWARD instead:
 * the node asked forwards them to the leader, and the client stays where
 * it is (it still follows a NOT_LEADER it gets).
 *
 * Sessions: when latch_client_config::session is true (the default),
 * acquires are bound to a session per partition, opened on first use, and
 * liblatch starts ONE background thread (pthread) with its own UDP socket
 * that refreshes every open session each session_ms / 3. When the process
 * dies, its sessions expire and the server releases their locks.
 * latch_client_destroy() closes them at once. Sessions live on one node:
 * after a redirect, the sessions of the node left are no longer refreshed
 * (they expire there, releasing what they held), and the next acquire
 * opens a session on the leader (its NO_SESSION answer triggers that).
 *
 * Notifications: GRANTED or LOST messages that arrive while no call waits
 * for them (for example LOST when a lease expired) are acknowledged at once
 * and queued; read them with latch_poll_event(). Duplicates (the server
 * retransmits until acknowledged) are acknowledged again but queued once.
 *
 * Thread safety: a struct latch_client may be shared by threads; its calls
 * are serialized by an internal mutex, so one call waits for another to
 * finish (a waiting acquire holds the client for as long as it waits). For
 * parallel requests, create one client per thread. All functions here are
 * safe to call from any thread except that latch_client_destroy() must not
 * race with other calls on the same client.
 *
 * Byte order: every number here is in host order; the library converts.
 */
#ifndef LATCH_CLIENT_H
#define LATCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <latch/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default per-attempt timeout: well above a loaded LAN round trip. */
#define LATCH_CLIENT_TIMEOUT_MS_DEFAULT 200
/** Default number of resends after the first attempt. */
#define LATCH_CLIENT_RETRIES_DEFAULT 5
/** Default session timeout asked of the server. */
#define LATCH_CLIENT_SESSION_MS_DEFAULT 5000
/**
 * How long a waiting acquire with wait_ms 0 (the server's default) waits
 * locally before asking the server again: the longest wait we expect a
 * server to allow.
 */
#define LATCH_CLIENT_WAIT_MS_DEFAULT 30000
/**
 * Slack added to a wait before the client asks again: covers the server's
 * timer granularity and one retransmission of its TIMEOUT notification.
 */
#define LATCH_CLIENT_WAIT_MARGIN_MS 1000
/** Notifications kept for latch_poll_event(); beyond, the oldest is lost. */
#define LATCH_CLIENT_EVENTS_MAX 64

/** How to reach the server and how patiently. */
struct latch_client_config {
	/** "ADDR[:PORT]" (IPv4 address or host name); PORT is the base
	 *  port, default LATCH_PORT_BASE_DEFAULT. Required. */
	const char *server;
	/** Non-zero client id; 0 picks a random non-zero one. */
	uint64_t client_id;
	/** The server's partition count, 0 to discover it. */
	uint16_t partitions;
	/** Per attempt, in ms; 0 means the default. */
	uint32_t timeout_ms;
	/** Resends after the first attempt. */
	uint32_t retries;
	/** Bind acquired locks to a session (starts the keepalive thread). */
	bool session;
	/** Session timeout asked of the server, in ms; 0 = default. */
	uint32_t session_ms;
	/** Set LATCH_F_FORWARD on every request (KEEPALIVE included): a
	 *  follower forwards it to the leader instead of answering
	 *  NOT_LEADER. Default false (follow redirects instead). */
	bool forward;
};

/**
 * Fill @p cfg with the defaults: no server, random client id, discovered
 * partitions, timeout 200 ms, 5 retries, sessions on, session 5000 ms,
 * no forwarding.
 */
void latch_client_config_default(struct latch_client_config *cfg);

/** An opaque client: one UDP socket, its request ids and its events. */
struct latch_client;

/**
 * Create a client. Sends nothing yet. Starts the keepalive thread when
 * @p cfg->session is true.
 *
 * @return the client, or NULL with errno set: EINVAL for a bad
 * configuration or an address that cannot be resolved, else the error of
 * socket(2) or pthread_create(3).
 */
struct latch_client *latch_client_create(const struct latch_client_config *cfg);

/**
 * Stop the keepalive thread, close every session this client opened
 * (KEEPALIVE with LATCH_F_CLOSE; best effort, one attempt) and free @p c.
 * NULL is accepted.
 */
void latch_client_destroy(struct latch_client *c);

/** The answer to a call (or the notification that ended a wait). */
struct latch_result {
	uint16_t status;   /**< enum latch_status */
	uint16_t flags;    /**< LATCH_F_SHARED (mode of the grant); QUERY:
				LATCH_F_REPLICA if a follower answered */
	uint64_t token;    /**< fencing token of the grant */
	uint32_t lease_ms; /**< lease granted; QUERY: lease left */
	uint32_t count;    /**< QUERY: holders; QUEUED: place in queue */
	uint64_t holder;   /**< QUERY: client id of the first holder */
	uint32_t waiters;  /**< QUERY: requests queued on the key */
};

/**
 * Take the lock @p key (1..LATCH_KEY_MAX bytes).
 *
 * @p flags: LATCH_F_SHARED for shared mode, LATCH_F_WAIT to queue when the
 * lock is taken. Without WAIT the answer is OK (granted) or BUSY. With
 * WAIT the server first answers QUEUED; the call then waits for the
 * GRANTED notification (up to @p wait_ms, 0 = server default, plus
 * LATCH_CLIENT_WAIT_MARGIN_MS), acknowledges it and returns its status: OK
 * (granted), TIMEOUT or SESSION_ENDED. If no notification comes, it asks
 * again with the same request id, so a lost notification loses no grant.
 * @p lease_ms: lease asked, 0 = server default.
 *
 * @return 0 when an answer arrived (any status, in @p out->status),
 * -ETIMEDOUT when no attempt was answered, -EINVAL for bad arguments,
 * another -errno for a socket error.
 */
int latch_acquire(struct latch_client *c, const void *key, size_t len,
		  unsigned flags, uint32_t wait_ms, uint32_t lease_ms,
		  struct latch_result *out);

/**
 * Give back the lock @p key held with fencing token @p token. Status OK,
 * STALE_TOKEN or NOT_HELD. Returns as latch_acquire().
 */
int latch_release(struct latch_client *c, const void *key, size_t len,
		  uint64_t token, struct latch_result *out);

/**
 * Extend the lease of the lock @p key held with @p token to @p lease_ms
 * from now (0 = server default). Status OK (with the new lease),
 * STALE_TOKEN or NOT_HELD. Returns as latch_acquire().
 */
int latch_renew(struct latch_client *c, const void *key, size_t len,
		uint64_t token, uint32_t lease_ms, struct latch_result *out);

/**
 * Ask who holds @p key; changes nothing. Status OK with count (holders,
 * 0 = free), flags (mode), holder, token and lease left of the first
 * holder, and waiters. Returns as latch_acquire().
 */
int latch_query(struct latch_client *c, const void *key, size_t len,
		struct latch_result *out);

/** A notification that arrived while no call was waiting for it. */
struct latch_event {
	uint8_t op;          /**< LATCH_OP_GRANTED or LATCH_OP_LOST */
	uint16_t status;     /**< GRANTED: OK, TIMEOUT, SESSION_ENDED;
				  LOST: EXPIRED, SESSION_ENDED */
	uint16_t flags;      /**< mode of the grant */
	uint64_t token;      /**< token of the grant */
	uint64_t request_id; /**< the ACQUIRE that asked for the lock */
	uint32_t lease_ms;   /**< GRANTED: lease granted */
	uint16_t key_len;
	uint8_t key[LATCH_KEY_MAX];
};

/**
 * Take the oldest queued notification into @p ev, reading the socket for
 * up to @p timeout_ms (0: only what already arrived; -1: until one
 * comes). Notifications read here are acknowledged like any other.
 * Holds the client while it waits: other calls on @p c wait too.
 *
 * @return 1 if @p ev was filled, 0 if none came in time, -errno on a
 * socket error.
 */
int latch_poll_event(struct latch_client *c, struct latch_event *ev,
		     int timeout_ms);

/**
 * The client's socket, for poll(2) or epoll: readable when a datagram
 * arrived; then call latch_poll_event() with timeout 0. Do not read it.
 */
int latch_client_fd(const struct latch_client *c);

/** The client id in use (the configured or the random one). */
uint64_t latch_client_id(const struct latch_client *c);

/** The partition count in use (configured, or learned from the server). */
uint16_t latch_client_partitions(const struct latch_client *c);

/**
 * Write the server @p c talks to now, "a.b.c.d:PORT" (PORT the base
 * port), into @p buf of @p len bytes: the configured one until a
 * NOT_LEADER redirect moves the client to the leader. Any thread.
 *
 * @return the length written (without the NUL), -EINVAL for NULL
 * arguments, -ENOSPC if @p buf is too small (22 bytes always suffice).
 */
int latch_client_server(const struct latch_client *c, char *buf, size_t len);

/** Name of a status ("ok", "busy", ...); "unknown" beyond the list. */
const char *latch_status_name(uint16_t status);

#ifdef __cplusplus
}
#endif

#endif /* LATCH_CLIENT_H */
