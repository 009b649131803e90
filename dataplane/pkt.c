/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet parsing and in-place answers over byte buffers (see pkt.h).
 *
 * Fields are read and written through get/put helpers in network order,
 * never through casts to header structs: frames come at any alignment and
 * the helpers compile to single loads and byte swaps.
 */
#include <string.h>

#include "common/bytes.h"
#include "common/assert.h"
#include "dataplane/pkt.h"

/* EtherTypes (IEEE 802 numbers). */
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP  0x0806
/* IP protocol number of UDP (RFC 768). */
#define IPPROTO_UDP_NUM 17
/* IPv4 flags/fragment word: MF bit and offset mask (RFC 791). */
#define IPV4_MF          0x2000
#define IPV4_DF          0x4000
#define IPV4_OFFSET_MASK 0x1fff
/* ARP (RFC 826): hardware type Ethernet, opcodes. */
#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST  1
#define ARP_OP_REPLY    2

/* Offsets inside the IPv4 header. */
#define IP_OFF_VIHL   0
#define IP_OFF_TOTLEN 2
#define IP_OFF_FRAG   6
#define IP_OFF_TTL    8
#define IP_OFF_PROTO  9
#define IP_OFF_CSUM   10
#define IP_OFF_SRC    12
#define IP_OFF_DST    16
/* Offsets inside the ARP body. */
#define ARP_OFF_HTYPE 0
#define ARP_OFF_PTYPE 2
#define ARP_OFF_HLEN  4
#define ARP_OFF_PLEN  5
#define ARP_OFF_OP    6
#define ARP_OFF_SHA   8
#define ARP_OFF_SPA   14
#define ARP_OFF_THA   18
#define ARP_OFF_TPA   24

#define L3            PKT_ETH_LEN
#define L4            (PKT_ETH_LEN + PKT_IPV4_LEN)

/* Swap @n bytes at @a and @b (n <= 6). */
static inline void
swap_bytes(uint8_t *a, uint8_t *b, unsigned n)
{
	uint8_t t[6];

	LATCH_DEBUG_ASSERT(n <= sizeof(t));
	memcpy(t, a, n);
	memcpy(a, b, n);
	memcpy(b, t, n);
}

