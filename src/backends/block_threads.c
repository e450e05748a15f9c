/* SPDX-License-Identifier: MIT */
/*
 * Thread-pool engine for disk images, for hosts without a usable io_uring:
 * a few worker threads run each request's primitives with plain system
 * calls (preadv, pwritev, fdatasync, fallocate) and hand finished requests
 * back to the event loop through the completion eventfd.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/block_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "sandbox/seccomp.h"

#define BLOCK_THREADS 4

struct threads_engine {
	struct block_dev *dev;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct block_req *queue_head, **queue_tail; /* waiting for a worker */
	struct block_req *done_head, **done_tail;   /* finished, to deliver */
	bool stop;
	unsigned int nthreads;
	pthread_t threads[BLOCK_THREADS];
};

static struct threads_engine *engine_of(struct block_dev *dev)
{
	return dev->engine;
}

static void run_request(struct block_dev *dev, struct block_req *req)
{
	struct block_prim p;

	do {
		block_prim_next(dev, req, &p);
	} while (!block_prim_done(dev, req, block_prim_exec(dev, &p)));
}

static void *worker(void *arg)
{
	struct threads_engine *e = arg;
	struct block_req *req;
	int r = sandbox_seccomp_apply(SANDBOX_THREAD_BLOCK_IO, "block-io");

	if (r) {
		/* Never run the guest's requests unfiltered. */
		log_error("block %s: cannot install the I/O thread's seccomp filter: %s",
			  e->dev->path, strerror(-r));
		_exit(1);
	}
	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->queue_head && !e->stop)
			pthread_cond_wait(&e->cond, &e->lock);
		req = e->queue_head;
		if (!req)
			break; /* stopping and nothing left */
		e->queue_head = req->priv.next;
		if (!e->queue_head)
			e->queue_tail = &e->queue_head;
		pthread_mutex_unlock(&e->lock);

		run_request(e->dev, req);

		pthread_mutex_lock(&e->lock);
		req->priv.next = NULL;
		*e->done_tail = req;
		e->done_tail = &req->priv.next;
		block_signal(e->dev);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

static void threads_stop(struct block_dev *dev)
{
	struct threads_engine *e = engine_of(dev);

	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	for (unsigned int i = 0; i < e->nthreads; i++)
		pthread_join(e->threads[i], NULL);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
	dev->engine = NULL;
}

static int threads_start(struct block_dev *dev, char *why, size_t whylen)
{
	struct threads_engine *e = calloc(1, sizeof(*e));
	sigset_t all, old;
	int ret = 0;

	if (!e) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	e->dev = dev;
	e->queue_tail = &e->queue_head;
	e->done_tail = &e->done_head;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	dev->engine = e;

	/* Workers take no signals: those belong to the VM's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned int i = 0; i < BLOCK_THREADS; i++) {
		ret = pthread_create(&e->threads[i], NULL, worker, e);
		if (ret)
			break;
		pthread_setname_np(e->threads[i], "block-io");
		e->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		snprintf(why, whylen, "pthread_create: %s", strerror(ret));
		threads_stop(dev);
		return -ret;
	}
	return 0;
}

static void threads_submit(struct block_dev *dev, struct block_req *req)
{
	struct threads_engine *e = engine_of(dev);

	pthread_mutex_lock(&e->lock);
	req->priv.next = NULL;
	*e->queue_tail = req;
	e->queue_tail = &req->priv.next;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void threads_kick(struct block_dev *dev)
{
	(void)dev; /* every submission reaches a worker at once */
}

static void threads_process(struct block_dev *dev)
{
	struct threads_engine *e = engine_of(dev);
	struct block_req *list, *req;

	pthread_mutex_lock(&e->lock);
	list = e->done_head;
	e->done_head = NULL;
	e->done_tail = &e->done_head;
	pthread_mutex_unlock(&e->lock);
	while ((req = list)) {
		list = req->priv.next;
		block_finish(dev, req);
	}
}

const struct block_engine_ops block_threads_ops = {
    .start = threads_start,
    .submit = threads_submit,
    .kick = threads_kick,
    .process = threads_process,
    .stop = threads_stop,
};
