/* SPDX-License-Identifier: MIT */
/*
 * Raw disk images: opening, locking and probing an image, checking and
 * running requests (the part both engines share). See block.h.
 */
#include "backends/block.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backends/block_priv.h"
#include "core/log.h"
#include "core/util.h"

enum wz_method { WZ_ZERO_RANGE, WZ_PUNCH, WZ_WRITE };

/* The order WRITE_ZEROES tries its methods in, without and with MAY_UNMAP. */
static const enum wz_method wz_order[2][3] = {
    {WZ_ZERO_RANGE, WZ_PUNCH, WZ_WRITE},
    {WZ_PUNCH, WZ_ZERO_RANGE, WZ_WRITE},
};

static bool flag_get(const bool *flag)
{
	return __atomic_load_n(flag, __ATOMIC_RELAXED);
}

static void flag_set(bool *flag)
{
	__atomic_store_n(flag, true, __ATOMIC_RELAXED);
}

static bool errno_unsupported(int64_t res)
{
	return res == -EOPNOTSUPP || res == -ENOSYS;
}

/* ---- request primitives (any thread) ---- */

static bool wz_method_usable(struct block_dev *dev, enum wz_method m)
{
	switch (m) {
	case WZ_ZERO_RANGE:
		return !flag_get(&dev->no_zero_range);
	case WZ_PUNCH:
		return !flag_get(&dev->no_punch);
	case WZ_WRITE:
		return true;
	}
	return true;
}

static enum wz_method wz_current(struct block_dev *dev, struct block_req *req)
{
	const enum wz_method *order = wz_order[!!(req->flags & BLOCK_REQ_MAY_UNMAP)];

	while (req->priv.stage < 2 && !wz_method_usable(dev, order[req->priv.stage]))
		req->priv.stage++;
	return order[req->priv.stage];
}

/*
 * Copy len bytes between buf and the iovecs, starting off bytes into the
 * iovecs: into them when to_iov, else out of them.
 */
static void iov_copy_at(const struct iovec *iov, unsigned int cnt, uint64_t off, void *buf,
			size_t len, bool to_iov)
{
	uint8_t *b = buf;

	for (unsigned int i = 0; i < cnt && len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = MIN(iov[i].iov_len - off, len);
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, b, n);
		else
			memcpy(b, (const uint8_t *)iov[i].iov_base + off, n);
		b += n;
		len -= n;
		off = 0;
	}
}

void block_prim_next(struct block_dev *dev, struct block_req *req, struct block_prim *p)
{
	memset(p, 0, sizeof(*p));
	p->offset = req->offset + req->priv.done;
	switch (req->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		p->kind = req->op == BLOCK_OP_READ ? BLOCK_PRIM_READV : BLOCK_PRIM_WRITEV;
		if (req->priv.bounce) {
			/* The next window of the transfer, through the aligned buffer. */
			req->priv.one.iov_base = req->priv.bounce;
			req->priv.one.iov_len = MIN(req->len - req->priv.done, BLOCK_BOUNCE_MAX);
			if (req->op == BLOCK_OP_WRITE)
				iov_copy_at(req->iov, req->iovcnt, req->priv.done, req->priv.bounce,
					    req->priv.one.iov_len, false);
			p->iov = &req->priv.one;
			p->iovcnt = 1;
			break;
		}
		p->iov = req->priv.cur_iov;
		p->iovcnt = req->priv.cur_cnt;
		break;
	case BLOCK_OP_FLUSH:
		p->kind = BLOCK_PRIM_FDATASYNC;
		break;
	case BLOCK_OP_DISCARD:
		p->kind = BLOCK_PRIM_FALLOCATE;
		p->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		p->len = req->len;
		break;
	case BLOCK_OP_WRITE_ZEROES:
		switch (wz_current(dev, req)) {
		case WZ_ZERO_RANGE:
			p->kind = BLOCK_PRIM_FALLOCATE;
			p->mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
			p->len = req->len;
			break;
		case WZ_PUNCH:
			p->kind = BLOCK_PRIM_FALLOCATE;
			p->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
			p->len = req->len;
			break;
		case WZ_WRITE:
			p->kind = BLOCK_PRIM_WRITEV;
			req->priv.one.iov_base = dev->zero_buf;
			req->priv.one.iov_len = MIN(req->len - req->priv.done, BLOCK_ZERO_BUF);
			p->iov = &req->priv.one;
			p->iovcnt = 1;
			break;
		}
		break;
	}
}

