/* SPDX-License-Identifier: MIT */
/*
 * The sending side of a live migration: its thread (pre-copy passes, the
 * stop-and-copy, the hand-over) and the steps it has the VM's event loop
 * run (pause, capture, commit, resume).
 */
#include "backends/block.h"
#include "core/log.h"
#include "core/util.h"
#include "migration/migration.h"
#include "sandbox/seccomp.h"
#include "snapshot/snapshot_priv.h"
#include "vmm/dirty_ring.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MIG_MAX_PASSES	   30 /* then stop whatever remains */
#define MIG_THROTTLE_AFTER 8  /* passes before the vCPUs are throttled */
#define MIG_THROTTLE_STEP  20
#define MIG_LINGER_NS	   2000000000ULL
#define PAGEMAP_BATCH	   512	 /* pagemap entries read at once (2 MiB of guest memory) */
#define MIG_READY_TIMEOUT  60000 /* ms the destination may take to load the state */

/* Steps run on the VM's event loop. */
enum mig_call {
	MIG_CALL_NONE,
	MIG_CALL_STOP,	 /* pause, flush, capture the state */
	MIG_CALL_SYNC,	 /* write the disks' data to stable storage */
	MIG_CALL_COMMIT, /* release the disks */
	MIG_CALL_ABORT,	 /* take the disks back, resume */
};

struct migration {
	struct vm *vm;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	bool job, quit, lingering, completed_read;
	struct migration_params params;
	struct mig_tls_creds *tls; /* loaded by migration_start(); NULL: plain TCP */
	struct migration_status st;
	int cancel_fd;	/* eventfd: cancel (or quit) */
	int pagemap_fd; /* /proc/self/pagemap, opened before the thread's filter; -1: none */
	bool cancelled;

	/* A step for the event loop. */
	int call_fd;
	enum mig_call call;
	bool call_done;
	int call_result;
	char call_err[256];
	bool paused_by_us, was_paused, disks_released;
	bool held;	   /* the devices are held on the event loop (event_loop_hold()) */
	int test_input_fd; /* test hook: input arriving after the pause; -1 */
	uint8_t *state;	   /* MIG_CALL_STOP's serialized state */
	size_t state_len;
	uint64_t paused_at;
	/* Where the downtime went (ns): set by the migration thread, printed at the end. */
	uint64_t t_stopped, t_captured, t_sent, t_synced, t_ready, t_flushed;
	uint64_t last_bytes; /* the last pages and the state */
	uint64_t transit_ns; /* the commit's way to the destination: half the round trip */
	uint64_t dest_ns;    /* the destination's part: commit to resumed */
	uint64_t downtime_ns;
};

const char *migration_state_name(enum migration_state s)
{
	static const char *const names[] = {"none",  "setup",	  "precopy", "stop_copy",
					    "ready", "completed", "failed",  "cancelled"};

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "none";
}

/* ---- steps on the event loop ------------------------------------------------------ */

static int set_dirty_logging(struct vm *vm, bool on);

/*
 * After a failed migration, dirty logging back to what the VM had. With
 * dirty rings, logging goes off only once the vCPUs are stopped and every
 * ring is emptied, so that KVM never resets (write-protects again) an
 * entry of a slot it no longer logs: without this, the nested host's
 * guests stalled or triple-faulted after every cancel (that reset being
 * the likely cause; the emptied rings made it go away).
 */
static void dirty_logging_back(struct migration *m)
{
	struct vm *vm = m->vm;
	bool drain = vm->kvm.dirty_ring_entries && !vm->cfg.track_dirty_pages;
	bool pause = drain && !vm_is_paused(vm) && vm_pause(vm) == 0;

	if (drain && dirty_ring_collect(vm))
		log_warn("migration: cannot empty the dirty rings");
	if (set_dirty_logging(vm, vm->cfg.track_dirty_pages))
		log_warn("migration: cannot turn dirty logging off");
	if (pause)
		vm_resume(vm);
}

/* Apply op to every disk (all of them, even after one fails); the first error. */
static int disks_each(struct vm *vm, int (*op)(struct block_dev *dev))
{
	int r = 0;

	for (unsigned i = 0; i < vm->virtio.nr_blk; i++)
		if (vm->virtio.blk[i] && vm->virtio.blk[i]->bdev) {
			int e = op(vm->virtio.blk[i]->bdev);

			r = r ?: e;
		}
	return r;
}

