/* SPDX-License-Identifier: MIT */
/* The snapshot state file: decoding and checking it, and the memory file's trailer. */
#include "arch/x86/cpu_model.h"
#include "arch/x86/layout.h"
#include "core/util.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The digest, fetched once: looking it up on every call (EVP_sha256()'s
 * implicit fetch, and OpenSSL's set-up on the first) cost 1-2 ms per state
 * here, inside a migration's downtime.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void snapshot_init(void)
{
	uint8_t sum[SNAP_HASH_BYTES];

	snap_sha256("", 0, sum); /* the first digest sets up the rest */
}

int snap_sha256(const void *data, size_t len, uint8_t out[SNAP_HASH_BYTES])
{
	unsigned int n = 0;

	pthread_once(&sha256_once, sha256_fetch);
	return EVP_Digest(data, len, out, &n, sha256_md ? sha256_md : EVP_sha256(), NULL) == 1 &&
		       n == SNAP_HASH_BYTES
		   ? 0
		   : -EIO;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static bool bool_ok(uint8_t b)
{
	return b <= 1;
}

static int check_machine(const struct snap_machine *m, char *err, size_t errlen)
{
	struct machine_layout l;
	char lerr[160];

	if (!str_ok(m->id, sizeof(m->id)) || !config_valid_id(m->id))
		return fail(err, errlen, "machine: invalid VM id");
	if (m->ncpus < 1 || m->ncpus > LAYOUT_MAX_CPUS)
		return fail(err, errlen, "machine: %u vCPUs (1-%u)", m->ncpus, LAYOUT_MAX_CPUS);
	if (m->transport != TRANSPORT_PCI && m->transport != TRANSPORT_MMIO)
		return fail(err, errlen, "machine: unknown virtio transport %u", m->transport);
	if (!bool_ok(m->rng) || !bool_ok(m->virtio_console))
		return fail(err, errlen, "machine: invalid device flags");
	if (m->ndisks > CONFIG_MAX_DISKS || m->nnics > CONFIG_MAX_NICS)
		return fail(err, errlen,
			    "machine: %u disks and %u network cards (at most %u and %u)", m->ndisks,
			    m->nnics, CONFIG_MAX_DISKS, CONFIG_MAX_NICS);
	if (m->ncpuid < 1 || m->ncpuid > CPU_MODEL_MAX_ENTRIES)
		return fail(err, errlen, "machine: %u CPUID entries", m->ncpuid);
	if (m->xsave_size > VCPU_STATE_XSAVE_MAX)
		return fail(err, errlen, "machine: XSAVE size %u", m->xsave_size);
	if (!str_ok(m->vendor, sizeof(m->vendor)))
		return fail(err, errlen, "machine: invalid CPU vendor");
	if (m->phys_bits < 32 || m->phys_bits > 52)
		return fail(err, errlen, "machine: %u physical address bits", m->phys_bits);
	if (layout_compute(&l, m->mem_size, m->ncpus, m->phys_bits, lerr, sizeof(lerr)))
		return fail(err, errlen, "machine: %s", lerr);
	if (l.low_ram_end != m->low_ram_end || l.high_ram_size != m->high_ram_size)
		return fail(err, errlen, "machine: memory layout does not match its size");
	return 0;
}

static int check_disk(const struct snap_disk *d, unsigned i, char *err, size_t errlen)
{
	if (!str_ok(d->path, sizeof(d->path)) || !d->path[0] ||
	    !str_ok(d->serial, sizeof(d->serial)) || strlen(d->serial) > CONFIG_SERIAL_MAX ||
	    !str_ok(d->id, sizeof(d->id)) || strlen(d->id) > CONFIG_ID_MAX)
		return fail(err, errlen, "disk %u: invalid path, serial or id", i);
	if (!bool_ok(d->readonly) || d->cache > DISK_CACHE_UNSAFE ||
	    d->engine > DISK_ENGINE_THREADS)
		return fail(err, errlen, "disk %u: invalid options", i);
	return 0;
}

static int check_nic(const struct snap_nic *n, unsigned i, char *err, size_t errlen)
{
	if (!str_ok(n->ifname, sizeof(n->ifname)) || !n->ifname[0] || !bool_ok(n->has_mac))
		return fail(err, errlen, "network card %u: invalid interface or MAC", i);
	return 0;
}

int snap_check_description(const struct snap_machine *m, const struct snap_disk *disks,
			   const struct snap_nic *nics, char *err, size_t errlen)
{
	int r = check_machine(m, err, errlen);

	for (unsigned i = 0; !r && i < m->ndisks; i++)
		r = check_disk(&disks[i], i, err, errlen);
	for (unsigned i = 0; !r && i < m->nnics; i++)
		r = check_nic(&nics[i], i, err, errlen);
	return r;
}

static int check_vcpu(const struct vcpu_state *v, unsigned i, const struct snap_machine *m,
		      char *err, size_t errlen)
{
	const uint32_t known = VCPU_STATE_XSAVE | VCPU_STATE_XCRS | VCPU_STATE_TSC_KHZ;

	if (v->version != VCPU_STATE_VERSION)
		return fail(err, errlen, "vCPU %u: state version %u (this build reads %u)", i,
			    v->version, VCPU_STATE_VERSION);
	if (v->index != i || (v->flags & ~known) || v->nmsrs > VCPU_STATE_MAX_MSRS ||
	    v->xsave_size > VCPU_STATE_XSAVE_MAX ||
	    ((v->flags & VCPU_STATE_XSAVE) && v->xsave_size < 4096) ||
	    ((v->flags & VCPU_STATE_XSAVE) && v->xsave_size > m->xsave_size + 4096) ||
	    (v->flags & VCPU_STATE_XCRS && v->xcrs.nr_xcrs > KVM_MAX_XCRS))
		return fail(err, errlen, "vCPU %u: inconsistent state", i);
	if (v->mp_state.mp_state > KVM_MP_STATE_SUSPENDED)
		return fail(err, errlen, "vCPU %u: unknown MP state %u", i, v->mp_state.mp_state);
	return 0;
}

static int check_virtio(const struct snap_virtio *v, const struct snap_machine *m, unsigned i,
			char *err, size_t errlen)
{
	unsigned max;

	switch ((enum snap_virtio_kind)v->kind) {
	case SNAP_VIRTIO_BLK:
		max = m->ndisks;
		break;
	case SNAP_VIRTIO_NET:
		max = m->nnics;
		break;
	case SNAP_VIRTIO_RNG:
		max = m->rng;
		break;
	case SNAP_VIRTIO_CONSOLE:
		max = m->virtio_console;
		break;
	default:
		return fail(err, errlen, "virtio device %u: unknown kind %u", i, v->kind);
	}
	if (v->index >= max)
		return fail(err, errlen, "virtio device %u: no such device in the machine", i);
	if (v->transport != m->transport)
		return fail(err, errlen, "virtio device %u: transport differs from the machine's",
			    i);
	if (v->core.num_queues < 1 || v->core.num_queues > VIRTIO_MAX_QUEUES ||
	    !bool_ok(v->core.active) || !bool_ok(v->core.broken))
		return fail(err, errlen, "virtio device %u: inconsistent core state", i);
	for (unsigned q = 0; q < v->core.num_queues; q++) {
		const struct vq_state *s = &v->core.queues[q];
		if (s->size > VQ_MAX_SIZE || (s->size & (s->size - 1)) || !bool_ok(s->ready) ||
		    !bool_ok(s->event_idx) || !bool_ok(s->indirect) ||
		    !bool_ok(s->notify_enabled) || !bool_ok(s->signalled_used_valid))
			return fail(err, errlen, "virtio device %u: queue %u is inconsistent", i,
				    q);
	}
	if (v->kind == SNAP_VIRTIO_BLK && v->blk.version != VIRTIO_BLK_STATE_VERSION)
		return fail(err, errlen, "virtio device %u: disk state version %u", i,
			    v->blk.version);
	if (v->kind == SNAP_VIRTIO_NET && (!bool_ok(v->net.promisc) || !bool_ok(v->net.allmulti)))
		return fail(err, errlen, "virtio device %u: inconsistent network state", i);
	return 0;
}

/* Copy a section's payload p[0, len) into dst of size want, checking the length. */
static int take(void *dst, size_t want, const uint8_t *p, uint64_t len, const char *what, char *err,
		size_t errlen)
{
	if (len != want)
		return fail(err, errlen, "%s section is %llu bytes, expected %zu", what,
			    (unsigned long long)len, want);
	memcpy(dst, p, want);
	return 0;
}

/* Which singleton sections were seen, by bit. */
enum {
	SEEN_MACHINE = 1 << 0,
	SEEN_CPUID = 1 << 1,
	SEEN_IRQCHIP = 1 << 2,
	SEEN_UART = 1 << 3,
	SEEN_I8042 = 1 << 4,
	SEEN_RTC = 1 << 5,
	SEEN_PM = 1 << 6,
	SEEN_ALL = (1 << 7) - 1,
};

/* One of the sections that appear once, of fixed size: irqchip and legacy devices. */
static int take_single(struct snapshot *s, unsigned *seen, uint32_t type, const uint8_t *pl,
		       uint64_t len, char *err, size_t errlen)
{
	const struct {
		uint32_t type;
		unsigned bit;
		void *dst;
		size_t size;
		const char *name;
	} singles[] = {
	    {SNAP_SEC_IRQCHIP, SEEN_IRQCHIP, &s->irqchip, sizeof(s->irqchip), "irqchip"},
	    {SNAP_SEC_UART, SEEN_UART, &s->uart, sizeof(s->uart), "UART"},
	    {SNAP_SEC_I8042, SEEN_I8042, &s->i8042, sizeof(s->i8042), "i8042"},
	    {SNAP_SEC_RTC, SEEN_RTC, &s->rtc, sizeof(s->rtc), "RTC"},
	    {SNAP_SEC_ACPI_PM, SEEN_PM, &s->pm, sizeof(s->pm), "ACPI PM"},
	};

	for (unsigned i = 0; i < ARRAY_SIZE(singles); i++) {
		int r;

		if (singles[i].type != type)
			continue;
		if (*seen & singles[i].bit)
			return fail(err, errlen, "two %s sections", singles[i].name);
		r = take(singles[i].dst, singles[i].size, pl, len, singles[i].name, err, errlen);
		if (r)
			return r;
		*seen |= singles[i].bit;
	}
	if (type == SNAP_SEC_IRQCHIP && s->irqchip.version != IRQCHIP_STATE_VERSION)
		return fail(err, errlen, "irqchip: state version %u (this build reads %u)",
			    s->irqchip.version, IRQCHIP_STATE_VERSION);
	return 0;
}

static int parse_sections(const uint8_t *p, size_t len, struct snapshot *s, char *err,
			  size_t errlen)
{
	const struct snap_machine *m = &s->machine;
	uint64_t disks_seen = 0, nics_seen = 0, vpci_seen = 0;
	uint8_t *vcpus_seen = NULL;
	unsigned seen = 0, nvcpus = 0;
	bool pci_host_seen = false;
	size_t off = 0;
	int r = 0;

	for (uint32_t n = 0; n < s->hdr.nsections; n++) {
		struct snap_section_hdr sh;
		const uint8_t *pl;
		uint64_t padded;

		if (len - off < sizeof(sh)) {
			r = fail(err, errlen, "section %u: truncated header", n);
			goto out;
		}
		memcpy(&sh, p + off, sizeof(sh));
		off += sizeof(sh);
		padded = (sh.len + 7) & ~7ULL;
		if (sh.len > len - off || padded > len - off) {
			r = fail(err, errlen, "section %u: %llu bytes overrun the file", n,
				 (unsigned long long)sh.len);
			goto out;
		}
		pl = p + off;
		off += padded;
		/* The machine comes first: the others are checked against it. */
		if (n == 0 && sh.type != SNAP_SEC_MACHINE) {
			r = fail(err, errlen, "the first section is not the machine");
			goto out;
		}
		switch ((enum snap_section)sh.type) {
		case SNAP_SEC_MACHINE:
			if (seen & SEEN_MACHINE) {
				r = fail(err, errlen, "two machine sections");
				goto out;
			}
			r = take(&s->machine, sizeof(s->machine), pl, sh.len, "machine", err,
				 errlen);
			r = r ?: check_machine(m, err, errlen);
			if (r)
				goto out;
			s->disks = calloc(m->ndisks ? m->ndisks : 1, sizeof(*s->disks));
			s->vcpus = calloc(m->ncpus, sizeof(*s->vcpus));
			vcpus_seen = calloc(m->ncpus, 1);
			if (m->transport == TRANSPORT_PCI) {
				s->pci_host = calloc(1, sizeof(*s->pci_host));
				s->vpci = calloc(SNAP_MAX_VIRTIO, sizeof(*s->vpci));
			}
			if (!s->disks || !s->vcpus || !vcpus_seen ||
			    (m->transport == TRANSPORT_PCI && (!s->pci_host || !s->vpci))) {
				snprintf(err, errlen, "out of memory");
				r = -ENOMEM;
				goto out;
			}
			seen |= SEEN_MACHINE;
			break;
		case SNAP_SEC_CPUID:
			if ((seen & SEEN_CPUID) ||
			    sh.len != (uint64_t)m->ncpuid * sizeof(*s->cpuid)) {
				r = fail(err, errlen, "CPUID section: duplicate or wrong size");
				goto out;
			}
			s->cpuid = malloc(sh.len);
			if (!s->cpuid) {
				snprintf(err, errlen, "out of memory");
				r = -ENOMEM;
				goto out;
			}
			memcpy(s->cpuid, pl, sh.len);
			seen |= SEEN_CPUID;
			break;
		case SNAP_SEC_DISK:
			if (sh.instance >= m->ndisks || (disks_seen & (1ULL << sh.instance))) {
				r = fail(err, errlen, "disk section %u: unexpected", sh.instance);
				goto out;
			}
			r = take(&s->disks[sh.instance], sizeof(*s->disks), pl, sh.len, "disk", err,
				 errlen);
			r = r ?: check_disk(&s->disks[sh.instance], sh.instance, err, errlen);
			if (r)
				goto out;
			disks_seen |= 1ULL << sh.instance;
			break;
		case SNAP_SEC_NIC:
			if (sh.instance >= m->nnics || (nics_seen & (1ULL << sh.instance))) {
				r = fail(err, errlen, "network card section %u: unexpected",
					 sh.instance);
				goto out;
			}
			r = take(&s->nics[sh.instance], sizeof(s->nics[0]), pl, sh.len,
				 "network card", err, errlen);
			r = r ?: check_nic(&s->nics[sh.instance], sh.instance, err, errlen);
			if (r)
				goto out;
			nics_seen |= 1ULL << sh.instance;
			break;
		case SNAP_SEC_VCPU:
			if (sh.instance >= m->ncpus || vcpus_seen[sh.instance]) {
				r = fail(err, errlen, "vCPU section %u: unexpected", sh.instance);
				goto out;
			}
			r = take(&s->vcpus[sh.instance], sizeof(*s->vcpus), pl, sh.len, "vCPU", err,
				 errlen);
			r = r ?: check_vcpu(&s->vcpus[sh.instance], sh.instance, m, err, errlen);
			if (r)
				goto out;
			vcpus_seen[sh.instance] = 1;
			nvcpus++;
			break;
		case SNAP_SEC_IRQCHIP:
		case SNAP_SEC_UART:
		case SNAP_SEC_I8042:
		case SNAP_SEC_RTC:
		case SNAP_SEC_ACPI_PM:
			r = take_single(s, &seen, sh.type, pl, sh.len, err, errlen);
			if (r)
				goto out;
			break;
		case SNAP_SEC_VIRTIO: {
			struct snap_virtio *v;

			if (s->nvirtio >= SNAP_MAX_VIRTIO || sh.instance != s->nvirtio) {
				r = fail(err, errlen, "virtio section %u: unexpected", sh.instance);
				goto out;
			}
			v = &s->virtio[s->nvirtio];
			r = take(v, sizeof(*v), pl, sh.len, "virtio", err, errlen);
			r = r ?: check_virtio(v, m, s->nvirtio, err, errlen);
			for (unsigned j = 0; !r && j < s->nvirtio; j++)
				if (s->virtio[j].kind == v->kind && s->virtio[j].index == v->index)
					r = fail(err, errlen, "virtio section %u: a duplicate",
						 sh.instance);
			if (r)
				goto out;
			s->nvirtio++;
			break;
		}
		case SNAP_SEC_VIRTIO_PCI:
			/* After its virtio section, once, on a virtio-pci machine. */
			if (!s->vpci || sh.instance >= s->nvirtio ||
			    (vpci_seen & (1ULL << sh.instance))) {
				r = fail(err, errlen, "virtio-pci section %u: unexpected",
					 sh.instance);
				goto out;
			}
			r = take(&s->vpci[sh.instance], sizeof(*s->vpci), pl, sh.len, "virtio-pci",
				 err, errlen);
			if (!r && s->vpci[sh.instance].msix.nvec > MSIX_STATE_MAX_VECTORS)
				r = fail(err, errlen, "virtio-pci section %u: %u MSI-X vectors",
					 sh.instance, s->vpci[sh.instance].msix.nvec);
			if (r)
				goto out;
			vpci_seen |= 1ULL << sh.instance;
			break;
		case SNAP_SEC_PCI_HOST:
			if (!s->pci_host || pci_host_seen) {
				r = fail(err, errlen, "PCI host section: unexpected");
				goto out;
			}
			r = take(s->pci_host, sizeof(*s->pci_host), pl, sh.len, "PCI host", err,
				 errlen);
			if (r)
				goto out;
			pci_host_seen = true;
			break;
		default:
			r = fail(err, errlen, "section %u: unknown type %u", n, sh.type);
			goto out;
		}
	}
	if (off != len) {
		r = fail(err, errlen, "%zu bytes after the last section", len - off);
		goto out;
	}
	if (seen != SEEN_ALL) {
		r = fail(err, errlen, "sections are missing (have %#x of %#x)", seen, SEEN_ALL);
		goto out;
	}
	if (nvcpus != m->ncpus || disks_seen != (m->ndisks ? (1ULL << m->ndisks) - 1 : 0) ||
	    nics_seen != (m->nnics ? (1ULL << m->nnics) - 1 : 0) ||
	    s->nvirtio != m->ndisks + m->nnics + m->rng + m->virtio_console) {
		r = fail(err, errlen, "vCPU, disk, network card or virtio sections are missing");
		goto out;
	}
	if (m->transport == TRANSPORT_PCI &&
	    (!pci_host_seen || vpci_seen != (s->nvirtio ? (1ULL << s->nvirtio) - 1 : 0))) {
		r = fail(err, errlen, "PCI host or virtio-pci sections are missing");
		goto out;
	}
out:
	free(vcpus_seen);
	return r;
}

int snapshot_parse(const uint8_t *buf, size_t len, struct snapshot *s, char *err, size_t errlen)
{
	uint8_t sum[SNAP_HASH_BYTES];
	int r;

	memset(s, 0, sizeof(*s));
	if (len < sizeof(s->hdr) + SNAP_HASH_BYTES)
		return fail(err, errlen, "state file is truncated (%zu bytes)", len);
	memcpy(&s->hdr, buf, sizeof(s->hdr));
	if (memcmp(s->hdr.magic, SNAP_MAGIC, sizeof(s->hdr.magic)))
		return fail(err, errlen, "not a hearth snapshot state file");
	if (s->hdr.version != SNAP_VERSION)
		return fail(err, errlen,
			    "state file format version %u is not supported (this build reads %u)",
			    s->hdr.version, SNAP_VERSION);
	if (s->hdr.header_size != sizeof(s->hdr))
		return fail(err, errlen, "state file header size %u (expected %zu)",
			    s->hdr.header_size, sizeof(s->hdr));
	if (s->hdr.file_size != len)
		return fail(err, errlen,
			    "state file is %zu bytes, its header says %llu (truncated?)", len,
			    (unsigned long long)s->hdr.file_size);
	if (snap_sha256(buf, len - SNAP_HASH_BYTES, sum))
		return fail(err, errlen, "cannot compute SHA-256");
	if (memcmp(sum, buf + len - SNAP_HASH_BYTES, SNAP_HASH_BYTES))
		return fail(err, errlen, "state file checksum mismatch (the file is corrupted)");
	if (s->hdr.nsections > SNAP_MAX_SECTIONS)
		return fail(err, errlen, "state file has %u sections", s->hdr.nsections);
	r = parse_sections(buf + sizeof(s->hdr), len - sizeof(s->hdr) - SNAP_HASH_BYTES, s, err,
			   errlen);
	if (!r && s->hdr.mem_size != s->machine.mem_size)
		r = fail(err, errlen, "memory size in the header differs from the machine's");
	if (r)
		snapshot_free(s);
	return r;
}

int snapshot_read(const char *path, struct snapshot *s, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	memset(s, 0, sizeof(*s));
	r = read_whole_file(path, SNAP_MAX_FILE, &buf, &len);
	if (r) {
		snprintf(err, errlen, "cannot read state file %s: %s", path,
			 r == -EFBIG ? "file too large" : strerror(-r));
		return r;
	}
	r = snapshot_parse(buf, len, s, err, errlen);
	free(buf);
	return r;
}

void snapshot_free(struct snapshot *s)
{
	free(s->cpuid);
	free(s->disks);
	free(s->vcpus);
	free(s->pci_host);
	free(s->vpci);
	s->pci_host = NULL;
	s->vpci = NULL;
	s->cpuid = NULL;
	s->disks = NULL;
	s->vcpus = NULL;
}

int snapshot_check_mem_file(const struct snapshot *s, int fd, char *err, size_t errlen)
{
	struct snap_mem_trailer t;
	struct stat st;
	uint64_t want = s->hdr.mem_size + SNAP_MEM_TRAILER;

	if (fstat(fd, &st) < 0)
		return fail(err, errlen, "cannot stat the memory file: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err, errlen, "the memory file is not a regular file");
	if ((uint64_t)st.st_size != want)
		return fail(err, errlen,
			    "memory file is %llu bytes, expected %llu (%llu MiB of guest "
			    "memory and a 4 KiB trailer)",
			    (unsigned long long)st.st_size, (unsigned long long)want,
			    (unsigned long long)(s->hdr.mem_size >> 20));
	if (pread(fd, &t, sizeof(t), (off_t)s->hdr.mem_size) != (ssize_t)sizeof(t))
		return fail(err, errlen, "cannot read the memory file's trailer");
	if (memcmp(t.magic, SNAP_MEM_MAGIC, sizeof(t.magic)) || t.version != SNAP_VERSION ||
	    t.mem_size != s->hdr.mem_size || (t.flags & ~SNAP_MEM_DIFF))
		return fail(err, errlen, "the memory file has no valid hearth trailer");
	if (t.flags & SNAP_MEM_DIFF)
		return fail(err, errlen,
			    "the memory file is a diff: merge it onto its base first (hearth "
			    "snapshot rebase DIFF_MEM BASE_MEM)");
	if (memcmp(t.id, s->hdr.id, SNAP_ID_BYTES))
		return fail(err, errlen,
			    "the memory file belongs to another snapshot (identity "
			    "stamps differ)");
	return 0;
}

int snapshot_verify(const char *state_path, const char *mem_path, char *err, size_t errlen)
{
	struct snapshot s;
	EVP_MD_CTX *ctx = NULL;
	uint8_t sum[SNAP_HASH_BYTES];
	unsigned int n = 0;
	uint8_t *buf = NULL;
	uint64_t left;
	int fd, r;

	r = snapshot_read(state_path, &s, err, errlen);
	if (r)
		return r;
	fd = open(mem_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open memory file %s: %s", mem_path, strerror(errno));
		goto out_free;
	}
	r = snapshot_check_mem_file(&s, fd, err, errlen);
	if (r)
		goto out_close;
	ctx = EVP_MD_CTX_new();
	buf = malloc(1 << 20);
	if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_close;
	}
	left = s.hdr.mem_size;
	while (left) {
		size_t chunk = left < (1 << 20) ? (size_t)left : (1 << 20);
		ssize_t got = read(fd, buf, chunk);

		if (got <= 0) {
			r = -EIO;
			snprintf(err, errlen, "cannot read the memory file: %s",
				 got < 0 ? strerror(errno) : "unexpected end");
			goto out_close;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)got);
		left -= (uint64_t)got;
	}
	if (EVP_DigestFinal_ex(ctx, sum, &n) != 1 || memcmp(sum, s.hdr.mem_sha256, sizeof(sum))) {
		r = -EINVAL;
		snprintf(err, errlen,
			 "guest memory checksum mismatch (the memory file is corrupted)");
	}
out_close:
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
out_free:
	snapshot_free(&s);
	return r;
}

