/* SPDX-License-Identifier: MIT */
/*
 * virtio-net: one receive/transmit queue pair and a control queue, backed
 * by a file descriptor that speaks frames preceded by a 12-byte
 * virtio_net_hdr_v1 (a tap from backends/tap.h; tests use a socketpair).
 *
 * Queues: 0 receiveq, 1 transmitq, 2 controlq.
 *
 * Features offered: CSUM, GUEST_CSUM, MAC, GUEST_TSO4, GUEST_TSO6,
 * GUEST_ECN, HOST_TSO4, HOST_TSO6, HOST_ECN, MRG_RXBUF, STATUS, CTRL_VQ,
 * CTRL_RX, GUEST_ANNOUNCE, CTRL_MAC_ADDR (plus the transport's VERSION_1,
 * INDIRECT_DESC, EVENT_IDX). At activation the negotiated GUEST_* offloads
 * are applied to the back-end (TUNSETOFFLOAD for a tap).
 *
 * Transmit: on a transmitq notification the device takes up to
 * VIRTIO_NET_TX_BATCH chains, writes each (header and frame) to the fd
 * with one writev(), returns them and interrupts once; more work is
 * continued from the event loop. Frames the back-end refuses, or whose
 * header asks for an offload that was not negotiated, are dropped and
 * counted.
 *
 * Receive: while the guest has receive buffers the fd is polled; a frame
 * is read straight into the guest's first chain (the part that does not
 * fit lands in a host buffer). With MRG_RXBUF the rest is spread over
 * further chains and num_buffers says how many; without it a frame larger
 * than the chain is dropped and counted (the chain is kept for the next
 * frame). When the guest has no buffers the fd is not polled until its
 * next receiveq notification.
 *
 * Rate limits: a token bucket per direction (one operation and the frame's
 * bytes per frame). A throttled direction keeps its frame, arms a timerfd
 * for the time the limiter names and stops draining until it fires.
 *
 * Guest errors: a receive chain with readable buffers or too small for
 * the header, a transmit chain with writable buffers, without a complete
 * header, or longer than VIRTIO_NET_MAX_TX_BYTES, a malformed control
 * command, or a malformed ring: the device goes to NEEDS_RESET
 * (virtio_device_error()); hearth keeps running.
 *
 * Threads: every entry point runs with the device lock held (virtio.h);
 * the device's own event handlers take it. queue_notify is expected on the
 * event-loop thread (ioeventfd), since it changes what the loop polls.
 */
#ifndef HEARTH_DEVICES_VIRTIO_NET_H
#define HEARTH_DEVICES_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/rate_limiter.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_NET_RXQ	      0
#define VIRTIO_NET_TXQ	      1
#define VIRTIO_NET_CTRLQ      2
#define VIRTIO_NET_NUM_QUEUES 3

#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_HDR_LEN    12 /* struct virtio_net_hdr_v1 */
#define VIRTIO_NET_TX_BATCH   64
#define VIRTIO_NET_RX_BATCH   256
/* Largest frame a GSO packet makes (64 KiB, Ethernet and VLAN headers) with its header. */
#define VIRTIO_NET_MAX_TX_BYTES (VIRTIO_NET_HDR_LEN + 65536 + 18)
/* Room for the biggest frame the back-end can hand over. */
#define VIRTIO_NET_RX_SPILL (65536 + 4096)

/* How the device reaches its back-end. */
struct virtio_net_backend {
	int fd; /* non-blocking; frames with a 12-byte vnet header both ways */
	/*
	 * Apply the offloads the guest negotiated (its GUEST_* feature bits)
	 * to the back-end. Returns 0 or -errno. NULL: nothing to apply.
	 */
	int (*set_offload)(void *opaque, uint64_t guest_features);
	void *opaque;
};

struct virtio_net_params {
	uint8_t mac[6];
	struct virtio_net_backend backend;
	const struct token_bucket_config *rx_bps; /* NULL or size 0: unlimited */
	const struct token_bucket_config *tx_bps;
};

struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes; /* frames (and their bytes) given to the guest */
	uint64_t rx_dropped;	       /* too big for a non-mergeable buffer, or no room */
	uint64_t rx_errors;	       /* read errors on the back-end */
	uint64_t rx_throttled;	       /* times the rate limit held a frame */
	uint64_t tx_packets, tx_bytes; /* frames written to the back-end */
	uint64_t tx_dropped;	       /* header asked for an offload not negotiated */
	uint64_t tx_errors;	       /* the back-end refused the frame */
	uint64_t tx_throttled;
	uint64_t ctrl_commands, ctrl_errors; /* control commands, and those answered ERR */
};

