/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One ethdev port of latchd, configured from its [port NAME] section.
 *
 * A port has one RX and one TX queue per worker (worker w owns queue w,
 * docs/design.md "processes"), a mempool of its own on the port's NUMA
 * socket, RSS across the queues where the device supports it, and no
 * offloads: workers compute checksums in software so every PMD, vdevs
 * included, behaves the same.
 *
 * Thread safety: port_init() and port_stop_close() run on the main lcore,
 * at start-up and shut-down, while no worker polls the port.
 */
#ifndef LATCH_PORT_H
#define LATCH_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mempool.h>

#include "firmware-cfg/profile.h"

struct port {
	const struct profile_port *cfg;
	uint16_t port_id;
	int socket_id;    /* SOCKET_ID_ANY when the device has none */
	uint16_t queues;  /* RX queues = TX queues = workers */
	uint16_t rx_desc; /* after rte_eth_dev_adjust_nb_rx_tx_desc */
	uint16_t tx_desc;
	bool rss; /* RSS spreads packets over the RX queues */
	/* Each RX queue has an fd that is readable while the queue holds a
	 * frame (port_rx_intr_fd): a sleeping worker wakes on it. */
	bool rx_intr;
	bool started;
	struct rte_ether_addr mac;
	struct rte_mempool *pool;
};

/*
 * Copy the ethdev name of @devargs (the part before the first comma:
 * "net_tap0" of "net_tap0,iface=latch0", or a PCI address) into @name.
 * Returns 0, or -ENAMETOOLONG if it does not fit in @size bytes.
 * Any thread; pure.
 */
int port_dev_name(const char *devargs, char *name, size_t size);

/*
 * Find the ethdev of @cfg (EAL must have probed it from --vdev or -a),
 * create its mempool of @mbufs mbufs, configure @queues RX and TX queues,
 * start it and read its MAC into @port. A peer link (role peer) that
 * cannot start yet (a memif client before its server) is left configured
 * and stopped (port->started false) for port_restart(). @burst is the workers' burst size,
 * used to check that the pool can fill every queue. @rx_intr asks for
 * Rx-queue interrupts where the device's queue fd can serve as one (TAP:
 * see port_rx_intr_fd); others are polled. Returns 0 or -errno,
 * having logged once with the port's name; on error nothing is left
 * configured. Main lcore, after rte_eal_init().
 */
int port_init(struct port *port, const struct profile_port *cfg,
	      uint16_t queues, uint32_t mbufs, uint16_t burst, bool rx_intr);

/*
 * Stop @port if it is started, then start it: a memif client dials its
 * server again. Returns 0 (port->started) or -errno (left stopped).
 * Main lcore, while no worker polls or sends on the port.
 */
int port_restart(struct port *port);

/* Is @port started with its link up? Any thread, after port_init(). */
bool port_link_up(const struct port *port);

/*
 * Does @port connect to its far end rather than wait for it (a memif
 * client)? Such a port stays down once its far end goes away until
 * port_restart() dials again. Pure.
 */
bool port_dials(const struct port *port);

/*
 * The fd of RX queue @q that poll(2) finds readable while the queue holds
 * a frame, or -1 (no Rx interrupts on this port). Only TAP ports have
 * one: their queue fd is the kernel's tap queue, level-triggered and
 * never read but by rx_burst. A NIC's interrupt eventfd (VFIO) would
 * need reading and re-arming around each sleep, which a worker does not
 * do, so NIC ports are polled at the sleep's pace (docs/design.md, "idle
 * policy"). Any thread, after port_init().
 */
int port_rx_intr_fd(const struct port *port, uint16_t q);

/*
 * Stop and close the port and free its mempool. Safe on a port that
 * port_init() failed on or never saw (zeroed). Main lcore, after every
 * worker lcore has returned.
 */
void port_stop_close(struct port *port);

#endif /* LATCH_PORT_H */
