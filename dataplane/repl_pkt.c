/* SPDX-License-Identifier: BSD-3-Clause */
/* Pure helpers of latchd's replicated mode (repl_pkt.h). */
#include <errno.h>
#include <string.h>

#include "dataplane/repl_pkt.h"

/* EtherType and IPv4 fields as pkt.c writes them (RFC 791, RFC 6864). */
#define REPL_ETHERTYPE_IPV4 0x0800
#define REPL_IPV4_DF        0x4000
#define REPL_IPPROTO_UDP    17

static void
repl_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t
repl_pkt_headers(uint8_t *frame, const uint8_t dst_mac[6],
		 const uint8_t src_mac[6], uint32_t src_ip_be,
		 uint32_t dst_ip_be, uint16_t src_port, uint16_t dst_port,
		 size_t payload_len)
{
	uint8_t *ip = frame + PKT_ETH_LEN;
	uint8_t *udp = ip + PKT_IPV4_LEN;
	size_t len = PKT_UDP_PAYLOAD_OFF + payload_len;
	uint16_t sum;

	if (payload_len > UINT16_MAX - PKT_IPV4_LEN - PKT_UDP_LEN)
		return 0;
	memcpy(frame, dst_mac, 6);
	memcpy(frame + 6, src_mac, 6);
	repl_put16(frame + 12, REPL_ETHERTYPE_IPV4);

	ip[0] = 0x45; /* version 4, no options */
	ip[1] = 0;
	repl_put16(ip + 2, (uint16_t)(len - PKT_ETH_LEN));
	repl_put16(ip + 4, 0); /* id: unused with DF (RFC 6864) */
	repl_put16(ip + 6, REPL_IPV4_DF);
	ip[8] = PKT_TTL;
	ip[9] = REPL_IPPROTO_UDP;
	repl_put16(ip + 10, 0);
	memcpy(ip + 12, &src_ip_be, 4);
	memcpy(ip + 16, &dst_ip_be, 4);
	sum = pkt_ip_checksum(ip, PKT_IPV4_LEN);
	repl_put16(ip + 10, sum);

	repl_put16(udp, src_port);
	repl_put16(udp + 2, dst_port);
	repl_put16(udp + 4, (uint16_t)(len - PKT_ETH_LEN - PKT_IPV4_LEN));
	repl_put16(udp + 6, 0);
	if (len < PKT_ETH_MIN_LEN) {
		memset(frame + len, 0, PKT_ETH_MIN_LEN - len);
		len = PKT_ETH_MIN_LEN;
	}
	return len;
}

/* Record sizes of snapshot format version 2 (docs/snapshot.md, "Format"). */
#define REPL_SNAP_FIXED   (60 + 4) /* header and trailer */
#define REPL_SNAP_LOCK    (2 + LATCH_KEY_MAX + 9)
#define REPL_SNAP_REQUEST 58
#define REPL_SNAP_SESSION 24
#define REPL_SNAP_BOUND   8
#define REPL_SNAP_ANSWER  41
_Static_assert(LOCK_SNAPSHOT_VERSION == 2, "record sizes of version 2");

uint64_t
repl_snapshot_max(const struct lock_table_config *cfg)
{
	uint64_t requests = (uint64_t)cfg->holders_max + cfg->waiters_max;
	/* A lock record exists only for a key with a holder or a waiter. */
	uint64_t locks = cfg->locks_max < requests ? cfg->locks_max : requests;

	return REPL_SNAP_FIXED + locks * REPL_SNAP_LOCK +
	       requests * (REPL_SNAP_REQUEST + REPL_SNAP_BOUND) +
	       (uint64_t)cfg->sessions_max * REPL_SNAP_SESSION +
	       (uint64_t)cfg->dedup_max * REPL_SNAP_ANSWER;
}

uint64_t
repl_redirect_holder(uint32_t ip_be, uint16_t port_base)
{
	const uint8_t *b = (const uint8_t *)&ip_be;
	uint64_t ip;

	if (ip_be == 0)
		return 0;
	ip = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 |
	     (uint64_t)b[3];
	return ip | (uint64_t)port_base << 32;
}

int
repl_pending_init(struct repl_pending *pt, struct repl_pending_slot *slots,
		  uint32_t count)
{
	if (count == 0 || (count & (count - 1)) != 0 || slots == NULL)
		return -EINVAL;
	memset(slots, 0, sizeof(*slots) * count);
	pt->mask = count - 1;
	pt->used = 0;
	pt->slots = slots;
	return 0;
}

bool
repl_pending_can_put(const struct repl_pending *pt, uint64_t index)
{
	return index != 0 && pt->slots[index & pt->mask].index == 0;
}

void
repl_pending_put(struct repl_pending *pt, uint64_t index, uint64_t client_id,
		 uint64_t request_id, void *value, uint8_t port)
{
	struct repl_pending_slot *s = &pt->slots[index & pt->mask];

	s->index = index;
	s->client_id = client_id;
	s->request_id = request_id;
	s->value = value;
	s->port = port;
	pt->used++;
}

bool
repl_pending_take(struct repl_pending *pt, uint64_t index,
		  struct repl_pending_slot *out)
{
	struct repl_pending_slot *s = &pt->slots[index & pt->mask];

	if (index == 0 || s->index != index)
		return false;
	*out = *s;
	memset(s, 0, sizeof(*s));
	pt->used--;
	return true;
}

bool
repl_pending_pop(struct repl_pending *pt, struct repl_pending_slot *out)
{
	uint32_t i;

	if (pt->used == 0)
		return false;
	for (i = 0; i <= pt->mask; i++) {
		if (pt->slots[i].index != 0)
			return repl_pending_take(pt, pt->slots[i].index, out);
	}
	return false;
}
