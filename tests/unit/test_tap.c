/* SPDX-License-Identifier: MIT */
/*
 * Tap back-end, MAC helpers and `--net` parsing. The tap tests need
 * /dev/net/tun and CAP_NET_ADMIN; each creates its own uniquely named
 * interfaces and removes them, and skips (saying why) where it cannot.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/tap.h"

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental: no host stack answers it */

/* ---- MAC addresses -------------------------------------------------------- */

static void test_mac_parse(void **state)
{
	uint8_t mac[MAC_ADDR_LEN] = {0};
	const uint8_t want[MAC_ADDR_LEN] = {0x52, 0x54, 0x00, 0xab, 0xCD, 0xef};
	char buf[MAC_ADDR_STR_LEN];

	(void)state;
	assert_int_equal(mac_addr_parse("52:54:00:AB:cd:Ef", mac), 0);
	assert_memory_equal(mac, want, MAC_ADDR_LEN);
	mac_addr_format(mac, buf);
	assert_string_equal(buf, "52:54:00:ab:cd:ef");

	memset(mac, 0x77, sizeof(mac));
	assert_int_equal(mac_addr_parse("52:54:00:ab:cd", mac), -1);
	assert_int_equal(mac_addr_parse("52:54:00:ab:cd:ef:", mac), -1);
	assert_int_equal(mac_addr_parse("52:54:00:ab:cd:e", mac), -1);
	assert_int_equal(mac_addr_parse("52-54-00-ab-cd-ef", mac), -1);
	assert_int_equal(mac_addr_parse("5:254:00:ab:cd:ef", mac), -1);
	assert_int_equal(mac_addr_parse("52:54:00:ab:cd:eg", mac), -1);
	assert_int_equal(mac_addr_parse("", mac), -1);
	assert_int_equal(mac_addr_parse("00:00:00:00:00:00", mac), -2);
	assert_int_equal(mac_addr_parse("01:00:5e:00:00:01", mac), -2);
	assert_int_equal(mac_addr_parse("ff:ff:ff:ff:ff:ff", mac), -2);
	/* A refused address leaves the output alone. */
	assert_int_equal(mac[0], 0x77);
	assert_int_equal(mac[5], 0x77);
}

static void test_mac_default(void **state)
{
	/* Golden values: fmix64(FNV-1a-64("ID/INDEX")), top four bytes after 52:54. */
	static const struct {
		const char *id;
		unsigned index;
		const char *mac;
	} golden[] = {
	    {"vm1", 0, "52:54:54:b7:68:cb"},
	    {"vm1", 1, "52:54:d0:09:93:e5"},
	    {"vm2", 0, "52:54:12:7e:17:94"},
	};
	uint8_t a[MAC_ADDR_LEN], b[MAC_ADDR_LEN];
	char buf[MAC_ADDR_STR_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		mac_addr_default(golden[i].id, golden[i].index, a);
		mac_addr_format(a, buf);
		assert_string_equal(buf, golden[i].mac);
	}
	/* Stable, unicast and locally administered, and different per index and id. */
	for (unsigned i = 0; i < 64; i++) {
		mac_addr_default("some-vm_42", i, a);
		mac_addr_default("some-vm_42", i, b);
		assert_memory_equal(a, b, MAC_ADDR_LEN);
		assert_int_equal(a[0], 0x52);
		assert_int_equal(a[0] & 1, 0);
		assert_int_equal(a[0] & 2, 2);
		mac_addr_default("some-vm_42", i + 1, b);
		assert_memory_not_equal(a, b, MAC_ADDR_LEN);
		mac_addr_default("some-vm_43", i, b);
		assert_memory_not_equal(a, b, MAC_ADDR_LEN);
	}
	/* What the parser accepts round-trips. */
	mac_addr_default("x", 3, a);
	mac_addr_format(a, buf);
	assert_int_equal(mac_addr_parse(buf, b), 0);
	assert_memory_equal(a, b, MAC_ADDR_LEN);
}

/* ---- offloads ----------------------------------------------------------------- */

#define F(x) (1ULL << VIRTIO_NET_F_##x)

