/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/event_loop.h"

struct counter {
	struct event_loop *loop;
	int fd;
	int calls;
	bool remove_self;
};

static void on_readable(void *opaque, uint32_t events)
{
	struct counter *c = opaque;
	char buf[16];

	assert_true(events & EPOLLIN);
	c->calls++;
	assert_true(read(c->fd, buf, sizeof(buf)) > 0);
	if (c->remove_self)
		assert_int_equal(event_loop_remove(c->loop, c->fd), 0);
}

static void test_dispatch_and_remove(void **state)
{
	struct event_loop loop;
	int a[2], b[2];
	struct counter ca = {&loop, 0, 0, false}, cb = {&loop, 0, 0, true};

	(void)state;
	assert_int_equal(event_loop_init(&loop), 0);
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	ca.fd = a[0];
	cb.fd = b[0];
	assert_int_equal(event_loop_add(&loop, a[0], EPOLLIN, on_readable, &ca), 0);
	assert_int_equal(event_loop_add(&loop, a[0], EPOLLIN, on_readable, &ca), -EEXIST);
	assert_int_equal(event_loop_add(&loop, b[0], EPOLLIN, on_readable, &cb), 0);
	assert_int_equal(event_loop_add(&loop, -1, EPOLLIN, on_readable, &cb), -EINVAL);

	/* Nothing ready: a zero timeout returns at once. */
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "y", 1), 1);
	assert_int_equal(event_loop_run_once(&loop, 1000), 2);
	assert_int_equal(ca.calls, 1);
	assert_int_equal(cb.calls, 1);

	/* b removed itself: more data on it is not dispatched. */
	assert_int_equal(write(b[1], "y", 1), 1);
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	assert_int_equal(cb.calls, 1);
	assert_int_equal(event_loop_remove(&loop, b[0]), -ENOENT);

	/* Watching nothing on a: data stays unread until re-enabled. */
	assert_int_equal(event_loop_modify(&loop, a[0], 0), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	assert_int_equal(event_loop_modify(&loop, a[0], EPOLLIN), 0);
	assert_int_equal(event_loop_run_once(&loop, 0), 1);
	assert_int_equal(ca.calls, 2);
	assert_int_equal(event_loop_modify(&loop, 12345, EPOLLIN), -ENOENT);

	/* A removed fd can be added again. */
	assert_int_equal(event_loop_add(&loop, b[0], EPOLLIN, on_readable, &cb), 0);
	event_loop_destroy(&loop);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* A control source's handler that holds the loop, as a migration's final stop does. */
static void on_hold(void *opaque, uint32_t events)
{
	struct counter *c = opaque;
	char buf[16];

	(void)events;
	c->calls++;
	assert_true(read(c->fd, buf, sizeof(buf)) > 0);
	assert_int_equal(event_loop_hold(c->loop), 0);
}

static void test_hold_and_release(void **state)
{
	struct event_loop loop;
	int dev[2], ctl[2], late[2];
	struct counter cd = {&loop, 0, 0, false}, cc = {&loop, 0, 0, false};
	struct counter cl = {&loop, 0, 0, false};
	int before;

	(void)state;
	assert_int_equal(event_loop_init(&loop), 0);
	assert_int_equal(pipe(dev), 0);
	assert_int_equal(pipe(ctl), 0);
	assert_int_equal(pipe(late), 0);
	cd.fd = dev[0];
	cc.fd = ctl[0];
	cl.fd = late[0];
	assert_int_equal(event_loop_add(&loop, dev[0], EPOLLIN, on_readable, &cd), 0);
	assert_int_equal(event_loop_add(&loop, ctl[0], EPOLLIN, on_hold, &cc), 0);
	assert_int_equal(event_loop_set_control(&loop, ctl[0]), 0);
	assert_int_equal(event_loop_set_control(&loop, 12345), -ENOENT);

	/*
	 * Both ready in one batch: whichever runs first, once the control
	 * source's handler has held the loop the device's does not run.
	 * (When the device's ran first it read its byte: write another.)
	 */
	assert_int_equal(write(dev[1], "d", 1), 1);
	assert_int_equal(write(ctl[1], "c", 1), 1);
	event_loop_run_once(&loop, 1000);
	assert_int_equal(cc.calls, 1);
	if (cd.calls) {
		assert_int_equal(cd.calls, 1);
		assert_int_equal(write(dev[1], "d", 1), 1);
	}
	before = cd.calls;

	/* Held: device input waits where it is; control sources are served. */
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	assert_int_equal(write(ctl[1], "c", 1), 1);
	assert_int_equal(event_loop_run_once(&loop, 0), 1);
	assert_int_equal(cc.calls, 2);
	assert_int_equal(cd.calls, before);

	/* Added and modified while held: watched from the release on. */
	assert_int_equal(event_loop_add(&loop, late[0], 0, on_readable, &cl), 0);
	assert_int_equal(event_loop_modify(&loop, late[0], EPOLLIN), 0);
	assert_int_equal(write(late[1], "l", 1), 1);
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	assert_int_equal(cl.calls, 0);

	/* Released: what arrived meanwhile is served, nothing lost. */
	assert_int_equal(event_loop_release(&loop), 0);
	assert_int_equal(event_loop_run_once(&loop, 1000), 2);
	assert_int_equal(cd.calls, before + 1);
	assert_int_equal(cl.calls, 1);
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	/* Releasing twice is harmless. */
	assert_int_equal(event_loop_release(&loop), 0);
	event_loop_destroy(&loop);
	for (int i = 0; i < 2; i++) {
		close(dev[i]);
		close(ctl[i]);
		close(late[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dispatch_and_remove),
	    cmocka_unit_test(test_hold_and_release),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