static bool finish_with(struct block_req *req, int result)
{
	req->priv.result = result;
	return true;
}

/* Drop the first n transferred bytes from the request's remaining iovecs. */
static int iov_advance(struct block_req *req, uint64_t n)
{
	struct iovec *v;
	unsigned int i;

	if (req->priv.cur_iov != &req->priv.one && req->priv.cur_iov != req->priv.iov_copy) {
		req->priv.iov_copy = malloc(req->priv.cur_cnt * sizeof(struct iovec));
		if (!req->priv.iov_copy)
			return -ENOMEM;
		memcpy(req->priv.iov_copy, req->priv.cur_iov,
		       req->priv.cur_cnt * sizeof(struct iovec));
		req->priv.cur_iov = req->priv.iov_copy;
	}
	/* cur_iov now points at memory this request owns. */
	v = req->priv.cur_iov == &req->priv.one ? &req->priv.one : req->priv.iov_copy;
	for (i = 0; i < req->priv.cur_cnt && n >= v[i].iov_len; i++)
		n -= v[i].iov_len;
	if (i < req->priv.cur_cnt) {
		v[i].iov_base = (uint8_t *)v[i].iov_base + n;
		v[i].iov_len -= n;
	}
	req->priv.cur_iov = v + i;
	req->priv.cur_cnt -= i;
	if (v != &req->priv.one && i) {
		/* Keep iov_copy at the start of the live entries for later advances. */
		memmove(req->priv.iov_copy, v + i, req->priv.cur_cnt * sizeof(struct iovec));
		req->priv.cur_iov = req->priv.iov_copy;
	}
	return 0;
}

static bool transfer_done(struct block_req *req, int64_t res, uint64_t total, int ok_result)
{
	int err;

	if (res == -EINTR || res == -EAGAIN)
		return false; /* the same primitive again */
	if (res < 0)
		return finish_with(req, (int)res);
	if (res == 0)
		return finish_with(req, -EIO); /* the image shrank under us */
	if (req->priv.bounce && req->op == BLOCK_OP_READ)
		iov_copy_at(req->iov, req->iovcnt, req->priv.done, req->priv.bounce, (size_t)res,
			    true);
	req->priv.done += (uint64_t)res;
	if (req->priv.done >= total)
		return finish_with(req, ok_result);
	if (req->op == BLOCK_OP_WRITE_ZEROES || req->priv.bounce)
		return false; /* block_prim_next() points at the rest */
	err = iov_advance(req, (uint64_t)res);
	if (err)
		return finish_with(req, err);
	return false;
}

bool block_prim_done(struct block_dev *dev, struct block_req *req, int64_t res)
{
	enum wz_method m;

	switch (req->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		return transfer_done(req, res, req->len, (int)req->len);
	case BLOCK_OP_FLUSH:
		if (res == -EINTR)
			return false;
		req->priv.synced = true;
		return finish_with(req, res < 0 ? (int)res : 0);
	case BLOCK_OP_DISCARD:
		if (errno_unsupported(res)) {
			/* A discard is a hint: doing nothing is a correct answer. */
			flag_set(&dev->no_punch);
			return finish_with(req, 0);
		}
		if (res == -EINTR)
			return false;
		return finish_with(req, res < 0 ? (int)res : 0);
	case BLOCK_OP_WRITE_ZEROES:
		/* block_prim_next() left stage at the method it used. */
		m = wz_order[!!(req->flags & BLOCK_REQ_MAY_UNMAP)][req->priv.stage];
		if (m == WZ_WRITE)
			return transfer_done(req, res, req->len, 0);
		if (errno_unsupported(res)) {
			flag_set(m == WZ_ZERO_RANGE ? &dev->no_zero_range : &dev->no_punch);
			req->priv.stage++;
			return false;
		}
		if (res == -EINTR)
			return false;
		return finish_with(req, res < 0 ? (int)res : 0);
	}
	return finish_with(req, -EINVAL);
}

