/* SPDX-License-Identifier: MIT */
/*
 * The device event loop: one epoll instance served by one thread. Device
 * models and back-ends register file descriptors (ioeventfds, io_uring
 * completion eventfds, taps, timerfds, the console) with a handler that runs
 * on the event-loop thread. Sources may be added, modified and removed from
 * any thread (vCPU threads do so when a guest resets a device).
 */
#ifndef HEARTH_CORE_EVENT_LOOP_H
#define HEARTH_CORE_EVENT_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*event_handler_fn)(void *opaque, uint32_t events);

struct event_source;

struct event_loop {
	int epfd;
	bool stop;
	pthread_mutex_t lock;	      /* guards sources: add/modify/remove come from any thread */
	struct event_source *sources; /* registered sources (a list) */
	atomic_bool held;	      /* event_loop_hold(): only control sources are served */
};

/* event_loop_init - create the epoll instance. Returns 0 or -errno. */
int event_loop_init(struct event_loop *loop);

/* event_loop_destroy - close the epoll instance and free the sources. */
void event_loop_destroy(struct event_loop *loop);

/*
 * event_loop_add - call handler(opaque, events) on the loop thread whenever
 * fd has any of events (EPOLLIN, EPOLLOUT...). One registration per fd.
 * Returns 0, -EEXIST, -ENOMEM or another -errno from epoll_ctl.
 */
int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler_fn handler,
		   void *opaque);

/* event_loop_modify - change the events watched for fd. Returns 0 or -errno. */
int event_loop_modify(struct event_loop *loop, int fd, uint32_t events);

/*
 * event_loop_remove - stop watching fd (safe from inside a handler, even
 * the fd's own). Returns 0 or -ENOENT.
 */
int event_loop_remove(struct event_loop *loop, int fd);

/*
 * event_loop_set_control - mark fd's source as a control source (the VM's
 * stop and signals, the API's requests, migration steps): it is served
 * also while the loop is held. Returns 0 or -ENOENT.
 */
int event_loop_set_control(struct event_loop *loop, int fd);

/*
 * event_loop_hold - stop serving every source but the control ones until
 * event_loop_release(): their fds are no longer watched (what they have,
 * a frame in a tap, a count in an eventfd, stays there), and a handler
 * whose event is already in the running batch does not run. Sources
 * added or modified meanwhile are watched from the release on. A live
 * migration's last phase holds the devices this way so that nothing
 * writes guest memory or device state after they were captured.
 * Returns 0 or -errno (the loop is held anyway).
 */
int event_loop_hold(struct event_loop *loop);

/*
 * event_loop_release - watch the held sources again (level-triggered:
 * what arrived while held is served at once). Returns 0 or -errno.
 */
int event_loop_release(struct event_loop *loop);

/*
 * event_loop_run_once - wait up to timeout_ms (-1: forever) and run the
 * handlers of the ready sources. Returns the number of handlers run, or
 * -errno (EINTR is not an error: 0).
 */
int event_loop_run_once(struct event_loop *loop, int timeout_ms);

#endif