/* Read and check the trailer of the memory file open at fd; its size in *size. */
static int read_trailer(int fd, const char *path, struct snap_mem_trailer *t, uint64_t *size,
			char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < SNAP_MEM_TRAILER)
		return fail(err, errlen, "%s is not a hearth memory file", path);
	*size = (uint64_t)st.st_size - SNAP_MEM_TRAILER;
	if (pread(fd, t, sizeof(*t), (off_t)*size) != (ssize_t)sizeof(*t) ||
	    memcmp(t->magic, SNAP_MEM_MAGIC, sizeof(t->magic)) || t->version != SNAP_VERSION ||
	    t->mem_size != *size || (t->flags & ~SNAP_MEM_DIFF))
		return fail(err, errlen, "%s has no valid hearth trailer", path);
	return 0;
}

/* Copy [off, end) of in to the same place in out. */
static int copy_range(int in, int out, uint64_t off, uint64_t end, uint8_t *buf, size_t bufsize)
{
	while (off < end) {
		size_t n = end - off < bufsize ? (size_t)(end - off) : bufsize;
		ssize_t got = pread(in, buf, n, (off_t)off);

		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		if (pwrite(out, buf, (size_t)got, (off_t)off) != got)
			return -EIO;
		off += (uint64_t)got;
	}
	return 0;
}

