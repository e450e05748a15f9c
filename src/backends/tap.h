/* SPDX-License-Identifier: MIT */
/*
 * Host side of a network card: a Linux tap device opened through
 * /dev/net/tun, plus MAC address helpers and the `--net` option parser.
 *
 * The tap is opened as IFF_TAP | IFF_NO_PI | IFF_VNET_HDR with a 12-byte
 * vnet header: every frame read from or written to the fd is preceded by a
 * struct virtio_net_hdr_v1 (flags, gso_type, hdr_len, gso_size, csum_start,
 * csum_offset, num_buffers), in the host's byte order, which is little
 * endian on x86 and so the virtio 1.0 layout. The kernel ignores
 * num_buffers on write and leaves it 0 on read.
 *
 * Offloads: what the tap may hand to its reader (hearth, on behalf of the
 * guest's receive path) is set with tap_set_offload() from the guest's
 * negotiated GUEST_* features. Writes may always carry partial checksums
 * and GSO frames described by the vnet header.
 */
#ifndef HEARTH_BACKENDS_TAP_H
#define HEARTH_BACKENDS_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rate_limiter.h"

#define MAC_ADDR_LEN	 6
#define MAC_ADDR_STR_LEN 18 /* "xx:xx:xx:xx:xx:xx" and the NUL */
#define TAP_VNET_HDR_LEN 12 /* sizeof(struct virtio_net_hdr_v1) */

struct tap {
	int fd;		       /* non-blocking, close-on-exec; -1 when closed */
	char name[IFNAMSIZ];   /* the interface's name as the kernel has it */
	bool created;	       /* the interface did not exist before tap_open() */
	unsigned offload;      /* TUN_F_* flags in force */
	unsigned vnet_hdr_len; /* TAP_VNET_HDR_LEN */
};

/*
 * tap_open - attach to the tap interface `name`, creating it when there is
 * none (a created tap is not persistent: it disappears when closed). The fd
 * is non-blocking and close-on-exec, with a 12-byte vnet header and no
 * offloads. name may be a kernel template such as "hearth%d"; tap->name
 * holds the real name afterwards. The link state is left as it is (see
 * tap_set_up()). Returns 0, or -errno with one line in err, e.g.:
 *   "tap NAME: /dev/net/tun does not exist (is the tun module loaded?)"
 *   "tap NAME: permission denied (needs CAP_NET_ADMIN, or a tap owned by this user)"
 *   "tap NAME: the name is longer than 15 characters"
 *   "tap NAME: device busy (another process has it open)"
 *   "tap NAME: an interface of that name exists and is not a tap device"
 */
int tap_open(struct tap *tap, const char *name, char *err, size_t errlen);

/*
 * tap_close - close the fd (a tap created by tap_open() goes away with it).
 * A tap with fd -1 or NULL is accepted.
 */
void tap_close(struct tap *tap);

/*
 * tap_set_up - bring the link up (or down) with SIOCSIFFLAGS. Needs
 * CAP_NET_ADMIN. Returns 0, or -errno with one line in err.
 */
int tap_set_up(struct tap *tap, bool up, char *err, size_t errlen);

/*
 * tap_offload_flags - the TUN_F_* flags matching the guest's negotiated
 * virtio-net feature bits (VIRTIO_NET_F_GUEST_CSUM, GUEST_TSO4, GUEST_TSO6,
 * GUEST_ECN, GUEST_UFO). Flags the kernel would refuse on their own are
 * left out: everything needs GUEST_CSUM, and ECN needs TSO4 or TSO6.
 */
unsigned tap_offload_flags(uint64_t guest_features);

/*
 * tap_set_offload - apply tap_offload_flags(guest_features) with
 * TUNSETOFFLOAD. Returns 0 or -errno (the old offloads stay then).
 */
int tap_set_offload(struct tap *tap, uint64_t guest_features);

/*
 * tap_offload_hook - tap_set_offload() with the tap as a void pointer: the
 * shape of virtio-net's back-end set_offload callback.
 */
int tap_offload_hook(void *tap, uint64_t guest_features);

/*
 * mac_addr_parse - parse "xx:xx:xx:xx:xx:xx" (six pairs of hex digits,
 * either case, colons only) into mac. A multicast (group) address or the
 * all-zero address cannot name a card and is refused. Returns 0, or -1
 * for malformed input, -2 for a multicast or zero address.
 */
int mac_addr_parse(const char *s, uint8_t mac[MAC_ADDR_LEN]);

/* mac_addr_format - write mac as "xx:xx:xx:xx:xx:xx" (lower case) into buf. */
void mac_addr_format(const uint8_t mac[MAC_ADDR_LEN], char buf[MAC_ADDR_STR_LEN]);

/*
 * mac_addr_default - the MAC address a card gets when none is given:
 * 52:54:h0:h1:h2:h3 where h0..h3 are the first four bytes (big-endian) of
 * H = fmix64(FNV-1a-64("VM_ID/INDEX")), INDEX in decimal and fmix64 the
 * MurmurHash3 finalizer (so that cards 0 and 1 differ in every byte).
 * 0x52 has the locally-administered bit set and the multicast bit clear.
 * The same VM id and card index give the same address on every run and
 * host; different cards of one VM differ. Collisions between VMs with
 * different ids are possible (32 bits) but unlikely.
 */
void mac_addr_default(const char *vm_id, unsigned index, uint8_t mac[MAC_ADDR_LEN]);

/* One `--net` option: the tap, the guest MAC, and per-direction limits. */
struct net_config {
	char ifname[IFNAMSIZ];
	bool has_mac; /* else mac_addr_default() is used */
	uint8_t mac[MAC_ADDR_LEN];
	struct token_bucket_config rx; /* bytes per second to the guest; size 0 = unlimited */
	struct token_bucket_config tx; /* bytes per second from the guest */
};

/*
 * net_config_parse - parse "tap=NAME[,mac=MAC][,rx_bps=N][,tx_bps=N]" (keys
 * in any order, tap= required, each key at most once; N as
 * rate_limiter_parse_rate() takes it). Returns 0, or -1 with one line in
 * err saying what is wrong, e.g. "--net: unknown key 'foo'".
 */
int net_config_parse(const char *s, struct net_config *out, char *err, size_t errlen);

#endif