uint16_t
pkt_ip_checksum(const uint8_t *hdr, uint32_t len)
{
	uint32_t sum = 0;
	uint32_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += be_get16(hdr + i);
	if (len & 1)
		sum += (uint32_t)hdr[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ARP: only Ethernet/IPv4 requests interest us (RFC 826). */
static enum pkt_verdict
parse_arp(const uint8_t *frame, uint32_t len, struct pkt_info *out)
{
	const uint8_t *arp = frame + L3;

	if (len < PKT_ETH_LEN + PKT_ARP_LEN)
		return PKT_TRUNCATED;
	if (be_get16(arp + ARP_OFF_HTYPE) != ARP_HTYPE_ETHER ||
	    be_get16(arp + ARP_OFF_PTYPE) != ETHERTYPE_IPV4 ||
	    arp[ARP_OFF_HLEN] != 6 || arp[ARP_OFF_PLEN] != 4 ||
	    be_get16(arp + ARP_OFF_OP) != ARP_OP_REQUEST)
		return PKT_ARP_OTHER;
	memcpy(&out->src_ip_be, arp + ARP_OFF_SPA, 4);
	memcpy(&out->dst_ip_be, arp + ARP_OFF_TPA, 4);
	return PKT_ARP_REQUEST;
}

static enum pkt_verdict
parse_ipv4_udp(const uint8_t *frame, uint32_t len, struct pkt_info *out)
{
	const uint8_t *ip = frame + L3;
	const uint8_t *udp = frame + L4;
	uint16_t ip_len, udp_len;

	if (len < PKT_ETH_LEN + PKT_IPV4_LEN)
		return PKT_TRUNCATED;
	if ((ip[IP_OFF_VIHL] >> 4) != 4)
		return PKT_NOT_IPV4;
	if ((ip[IP_OFF_VIHL] & 0xf) < 5)
		return PKT_BAD_IP_LEN;
	if ((ip[IP_OFF_VIHL] & 0xf) > 5)
		return PKT_IP_OPTIONS;
	ip_len = be_get16(ip + IP_OFF_TOTLEN);
	/* Frames may carry Ethernet padding after the datagram, never less. */
	if (ip_len < PKT_IPV4_LEN || ip_len > len - PKT_ETH_LEN)
		return PKT_BAD_IP_LEN;
	if (be_get16(ip + IP_OFF_FRAG) & (IPV4_MF | IPV4_OFFSET_MASK))
		return PKT_IP_FRAGMENT;
	if (ip[IP_OFF_PROTO] != IPPROTO_UDP_NUM)
		return PKT_NOT_UDP;
	if (ip_len < PKT_IPV4_LEN + PKT_UDP_LEN)
		return PKT_TRUNCATED;
	udp_len = be_get16(udp + 4);
	if (udp_len < PKT_UDP_LEN || udp_len > ip_len - PKT_IPV4_LEN)
		return PKT_BAD_UDP_LEN;

	memcpy(&out->src_ip_be, ip + IP_OFF_SRC, 4);
	memcpy(&out->dst_ip_be, ip + IP_OFF_DST, 4);
	out->src_port = be_get16(udp);
	out->dst_port = be_get16(udp + 2);
	out->payload_off = PKT_UDP_PAYLOAD_OFF;
	out->payload_len = (uint16_t)(udp_len - PKT_UDP_LEN);
	return PKT_UDP;
}

enum pkt_verdict
pkt_parse(const uint8_t *frame, uint32_t len, struct pkt_info *out)
{
	enum pkt_verdict v;
	uint16_t type;

	if (len < PKT_ETH_LEN) {
		v = PKT_TRUNCATED;
	} else {
		type = be_get16(frame + 12);
		if (type == ETHERTYPE_IPV4)
			v = parse_ipv4_udp(frame, len, out);
		else if (type == ETHERTYPE_ARP)
			v = parse_arp(frame, len, out);
		else
			v = PKT_NOT_IPV4;
	}
	out->verdict = (uint8_t)v;
	return v;
}

/* Recompute the IPv4 header checksum after the header changed. */
static void
ipv4_checksum_set(uint8_t *ip)
{
	be_put16(ip + IP_OFF_CSUM, 0);
	be_put16(ip + IP_OFF_CSUM, pkt_ip_checksum(ip, PKT_IPV4_LEN));
}

/*
 * The header checksum @hc after one 16-bit word of the header changed
 * from @old to @new (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')). Nothing is
 * summed again: the words of an answer's header are the request's, only
 * the TTL changes (swapping the addresses leaves the sum as it was), and
 * summing the header just rewritten byte by byte read it back while those
 * stores were still queued, a store-forwarding stall that was 40 % of
 * this function's samples. A request whose checksum was wrong gets an
 * answer whose checksum is wrong.
 */
static inline uint16_t
ipv4_checksum_adjust(uint16_t hc, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint32_t)(uint16_t)~hc + (uint16_t)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void
pkt_answer_udp(uint8_t *frame, const struct pkt_info *info,
	       const uint8_t our_mac[6])
{
	uint8_t *ip = frame + L3;
	uint8_t *udp = frame + L4;
	uint16_t csum = be_get16(ip + IP_OFF_CSUM);
	uint16_t ttl_proto = be_get16(ip + IP_OFF_TTL);
	uint16_t ttl_proto_new = (uint16_t)(PKT_TTL << 8 | (ttl_proto & 0xff));

	LATCH_DEBUG_ASSERT(info->verdict == PKT_UDP);
	/* To whoever sent it, from us: the request's destination MAC may be
	 * a broadcast one, which must never become a source. */
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, our_mac, 6);
	swap_bytes(ip + IP_OFF_SRC, ip + IP_OFF_DST, 4);
	be_put16(ip + IP_OFF_TTL, ttl_proto_new);
	be_put16(ip + IP_OFF_CSUM,
		 ipv4_checksum_adjust(csum, ttl_proto, ttl_proto_new));
	swap_bytes(udp, udp + 2, 2);
	be_put16(udp + 6, 0);
}

bool
pkt_latch_answer(uint8_t *payload, uint32_t len,
		 const struct pkt_latch_answer *a)
{
	if (len < LATCH_MSG_FIXED_LEN)
		return false;
	payload[offsetof(struct latch_hdr, op)] =
		(uint8_t)((a->op & ~LATCH_OP_REPLY) | LATCH_OP_REPLY);
	be_put16(payload + offsetof(struct latch_hdr, flags), a->flags);
	be_put16(payload + offsetof(struct latch_hdr, status), a->status);
	be_put32(payload + offsetof(struct latch_hdr, count), a->count);
	payload += sizeof(struct latch_hdr);
	be_put64(payload + offsetof(struct latch_fields, token), a->token);
	be_put64(payload + offsetof(struct latch_fields, holder), a->holder);
	be_put32(payload + offsetof(struct latch_fields, lease_ms),
		 a->lease_ms);
	be_put32(payload + offsetof(struct latch_fields, wait_ms), a->wait_ms);
	return true;
}

void
pkt_reflect(uint8_t *frame, const struct pkt_info *info)
{
	LATCH_DEBUG_ASSERT(info->verdict == PKT_UDP);
	swap_bytes(frame, frame + 6, 6);
	swap_bytes(frame + L3 + IP_OFF_SRC, frame + L3 + IP_OFF_DST, 4);
	swap_bytes(frame + L4, frame + L4 + 2, 2);
}

bool
pkt_arp_reply(uint8_t *frame, const struct pkt_info *info,
	      const uint8_t our_mac[6], uint32_t our_ip_be)
{
	uint8_t *arp = frame + L3;

	LATCH_DEBUG_ASSERT(info->verdict == PKT_ARP_REQUEST);
	if (info->dst_ip_be != our_ip_be || our_ip_be == 0)
		return false;
	/* Target <- the asker; sender <- us (RFC 826, "packet reception"). */
	memcpy(arp + ARP_OFF_THA, arp + ARP_OFF_SHA, 6);
	memcpy(arp + ARP_OFF_TPA, arp + ARP_OFF_SPA, 4);
	memcpy(arp + ARP_OFF_SHA, our_mac, 6);
	memcpy(arp + ARP_OFF_SPA, &our_ip_be, 4);
	be_put16(arp + ARP_OFF_OP, ARP_OP_REPLY);
	memcpy(frame, arp + ARP_OFF_THA, 6);
	memcpy(frame + 6, our_mac, 6);
	return true;
}

/*
 * struct lock_addr layout (16 bytes): port id (2, host order), MAC (6),
 * IPv4 (4, network order), client UDP port (2), server UDP port (2).
 */
_Static_assert(sizeof(struct lock_addr) >= 16, "client address fits");

void
pkt_addr_pack(struct lock_addr *out, const struct pkt_client_addr *a)
{
	uint8_t *b = out->bytes;

	memset(out, 0, sizeof(*out));
	memcpy(b, &a->port_id, 2);
	memcpy(b + 2, a->mac, 6);
	memcpy(b + 8, &a->ip_be, 4);
	memcpy(b + 12, &a->udp_port, 2);
	memcpy(b + 14, &a->server_port, 2);
}

void
pkt_addr_unpack(const struct lock_addr *in, struct pkt_client_addr *a)
{
	const uint8_t *b = in->bytes;

	memcpy(&a->port_id, b, 2);
	memcpy(a->mac, b + 2, 6);
	memcpy(&a->ip_be, b + 8, 4);
	memcpy(&a->udp_port, b + 12, 2);
	memcpy(&a->server_port, b + 14, 2);
}

void
pkt_client_from_request(const uint8_t *frame, const struct pkt_info *info,
			uint16_t port_id, struct pkt_client_addr *a)
{
	LATCH_DEBUG_ASSERT(info->verdict == PKT_UDP);
	a->port_id = port_id;
	memcpy(a->mac, frame + 6, 6);
	a->ip_be = info->src_ip_be;
	a->udp_port = info->src_port;
	a->server_port = info->dst_port;
}

size_t
pkt_build_notify(uint8_t *buf, size_t cap, const struct pkt_client_addr *to,
		 const uint8_t our_mac[6], uint32_t our_ip_be,
		 const struct latch_wire_msg *msg)
{
	uint8_t *ip = buf + L3;
	uint8_t *udp = buf + L4;
	size_t payload, frame;

	if (cap < PKT_ETH_MIN_LEN || cap < PKT_UDP_PAYLOAD_OFF)
		return 0;
	payload = latch_wire_encode(msg, buf + PKT_UDP_PAYLOAD_OFF,
				    cap - PKT_UDP_PAYLOAD_OFF);
	if (payload == 0)
		return 0;
	frame = PKT_UDP_PAYLOAD_OFF + payload;

	memcpy(buf, to->mac, 6);
	memcpy(buf + 6, our_mac, 6);
	be_put16(buf + 12, ETHERTYPE_IPV4);

	ip[IP_OFF_VIHL] = 0x45; /* version 4, 5 words: no options */
	ip[1] = 0;              /* DSCP/ECN: best effort */
	be_put16(ip + IP_OFF_TOTLEN, (uint16_t)(frame - PKT_ETH_LEN));
	be_put16(ip + 4, 0); /* id: unused with DF (RFC 6864) */
	be_put16(ip + IP_OFF_FRAG, IPV4_DF);
	ip[IP_OFF_TTL] = PKT_TTL;
	ip[IP_OFF_PROTO] = IPPROTO_UDP_NUM;
	memcpy(ip + IP_OFF_SRC, &our_ip_be, 4);
	memcpy(ip + IP_OFF_DST, &to->ip_be, 4);
	ipv4_checksum_set(ip);

	be_put16(udp, to->server_port);
	be_put16(udp + 2, to->udp_port);
	be_put16(udp + 4, (uint16_t)(frame - L4));
	be_put16(udp + 6, 0); /* no checksum: legal for IPv4 (RFC 768) */

	if (frame < PKT_ETH_MIN_LEN) {
		memset(buf + frame, 0, PKT_ETH_MIN_LEN - frame);
		frame = PKT_ETH_MIN_LEN;
	}
	return frame;
}
