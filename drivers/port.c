/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port set-up over DPDK PMDs and vdevs (see port.h).
 *
 * Validate, then create, then start, as DPDK's l3fwd does: every value the
 * device may refuse is checked against rte_eth_dev_info first, so the log
 * says which limit was hit instead of a bare -EINVAL from the PMD.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "drivers/port.h"

/*
 * Per-lcore mempool cache. 256 is the size DPDK's examples use; it is cut
 * for small pools because rte_mempool refuses a cache above n / 1.5.
 */
#define PORT_POOL_CACHE_MAX 256

/* RSS hash types we ask for: requests differ by UDP port and address. */
#define PORT_RSS_HF (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP)
/* dev_info.driver_name of the TAP PMD (net_tap), whose queue fds serve
 * as Rx interrupts (port_rx_intr_fd). */
#define PORT_TAP_DRIVER "net_tap"
/* The vdev prefix of net_memif ports. */
#define PORT_MEMIF_DRIVER "net_memif"

#define PORT_LOG(cfg, fmt, ...)                                    \
	fprintf(stderr, "latchd: port %s: " fmt "\n", (cfg)->name, \
		##__VA_ARGS__)

int
port_dev_name(const char *devargs, char *name, size_t size)
{
	size_t len = strcspn(devargs, ",");

	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(name, devargs, len);
	name[len] = '\0';
	return 0;
}

/*
 * Size of one mbuf's data room: the default 2 KiB fits a 1500-byte MTU;
 * jumbo MTUs get a room of their own so a frame never spans mbufs (the
 * workers parse one segment only).
 */
static uint16_t
port_data_room(uint16_t mtu)
{
	uint32_t need = (uint32_t)mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN +
			2 * RTE_VLAN_HLEN + RTE_PKTMBUF_HEADROOM;

	if (need < RTE_MBUF_DEFAULT_BUF_SIZE)
		need = RTE_MBUF_DEFAULT_BUF_SIZE;
	return need > UINT16_MAX ? UINT16_MAX : (uint16_t)need;
}

static unsigned
port_pool_cache(uint32_t mbufs)
{
	unsigned cache = PORT_POOL_CACHE_MAX;

	/* rte_mempool_create: cache_size * 1.5 must not exceed n. */
	while (cache > 0 && (uint64_t)cache * 3 > (uint64_t)mbufs * 2)
		cache /= 2;
	return cache;
}

static int
port_find(struct port *port, const struct profile_port *cfg)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	int ret;

	ret = port_dev_name(cfg->devargs, name, sizeof(name));
	if (ret < 0) {
		PORT_LOG(cfg, "device name in '%s' is too long", cfg->devargs);
		return ret;
	}
	ret = rte_eth_dev_get_port_by_name(name, &port->port_id);
	if (ret < 0) {
		PORT_LOG(cfg,
			 "no ethdev named '%s': the EAL did not probe '%s' "
			 "(is the driver installed, the device bound?)",
			 name, cfg->devargs);
		return -ENODEV;
	}
	return 0;
}

/*
 * Fill @conf for @queues queues: RSS when the device hashes and there is
 * more than one queue to spread over, no offloads, the profile's MTU.
 */
static int
port_conf_fill(struct port *port, const struct rte_eth_dev_info *info,
	       struct rte_eth_conf *conf, bool rx_intr)
{
	const struct profile_port *cfg = port->cfg;
	uint64_t rss_hf = info->flow_type_rss_offloads & PORT_RSS_HF;

	memset(conf, 0, sizeof(*conf));
	if (port->queues > info->max_rx_queues ||
	    port->queues > info->max_tx_queues) {
		PORT_LOG(cfg,
			 "%u workers need %u RX and TX queues but the device "
			 "has at most %u RX and %u TX queues",
			 port->queues, port->queues, info->max_rx_queues,
			 info->max_tx_queues);
		return -EINVAL;
	}
	if (cfg->mtu != 0 &&
	    (cfg->mtu < info->min_mtu || cfg->mtu > info->max_mtu)) {
		PORT_LOG(cfg, "MTU %u is outside the device's range %u..%u",
			 cfg->mtu, info->min_mtu, info->max_mtu);
		return -EINVAL;
	}
	conf->rxmode.mtu = cfg->mtu;
	/* TAP's Rx "interrupt" is its queue fd itself (port_rx_intr_fd). */
	if (rx_intr && info->driver_name != NULL &&
	    strcmp(info->driver_name, PORT_TAP_DRIVER) == 0)
		conf->intr_conf.rxq = 1;
	if (port->queues > 1 && rss_hf != 0) {
		conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf->rx_adv_conf.rss_conf.rss_key = NULL; /* PMD's default */
		conf->rx_adv_conf.rss_conf.rss_hf = rss_hf;
		port->rss = true;
	} else if (port->queues > 1 && cfg->role != PROFILE_PORT_PEER) {
		/*
		 * Without RSS every packet lands on queue 0 and worker 0 hands
		 * it to its owner (docs/design.md, "partitions"): correct,
		 * only slower. (On a peer link the sender picks the queue:
		 * worker p sends on queue p.)
		 */
		PORT_LOG(cfg,
			 "device has no IP/UDP RSS: queue 0 receives every "
			 "packet and hands misplaced ones to their worker");
	}
	return 0;
}