static int disks_take(struct vm *vm, char *err, size_t errlen)
{
	for (unsigned i = 0; i < vm->virtio.nr_blk; i++)
		if (vm->virtio.blk[i] && vm->virtio.blk[i]->bdev) {
			int r = block_lock(vm->virtio.blk[i]->bdev, err, errlen);

			if (r)
				return r;
		}
	return 0;
}

static int call_stop(struct migration *m)
{
	struct vm *vm = m->vm;
	bool was_paused = vm_is_paused(vm);
	struct snapshot s;
	uint64_t t0 = now_ns();
	int r;

	/* The guest stops as vm_pause() kicks the vCPUs: the downtime starts here. */
	r = vm_pause(vm);
	if (r) {
		snprintf(m->call_err, sizeof(m->call_err), "cannot pause the VM: %s",
			 r == -ESHUTDOWN ? "it is stopping" : strerror(-r));
		return r;
	}
	m->paused_at = t0;
	log_info("migration: vCPUs stopped at %llu us", (unsigned long long)(t0 / 1000));
	m->t_stopped = now_ns();
	m->paused_by_us = !was_paused; /* a VM the user paused stays paused on failure */
	m->was_paused = was_paused;    /* and arrives paused */
	/*
	 * From here until the commit (then for good) or the abort, no device
	 * runs: network and console input stays in its tap or descriptor,
	 * kicks and timers wait; so nothing writes guest memory or changes
	 * device state after the last dirty pages were taken and the state
	 * captured. The disks' requests were all completed by vm_pause().
	 */
	r = event_loop_hold(&vm->loop);
	m->held = true;
	if (r)
		log_warn("migration: cannot hold every device: %s", strerror(-r));
	if (m->test_input_fd >= 0) {
		uint64_t one = 1;

		if (write(m->test_input_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
			fprintf(stderr, "hearth: migration: test input queued after the pause\n");
	}
	memset(&s, 0, sizeof(s));
	r = snap_capture(vm, &s, m->call_err, sizeof(m->call_err));
	if (!r) {
		memcpy(s.hdr.magic, SNAP_MAGIC, sizeof(s.hdr.magic));
		s.hdr.version = SNAP_VERSION;
		s.hdr.header_size = sizeof(s.hdr);
		s.hdr.mem_size = gm_total_size(&vm->mem);
		r = snap_serialize(&s, &m->state, &m->state_len);
		if (r)
			snprintf(m->call_err, sizeof(m->call_err), "cannot serialize the state: %s",
				 strerror(-r));
	}
	snapshot_free(&s);
	if (!r)
		mig_log_ram_hash(&vm->mem, "source");
	return r;
}

static void on_call(void *opaque, uint32_t events)
{
	struct migration *m = opaque;
	uint64_t cnt;
	int r = 0;

	(void)events;
	if (read(m->call_fd, &cnt, sizeof(cnt)) < 0)
		return;
	pthread_mutex_lock(&m->lock);
	switch (m->call) {
	case MIG_CALL_STOP:
		r = call_stop(m);
		break;
	case MIG_CALL_SYNC:
		r = disks_each(m->vm, block_sync);
		if (r)
			snprintf(m->call_err, sizeof(m->call_err), "cannot flush a disk: %s",
				 strerror(-r));
		break;
	case MIG_CALL_COMMIT:
		/* Every disk flushed and unlocked: the destination may open them now. */
		r = disks_each(m->vm, block_unlock);
		m->disks_released = true;
		if (r)
			snprintf(m->call_err, sizeof(m->call_err), "cannot flush a disk: %s",
				 strerror(-r));
		break;
	case MIG_CALL_ABORT:
		if (m->held) {
			/* What arrived meanwhile is served now: nothing was lost. */
			if (event_loop_release(&m->vm->loop))
				log_warn("migration: cannot watch every device again");
			m->held = false;
		}
		if (m->disks_released) {
			r = disks_take(m->vm, m->call_err, sizeof(m->call_err));
			if (r)
				log_error("migration: %s", m->call_err);
			m->disks_released = false;
		}
		atomic_store(&m->vm->throttle_percent, 0);
		dirty_logging_back(m);
		if (m->paused_by_us) {
			vm_resume(m->vm);
			m->paused_by_us = false;
			log_info("migration: the guest runs on here");
		}
		break;
	case MIG_CALL_NONE:
	default:
		break;
	}
	m->call_result = r;
	m->call = MIG_CALL_NONE;
	m->call_done = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/*
 * Test hook (HEARTH_TEST_MIGRATION_INPUT): a device-like source on the event
 * loop that gets input right after the final pause; it says when it runs.
 */
static void on_test_input(void *opaque, uint32_t events)
{
	struct migration *m = opaque;
	enum migration_state st;
	uint64_t cnt;

	(void)events;
	if (read(m->test_input_fd, &cnt, sizeof(cnt)) < 0)
		return;
	pthread_mutex_lock(&m->lock);
	st = m->st.state;
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "hearth: migration: test input delivered (migration %s)\n",
		migration_state_name(st));
}

/* Run step c on the event loop and wait for it (migration thread). */
static int run_call(struct migration *m, enum mig_call c, char *err, size_t errlen)
{
	uint64_t one = 1;
	int r;

	pthread_mutex_lock(&m->lock);
	m->call = c;
	m->call_done = false;
	m->call_err[0] = '\0';
	if (write(m->call_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "cannot reach the event loop");
		return -EIO;
	}
	while (!m->call_done && !atomic_load(&m->vm->stopping)) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += 100000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&m->cond, &m->lock, &t);
	}
	r = m->call_done ? m->call_result : -ESHUTDOWN;
	if (r)
		snprintf(err, errlen, "%s", m->call_err[0] ? m->call_err : "the VM is stopping");
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* ---- dirty pages ---------------------------------------------------------------- */

static int set_dirty_logging(struct vm *vm, bool on)
{
	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct gm_region *g = &vm->mem.regions[i];
		int r = kvm_set_memory(&vm->kvm, g->slot, g->gpa, g->size, g->hva,
				       on ? KVM_MEM_LOG_DIRTY_PAGES : 0);

		if (r)
			return r;
	}
	if (on)
		gm_set_dirty_tracking(&vm->mem, true);
	return 0;
}

