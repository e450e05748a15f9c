/* SPDX-License-Identifier: MIT */
/*
 * Full snapshots of a paused VM: a state file and a guest memory file.
 *
 * The state file (versioned, SHA-256 checksummed):
 *   header   struct snap_header: magic "HRTHSNAP", format version, the file's
 *            length, the snapshot's identity stamp (128 random bits), the
 *            guest memory size and the SHA-256 of guest memory;
 *   sections each a struct snap_section_hdr (type, instance, payload length)
 *            followed by its payload, padded to 8 bytes: the machine
 *            description (configuration, layout, XSAVE size, TSC frequency),
 *            its CPUID, every disk's and network card's configuration,
 *            every vCPU (vmm/vcpu_state.h), the irqchip, PIT and kvmclock
 *            (vmm/irqchip_state.h), the legacy devices and every virtio
 *            device (core, transport registers and queues, device state);
 *            with virtio-pci, the PCI host bridge and, after each virtio
 *            section, its function (configuration space, MSI-X table and
 *            PBA, common-configuration registers);
 *   trailer  the SHA-256 of everything before it.
 *
 * The memory file: guest RAM, region after region, in guest-physical order
 * (pages of zeros are holes), followed by one 4 KiB trailer page
 * (struct snap_mem_trailer) holding the same identity stamp: a memory file
 * of another snapshot, or of the wrong size, is refused at load.
 *
 * Restore maps guest RAM privately from the memory file (pages are read on
 * first touch: restore time does not grow with memory size); the memory is
 * not hashed then. snapshot_verify() checks everything, memory included.
 *
 * Everything read from a file is hostile input: snapshot_parse() checks
 * length, version, checksum and every field before anything uses them.
 */
#ifndef HEARTH_SNAPSHOT_SNAPSHOT_H
#define HEARTH_SNAPSHOT_SNAPSHOT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/mc146818.h"
#include "devices/legacy/ns16550.h"
#include "devices/pci/pci.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_pci.h"
#include "vmm/config.h"
#include "vmm/irqchip_state.h"
#include "vmm/vcpu_state.h"

#define SNAP_MAGIC	  "HRTHSNAP"
#define SNAP_MEM_MAGIC	  "HRTHMEM1"
#define SNAP_VERSION	  1
#define SNAP_ID_BYTES	  16
#define SNAP_HASH_BYTES	  32 /* SHA-256 */
#define SNAP_MEM_TRAILER  4096
#define SNAP_MAX_FILE	  (64ULL << 20) /* a state file is far smaller */
#define SNAP_PATH_MAX	  4096
#define SNAP_MAX_VIRTIO	  (CONFIG_MAX_DISKS + CONFIG_MAX_NICS + 2)
#define SNAP_MAX_SECTIONS (9 + CONFIG_MAX_DISKS + CONFIG_MAX_NICS + 2 * SNAP_MAX_VIRTIO + 256)

struct snap_header {
	char magic[8];	  /* SNAP_MAGIC */
	uint32_t version; /* SNAP_VERSION */
	uint32_t header_size;
	uint64_t file_size; /* the whole file, trailer included */
	uint8_t id[SNAP_ID_BYTES];
	uint64_t mem_size;		     /* bytes of guest RAM in the memory file */
	uint8_t mem_sha256[SNAP_HASH_BYTES]; /* of those bytes */
	uint32_t nsections;
	uint32_t reserved;
};

struct snap_section_hdr {
	uint32_t type; /* enum snap_section */
	uint32_t instance;
	uint64_t len; /* payload bytes (then padding to 8) */
};

enum snap_section {
	SNAP_SEC_MACHINE = 1,
	SNAP_SEC_CPUID = 2,
	SNAP_SEC_DISK = 3,
	SNAP_SEC_NIC = 4,
	SNAP_SEC_VCPU = 10,
	SNAP_SEC_IRQCHIP = 11,
	SNAP_SEC_UART = 20,
	SNAP_SEC_I8042 = 21,
	SNAP_SEC_RTC = 22,
	SNAP_SEC_ACPI_PM = 23,
	SNAP_SEC_VIRTIO = 30,
	SNAP_SEC_VIRTIO_PCI = 31, /* instance: the virtio section's */
	SNAP_SEC_PCI_HOST = 40,
};