static int
port_queues_setup(struct port *port)
{
	struct rte_eth_dev_info info;
	struct rte_eth_txconf txconf;
	uint16_t q;
	int ret;

	ret = rte_eth_dev_info_get(port->port_id, &info);
	if (ret < 0)
		return ret;
	txconf = info.default_txconf;
	txconf.offloads = 0;
	for (q = 0; q < port->queues; q++) {
		ret = rte_eth_rx_queue_setup(port->port_id, q, port->rx_desc,
					     port->socket_id, NULL, port->pool);
		if (ret < 0) {
			PORT_LOG(port->cfg, "RX queue %u set-up failed: %s", q,
				 strerror(-ret));
			return ret;
		}
		ret = rte_eth_tx_queue_setup(port->port_id, q, port->tx_desc,
					     port->socket_id, &txconf);
		if (ret < 0) {
			PORT_LOG(port->cfg, "TX queue %u set-up failed: %s", q,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/*
 * The pool must fill every RX ring, cover every TX ring in flight, and
 * leave each lcore its cache and a burst of its own to originate packets
 * (notifications, ARP replies). Below that RX silently starves.
 */
static int
port_pool_check(const struct port *port, uint32_t mbufs, uint16_t burst,
		unsigned cache)
{
	uint64_t need = (uint64_t)port->queues * ((uint64_t)port->rx_desc +
						  port->tx_desc + burst) +
			(uint64_t)rte_lcore_count() * cache;

	if (mbufs < need) {
		PORT_LOG(port->cfg,
			 "workers.mbufs = %u is too small: %u queues of %u RX "
			 "and %u TX descriptors, bursts and lcore caches need "
			 "at least %llu",
			 mbufs, port->queues, port->rx_desc, port->tx_desc,
			 (unsigned long long)need);
		return -ENOSPC;
	}
	return 0;
}

int
port_init(struct port *port, const struct profile_port *cfg, uint16_t queues,
	  uint32_t mbufs, uint16_t burst, bool rx_intr)
{
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	struct rte_eth_link link;
	unsigned cache;
	int ret;

	memset(port, 0, sizeof(*port));
	port->cfg = cfg;
	port->queues = queues;
	port->rx_desc = cfg->rx_desc;
	port->tx_desc = cfg->tx_desc;

	ret = port_find(port, cfg);
	if (ret < 0)
		goto err_forget;
	port->socket_id = rte_eth_dev_socket_id(port->port_id);
	if (port->socket_id < 0)
		port->socket_id = SOCKET_ID_ANY; /* vdevs have no socket */

	ret = rte_eth_dev_info_get(port->port_id, &info);
	if (ret < 0) {
		PORT_LOG(cfg, "cannot read device info: %s", strerror(-ret));
		goto err_forget;
	}
	ret = port_conf_fill(port, &info, &conf, rx_intr);
	if (ret < 0)
		goto err_forget;
	ret = rte_eth_dev_configure(port->port_id, queues, queues, &conf);
	if (ret < 0) {
		PORT_LOG(cfg, "configure with %u queues failed: %s", queues,
			 strerror(-ret));
		goto err_close;
	}
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port->port_id, &port->rx_desc,
					       &port->tx_desc);
	if (ret < 0) {
		PORT_LOG(cfg, "descriptor counts %u/%u refused: %s",
			 cfg->rx_desc, cfg->tx_desc, strerror(-ret));
		goto err_close;
	}

	cache = port_pool_cache(mbufs);
	ret = port_pool_check(port, mbufs, burst, cache);
	if (ret < 0)
		goto err_close;
	snprintf(pool_name, sizeof(pool_name), "latch_mb_p%u", port->port_id);
	port->pool = rte_pktmbuf_pool_create(pool_name, mbufs, cache, 0,
					     port_data_room(cfg->mtu),
					     port->socket_id);
	if (port->pool == NULL) {
		ret = -rte_errno;
		PORT_LOG(cfg, "mempool of %u mbufs on socket %d failed: %s",
			 mbufs, port->socket_id, rte_strerror(rte_errno));
		goto err_close;
	}

	ret = port_queues_setup(port);
	if (ret < 0)
		goto err_close;

	ret = rte_eth_dev_start(port->port_id);
	if (ret < 0 && cfg->role == PROFILE_PORT_PEER) {
		/* A memif client whose server is not up yet: the main lcore
		 * dials again (port_restart) and replication goes by the
		 * client port meanwhile. */
		PORT_LOG(cfg,
			 "peer link to %s not connected (%s): latchd "
			 "tries again",
			 cfg->peer, strerror(-ret));
	} else if (ret < 0) {
		PORT_LOG(cfg, "start failed: %s", strerror(-ret));
		goto err_close;
	}
	port->started = ret == 0;
	if (port->started && conf.intr_conf.rxq != 0) {
		uint16_t q;

		port->rx_intr = true;
		for (q = 0; q < queues; q++)
			if (rte_eth_dev_rx_intr_ctl_q_get_fd(port->port_id, q) <
			    0)
				port->rx_intr = false;
		if (!port->rx_intr)
			PORT_LOG(cfg, "no Rx-queue interrupt fds: a sleeping "
				      "worker polls this port at its pace");
	}

	/*
	 * latchd answers only frames addressed to it; a PMD that cannot turn
	 * promiscuous mode off (-ENOTSUP) is fine: workers check the MAC.
	 */
	ret = rte_eth_promiscuous_disable(port->port_id);
	if (ret < 0 && ret != -ENOTSUP)
		PORT_LOG(cfg, "promiscuous off failed: %s", strerror(-ret));

	ret = rte_eth_macaddr_get(port->port_id, &port->mac);
	if (ret < 0) {
		PORT_LOG(cfg, "cannot read MAC address: %s", strerror(-ret));
		goto err_stop;
	}
	if (rte_eth_link_get_nowait(port->port_id, &link) == 0 &&
	    link.link_status == RTE_ETH_LINK_DOWN)
		PORT_LOG(cfg, "link is down (it may come up later)");
	return 0;

err_stop:
	rte_eth_dev_stop(port->port_id);
	port->started = false;
err_close:
	/* Close before freeing the pool: RX rings hold its mbufs. */
	rte_eth_dev_close(port->port_id);
	rte_mempool_free(port->pool);
	port->pool = NULL;
err_forget:
	port->cfg = NULL; /* port_stop_close() has nothing to undo */
	return ret;
}

int
port_restart(struct port *port)
{
	int ret;

	if (port->started) {
		ret = rte_eth_dev_stop(port->port_id);
		if (ret < 0)
			PORT_LOG(port->cfg, "stop failed: %s", strerror(-ret));
		port->started = false;
	}
	ret = rte_eth_dev_start(port->port_id);
	port->started = ret == 0;
	return ret;
}

bool
port_link_up(const struct port *port)
{
	struct rte_eth_link link;

	return port->started &&
	       rte_eth_link_get_nowait(port->port_id, &link) == 0 &&
	       link.link_status == RTE_ETH_LINK_UP;
}

bool
port_dials(const struct port *port)
{
	const char *d = port->cfg->devargs;

	/* net_memif's role defaults to client ("master" is the old name
	 * of server). */
	return port->cfg->is_vdev &&
	       strncmp(d, PORT_MEMIF_DRIVER, strlen(PORT_MEMIF_DRIVER)) == 0 &&
	       strstr(d, ",role=server") == NULL &&
	       strstr(d, ",role=master") == NULL;
}

int
port_rx_intr_fd(const struct port *port, uint16_t q)
{
	if (!port->rx_intr || q >= port->queues)
		return -1;
	return rte_eth_dev_rx_intr_ctl_q_get_fd(port->port_id, q);
}

void
port_stop_close(struct port *port)
{
	if (port->cfg == NULL)
		return;
	if (port->started) {
		int ret = rte_eth_dev_stop(port->port_id);

		if (ret < 0)
			PORT_LOG(port->cfg, "stop failed: %s", strerror(-ret));
		port->started = false;
	}
	rte_eth_dev_close(port->port_id);
	rte_mempool_free(port->pool);
	port->pool = NULL;
	port->cfg = NULL;
}