static void free_dirty(uint64_t **dirty)
{
	for (unsigned i = 0; i < GM_MAX_REGIONS; i++) {
		free(dirty[i]);
		dirty[i] = NULL;
	}
}

static uint64_t count_dirty(const struct vm *vm, uint64_t *const *dirty)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < vm->mem.nr; i++)
		for (size_t w = 0; w < (vm->mem.regions[i].size / GM_PAGE_SIZE + 63) / 64; w++)
			n += (uint64_t)__builtin_popcountll(dirty[i][w]);
	return n;
}

/* ---- the migration thread ----------------------------------------------------------- */

struct mig_run_ctx {
	struct migration *m;
	struct mig_writer w;
	struct mig_reader r;
	uint64_t last_kick;
	uint64_t last_report; /* when GET /migrate's bytes_sent was last brought up to date */
	/* /proc/self/pagemap entries of 2 MiB of one region (first pass). */
	const struct gm_region *pm_region;
	uint64_t pm_first;
	bool pm_valid;
	size_t pm_count;
	uint64_t pm[PAGEMAP_BATCH];
};

static void set_state(struct migration *m, enum migration_state s)
{
	pthread_mutex_lock(&m->lock);
	m->st.state = s;
	pthread_mutex_unlock(&m->lock);
}

static int send_run(struct mig_run_ctx *c, uint32_t type, uint64_t gpa, uint64_t npages,
		    const uint8_t *data)
{
	struct mig_run run = {.gpa = gpa, .npages = npages};
	uint64_t now;

	if (!npages)
		return 0;
	now = now_ns();
	if (atomic_load(&c->m->vm->throttle_percent) && now - c->last_kick > 10000000ULL) {
		vm_throttle_kick(c->m->vm);
		c->last_kick = now;
	}
	if (now - c->last_report >= 20000000ULL) { /* every 20 ms */
		c->last_report = now;
		pthread_mutex_lock(&c->m->lock);
		c->m->st.bytes_sent = c->w.bytes;
		pthread_mutex_unlock(&c->m->lock);
	}
	return mig_write_rec(&c->w, type, &run, sizeof(run), data,
			     type == MIG_REC_PAGES ? npages * GM_PAGE_SIZE : 0);
}

/* Runs of pages being gathered: data pages and zero pages. */
struct page_runs {
	const struct gm_region *g;
	uint64_t data_start, data_len, zero_start, zero_len;
};

static int flush_data(struct mig_run_ctx *c, struct page_runs *pr)
{
	int r = send_run(c, MIG_REC_PAGES, pr->g->gpa + pr->data_start * GM_PAGE_SIZE, pr->data_len,
			 pr->g->hva + pr->data_start * GM_PAGE_SIZE);

	pr->data_len = 0;
	return r;
}

static int flush_zero(struct mig_run_ctx *c, struct page_runs *pr)
{
	int r = send_run(c, MIG_REC_ZERO, pr->g->gpa + pr->zero_start * GM_PAGE_SIZE, pr->zero_len,
			 NULL);

	pr->zero_len = 0;
	return r;
}