/* The machine: what vm_create() needs to build the same VM again. */
struct snap_machine {
	char id[CONFIG_ID_MAX + 1 + 7];
	uint32_t ncpus;
	uint32_t transport; /* enum virtio_transport_kind */
	uint64_t mem_size;
	uint64_t low_ram_end;
	uint64_t high_ram_size;
	uint8_t rng, virtio_console, phys_bits, reserved0;
	uint32_t ndisks, nnics;
	uint32_t tsc_khz;
	uint32_t xsave_size;
	uint32_t ncpuid; /* entries of the CPUID section */
	char vendor[16];
};

struct snap_disk {
	char path[SNAP_PATH_MAX];
	char serial[CONFIG_SERIAL_MAX + 1 + 3];
	char id[CONFIG_ID_MAX + 1 + 7];
	uint8_t readonly, cache, engine, reserved0;
	uint32_t reserved1;
	uint64_t iops, bps;
	struct token_bucket_config ops_bucket, bytes_bucket;
};

struct snap_nic {
	char ifname[IFNAMSIZ];
	uint8_t has_mac;
	uint8_t mac[MAC_ADDR_LEN];
	uint8_t reserved;
	struct token_bucket_config rx, tx;
};

enum snap_virtio_kind {
	SNAP_VIRTIO_BLK = 1,
	SNAP_VIRTIO_NET = 2,
	SNAP_VIRTIO_RNG = 3,
	SNAP_VIRTIO_CONSOLE = 4,
};

/* One virtio device: which one, its core and queues, its transport, its own state. */
struct snap_virtio {
	uint32_t kind;	    /* enum snap_virtio_kind */
	uint32_t index;	    /* among the devices of its kind */
	uint32_t transport; /* enum virtio_transport_kind */
	uint32_t reserved;
	struct virtio_state core;
	struct virtio_mmio_state mmio;
	struct virtio_blk_state blk; /* SNAP_VIRTIO_BLK */
	struct virtio_net_state net; /* SNAP_VIRTIO_NET */
};

#define SNAP_MEM_DIFF 1 /* snap_mem_trailer.flags: holds only the pages of a diff */

struct snap_mem_trailer {
	char magic[8]; /* SNAP_MEM_MAGIC */
	uint32_t version;
	uint32_t flags; /* SNAP_MEM_DIFF */
	uint64_t mem_size;
	uint8_t id[SNAP_ID_BYTES];
};

/* A parsed and checked state file. */
struct snapshot {
	struct snap_header hdr;
	struct snap_machine machine;
	struct kvm_cpuid_entry2 *cpuid; /* machine.ncpuid entries */
	struct snap_disk *disks;	/* machine.ndisks */
	struct snap_nic nics[CONFIG_MAX_NICS];
	struct vcpu_state *vcpus; /* machine.ncpus, in index order */
	struct irqchip_state irqchip;
	struct ns16550_state uart;
	struct i8042_state i8042;
	struct mc146818_state rtc;
	struct acpi_pm_state pm;
	unsigned nvirtio;
	struct snap_virtio virtio[SNAP_MAX_VIRTIO];
	/* virtio-pci machines only (NULL otherwise): the host bridge, each function. */
	struct pci_host_state *pci_host;
	struct virtio_pci_state *vpci; /* SNAP_MAX_VIRTIO, by virtio section */
};

struct vm;

/*
 * snapshot_parse - check and decode the state file contents buf[0, len):
 * length, magic, version, checksum, then every section and field. Fills s
 * (free it with snapshot_free()). Returns 0, or -EINVAL (-ENOMEM) with one
 * line naming the problem in err; s holds nothing then.
 */
int snapshot_parse(const uint8_t *buf, size_t len, struct snapshot *s, char *err, size_t errlen);

