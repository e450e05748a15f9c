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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dispatch_and_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