/*
 * Whether page p of region g may hold data: on the first pass over
 * anonymous memory, a page the kernel never populated (neither present
 * nor swapped, /proc/self/pagemap) reads as zeros and need not be read.
 * Anything else (file-backed memory, no pagemap) counts as populated.
 */
static bool page_populated(struct mig_run_ctx *c, const struct gm_region *g, uint64_t p)
{
	uint64_t first = p - p % PAGEMAP_BATCH;

	if (c->m->pagemap_fd < 0 || c->m->vm->mem.backing != GM_BACKING_ANON)
		return true;
	if (c->pm_region != g || c->pm_first != first || !c->pm_valid) {
		uint64_t vpn = ((uintptr_t)g->hva + first * GM_PAGE_SIZE) / GM_PAGE_SIZE;
		ssize_t n = pread(c->m->pagemap_fd, c->pm, sizeof(c->pm), (off_t)(vpn * 8));

		c->pm_region = g;
		c->pm_first = first;
		c->pm_valid = n > 0;
		c->pm_count = n > 0 ? (size_t)n / 8 : 0;
	}
	if (!c->pm_valid || p - first >= c->pm_count)
		return true;
	return (c->pm[p - first] >> 62) != 0; /* bit 63 present, bit 62 swapped */
}

/*
 * Send the pages of every region set in dirty (all pages when dirty is
 * NULL: the first pass, which skips zero pages, the destination's memory
 * starting zeroed). Returns 0 or -errno.
 */
static int send_pages(struct mig_run_ctx *c, uint64_t *const *dirty, uint64_t *sent_pages)
{
	struct vm *vm = c->m->vm;

	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct page_runs pr = {.g = &vm->mem.regions[i]};
		uint64_t pages = pr.g->size / GM_PAGE_SIZE;
		int r = 0;

		for (uint64_t p = 0; p < pages && !r; p++) {
			const uint8_t *hva = pr.g->hva + p * GM_PAGE_SIZE;
			bool zero;

			if (dirty && !((dirty[i][p / 64] >> (p % 64)) & 1)) {
				r = pr.data_len ? flush_data(c, &pr) : 0;
				r = r ?: pr.zero_len ? flush_zero(c, &pr) : 0;
				if (!dirty[i][p / 64])
					p |= 63; /* a clean word: 64 pages at once */
				continue;
			}
			zero = !dirty && !page_populated(c, pr.g, p);
			zero = zero || snap_page_is_zero(hva);
			(*sent_pages)++;
			if (zero) {
				r = pr.data_len ? flush_data(c, &pr) : 0;
				if (r || !dirty)
					continue;
				if (pr.zero_len == MIG_MAX_RUN)
					r = flush_zero(c, &pr);
				if (!pr.zero_len)
					pr.zero_start = p;
				pr.zero_len++;
			} else {
				r = pr.zero_len ? flush_zero(c, &pr) : 0;
				if (!r && pr.data_len == MIG_MAX_RUN)
					r = flush_data(c, &pr);
				if (!pr.data_len)
					pr.data_start = p;
				pr.data_len++;
			}
		}
		r = r ?: pr.data_len ? flush_data(c, &pr) : 0;
		r = r ?: pr.zero_len ? flush_zero(c, &pr) : 0;
		if (r)
			return r;
	}
	return 0;
}

static int tcp_connect(const char *spec, int cancel_fd, char *err, size_t errlen)
{
	char host[256], port[16];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *res, *a;
	int fd = -1, r;

	if (mig_parse_tcp(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "destination must be tcp:HOST:PORT");
		return -EINVAL;
	}
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	/* Numeric only: name lookups would need files and sockets the thread's filter refuses. */
	r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(r));
		return -EINVAL;
	}
	for (a = res; a; a = a->ai_next) {
		int one = 1;

		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			struct pollfd p[2] = {{.fd = fd, .events = POLLOUT},
					      {.fd = cancel_fd, .events = POLLIN}};
			int so = 0;
			socklen_t sl = sizeof(so);

			if (poll(p, 2, 10000) > 0 && !p[1].revents &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0)
				break;
			errno = so ? so : ETIMEDOUT;
		}
		r = errno;
		close(fd);
		fd = -1;
		errno = r;
	}
	if (fd < 0)
		snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(errno));
	freeaddrinfo(res);
	return fd < 0 ? -ECONNREFUSED : fd;
}