/* snapshot_read - read the state file at path (at most SNAP_MAX_FILE) and snapshot_parse() it. */
int snapshot_read(const char *path, struct snapshot *s, char *err, size_t errlen);

/* snapshot_free - free what snapshot_parse() allocated in s. */
void snapshot_free(struct snapshot *s);

/*
 * snapshot_init - set up the digest snapshots and migration streams are
 * checked with, before any seccomp filter (OpenSSL may read its
 * configuration) and outside any migration's downtime. Idempotent.
 */
void snapshot_init(void);

/*
 * snapshot_check_mem_file - check that fd is the memory file of s: its
 * size is s's memory size plus the trailer, and the trailer carries s's
 * identity stamp. Returns 0, or -EINVAL with one line in err.
 */
int snapshot_check_mem_file(const struct snapshot *s, int fd, char *err, size_t errlen);

/*
 * snapshot_create - write a full snapshot of vm (paused, or its vCPUs not
 * started: vm_vcpus_stopped()) to state_path and mem_path (both created or
 * truncated; written to temporary names and renamed into place, so a
 * failure leaves no half-written file under those names). Both are left
 * to the page cache, not synced (that would dominate the time: sync(1)
 * them before relying on them after a host crash). Call it from the VM's
 * event-loop thread. Returns 0, or -errno with one line in err
 * (-EBUSY: the VM is running; -ENOTSUP: a device that cannot be saved yet).
 * Devices on virtio-mmio and on virtio-pci are both saved.
 */
int snapshot_create(struct vm *vm, const char *state_path, const char *mem_path, char *err,
		    size_t errlen);

/*
 * snapshot_create_type - snapshot_create(), or with diff a diff snapshot:
 * the memory file has guest memory's full size but holds only the pages
 * written since the last snapshot (or since boot) by vCPUs (KVM's dirty
 * log) or by hearth (the VMM-side bitmap); the rest are holes, and its
 * trailer says it is a diff (it loads only after snapshot_rebase()). The
 * state file is complete, and its memory SHA-256 is that of all guest
 * memory. Every snapshot of a VM that tracks dirty pages starts a new
 * dirty period. -EINVAL for a diff of a VM without track_dirty_pages.
 */
int snapshot_create_type(struct vm *vm, const char *state_path, const char *mem_path, bool diff,
			 char *err, size_t errlen);

/*
 * snapshot_rebase - merge the diff memory file diff_mem onto base_mem (the
 * memory file of the snapshot the diff followed, or of an earlier
 * rebase), in place: every page the diff holds is written into base_mem,
 * then the diff's trailer (without its diff flag), so that base_mem
 * becomes the memory file of the diff's state file. Both must be hearth
 * memory files of the same size, diff_mem a diff. Returns 0, or -errno
 * with one line in err.
 */
int snapshot_rebase(const char *diff_mem, const char *base_mem, char *err, size_t errlen);

/*
 * snapshot_restore - build a VM from the state file at state_path and the
 * memory file at mem_path: the state is checked (snapshot_read()), this
 * host must offer the saved CPU model (CPUID, XSAVE size, TSC frequency or
 * TSC scaling), the memory file must match (snapshot_check_mem_file()).
 * The VM is built by vm_create() from the saved configuration, written to
 * *cfg (console and shutdown timeout taken from local, which may be NULL
 * for the defaults), with guest memory mapped privately from mem_path;
 * then devices, irqchip and vCPUs are restored. *cfg must outlive the VM:
 * config_free() it after vm_destroy() (also when NULL is returned). The VM
 * is returned paused (vm_pause() before vm_run()): vm_resume() lets it
 * run. Returns NULL with one line in err.
 */
struct vm *snapshot_restore(const char *state_path, const char *mem_path,
			    const struct vm_config *local, struct vm_config *cfg, char *err,
			    size_t errlen);

/*
 * snapshot_verify - check a state file and its memory file completely: all
 * that loading checks, plus the SHA-256 of guest memory. Prints nothing.
 * Returns 0, or -errno with one line in err.
 */