int64_t block_prim_exec(const struct block_dev *dev, const struct block_prim *p)
{
	ssize_t n;

	switch (p->kind) {
	case BLOCK_PRIM_READV:
		n = preadv(dev->fd, p->iov, (int)p->iovcnt, (off_t)p->offset);
		return n < 0 ? -errno : n;
	case BLOCK_PRIM_WRITEV:
		n = pwritev(dev->fd, p->iov, (int)p->iovcnt, (off_t)p->offset);
		return n < 0 ? -errno : n;
	case BLOCK_PRIM_FDATASYNC:
		return fdatasync(dev->fd) < 0 ? -errno : 0;
	case BLOCK_PRIM_FALLOCATE:
		return fallocate(dev->fd, p->mode, (off_t)p->offset, (off_t)p->len) < 0 ? -errno
											: 0;
	}
	return -EINVAL;
}

/* ---- completion delivery (event-loop thread) ---- */

void block_signal(struct block_dev *dev)
{
	uint64_t one = 1;

	/* Only EAGAIN (counter saturated, so already readable) can fail here. */
	if (write(dev->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("block %s: completion eventfd: %s", dev->path, strerror(errno));
}

void block_finish(struct block_dev *dev, struct block_req *req)
{
	struct block_stats *st = &dev->stats;
	int result = req->priv.result;

	free(req->priv.bounce);
	req->priv.bounce = NULL;
	free(req->priv.iov_copy);
	req->priv.iov_copy = NULL;

	switch (req->op) {
	case BLOCK_OP_READ:
		st->reads++;
		if (result > 0)
			st->bytes_read += (uint64_t)result;
		break;
	case BLOCK_OP_WRITE:
		st->writes++;
		if (result > 0)
			st->bytes_written += (uint64_t)result;
		break;
	case BLOCK_OP_FLUSH:
		st->flushes++;
		break;
	case BLOCK_OP_DISCARD:
		st->discards++;
		break;
	case BLOCK_OP_WRITE_ZEROES:
		st->write_zeroes++;
		break;
	}
	if (req->priv.synced)
		st->syncs++;
	if (result < 0)
		st->errors++;
	dev->inflight--;
	req->done(req, result);
}

/* Finish a request that needs no I/O; delivered by block_process_completions(). */
static void complete_later(struct block_dev *dev, struct block_req *req, int result)
{
	req->priv.result = result;
	req->priv.next = NULL;
	*dev->imm_tail = req;
	dev->imm_tail = &req->priv.next;
	block_signal(dev);
}

int block_completion_fd(const struct block_dev *dev)
{
	return dev->efd;
}

void block_process_completions(struct block_dev *dev)
{
	struct block_req *list, *req;
	uint64_t count;

	/* Clear the eventfd first: anything finishing later signals again. */
	if (read(dev->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_error("block %s: completion eventfd: %s", dev->path, strerror(errno));
	dev->ops->process(dev);

	/* Only those queued so far: a callback's new ones come next round. */
	list = dev->imm_head;
	dev->imm_head = NULL;
	dev->imm_tail = &dev->imm_head;
	while ((req = list)) {
		list = req->priv.next;
		block_finish(dev, req);
	}
}

void block_batch_begin(struct block_dev *dev)
{
	dev->batch_depth++;
}

void block_batch_end(struct block_dev *dev)
{
	if (NEVER(dev->batch_depth == 0))
		return;
	if (--dev->batch_depth == 0)
		dev->ops->kick(dev);
}

/* ---- submission ---- */

static bool op_writes(enum block_op op)
{
	return op == BLOCK_OP_WRITE || op == BLOCK_OP_DISCARD || op == BLOCK_OP_WRITE_ZEROES;
}

static bool op_known(enum block_op op)
{
	switch (op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
	case BLOCK_OP_FLUSH:
	case BLOCK_OP_DISCARD:
	case BLOCK_OP_WRITE_ZEROES:
		return true;
	}
	return false;
}

/* Does O_DIRECT take these buffers as they are? */
static bool iov_aligned(const struct iovec *iov, unsigned int cnt, uint32_t align)
{
	for (unsigned int i = 0; i < cnt; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (align - 1))
			return false;
	return true;
}

static int check_request(const struct block_dev *dev, const struct block_req *req)
{
	uint64_t sum = 0;

	if (!req->done || !op_known(req->op))
		return -EINVAL;
	if (req->flags & ~BLOCK_REQ_MAY_UNMAP)
		return -EINVAL;
	if ((req->flags & BLOCK_REQ_MAY_UNMAP) && req->op != BLOCK_OP_WRITE_ZEROES)
		return -EINVAL;
	if (dev->info.readonly && op_writes(req->op))
		return -EROFS;
	if (req->op == BLOCK_OP_FLUSH)
		return 0;
	if (req->len > BLOCK_MAX_LEN || req->offset > dev->info.size ||
	    req->len > dev->info.size - req->offset)
		return -EINVAL;
	if (req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE) {
		if (req->iovcnt > BLOCK_MAX_IOV || (req->iovcnt && !req->iov))
			return -EINVAL;
		for (unsigned int i = 0; i < req->iovcnt; i++) {
			if (req->iov[i].iov_len > BLOCK_MAX_LEN)
				return -EINVAL;
			sum += req->iov[i].iov_len;
			if (sum > req->len)
				return -EINVAL;
		}
		if (sum != req->len)
			return -EINVAL;
	}
	if (dev->direct && req->op != BLOCK_OP_DISCARD &&
	    ((req->offset | req->len) & (dev->info.logical_block_size - 1)))
		return -EINVAL;
	return 0;
}

int block_submit(struct block_dev *dev, struct block_req *req)
{
	int err = check_request(dev, req);

	if (err)
		return err;
	memset(&req->priv, 0, sizeof(req->priv));
	req->priv.cur_iov = req->iov;
	req->priv.cur_cnt = req->iovcnt;
	dev->inflight++;

	if (req->op == BLOCK_OP_FLUSH && (dev->unsafe || dev->info.readonly)) {
		/* cache=unsafe: nothing is synced, ever. Read-only: nothing to sync. */
		complete_later(dev, req, 0);
		return 0;
	}
	if (req->op != BLOCK_OP_FLUSH && req->len == 0) {
		complete_later(dev, req, 0);
		return 0;
	}
	if (req->op == BLOCK_OP_DISCARD && flag_get(&dev->no_punch)) {
		complete_later(dev, req, 0); /* a hint this file system cannot take */
		return 0;
	}
	if (dev->direct && (req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE) &&
	    !iov_aligned(req->iov, req->iovcnt, dev->mem_align)) {
		/* A window of at most BLOCK_BOUNCE_MAX, whatever the request's size. */
		if (posix_memalign(&req->priv.bounce, MAX(dev->mem_align, sizeof(void *)),
				   MIN(req->len, BLOCK_BOUNCE_MAX))) {
			req->priv.bounce = NULL;
			dev->inflight--;
			return -ENOMEM;
		}
		dev->stats.bounced++;
	}
	dev->ops->submit(dev, req);
	return 0;
}

/* ---- opening ---- */

const struct block_info *block_get_info(const struct block_dev *dev)
{
	return &dev->info;
}

void block_get_stats(const struct block_dev *dev, struct block_stats *out)
{
	*out = dev->stats;
}

/*
 * Read a small /proc or /sys file (their st_size is 0) into buf, NUL
 * terminated. Returns the length, or -1.
 */
static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	do {
		n = read(fd, buf, size - 1);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* The name of a process: its argv[0] without the directory, else comm. */
static void process_name(pid_t pid, char *name, size_t len)
{
	char path[64], buf[256];
	const char *base = buf;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (read_small_file(path, buf, sizeof(buf)) > 0 && buf[0]) {
		/* argv[0] ends at the first NUL. */
		if (strrchr(buf, '/'))
			base = strrchr(buf, '/') + 1;
	} else {
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		if (read_small_file(path, buf, sizeof(buf)) <= 0)
			snprintf(buf, sizeof(buf), "?");
		buf[strcspn(buf, "\n")] = '\0';
	}
	n = MIN(strlen(base), len - 1);
	memcpy(name, base, n);
	name[n] = '\0';
}

/* A lock line ("1: OFDLCK ADVISORY WRITE -1 08:01:1234 0 EOF") about this inode? */
static bool lock_line_matches(const char *line, const struct stat *st, bool want_write, long *pid)
{
	char kind[16], adv[16], rw[16];
	unsigned int maj, min;
	unsigned long long ino;
	const char *p = strchr(line, ':');

	if (!p || strstr(line, "->"))
		return false; /* not a lock line, or a blocked waiter */
	if (sscanf(p + 1, "%15s %15s %15s %ld %x:%x:%llu", kind, adv, rw, pid, &maj, &min, &ino) !=
	    7)
		return false;
	if (maj != major(st->st_dev) || min != minor(st->st_dev) || ino != st->st_ino)
		return false;
	/* A read lock blocks only a writer. */
	return want_write || strcmp(rw, "WRITE") == 0;
}

/* The holder of a POSIX or flock lock, as /proc/locks tells it. */
static pid_t holder_from_proc_locks(const struct stat *st, bool want_write)
{
	char line[256];
	FILE *f = fopen("/proc/locks", "re");
	pid_t found = 0;
	long pid;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (lock_line_matches(line, st, want_write, &pid) && pid > 0)
			found = (pid_t)pid;
	fclose(f);
	return found;
}

/* Does this fd's fdinfo list a conflicting lock on the image? */
static bool fdinfo_holds_lock(const char *fdinfo, const struct stat *st, bool want_write)
{
	char line[256];
	FILE *f = fopen(fdinfo, "re");
	bool found = false;
	long pid;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, "lock:", 5) == 0 &&
		    lock_line_matches(line + 5, st, want_write, &pid))
			found = true;
	fclose(f);
	return found;
}

/*
 * OFD locks belong to open files, not processes (/proc/locks shows pid
 * -1): find a process with the image open whose fdinfo lists the lock.
 */
static pid_t holder_from_fdinfo(const struct stat *st, bool want_write, int own_fd)
{
	DIR *proc = opendir("/proc"), *fds;
	struct dirent *p, *d;
	pid_t found = 0, self = getpid();
	char path[600]; /* two d_name of up to 255 bytes */
	struct stat fst;

	if (!proc)
		return 0;
	while (!found && (p = readdir(proc))) {
		if (!isdigit((unsigned char)p->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fds = opendir(path);
		if (!fds)
			continue; /* another user's process */
		while (!found && (d = readdir(fds))) {
			if (!isdigit((unsigned char)d->d_name[0]))
				continue;
			if (atoi(p->d_name) == self && atoi(d->d_name) == own_fd)
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", p->d_name, d->d_name);
			if (stat(path, &fst) || fst.st_dev != st->st_dev ||
			    fst.st_ino != st->st_ino)
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", p->d_name, d->d_name);
			if (fdinfo_holds_lock(path, st, want_write))
				found = (pid_t)atoi(p->d_name);
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

static int lock_image(struct block_dev *dev, const struct stat *st, char *err, size_t errlen)
{
	struct flock fl = {
	    .l_type = dev->info.readonly ? F_RDLCK : F_WRLCK,
	    .l_whence = SEEK_SET,
	    .l_start = 0,
	    .l_len = 0,
	};
	bool want_write = !dev->info.readonly;
	uint64_t give_up = now_ns() + 1000000000ull;
	char name[64];
	pid_t pid;

	for (;;) {
		if (fcntl(dev->fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES) {
			/* File systems without OFD locks: go on, unprotected. */
			log_warn("disk image %s: cannot lock it (%s); nothing stops another VM "
				 "using it",
				 dev->path, strerror(errno));
			return 0;
		}
		pid = holder_from_proc_locks(st, want_write);
		if (!pid)
			pid = holder_from_fdinfo(st, want_write, dev->fd);
		/*
		 * A lock no process holds is going away: a VMM killed just now
		 * lets go of its disk only once the kernel has torn down its
		 * io_uring, some milliseconds after the process is gone.
		 */
		if (pid || now_ns() >= give_up)
			break;
		usleep(10000);
	}
	if (pid) {
		process_name(pid, name, sizeof(name));
		snprintf(err, errlen, "disk image %s is in use by process %d (%s)", dev->path,
			 (int)pid, name);
	} else {
		snprintf(err, errlen, "disk image %s is in use by another process", dev->path);
	}
	return -EBUSY;
}

static void unlock_image(struct block_dev *dev)
{
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};

	fcntl(dev->fd, F_OFD_SETLK, &fl);
}

/* O_DIRECT alignment: statx when the kernel tells it, else probe reads. */
static void direct_alignment(struct block_dev *dev, const struct stat *st)
{
	struct statx stx;
	uint32_t lbs = 0, mem = 0;
	int sector;
	void *buf;

	if (statx(dev->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		lbs = stx.stx_dio_offset_align;
		mem = stx.stx_dio_mem_align;
	} else if (S_ISBLK(st->st_mode) && ioctl(dev->fd, BLKSSZGET, &sector) == 0) {
		lbs = (uint32_t)sector;
	} else if (posix_memalign(&buf, 4096, 4096) == 0) {
		/* The smallest read O_DIRECT accepts is the alignment. */
		lbs = 4096;
		if (pread(dev->fd, buf, 512, 0) >= 0)
			lbs = 512;
		free(buf);
	}
	if (lbs < 512 || (lbs & (lbs - 1)))
		lbs = 4096;
	if (!mem || (mem & (mem - 1)) || mem > lbs)
		mem = lbs;
	dev->info.logical_block_size = lbs;
	dev->mem_align = mem;
}

static bool sysfs_queue_nonzero(const struct stat *st, const char *attr)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/%s", major(st->st_rdev),
		 minor(st->st_rdev), attr);
	return read_small_file(path, buf, sizeof(buf)) > 0 && strtoull(buf, NULL, 10) > 0;
}

/*
 * What the image can do without writing data. Regular files are asked
 * with fallocate() just past the end, where it changes nothing the guest
 * sees (ZERO_RANGE is tried only if PUNCH_HOLE is missing: it may
 * preallocate a block past the end).
 */
static void probe_capabilities(struct block_dev *dev, const struct stat *st)
{
	off_t end = (off_t)dev->info.size;

	if (dev->info.readonly)
		return;
	if (S_ISBLK(st->st_mode)) {
		dev->info.discard = sysfs_queue_nonzero(st, "discard_max_bytes");
		dev->info.write_zeroes =
		    sysfs_queue_nonzero(st, "write_zeroes_max_bytes") || dev->info.discard;
		return;
	}
	if (fallocate(dev->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, end, 4096) == 0) {
		dev->info.discard = true;
		dev->info.write_zeroes = true;
		return;
	}
	dev->no_punch = errno_unsupported(-errno);
	if (fallocate(dev->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, end, 4096) == 0)
		dev->info.write_zeroes = true;
	else
		dev->no_zero_range = errno_unsupported(-errno);
}

/* kernel.io_uring_disabled = 2: io_uring is off for everyone. */
static bool io_uring_sysctl_disabled(void)
{
	char buf[16];

	return read_small_file("/proc/sys/kernel/io_uring_disabled", buf, sizeof(buf)) > 0 &&
	       buf[0] == '2';
}

static int start_engine(struct block_dev *dev, enum block_engine want, char *err, size_t errlen)
{
	char why[256] = "";
	int ret;

	if (want != BLOCK_ENGINE_THREADS) {
		if (io_uring_sysctl_disabled()) {
			snprintf(why, sizeof(why), "disabled by kernel.io_uring_disabled");
		} else {
			dev->ops = &block_uring_ops;
			ret = dev->ops->start(dev, why, sizeof(why));
			if (ret == 0) {
				dev->info.engine = BLOCK_ENGINE_IO_URING;
				return 0;
			}
		}
		if (want == BLOCK_ENGINE_IO_URING) {
			snprintf(err, errlen, "disk image %s: io_uring is not available: %s",
				 dev->path, why);
			dev->ops = NULL;
			return -ENOSYS;
		}
		log_info("disk image %s: io_uring is not available (%s); using I/O threads",
			 dev->path, why);
	}
	dev->ops = &block_threads_ops;
	ret = dev->ops->start(dev, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "disk image %s: cannot start I/O threads: %s", dev->path,
			 why);
		dev->ops = NULL;
		return ret;
	}
	dev->info.engine = BLOCK_ENGINE_THREADS;
	return 0;
}

static int open_image(struct block_dev *dev, const struct block_config *cfg, char *err,
		      size_t errlen)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK;
	int fd;

	/* O_NONBLOCK: opening a FIFO must not hang; cleared below. */
	if (cfg->cache == BLOCK_CACHE_NONE)
		flags |= O_DIRECT;
	fd = open(cfg->path, flags);
	if (fd >= 0) {
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
			snprintf(err, errlen, "disk image %s: %s", cfg->path, strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	}
	switch (errno) {
	case EISDIR:
		snprintf(err, errlen, "disk image %s is a directory", cfg->path);
		break;
	case EINVAL:
		if (flags & O_DIRECT) {
			snprintf(err, errlen,
				 "disk image %s: the filesystem does not support O_DIRECT "
				 "(cache=none); use cache=writeback",
				 cfg->path);
			break;
		}
		snprintf(err, errlen, "disk image %s: %s", cfg->path, strerror(errno));
		break;
	case EROFS:
	case EACCES:
	case EPERM:
		if (!cfg->readonly && access(cfg->path, R_OK) == 0) {
			snprintf(err, errlen,
				 "disk image %s cannot be opened for writing: %s "
				 "(add readonly to use it read-only)",
				 cfg->path, strerror(errno));
			break;
		}
		snprintf(err, errlen, "disk image %s: %s", cfg->path, strerror(errno));
		break;
	default:
		snprintf(err, errlen, "disk image %s: %s", cfg->path, strerror(errno));
		break;
	}
	return -1;
}

int block_lock(struct block_dev *dev, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(dev->fd, &st) < 0) {
		snprintf(err, errlen, "disk image %s: %s", dev->path, strerror(errno));
		return -errno;
	}
	return lock_image(dev, &st, err, errlen);
}

int block_sync(struct block_dev *dev)
{
	return fdatasync(dev->fd) < 0 ? -errno : 0;
}

int block_unlock(struct block_dev *dev)
{
	int r = block_sync(dev);

	unlock_image(dev);
	return r;
}

struct block_dev *block_open(const struct block_config *cfg, char *err, size_t errlen)
{
	struct block_dev *dev;
	struct stat st;
	uint64_t size;

	if (!cfg || !cfg->path || !cfg->path[0]) {
		snprintf(err, errlen, "disk image: no path given");
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		snprintf(err, errlen, "disk image %s: out of memory", cfg->path);
		return NULL;
	}
	dev->fd = -1;
	dev->efd = -1;
	dev->imm_tail = &dev->imm_head;
	dev->path = strdup(cfg->path);
	if (!dev->path) {
		snprintf(err, errlen, "disk image %s: out of memory", cfg->path);
		goto fail_path;
	}
	dev->info.readonly = cfg->readonly;
	dev->direct = cfg->cache == BLOCK_CACHE_NONE;
	dev->unsafe = cfg->cache == BLOCK_CACHE_UNSAFE;

	dev->fd = open_image(dev, cfg, err, errlen);
	if (dev->fd < 0)
		goto fail_open;
	if (fstat(dev->fd, &st) < 0) {
		snprintf(err, errlen, "disk image %s: %s", cfg->path, strerror(errno));
		goto fail_stat;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "disk image %s is a directory", cfg->path);
		goto fail_stat;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "disk image %s is not a regular file or block device",
			 cfg->path);
		goto fail_stat;
	}
	dev->info.is_block_device = S_ISBLK(st.st_mode);
	if (dev->info.is_block_device) {
		if (ioctl(dev->fd, BLKGETSIZE64, &size) < 0) {
			snprintf(err, errlen, "disk image %s: cannot get its size: %s", cfg->path,
				 strerror(errno));
			goto fail_stat;
		}
	} else {
		size = (uint64_t)st.st_size;
	}
	dev->info.size = size;
	dev->info.sectors = size / 512;
	dev->info.logical_block_size = 512;
	dev->mem_align = 1;
	if (dev->direct)
		direct_alignment(dev, &st);

	if (!cfg->defer_lock && lock_image(dev, &st, err, errlen))
		goto fail_lock;
	probe_capabilities(dev, &st);

	dev->zero_buf = mmap(NULL, BLOCK_ZERO_BUF, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dev->zero_buf == MAP_FAILED) {
		dev->zero_buf = NULL;
		snprintf(err, errlen, "disk image %s: %s", cfg->path, strerror(errno));
		goto fail_zero;
	}
	dev->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->efd < 0) {
		snprintf(err, errlen, "disk image %s: eventfd: %s", cfg->path, strerror(errno));
		goto fail_efd;
	}
	if (start_engine(dev, cfg->engine, err, errlen))
		goto fail_engine;
	return dev;

fail_engine:
	close(dev->efd);
fail_efd:
	munmap(dev->zero_buf, BLOCK_ZERO_BUF);
fail_zero:
fail_lock:
	/* Closing the only descriptor of the open file drops its OFD lock. */
fail_stat:
	close(dev->fd);
fail_open:
	free(dev->path);
fail_path:
	free(dev);
	return NULL;
}

void block_close(struct block_dev *dev)
{
	struct pollfd pfd;

	if (!dev)
		return;
	dev->batch_depth = 0;
	dev->ops->kick(dev);
	while (dev->inflight) {
		pfd.fd = dev->efd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
			log_error("block %s: poll: %s", dev->path, strerror(errno));
			break;
		}
		block_process_completions(dev);
	}
	/*
	 * Unlock explicitly: the ring's registered file keeps the open file
	 * (and with it the lock) alive until the kernel tears the ring down,
	 * which it does asynchronously.
	 */
	unlock_image(dev);
	dev->ops->stop(dev);
	close(dev->efd);
	munmap(dev->zero_buf, BLOCK_ZERO_BUF);
	close(dev->fd);
	free(dev->path);
	free(dev);
}