/* Publish a pass's figures. */
static void update_stats(struct migration *m, unsigned pass, uint64_t sent, uint64_t remaining,
			 uint64_t dirty_bps, uint64_t bw_bps)
{
	pthread_mutex_lock(&m->lock);
	m->st.pass = pass;
	m->st.bytes_sent = sent;
	m->st.remaining_bytes = remaining;
	m->st.dirty_rate_bps = dirty_bps;
	if (bw_bps)
		m->st.bandwidth_bps = bw_bps;
	m->st.expected_downtime_ms =
	    m->st.bandwidth_bps ? remaining * 1000 / m->st.bandwidth_bps : 0;
	m->st.throttle_percent = atomic_load(&m->vm->throttle_percent);
	pthread_mutex_unlock(&m->lock);
}

/* The pre-copy passes, the stop and the hand-over; 0 once committed. */
static int migrate(struct migration *m, struct mig_run_ctx *c, char *err, size_t errlen)
{
	struct vm *vm = m->vm;
	uint64_t *dirty[GM_MAX_REGIONS] = {0}, *last[GM_MAX_REGIONS] = {0};
	uint64_t total = gm_total_size(&vm->mem), sent_pages = 0, t_pass, t_last_take;
	uint64_t max_down_ns = (uint64_t)m->params.max_downtime_ms * 1000000ULL;
	struct snapshot s;
	struct mig_hello hello = {.version = MIG_VERSION};
	struct mig_pass pass_rec = {0};
	struct mig_commit commit;
	struct mig_done done;
	uint8_t *desc;
	size_t desc_len;
	unsigned pass = 1;
	int r;

	/* The description: what the destination checks before any memory moves. */
	memset(&s, 0, sizeof(s));
	memcpy(hello.magic, MIG_MAGIC, sizeof(hello.magic));
	r = snap_describe(vm, &s, err, errlen);
	if (r)
		return r;
	desc = mig_encode_desc(&s, &desc_len);
	snapshot_free(&s);
	if (!desc) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = mig_write_rec(&c->w, MIG_REC_HELLO, &hello, sizeof(hello), NULL, 0);
	r = r ?: mig_write_rec(&c->w, MIG_REC_DESC, desc, desc_len, NULL, 0);
	free(desc);
	if (r) {
		snprintf(err, errlen, "cannot send the machine description: %s",
			 mig_write_error(&c->w, r));
		return r;
	}
	r = mig_expect(&c->r, MIG_REC_ACCEPT, NULL, 0, NULL, err, errlen);
	if (r)
		return r;

	/* Pass 1: all of RAM but its zero pages, with dirty logging on from here. */
	r = set_dirty_logging(vm, true);
	if (r) {
		snprintf(err, errlen, "cannot turn on dirty logging: %s", strerror(-r));
		return r;
	}
	r = snap_take_dirty(vm, dirty, err, errlen); /* clear what came before */
	free_dirty(dirty);
	if (r)
		return r;
	set_state(m, MIG_STATE_PRECOPY);
	t_pass = t_last_take = now_ns();
	r = send_pages(c, NULL, &sent_pages);
	for (;;) {
		uint64_t now, dirty_pages, remaining, bw, dirty_bps;

		if (r) {
			snprintf(err, errlen, "sending memory: %s", mig_write_error(&c->w, r));
			goto out;
		}
		pass_rec.pass = pass;
		pass_rec.pages = sent_pages;
		r = mig_write_rec(&c->w, MIG_REC_PASS, &pass_rec, sizeof(pass_rec), NULL, 0);
		if (r)
			continue;
		r = snap_take_dirty(vm, dirty, err, errlen);
		if (r)
			goto out;
		now = now_ns();
		dirty_pages = count_dirty(vm, dirty);
		remaining = dirty_pages * GM_PAGE_SIZE;
		bw = now > t_pass ? (uint64_t)((double)c->w.bytes * 1e9 / (double)(now - t_pass))
				  : 0;
		dirty_bps = now > t_last_take
				? (uint64_t)((double)remaining * 1e9 / (double)(now - t_last_take))
				: 0;
		t_last_take = now;
		update_stats(m, pass, c->w.bytes, remaining, dirty_bps, bw);
		log_info("migration: pass %u: %llu MiB sent, %llu KiB dirty, %llu MB/s, dirty "
			 "%llu MB/s",
			 pass, (unsigned long long)(c->w.bytes >> 20),
			 (unsigned long long)(remaining >> 10), (unsigned long long)(bw / 1000000),
			 (unsigned long long)(dirty_bps / 1000000));
		if ((bw && (double)remaining * 1e9 / (double)bw <= (double)max_down_ns) ||
		    pass >= MIG_MAX_PASSES)
			break;
		if (pass >= MIG_THROTTLE_AFTER) {
			unsigned t = atomic_load(&vm->throttle_percent) + MIG_THROTTLE_STEP;

			if (t > 99)
				t = 99;
			atomic_store(&vm->throttle_percent, t);
			fprintf(stderr,
				"hearth: migration: not converging after %u passes: the vCPUs are "
				"throttled (they sleep %u%% of the time)\n",
				pass, t);
		}
		pass++;
		sent_pages = 0;
		if (getenv("HEARTH_TEST_MIGRATION_SLOW"))
			usleep(20000); /* test hook: room for faults during the iterative phase */
		r = send_pages(c, dirty, &sent_pages);
		free_dirty(dirty);
	}

	/* Stop and copy: pause, capture, the last pages, the state. */
	set_state(m, MIG_STATE_STOP_COPY);
	r = run_call(m, MIG_CALL_STOP, err, errlen);
	if (r)
		goto out;
	m->t_captured = now_ns();
	m->last_bytes = c->w.bytes;
	/* What the last pass found dirty, and what was written since. */
	r = snap_take_dirty(vm, last, err, errlen);
	if (r)
		goto out;
	for (unsigned i = 0; i < vm->mem.nr; i++)
		for (size_t k = 0; k < (vm->mem.regions[i].size / GM_PAGE_SIZE + 63) / 64; k++)
			dirty[i][k] |= last[i][k];
	sent_pages = 0;
	r = send_pages(c, dirty, &sent_pages);
	r = r ?: mig_write_rec(&c->w, MIG_REC_STATE, m->state, m->state_len, NULL, 0);
	if (r) {
		snprintf(err, errlen, "sending the last pages and the state: %s",
			 mig_write_error(&c->w, r));
		goto out;
	}
	update_stats(m, pass, c->w.bytes, 0, 0, 0);
	m->t_sent = now_ns();
	m->last_bytes = c->w.bytes - m->last_bytes;
	/*
	 * While the destination loads the state, the disks' writes reach
	 * stable storage; the commit's flush then has next to nothing left.
	 */
	r = run_call(m, MIG_CALL_SYNC, err, errlen);
	if (r)
		goto out;
	m->t_synced = now_ns();
	c->r.timeout_ms = MIG_READY_TIMEOUT;
	r = mig_expect(&c->r, MIG_REC_READY, NULL, 0, NULL, err, errlen);
	if (r)
		goto out;
	m->t_ready = now_ns();
	set_state(m, MIG_STATE_READY);
	if (getenv("HEARTH_TEST_MIGRATION_HOLD_READY")) {
		/* Test hook: hold the commit until the destination goes away (or cancel). */
		struct mig_rec_hdr h;

		c->r.timeout_ms = -1;
		r = mig_read_hdr(&c->r, &h, err, errlen);
		snprintf(err, errlen, "the destination went away before the commit");
		r = -EPIPE;
		goto out;
	}
	/* The commit: the disks are released, and then the guest is the destination's. */
	r = run_call(m, MIG_CALL_COMMIT, err, errlen);
	if (r)
		goto out;
	m->t_flushed = now_ns();
	commit.paused_ns = m->t_flushed - m->paused_at;
	commit.flags = m->was_paused ? MIG_COMMIT_PAUSED : 0;
	commit.reserved = 0;
	r = mig_write_rec(&c->w, MIG_REC_COMMIT, &commit, sizeof(commit), NULL, 0);
	if (r) {
		snprintf(err, errlen, "sending the commit: %s", mig_write_error(&c->w, r));
		goto out;
	}
	/* Committed: from here the guest never runs here again. */
	c->r.cancel_fd = -1;
	r = mig_expect(&c->r, MIG_REC_DONE, &done, sizeof(done), NULL, err, errlen);
	pthread_mutex_lock(&m->lock);
	if (!r) {
		/*
		 * The guest's pause: stopped here until the commit left, the
		 * commit's way over (half the round trip the destination did not
		 * spend itself), then the destination's resume.
		 */
		uint64_t rtt = now_ns() - m->t_flushed;

		rtt = rtt > done.held_ns ? rtt - done.held_ns : 0;
		m->transit_ns = rtt / 2;
		m->dest_ns = done.resume_ns;
		m->downtime_ns = commit.paused_ns + m->transit_ns + done.resume_ns;
		m->st.downtime_ms = (m->downtime_ns + 999999) / 1000000;
	}
	pthread_mutex_unlock(&m->lock);
	if (r)
		log_error("migration: no word from the destination after the commit: %s", err);
	r = 0;
out:
	free_dirty(dirty);
	free_dirty(last);
	(void)total;
	return r;
}