static void test_offload_flags(void **state)
{
	(void)state;
	assert_int_equal(tap_offload_flags(0), 0);
	/* Nothing without GUEST_CSUM: the kernel would refuse TSO alone. */
	assert_int_equal(tap_offload_flags(F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_UFO)), 0);
	assert_int_equal(tap_offload_flags(F(GUEST_CSUM)), TUN_F_CSUM);
	assert_int_equal(tap_offload_flags(F(GUEST_CSUM) | F(GUEST_TSO4)), TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(tap_offload_flags(F(GUEST_CSUM) | F(GUEST_TSO6) | F(GUEST_ECN)),
			 TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN);
	/* ECN without TSO means nothing. */
	assert_int_equal(tap_offload_flags(F(GUEST_CSUM) | F(GUEST_ECN)), TUN_F_CSUM);
	assert_int_equal(tap_offload_flags(F(GUEST_CSUM) | F(GUEST_UFO)), TUN_F_CSUM | TUN_F_UFO);
	/* Host-side features do not change what the tap hands to us. */
	assert_int_equal(tap_offload_flags(F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6) | F(MRG_RXBUF)),
			 0);
}

/* ---- --net ---------------------------------------------------------------------- */

static void test_net_config_parse(void **state)
{
	struct net_config c;
	char err[256];

	(void)state;
	assert_int_equal(net_config_parse("tap=tap0", &c, err, sizeof(err)), 0);
	assert_string_equal(c.ifname, "tap0");
	assert_false(c.has_mac);
	assert_int_equal(c.rx.size, 0);
	assert_int_equal(c.tx.size, 0);

	assert_int_equal(net_config_parse("tx_bps=2M,mac=52:54:00:00:00:01,tap=t1,rx_bps=1000", &c,
					  err, sizeof(err)),
			 0);
	assert_string_equal(c.ifname, "t1");
	assert_true(c.has_mac);
	assert_int_equal(c.mac[5], 1);
	assert_int_equal(c.rx.size, 1000);
	assert_int_equal(c.rx.refill_time_ms, 1000);
	assert_int_equal(c.tx.size, 2 * 1024 * 1024);

	assert_int_equal(net_config_parse("mac=52:54:00:00:00:01", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "--net: tap=NAME is required");
	assert_int_equal(net_config_parse("tap=", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "--net: tap= needs an interface name");
	assert_int_equal(net_config_parse("tap=a,tap=b", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "--net: tap= given twice");
	assert_int_equal(net_config_parse("tap=0123456789abcdef", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "--net: tap name '0123456789abcdef' is longer than 15 characters");
	assert_int_equal(net_config_parse("tap=a,mac=01:00:00:00:00:01", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "multicast"));
	assert_int_equal(net_config_parse("tap=a,mac=zz", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "--net: mac=zz is not a MAC address (xx:xx:xx:xx:xx:xx)");
	assert_int_equal(net_config_parse("tap=a,rx_bps=fast", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "rx_bps=fast is not a rate"));
	assert_int_equal(net_config_parse("tap=a,tx_bps=1,tx_bps=2", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "--net: tx_bps= given twice");
	assert_int_equal(net_config_parse("tap=a,queues=2", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "--net: unknown key 'queues' (known: tap, mac, rx_bps, tx_bps)");
	assert_int_equal(net_config_parse("tap=a,up", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "--net: 'up' is not KEY=VALUE");
}

/* ---- real taps -------------------------------------------------------------------- */

static int have_tun(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

#define SKIP_WITHOUT_TUN()                                                                         \
	do {                                                                                       \
		if (!have_tun()) {                                                                 \
			print_message("skipped: /dev/net/tun cannot be opened: %s\n",              \
				      strerror(errno));                                            \
			skip();                                                                    \
		}                                                                                  \
		if (geteuid() != 0) {                                                              \
			print_message("skipped: creating taps needs root (CAP_NET_ADMIN)\n");      \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* A name no other test run uses at the same time: "htNNNNNNxS". */
static void unique_name(char *buf, size_t len, const char *suffix)
{
	snprintf(buf, len, "ht%u%s", (unsigned)getpid() % 10000000u, suffix);
}

static bool iface_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* Create a persistent interface with raw ioctls, as `ip tuntap add` would. */
static int make_persistent(const char *name, short flags)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	close(fd);
	return 0;
}

/* Remove a persistent interface made by make_persistent(). */
static void remove_persistent(const char *name, short flags)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) == 0)
		ioctl(fd, TUNSETPERSIST, 0);
	close(fd);
}

static void test_tap_create(void **state)
{
	struct tap tap;
	struct ifreq ifr;
	char name[IFNAMSIZ], err[256] = "";
	int sz = 0, s;

	(void)state;
	SKIP_WITHOUT_TUN();
	unique_name(name, sizeof(name), "c");
	assert_false(iface_exists(name));
	assert_int_equal(tap_open(&tap, name, err, sizeof(err)), 0);
	assert_string_equal(tap.name, name);
	assert_true(tap.created);
	assert_true(iface_exists(name));
	assert_true(fcntl(tap.fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(tap.fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(tap.vnet_hdr_len, 12);

	memset(&ifr, 0, sizeof(ifr));
	assert_int_equal(ioctl(tap.fd, TUNGETIFF, &ifr), 0);
	assert_int_equal(ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI | IFF_VNET_HDR),
			 IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	assert_int_equal(ioctl(tap.fd, TUNGETVNETHDRSZ, &sz), 0);
	assert_int_equal(sz, 12);

	assert_int_equal(tap_set_offload(&tap, F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6) |
						   F(GUEST_ECN) | F(GUEST_UFO)),
			 0);
	assert_int_equal(tap.offload,
			 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO);
	assert_int_equal(tap_set_offload(&tap, 0), 0);
	assert_int_equal(tap.offload, 0);

	/* Link up and down. */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	assert_false(ifr.ifr_flags & IFF_UP);
	assert_int_equal(tap_set_up(&tap, true, err, sizeof(err)), 0);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	assert_true(ifr.ifr_flags & IFF_UP);
	assert_int_equal(tap_set_up(&tap, true, err, sizeof(err)), 0);
	assert_int_equal(tap_set_up(&tap, false, err, sizeof(err)), 0);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	assert_false(ifr.ifr_flags & IFF_UP);
	close(s);

	/* A tap hearth created is not persistent: closing removes it. */
	tap_close(&tap);
	assert_int_equal(tap.fd, -1);
	tap_close(&tap);
	tap_close(NULL);
	assert_false(iface_exists(name));
}

static void test_tap_template_name(void **state)
{
	struct tap tap;
	char err[256] = "";

	(void)state;
	SKIP_WITHOUT_TUN();
	assert_int_equal(tap_open(&tap, "hthtpl%d", err, sizeof(err)), 0);
	assert_true(tap.created);
	assert_int_equal(strncmp(tap.name, "hthtpl", 6), 0);
	assert_null(strchr(tap.name, '%'));
	assert_true(iface_exists(tap.name));
	tap_close(&tap);
}

static void test_tap_attach_existing_and_busy(void **state)
{
	struct tap tap, other;
	char name[IFNAMSIZ], err[256] = "";

	(void)state;
	SKIP_WITHOUT_TUN();
	unique_name(name, sizeof(name), "p");
	remove_persistent(name, IFF_TAP | IFF_NO_PI); /* left over from a crashed run */
	assert_int_equal(make_persistent(name, IFF_TAP | IFF_NO_PI), 0);

	assert_int_equal(tap_open(&tap, name, err, sizeof(err)), 0);
	assert_false(tap.created);
	/* Attaching reconfigures the existing tap with a vnet header. */
	{
		int sz = 0;
		assert_int_equal(ioctl(tap.fd, TUNGETVNETHDRSZ, &sz), 0);
		assert_int_equal(sz, 12);
	}

	/* A single-queue tap takes one user at a time. */
	assert_int_equal(tap_open(&other, name, err, sizeof(err)), -EBUSY);
	assert_int_equal(other.fd, -1);
	assert_string_equal(err + strlen("tap ") + strlen(name),
			    ": device busy (another process has it open)");

	/* The existing tap stays after hearth closes it. */
	tap_close(&tap);
	assert_true(iface_exists(name));
	remove_persistent(name, IFF_TAP | IFF_NO_PI);
	assert_false(iface_exists(name));
}

static void test_tap_errors(void **state)
{
	struct tap tap;
	char name[IFNAMSIZ], err[256] = "", want[256];

	(void)state;
	assert_int_equal(tap_open(&tap, "0123456789abcdef", err, sizeof(err)), -ENAMETOOLONG);
	assert_string_equal(err, "tap 0123456789abcdef: the name is longer than 15 characters");
	assert_int_equal(tap_open(&tap, "", err, sizeof(err)), -EINVAL);
	assert_int_equal(tap_open(&tap, "a/b", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a valid interface name"));
	assert_int_equal(tap_open(&tap, "a b", err, sizeof(err)), -EINVAL);
	assert_int_equal(tap.fd, -1);

	SKIP_WITHOUT_TUN();
	/* The loopback interface exists and is no tap. */
	assert_int_equal(tap_open(&tap, "lo", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "tap lo: an interface of that name exists and is not a tap device");

	/* Nor is a tun device of the same name. */
	unique_name(name, sizeof(name), "u");
	remove_persistent(name, IFF_TUN | IFF_NO_PI);
	assert_int_equal(make_persistent(name, IFF_TUN | IFF_NO_PI), 0);
	assert_int_equal(tap_open(&tap, name, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "tap %s: an interface of that name exists and is a tun (layer 3) device, not a "
		 "tap",
		 name);
	assert_string_equal(err, want);
	remove_persistent(name, IFF_TUN | IFF_NO_PI);
	assert_false(iface_exists(name));
}

/* Wait (bounded) for a frame of TEST_ETHERTYPE on fd; returns its length with the header. */
static ssize_t read_test_frame(int fd, uint8_t *buf, size_t len, size_t eth_off)
{
	for (int tries = 0; tries < 100; tries++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 5000) != 1)
			return -1;
		n = read(fd, buf, len);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0)
			return -1;
		/* Skip what the host stack sends on its own (IPv6 solicitations...). */
		if ((size_t)n >= eth_off + ETH_HLEN && buf[eth_off + 12] == (TEST_ETHERTYPE >> 8) &&
		    buf[eth_off + 13] == (TEST_ETHERTYPE & 0xff))
			return n;
	}
	return -1;
}

/*
 * The vnet header contract on a real tap: frames written to the fd start
 * with 12 header bytes the kernel strips; frames read carry 12 header bytes.
 */
static void test_tap_vnet_header_io(void **state)
{
	struct tap tap;
	char name[IFNAMSIZ], err[256] = "";
	struct virtio_net_hdr_v1 hdr;
	struct sockaddr_ll sll;
	uint8_t frame[64], buf[2048];
	struct iovec iov[2];
	ssize_t n;
	int ps;

	(void)state;
	SKIP_WITHOUT_TUN();
	unique_name(name, sizeof(name), "io");
	assert_int_equal(tap_open(&tap, name, err, sizeof(err)), 0);
	assert_int_equal(tap_set_up(&tap, true, err, sizeof(err)), 0);

	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(TEST_ETHERTYPE));
	assert_true(ps >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(TEST_ETHERTYPE);
	sll.sll_ifindex = (int)if_nametoindex(name);
	assert_int_equal(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);

	/* A frame: broadcast destination, some source, the test ethertype, a payload. */
	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	frame[6] = 0x52;
	frame[7] = 0x54;
	frame[11] = 0x01;
	frame[12] = TEST_ETHERTYPE >> 8;
	frame[13] = TEST_ETHERTYPE & 0xff;
	for (size_t i = ETH_HLEN; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;

	/* Guest -> host: header plus frame in, the frame alone out on the interface. */
	memset(&hdr, 0, sizeof(hdr));
	iov[0] = (struct iovec){&hdr, sizeof(hdr)};
	iov[1] = (struct iovec){frame, sizeof(frame)};
	assert_int_equal(writev(tap.fd, iov, 2), (ssize_t)(sizeof(hdr) + sizeof(frame)));
	n = read_test_frame(ps, buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)sizeof(frame));
	assert_memory_equal(buf, frame, sizeof(frame));

	/* Host -> guest: a frame sent on the interface is read with a header. */
	assert_int_equal(sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll)),
			 (ssize_t)sizeof(frame));
	n = read_test_frame(tap.fd, buf, sizeof(buf), sizeof(hdr));
	assert_int_equal(n, (ssize_t)(sizeof(hdr) + sizeof(frame)));
	memcpy(&hdr, buf, sizeof(hdr));
	assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(hdr.num_buffers, 0);
	assert_memory_equal(buf + sizeof(hdr), frame, sizeof(frame));

	close(ps);
	tap_close(&tap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mac_parse),
	    cmocka_unit_test(test_mac_default),
	    cmocka_unit_test(test_offload_flags),
	    cmocka_unit_test(test_net_config_parse),
	    cmocka_unit_test(test_tap_create),
	    cmocka_unit_test(test_tap_template_name),
	    cmocka_unit_test(test_tap_attach_existing_and_busy),
	    cmocka_unit_test(test_tap_errors),
	    cmocka_unit_test(test_tap_vnet_header_io),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