int snapshot_rebase(const char *diff_mem, const char *base_mem, char *err, size_t errlen)
{
	struct snap_mem_trailer dt, bt;
	uint64_t dsize, bsize, off = 0;
	uint8_t *buf = NULL;
	int in, out, r;

	in = open(diff_mem, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", diff_mem, strerror(-r));
		return r;
	}
	out = open(base_mem, O_RDWR | O_CLOEXEC);
	if (out < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", base_mem, strerror(errno));
		goto out_in;
	}
	r = read_trailer(in, diff_mem, &dt, &dsize, err, errlen);
	r = r ?: read_trailer(out, base_mem, &bt, &bsize, err, errlen);
	if (r)
		goto out_out;
	if (!(dt.flags & SNAP_MEM_DIFF) || (bt.flags & SNAP_MEM_DIFF) || dsize != bsize) {
		r = fail(err, errlen,
			 !(dt.flags & SNAP_MEM_DIFF)  ? "%s is not a diff memory file"
			 : (bt.flags & SNAP_MEM_DIFF) ? "%s: the base is itself a diff"
						      : "%s: the two files differ in size",
			 !(dt.flags & SNAP_MEM_DIFF) ? diff_mem : base_mem);
		goto out_out;
	}
	buf = malloc(1 << 20);
	if (!buf) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_out;
	}
	/* The pages the diff holds are its data; its holes are pages it did not write. */
	while (off < dsize) {
		off_t data = lseek(in, (off_t)off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		hole = data < 0 ? -1 : lseek(in, data, SEEK_HOLE);
		if (data < 0 || hole < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot find the pages of %s: %s", diff_mem,
				 strerror(errno));
			goto out_out;
		}
		if ((uint64_t)data >= dsize)
			break;
		r = copy_range(in, out, (uint64_t)data,
			       (uint64_t)hole < dsize ? (uint64_t)hole : dsize, buf, 1 << 20);
		if (r) {
			snprintf(err, errlen, "cannot copy %s onto %s: %s", diff_mem, base_mem,
				 strerror(-r));
			goto out_out;
		}
		off = (uint64_t)hole;
	}
	/* The base now holds the diff's memory: it takes the diff's identity. */
	dt.flags = 0;
	if (pwrite(out, &dt, sizeof(dt), (off_t)bsize) != (ssize_t)sizeof(dt)) {
		r = -EIO;
		snprintf(err, errlen, "cannot write the trailer of %s", base_mem);
	}
out_out:
	free(buf);
	close(out);
out_in:
	close(in);
	return r;
}
