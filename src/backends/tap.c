/* SPDX-License-Identifier: MIT */
/* Tap devices, MAC addresses and `--net` options: see tap.h. */
#include "backends/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

#define TUN_PATH "/dev/net/tun"

/* The interface's tun_flags from sysfs: 0 and *flags set, or -1 (none: not a tun/tap). */
static int read_tun_flags(const char *name, unsigned long *flags)
{
	char path[64 + IFNAMSIZ], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	*flags = strtoul(buf, NULL, 0);
	return 0;
}

/* Why TUNSETIFF said EINVAL: the name belongs to something that is not a plain tap. */
static void explain_einval(const char *name, char *err, size_t errlen)
{
	unsigned long flags;

	if (if_nametoindex(name) == 0) {
		snprintf(err, errlen, "tap %s: the kernel refused the name", name);
		return;
	}
	if (read_tun_flags(name, &flags) < 0)
		snprintf(err, errlen,
			 "tap %s: an interface of that name exists and is not a tap device", name);
	else if (flags & IFF_TUN)
		snprintf(err, errlen,
			 "tap %s: an interface of that name exists and is a tun (layer 3) "
			 "device, not a tap",
			 name);
	else if (flags & IFF_MULTI_QUEUE)
		snprintf(err, errlen,
			 "tap %s: the tap is multi-queue; hearth needs a single-queue tap", name);
	else
		snprintf(err, errlen, "tap %s: the kernel refused to attach to it", name);
}

static int check_name(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);

	if (len == 0) {
		snprintf(err, errlen, "tap: the interface name is empty");
		return -EINVAL;
	}
	if (len >= IFNAMSIZ) {
		snprintf(err, errlen, "tap %s: the name is longer than %d characters", name,
			 IFNAMSIZ - 1);
		return -ENAMETOOLONG;
	}
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		snprintf(err, errlen, "tap %s: not a valid interface name", name);
		return -EINVAL;
	}
	for (const char *p = name; *p; p++) {
		if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f) {
			snprintf(err, errlen,
				 "tap %s: not a valid interface name (no '/', ':' or spaces)",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}

int tap_open(struct tap *tap, const char *name, char *err, size_t errlen)
{
	struct ifreq ifr;
	unsigned int features = 0;
	int hdr_len = TAP_VNET_HDR_LEN;
	bool existed;
	int fd, r;

	tap->fd = -1;
	tap->name[0] = '\0';
	tap->created = false;
	tap->offload = 0;
	tap->vnet_hdr_len = 0;
	r = check_name(name, err, errlen);
	if (r)
		return r;

	fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ENODEV || r == -ENXIO)
			snprintf(err, errlen,
				 "tap %s: " TUN_PATH " does not exist (is the tun module loaded?)",
				 name);
		else if (r == -EACCES || r == -EPERM)
			snprintf(err, errlen, "tap %s: cannot open " TUN_PATH ": permission denied",
				 name);
		else
			snprintf(err, errlen, "tap %s: cannot open " TUN_PATH ": %s", name,
				 strerror(-r));
		return r;
	}
	if (ioctl(fd, TUNGETFEATURES, &features) == 0 && !(features & IFF_VNET_HDR)) {
		snprintf(err, errlen, "tap %s: the kernel's tun driver has no vnet header support",
			 name);
		r = -EOPNOTSUPP;
		goto close_fd;
	}

	existed = strchr(name, '%') == NULL && if_nametoindex(name) != 0;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		switch (r) {
		case -EPERM:
		case -EACCES:
			snprintf(err, errlen,
				 "tap %s: permission denied (needs CAP_NET_ADMIN, or a tap "
				 "owned by this user)",
				 name);
			break;
		case -EBUSY:
			snprintf(err, errlen, "tap %s: device busy (another process has it open)",
				 name);
			break;
		case -EINVAL:
			explain_einval(name, err, errlen);
			break;
		default:
			snprintf(err, errlen, "tap %s: cannot attach: %s", name, strerror(-r));
			break;
		}
		goto close_fd;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		r = -errno;
		snprintf(err, errlen, "tap %s: cannot set the vnet header size: %s", name,
			 strerror(-r));
		goto close_fd;
	}
	/* An existing tap may still carry another user's offloads: start from none. */
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
		r = -errno;
		snprintf(err, errlen, "tap %s: cannot clear offloads: %s", name, strerror(-r));
		goto close_fd;
	}

	tap->fd = fd;
	memcpy(tap->name, ifr.ifr_name, IFNAMSIZ);
	tap->name[IFNAMSIZ - 1] = '\0';
	tap->created = !existed;
	tap->vnet_hdr_len = TAP_VNET_HDR_LEN;
	return 0;

close_fd:
	close(fd);
	return r;
}

void tap_close(struct tap *tap)
{
	if (!tap || tap->fd < 0)
		return;
	close(tap->fd);
	tap->fd = -1;
}

int tap_set_up(struct tap *tap, bool up, char *err, size_t errlen)
{
	struct ifreq ifr;
	int s, r = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		r = -errno;
		snprintf(err, errlen, "tap %s: socket: %s", tap->name, strerror(-r));
		return r;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tap->name, sizeof(ifr.ifr_name));
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		r = -errno;
		snprintf(err, errlen, "tap %s: cannot read the link flags: %s", tap->name,
			 strerror(-r));
		goto close_socket;
	}
	if (!!(ifr.ifr_flags & IFF_UP) == up)
		goto close_socket;
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		r = -errno;
		snprintf(err, errlen, "tap %s: cannot bring the link %s: %s", tap->name,
			 up ? "up" : "down",
			 r == -EPERM ? "permission denied (needs CAP_NET_ADMIN)" : strerror(-r));
	}