struct virtio_net {
	struct virtio_device vdev;
	struct virtio_net_backend backend;
	bool backend_dead;  /* it hung up or failed: no longer read */
	uint8_t cfg_mac[6]; /* the configured MAC, restored at reset */
	uint8_t mac[6];	    /* the MAC now (the guest may set it) */
	uint16_t status;    /* VIRTIO_NET_S_* */
	bool promisc, allmulti;
	struct event_loop *loop;

	struct rate_limiter rx_rl, tx_rl;
	int rx_timer_fd, tx_timer_fd; /* armed while a direction is throttled */
	int tx_kick_fd;		      /* eventfd: continue a transmit batch */
	bool fd_polled;		      /* the back-end fd is watched for input */
	bool rx_timer_armed, tx_timer_armed;

	/* Transmit: a chain held back by the rate limiter. */
	struct vq_chain tx_chain;
	bool tx_held;
	struct iovec *tx_iov; /* header copy + the chain's buffers after it */

	/* Receive: the first chain of the next frame, and a frame in flight. */
	struct vq_chain rx_chain;
	bool rx_held;	 /* rx_chain was popped and not returned */
	bool rx_pending; /* a frame is in rx_chain (+ spill), not yet delivered */
	bool rx_charged; /* the rate limiter took the pending frame */
	uint32_t rx_len; /* the pending frame's length with its header */
	uint32_t rx_done;
	struct iovec *rx_iov;
	uint8_t *rx_spill;
	uint16_t *rx_heads; /* further chains holding the frame (MRG_RXBUF) */
	uint32_t *rx_lens;
	unsigned rx_nr;
	struct vq_chain rx_more; /* scratch for the further chains */

	struct vq_chain ctrl_chain;

	struct virtio_net_stats stats;
};

/*
 * virtio_net_init - set up net (memory the caller owns) as a virtio-net
 * device over gm, registering its event sources in loop (NULL in tests
 * that drive it by hand: then nothing is polled and timers are not
 * watched). The back-end fd stays the caller's. Returns 0, or -errno with
 * one line in err. The transport then takes &net->vdev.
 */
int virtio_net_init(struct virtio_net *net, const struct virtio_net_params *p,
		    struct guest_memory *gm, struct event_loop *loop, char *err, size_t errlen);

/* virtio_net_destroy - reset the device, unregister and free everything. */
void virtio_net_destroy(struct virtio_net *net);

/*
 * virtio_net_announce - ask the guest to announce itself (gratuitous ARP
 * after a migration): sets VIRTIO_NET_S_ANNOUNCE and raises a config
 * change when GUEST_ANNOUNCE was negotiated; the guest's ANNOUNCE_ACK
 * clears it. Takes the device lock.
 */
void virtio_net_announce(struct virtio_net *net);

/*
 * virtio_net_process_rx - drain the back-end into the guest's receive
 * buffers (what the fd's event handler does). Call with the device lock
 * held; for tests without an event loop.
 */
void virtio_net_process_rx(struct virtio_net *net);

/*
 * virtio_net_process_tx - transmit what the guest queued (what a
 * transmitq notification does). Call with the device lock held.
 */
void virtio_net_process_tx(struct virtio_net *net);

/* virtio_net_get_stats - copy the counters (takes the device lock). */
void virtio_net_get_stats(struct virtio_net *net, struct virtio_net_stats *out);

/*
 * virtio_net_set_rate_limits - replace the receive and/or transmit byte
 * buckets at run time (NULL leaves one alone; size 0 makes it unlimited);
 * a replaced bucket starts full. Takes the device lock.
 */
void virtio_net_set_rate_limits(struct virtio_net *net, const struct token_bucket_config *rx,
				const struct token_bucket_config *tx);

/*
 * The card's own state (snapshots, migration), next to the core's and the
 * queues': the MAC the guest sees now, the link status, the receive
 * filters. The back end (tap) and the rate limiters are not part of it.
 */
struct virtio_net_state {
	uint8_t mac[8];	 /* 6 used */
	uint16_t status; /* VIRTIO_NET_S_* */
	uint8_t promisc, allmulti;
	uint32_t reserved;
};

/* virtio_net_save - record net's state in s. Takes the device lock. */
void virtio_net_save(struct virtio_net *net, struct virtio_net_state *s);

/*
 * virtio_net_load - restore net's state from s (checked: known status bits,
 * booleans 0 or 1). Call with the device lock held. Returns 0 or -EINVAL.
 */
int virtio_net_load(struct virtio_net *net, const struct virtio_net_state *s);

#endif