/* Where the downtime went, from the vCPUs' stop here to their resume there. */
static void print_downtime(const struct migration *m)
{
	if (!m->downtime_ns || !m->paused_at)
		return;
	fprintf(stderr,
		"hearth: migration: downtime %.1f ms: vCPUs and disks stopped %.1f ms, state "
		"captured %.1f ms, last %llu KiB and the state sent %.1f ms, destination ready "
		"%.1f ms (disks synced meanwhile in %.1f ms), disks flushed %.1f ms, commit on its "
		"way %.1f ms, destination resumed %.1f ms\n",
		(double)m->downtime_ns / 1e6, (double)(m->t_stopped - m->paused_at) / 1e6,
		(double)(m->t_captured - m->t_stopped) / 1e6,
		(unsigned long long)(m->last_bytes >> 10),
		(double)(m->t_sent - m->t_captured) / 1e6, (double)(m->t_ready - m->t_sent) / 1e6,
		(double)(m->t_synced - m->t_sent) / 1e6, (double)(m->t_flushed - m->t_ready) / 1e6,
		(double)m->transit_ns / 1e6, (double)m->dest_ns / 1e6);
}

static void run_job(struct migration *m)
{
	struct vm *vm = m->vm;
	struct mig_run_ctx c = {.m = m};
	struct mig_tls *tls = NULL;
	char err[MIG_MAX_REASON] = "";
	uint64_t t0 = now_ns();
	int fd, r;

	fd = tcp_connect(m->params.destination, m->cancel_fd, err, sizeof(err));
	r = fd < 0 ? fd : 0;
	if (!r && m->tls)
		r = mig_tls_handshake(m->tls, fd, m->cancel_fd, 30000, &tls, err, sizeof(err));
	if (!r) {
		c.w = (struct mig_writer){.fd = fd,
					  .cancel_fd = m->cancel_fd,
					  .max_bps = m->params.max_bandwidth_mbps * 1000000 / 8};
		c.r = (struct mig_reader){.fd = fd, .cancel_fd = m->cancel_fd, .timeout_ms = 30000};
		c.w.tls = c.r.tls = tls;
		r = migrate(m, &c, err, sizeof(err));
	}
	pthread_mutex_lock(&m->lock);
	m->st.total_time_ms = (now_ns() - t0) / 1000000;
	m->st.bytes_sent = c.w.bytes;
	if (!r) {
		m->st.state = MIG_STATE_COMPLETED;
		m->lingering = true;
	} else {
		m->st.state = m->cancelled ? MIG_STATE_CANCELLED : MIG_STATE_FAILED;
		snprintf(m->st.error, sizeof(m->st.error), "%s",
			 m->cancelled ? "cancelled by the user" : err);
	}
	pthread_mutex_unlock(&m->lock);
	mig_tls_close(tls);
	if (fd >= 0)
		close(fd);
	if (r) {
		char aerr[256];

		fprintf(stderr, "hearth: migration %s: %s\n", m->cancelled ? "cancelled" : "failed",
			m->st.error);
		run_call(m, MIG_CALL_ABORT, aerr, sizeof(aerr));
		return;
	}
	fprintf(stderr, "hearth: migration: completed (%llu bytes in %llu ms, downtime %llu ms)\n",
		(unsigned long long)m->st.bytes_sent, (unsigned long long)m->st.total_time_ms,
		(unsigned long long)m->st.downtime_ms);
	print_downtime(m);
	/* Linger until a client has read "completed", or 2 s, then exit 0. */
	{
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 2;
		pthread_mutex_lock(&m->lock);
		while (!m->completed_read && !m->quit &&
		       pthread_cond_timedwait(&m->cond, &m->lock, &until) == 0)
			;
		pthread_mutex_unlock(&m->lock);
	}
	vm_request_stop(vm, VM_EXIT_OK, "migrated to another host");
}