int snapshot_verify(const char *state_path, const char *mem_path, char *err, size_t errlen);

/*
 * The pieces of snapshot_create() and snapshot_restore(), shared with live
 * migration (migration/migration.h), which sends the same state over a
 * connection instead of a file.
 *
 * snap_capture - capture the machine description, CPUID, disks, network
 * cards, every vCPU, the irqchip and every device of vm into s (its arrays
 * allocated; snapshot_free() them). The vCPUs must be stopped
 * (vm_vcpus_stopped()); call it on the event-loop thread. s->hdr is left
 * as it was. Returns 0 or -errno with one line in err.
 */
int snap_capture(struct vm *vm, struct snapshot *s, char *err, size_t errlen);

/*
 * snap_describe - the machine description alone (machine, CPUID, disks,
 * network cards) of vm into s (arrays allocated; snapshot_free() them);
 * the vCPUs may run. Returns 0 or -ENOMEM with one line in err.
 */
int snap_describe(struct vm *vm, struct snapshot *s, char *err, size_t errlen);

/*
 * snap_serialize - s as a state file (s->hdr with its section count,
 * length and trailing SHA-256 filled in) in a malloc'd buffer *out of
 * *len bytes. Returns 0 or -ENOMEM (-EIO: hashing failed).
 */
int snap_serialize(const struct snapshot *s, uint8_t **out, size_t *len);

/*
 * snap_check_cpu - whether this host gives vm (built from s's
 * configuration) the CPU model s was saved with: every CPUID leaf of s
 * equal, an XSAVE area at least as large, the same TSC frequency or TSC
 * scaling. Returns 0, or -EINVAL with one line naming the first difference.
 */
int snap_check_cpu(struct vm *vm, const struct snapshot *s, char *err, size_t errlen);

/*
 * snap_build_config - the configuration vm_create() needs to build s's VM
 * again into c: s's machine, disks and cards over local's console and
 * shutdown settings (NULL: the defaults). Guest memory is mem_path mapped
 * privately, or anonymous memory when mem_path is NULL (then set
 * c->incoming, or vm_create() loads a kernel). Disk paths are strdup()ed
 * (config_free()). Returns 0 or -ENOMEM with one line in err.
 */
int snap_build_config(const struct snapshot *s, const struct vm_config *local, const char *mem_path,
		      struct vm_config *c, char *err, size_t errlen);

/*
 * snap_restore_state - load s's legacy devices, PCI host, virtio devices,
 * irqchip and vCPUs into vm (built from snap_build_config()'s
 * configuration, its vCPUs stopped). The virtio devices hold their state
 * but do nothing yet: no queue is looked at, no disk or tap touched.
 * Returns 0 or -errno with one line.
 */
int snap_restore_state(struct vm *vm, const struct snapshot *s, char *err, size_t errlen);

/*
 * snap_start_devices - after snap_restore_state(), let s's active virtio
 * devices work (as at DRIVER_OK: queued requests are served, a tap read).
 * A snapshot's VM starts them at once; a migration's destination only
 * after the commit, when the disks and the guest are its own. Returns 0 or
 * -errno with one line.
 */
int snap_start_devices(struct vm *vm, const struct snapshot *s, char *err, size_t errlen);

/*
 * snap_check_description - check a machine description read from outside
 * (the field checks snapshot_parse() makes): m, then m->ndisks disks and
 * m->nnics cards. Returns 0, or -EINVAL with one line in err.
 */
int snap_check_description(const struct snap_machine *m, const struct snap_disk *disks,
			   const struct snap_nic *nics, char *err, size_t errlen);

/*
 * snap_take_dirty - the pages written since the last call into dirty[]
 * (allocated here, one bitmap per memory region, 64 pages a word; the
 * caller frees them): KVM's dirty log (the slots must log dirty pages)
 * ORed with hearth's own bitmap, both cleared. Returns 0 or -errno with
 * one line in err.
 */
int snap_take_dirty(struct vm *vm, uint64_t **dirty, char *err, size_t errlen);

#endif