close_socket:
	close(s);
	return r;
}

unsigned tap_offload_flags(uint64_t f)
{
	unsigned flags = 0;

	if (!(f & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	flags |= TUN_F_CSUM;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		flags |= TUN_F_TSO4;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		flags |= TUN_F_TSO6;
	if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) && (f & (1ULL << VIRTIO_NET_F_GUEST_ECN)))
		flags |= TUN_F_TSO_ECN;
	if (f & (1ULL << VIRTIO_NET_F_GUEST_UFO))
		flags |= TUN_F_UFO;
	return flags;
}

int tap_set_offload(struct tap *tap, uint64_t guest_features)
{
	unsigned flags = tap_offload_flags(guest_features);

	if (ioctl(tap->fd, TUNSETOFFLOAD, (unsigned long)flags) < 0)
		return -errno;
	tap->offload = flags;
	return 0;
}

int tap_offload_hook(void *tap, uint64_t guest_features)
{
	return tap_set_offload(tap, guest_features);
}

/* ---- MAC addresses ------------------------------------------------------ */

int mac_addr_parse(const char *s, uint8_t mac[MAC_ADDR_LEN])
{
	uint8_t out[MAC_ADDR_LEN];
	bool zero = true;

	for (int i = 0; i < MAC_ADDR_LEN; i++) {
		int hi, lo;

		if (i > 0 && *s++ != ':')
			return -1;
		hi = hex_digit_value(s[0]);
		lo = hi < 0 ? -1 : hex_digit_value(s[1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
		zero = zero && out[i] == 0;
		s += 2;
	}
	if (*s != '\0')
		return -1;
	if (zero || (out[0] & 1))
		return -2;
	memcpy(mac, out, MAC_ADDR_LEN);
	return 0;
}

void mac_addr_format(const uint8_t mac[MAC_ADDR_LEN], char buf[MAC_ADDR_STR_LEN])
{
	snprintf(buf, MAC_ADDR_STR_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME  0x100000001b3ULL

static uint64_t fnv1a64(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= FNV64_PRIME;
	}
	return h;
}

/* The 64-bit finalizer of MurmurHash3: every input bit affects every output bit. */
static uint64_t fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

void mac_addr_default(const char *vm_id, unsigned index, uint8_t mac[MAC_ADDR_LEN])
{
	char idx[16];
	uint64_t h;

	snprintf(idx, sizeof(idx), "/%u", index);
	h = fmix64(fnv1a64(fnv1a64(FNV64_OFFSET, vm_id), idx));
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = (uint8_t)(h >> 56);
	mac[3] = (uint8_t)(h >> 48);
	mac[4] = (uint8_t)(h >> 40);
	mac[5] = (uint8_t)(h >> 32);
}

/* ---- --net ---------------------------------------------------------------- */

int net_config_parse(const char *s, struct net_config *out, char *err, size_t errlen)
{
	char *copy, *save = NULL, *tok;
	bool seen_mac = false, seen_rx = false, seen_tx = false;
	int r = -1;

	memset(out, 0, sizeof(*out));
	copy = strdup(s);
	if (!copy) {
		snprintf(err, errlen, "--net: out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');

		if (!val) {
			snprintf(err, errlen, "--net: '%s' is not KEY=VALUE", tok);
			goto free_copy;
		}
		*val++ = '\0';
		if (!strcmp(tok, "tap")) {
			if (out->ifname[0]) {
				snprintf(err, errlen, "--net: tap= given twice");
				goto free_copy;
			}
			if (val[0] == '\0') {
				snprintf(err, errlen, "--net: tap= needs an interface name");
				goto free_copy;
			}
			if (strlen(val) >= IFNAMSIZ) {
				snprintf(err, errlen,
					 "--net: tap name '%s' is longer than %d characters", val,
					 IFNAMSIZ - 1);
				goto free_copy;
			}
			memcpy(out->ifname, val, strlen(val) + 1);
		} else if (!strcmp(tok, "mac")) {
			int m;

			if (seen_mac) {
				snprintf(err, errlen, "--net: mac= given twice");
				goto free_copy;
			}
			seen_mac = true;
			m = mac_addr_parse(val, out->mac);
			if (m == -2) {
				snprintf(err, errlen,
					 "--net: mac=%s is a multicast or zero address; a card "
					 "needs a unicast one",
					 val);
				goto free_copy;
			}
			if (m) {
				snprintf(err, errlen,
					 "--net: mac=%s is not a MAC address (xx:xx:xx:xx:xx:xx)",
					 val);
				goto free_copy;
			}
			out->has_mac = true;
		} else if (!strcmp(tok, "rx_bps") || !strcmp(tok, "tx_bps")) {
			bool rx = tok[0] == 'r';
			bool *seen = rx ? &seen_rx : &seen_tx;

			if (*seen) {
				snprintf(err, errlen, "--net: %s= given twice", tok);
				goto free_copy;
			}
			*seen = true;
			if (rate_limiter_parse_rate(val, rx ? &out->rx : &out->tx)) {
				snprintf(err, errlen,
					 "--net: %s=%s is not a rate (a number, optionally with K, "
					 "M or G)",
					 tok, val);
				goto free_copy;
			}
		} else {
			snprintf(err, errlen,
				 "--net: unknown key '%s' (known: tap, mac, rx_bps, tx_bps)", tok);
			goto free_copy;
		}
	}
	if (!out->ifname[0]) {
		snprintf(err, errlen, "--net: tap=NAME is required");
		goto free_copy;
	}
	r = 0;
free_copy:
	free(copy);
	return r;
}