static void *mig_thread(void *arg)
{
	struct migration *m = arg;
	int r = sandbox_seccomp_apply(SANDBOX_THREAD_MIGRATION, "migration");

	if (r) {
		log_error("migration: cannot install the thread's seccomp filter: %s",
			  strerror(-r));
		return NULL;
	}
	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (!m->job && !m->quit)
			pthread_cond_wait(&m->cond, &m->lock);
		if (m->quit)
			break;
		pthread_mutex_unlock(&m->lock);
		run_job(m);
		pthread_mutex_lock(&m->lock);
		m->job = false;
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- the interface ---------------------------------------------------------------------- */

struct migration *migration_create(struct vm *vm, char *err, size_t errlen)
{
	struct migration *m = calloc(1, sizeof(*m));
	sigset_t all, old;
	int r;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->vm = vm;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	m->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->test_input_fd = -1;
	if (getenv("HEARTH_TEST_MIGRATION_INPUT")) {
		m->test_input_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->test_input_fd < 0 ||
		    event_loop_add(&vm->loop, m->test_input_fd, EPOLLIN, on_test_input, m)) {
			snprintf(err, errlen, "migration: cannot set up its test input");
			goto fail;
		}
	}
	if (m->cancel_fd < 0 || m->call_fd < 0 ||
	    event_loop_add(&vm->loop, m->call_fd, EPOLLIN, on_call, m) ||
	    event_loop_set_control(&vm->loop, m->call_fd)) {
		snprintf(err, errlen, "migration: cannot set up its event: %s", strerror(errno));
		goto fail;
	}
	/* The thread takes no signals: they belong to the event loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&m->thread, NULL, mig_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		event_loop_remove(&vm->loop, m->call_fd);
		snprintf(err, errlen, "migration: cannot start its thread: %s", strerror(r));
		goto fail;
	}
	pthread_setname_np(m->thread, "migration");
	m->thread_started = true;
	return m;
fail:
	if (m->test_input_fd >= 0) {
		event_loop_remove(&vm->loop, m->test_input_fd);
		close(m->test_input_fd);
	}
	if (m->pagemap_fd >= 0)
		close(m->pagemap_fd);
	if (m->cancel_fd >= 0)
		close(m->cancel_fd);
	if (m->call_fd >= 0)
		close(m->call_fd);
	free(m);
	return NULL;
}

int migration_start(struct migration *m, const struct migration_params *p, char *err, size_t errlen)
{
	char host[256], port[16];
	struct mig_tls_creds *tls;
	uint64_t cnt;
	int r;

	if (mig_parse_tcp(p->destination, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "destination must be tcp:HOST:PORT");
		return -EINVAL;
	}
	/* The files are read here: the migration thread's filter opens nothing. */
	r = mig_tls_load(&p->tls, false, &tls, err, errlen);
	if (r)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (m->job || m->st.state == MIG_STATE_COMPLETED) {
		pthread_mutex_unlock(&m->lock);
		mig_tls_creds_free(tls);
		snprintf(err, errlen, "a migration is already in progress");
		return -EBUSY;
	}
	mig_tls_creds_free(m->tls); /* the previous attempt's */
	m->tls = tls;
	if (read(m->cancel_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn("migration: cancel eventfd: %s", strerror(errno));
	m->params = *p;
	memset(&m->st, 0, sizeof(m->st));
	m->st.state = MIG_STATE_SETUP;
	m->st.total_bytes = gm_total_size(&m->vm->mem);
	m->cancelled = false;
	m->job = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int migration_cancel(struct migration *m)
{
	uint64_t one = 1;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	if (!m->job || m->st.state == MIG_STATE_COMPLETED || m->st.state == MIG_STATE_FAILED ||
	    m->st.state == MIG_STATE_CANCELLED) {
		r = -ENOENT;
	} else {
		m->cancelled = true;
		if (write(m->cancel_fd, &one, sizeof(one)) < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

void migration_get_status(struct migration *m, struct migration_status *st)
{
	pthread_mutex_lock(&m->lock);
	*st = m->st;
	if (st->state == MIG_STATE_PRECOPY || st->state == MIG_STATE_STOP_COPY)
		st->throttle_percent = atomic_load(&m->vm->throttle_percent);
	if (st->state == MIG_STATE_COMPLETED && m->lingering) {
		m->completed_read = true;
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
}

bool migration_holds_vm(struct migration *m)
{
	bool held;

	if (!m)
		return false;
	pthread_mutex_lock(&m->lock);
	held = m->held;
	pthread_mutex_unlock(&m->lock);
	return held;
}

void migration_destroy(struct migration *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->quit = true;
	m->cancelled = true;
	if (write(m->cancel_fd, &one, sizeof(one)) < 0)
		log_warn("migration: cancel eventfd: %s", strerror(errno));
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	event_loop_remove(&m->vm->loop, m->call_fd);
	close(m->call_fd);
	if (m->test_input_fd >= 0) {
		event_loop_remove(&m->vm->loop, m->test_input_fd);
		close(m->test_input_fd);
	}
	close(m->cancel_fd);
	if (m->pagemap_fd >= 0)
		close(m->pagemap_fd);
	free(m->state);
	mig_tls_creds_free(m->tls);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
