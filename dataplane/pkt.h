/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet handling over plain byte buffers: parse Ethernet/ARP/IPv4/UDP,
 * turn a request into its answer in place, answer ARP, build the frames of
 * notifications from scratch.
 *
 * Nothing here knows rte_mbuf or calls DPDK, so the unit tests run these
 * functions over golden frames without an EAL; the worker hands in
 * rte_pktmbuf_mtod() and the segment's data length.
 *
 * Frames are untagged Ethernet II (no VLAN) carrying IPv4 without options.
 * Every length is checked against the buffer before it is read
 * (docs/design.md, "wire format"). An answer made in place keeps the size
 * of the request, so latchd never amplifies a spoofed request.
 *
 * Thread safety: every function is reentrant; buffers belong to the caller.
 */
#ifndef LATCH_PKT_H
#define LATCH_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <latch/proto.h>

#include "common/wire.h"
#include "dataplane/lock_table.h"

/* Header sizes of what we parse and build (IEEE 802.3, RFC 791/826/768). */
#define PKT_ETH_LEN         14
#define PKT_ARP_LEN         28
#define PKT_IPV4_LEN        20
#define PKT_UDP_LEN         8
#define PKT_UDP_PAYLOAD_OFF (PKT_ETH_LEN + PKT_IPV4_LEN + PKT_UDP_LEN)
/* Ethernet's minimum frame without FCS: shorter frames are padded. */
#define PKT_ETH_MIN_LEN 60
/* The largest notification frame: headers, fixed message, longest key. */
#define PKT_NOTIFY_FRAME_MAX (PKT_UDP_PAYLOAD_OFF + LATCH_MSG_MAX_LEN)
/* TTL of every packet latchd originates or answers (RFC 1700's default). */
#define PKT_TTL 64
/* UDP port that pktgen's latency probes are sent to (pktgen-dpdk). */
#define PKT_PKTGEN_PROBE_PORT 1028

/*
 * What a frame is. The first verdicts are handled; the others are drop
 * reasons that the worker maps onto WORKER_DROP_LIST.
 */
enum pkt_verdict {
	PKT_UDP = 0,     /* IPv4/UDP, lengths checked, fields filled */
	PKT_ARP_REQUEST, /* ARP request for an IPv4 address */
	PKT_ARP_OTHER,   /* ARP reply, or ARP for another protocol */
	PKT_NOT_IPV4,    /* another EtherType (IPv6, VLAN, ...) */
	PKT_NOT_UDP,     /* IPv4 but not UDP */
	PKT_IP_FRAGMENT, /* MF set or a fragment offset */
	PKT_IP_OPTIONS,  /* IHL above 5 */
	PKT_BAD_IP_LEN,  /* IHL below 5, or total length vs frame */
	PKT_BAD_UDP_LEN, /* UDP length vs IP payload */
	PKT_TRUNCATED,   /* frame shorter than its headers */
	PKT_VERDICT_MAX,
};

/*
 * What pkt_parse() found. Addresses stay in network order (they are only
 * compared and copied); ports are in host order (they are compared with
 * ranges). payload_off/payload_len locate the UDP payload in the frame.
 */
struct pkt_info {
	uint8_t verdict; /* enum pkt_verdict */
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t payload_off;
	uint16_t payload_len;
	uint32_t src_ip_be;
	uint32_t dst_ip_be; /* also the target address of an ARP request */
};

/*
 * Where a client is, as the worker stores it in struct lock_addr so that a
 * GRANTED or LOST notification can later be sent without the request.
 */
struct pkt_client_addr {
	uint16_t port_id;     /* DPDK port the request came in on */
	uint8_t mac[6];       /* client's Ethernet address */
	uint32_t ip_be;       /* client's IPv4 address */
	uint16_t udp_port;    /* client's UDP port (host order) */
	uint16_t server_port; /* our UDP port it wrote to (host order) */
};

/* The fields of a lock answer written over its request's payload. */
struct pkt_latch_answer {
	uint8_t op; /* the request's op; LATCH_OP_REPLY is added */
	uint16_t flags;
	uint16_t status;
	uint32_t count;
	uint64_t token;
	uint64_t holder;
	uint32_t lease_ms;
	uint32_t wait_ms;
};

/*
 * Classify the frame in @frame[0..len) and fill @out (only the verdict
 * unless it is PKT_UDP or PKT_ARP_REQUEST). Any thread.
 */
enum pkt_verdict pkt_parse(const uint8_t *frame, uint32_t len,
			   struct pkt_info *out);

/*
 * Turn the parsed UDP request in @frame into its answer's headers, in
 * place: destination MAC = the request's source, source MAC = @our_mac,
 * IPs and UDP ports swapped, TTL 64, IP checksum recomputed, UDP checksum
 * 0 (legal for IPv4, RFC 768). Lengths are kept. The payload is the
 * caller's. Precondition: pkt_parse() said PKT_UDP.
 */
void pkt_answer_udp(uint8_t *frame, const struct pkt_info *info,
		    const uint8_t our_mac[6]);

/*
 * Write @a over the lock request at @payload (@len bytes) in place: op |
 * LATCH_OP_REPLY, flags, status, count and the op fields. Magic, version,
 * partition, key length, client and request ids and the key are echoed as
 * they came. Returns false (and writes nothing) if @len is shorter than the
 * fixed part of a message.
 */
bool pkt_latch_answer(uint8_t *payload, uint32_t len,
		      const struct pkt_latch_answer *a);

/*
 * Reflect a pktgen latency probe: swap MACs, IPs and UDP ports and change
 * nothing else (both checksums stay valid: their sums do not depend on the
 * order of the swapped words). Precondition: PKT_UDP.
 */
void pkt_reflect(uint8_t *frame, const struct pkt_info *info);

/*
 * If @frame is an ARP request for @our_ip_be, rewrite it in place into the
 * reply from @our_mac and return true; otherwise change nothing and return
 * false. Precondition: pkt_parse() said PKT_ARP_REQUEST.
 */
bool pkt_arp_reply(uint8_t *frame, const struct pkt_info *info,
		   const uint8_t our_mac[6], uint32_t our_ip_be);

/* Client address <-> the table's opaque struct lock_addr. */
void pkt_addr_pack(struct lock_addr *out, const struct pkt_client_addr *a);
void pkt_addr_unpack(const struct lock_addr *in, struct pkt_client_addr *a);

/*
 * Fill @a with where the parsed request in @frame came from, received on
 * @port_id. Precondition: PKT_UDP.
 */
void pkt_client_from_request(const uint8_t *frame, const struct pkt_info *info,
			     uint16_t port_id, struct pkt_client_addr *a);

/*
 * Build a whole notification frame (Ethernet, IPv4, UDP, @msg encoded with
 * latch_wire_encode) into @buf from @our_mac/@our_ip_be to @to. Returns the
 * frame's length, padded to the Ethernet minimum, or 0 if @cap is too small
 * or @msg does not encode.
 */
size_t pkt_build_notify(uint8_t *buf, size_t cap,
			const struct pkt_client_addr *to,
			const uint8_t our_mac[6], uint32_t our_ip_be,
			const struct latch_wire_msg *msg);

/* Internet checksum (RFC 1071) of @len bytes, folded and complemented. */
uint16_t pkt_ip_checksum(const uint8_t *hdr, uint32_t len);

#endif /* LATCH_PKT_H */
