/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's durable state (control/store.c): state and meta log
 * survive a reopen, a torn tail is cut, truncation works, a crash
 * between the temp file and its rename leaves the old state in force, a
 * save torn by a crash leaves the one before it, and a version 1 state
 * file is upgraded.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "control/store.h"

static int
dir_setup(void **state)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/latch-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	*state = dir;
	return 0;
}

static int
dir_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	return system(cmd) == 0 ? 0 : -1;
}

static void
entry_make(struct lock_entry *e, uint64_t i)
{
	memset(e, 0, sizeof(*e));
	e->op = 0x81;
	e->term = i / 3 + 1;
	e->client_id = 0x7 + i;
	e->request_id = i * 1000;
	e->key.len = (uint16_t)(i % (LATCH_KEY_MAX + 1));
	memset(e->key.bytes, 'a' + (int)(i % 26), e->key.len);
}

static void
file_path(char *out, size_t size, const char *dir, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void
test_fresh_store(void **state)
{
	struct store_report rep;
	struct store *st = store_open(*state, &rep);

	assert_non_null(st);
	assert_false(rep.state_found);
	assert_int_equal(store_state(st)->term, 0);
	assert_int_equal(store_state(st)->voted_for, STORE_VOTE_NONE);
	assert_int_equal(store_meta_first(st), 0);
	assert_int_equal(store_meta_last(st), 0);
	store_close(st);
}

static void
test_round_trip(void **state)
{
	struct store_state s = {.term = 42,
				.voted_for = 3,
				.caught_up_incarnation = 0x1234567890ull};
	struct store_report rep;
	struct lock_entry e, got;
	struct store *st;
	uint64_t i;

	st = store_open(*state, NULL);
	assert_non_null(st);
	assert_int_equal(store_save_state(st, &s), 0);
	for (i = 1; i <= 20; i++) {
		entry_make(&e, i);
		assert_int_equal(store_meta_append(st, i, &e), 0);
	}
	assert_int_equal(store_sync(st), 0);
	/* Out of sequence: refused, nothing written. */
	entry_make(&e, 99);
	assert_int_equal(store_meta_append(st, 22, &e), -EINVAL);
	assert_int_equal(store_meta_append(st, 20, &e), -EINVAL);
	store_close(st);

	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_true(rep.state_found);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(store_state(st)->term, 42);
	assert_int_equal(store_state(st)->voted_for, 3);
	assert_int_equal(store_state(st)->caught_up_incarnation,
			 0x1234567890ull);
	assert_int_equal(store_meta_first(st), 1);
	assert_int_equal(store_meta_last(st), 20);
	for (i = 1; i <= 20; i++) {
		entry_make(&e, i);
		assert_int_equal(store_meta_read(st, i, &got), 0);
		assert_memory_equal(&got, &e, sizeof(e));
	}
	assert_int_equal(store_meta_read(st, 21, &got), -ENOENT);
	assert_int_equal(store_meta_read(st, 0, &got), -ENOENT);
	store_close(st);
}

/* A log may start after index 1 (after a snapshot). */
static void
test_log_starting_later(void **state)
{
	struct lock_entry e, got;
	struct store *st = store_open(*state, NULL);

	assert_non_null(st);
	entry_make(&e, 100);
	assert_int_equal(store_meta_append(st, 100, &e), 0);
	entry_make(&e, 101);
	assert_int_equal(store_meta_append(st, 101, &e), 0);
	store_close(st);
	st = store_open(*state, NULL);
	assert_non_null(st);
	assert_int_equal(store_meta_first(st), 100);
	assert_int_equal(store_meta_last(st), 101);
	assert_int_equal(store_meta_read(st, 101, &got), 0);
	assert_memory_equal(&got, &e, sizeof(e));
	store_close(st);
}

static void
append_n(const char *dir, uint64_t n)
{
	struct lock_entry e;
	struct store *st = store_open(dir, NULL);
	uint64_t i;

	assert_non_null(st);
	for (i = 1; i <= n; i++) {
		entry_make(&e, i);
		assert_int_equal(store_meta_append(st, i, &e), 0);
	}
	assert_int_equal(store_sync(st), 0);
	store_close(st);
}

/* Write @len bytes where record @n + 1 would go: a torn append, over the
 * zero padding that follows the records. */
static void
write_after_records(const char *dir, uint64_t n, const void *bytes, size_t len)
{
	char path[128];
	int fd;

	file_path(path, sizeof(path), dir, "meta.log");
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len, (off_t)(n * STORE_RECORD_LEN)),
			 (ssize_t)len);
	close(fd);
}

static off_t
file_size(const char *dir, const char *name)
{
	char path[128];
	struct stat sb;

	file_path(path, sizeof(path), dir, name);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void
test_torn_tail_garbage(void **state)
{
	uint8_t junk[STORE_RECORD_LEN / 2];
	struct store_report rep;
	struct lock_entry e, got;
	struct store *st;

	off_t size;

	append_n(*state, 5);
	memset(junk, 0xa5, sizeof(junk));
	write_after_records(*state, 5, junk, sizeof(junk));
	size = file_size(*state, "meta.log");
	st = store_open(*state, &rep);
	assert_non_null(st);
	/* The torn record and the padding after it go. */
	assert_int_equal(rep.torn_bytes, size - 5 * STORE_RECORD_LEN);
	assert_int_equal(store_meta_last(st), 5);
	assert_int_equal(file_size(*state, "meta.log"), 5 * STORE_RECORD_LEN);
	/* The log goes on where the good prefix ended. */
	entry_make(&e, 6);
	assert_int_equal(store_meta_append(st, 6, &e), 0);
	assert_int_equal(store_meta_read(st, 6, &got), 0);
	assert_memory_equal(&got, &e, sizeof(e));
	store_close(st);
}

/* A whole record of garbage, or one with a flipped bit, ends the log. */
static void
test_torn_tail_bad_checksum(void **state)
{
	uint8_t junk[STORE_RECORD_LEN];
	char path[128];
	struct store_report rep;
	struct store *st;
	uint8_t byte;
	int fd;

	off_t size;

	append_n(*state, 4);
	memset(junk, 0xa5, sizeof(junk));
	write_after_records(*state, 4, junk, sizeof(junk));
	size = file_size(*state, "meta.log");
	/* Flip one payload bit of record 3 (index 3): 3 and 4 go too. */
	file_path(path, sizeof(path), *state, "meta.log");
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, 2 * STORE_RECORD_LEN + 20), 1);
	byte ^= 0x10;
	assert_int_equal(pwrite(fd, &byte, 1, 2 * STORE_RECORD_LEN + 20), 1);
	close(fd);
	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_int_equal(store_meta_last(st), 2);
	assert_int_equal(rep.torn_bytes, size - 2 * STORE_RECORD_LEN);
	store_close(st);
}

/*
 * meta.log grows by zero padding ahead of the records (so a sync is a
 * data flush): the padding is no torn tail, and appends cross its end.
 */
static void
test_padding_is_not_torn(void **state)
{
	struct store_report rep;
	struct lock_entry e, got;
	struct store *st;
	uint64_t i;

	append_n(*state, 3);
	assert_true(file_size(*state, "meta.log") > 3 * STORE_RECORD_LEN);
	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(store_meta_last(st), 3);
	for (i = 4; i <= 600; i++) {
		entry_make(&e, i);
		assert_int_equal(store_meta_append(st, i, &e), 0);
	}
	assert_int_equal(store_sync(st), 0);
	store_close(st);
	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(store_meta_last(st), 600);
	for (i = 1; i <= 600; i += 37) {
		entry_make(&e, i);
		assert_int_equal(store_meta_read(st, i, &got), 0);
		assert_memory_equal(&got, &e, sizeof(e));
	}
	store_close(st);
}

static void
test_truncate_from(void **state)
{
	struct lock_entry e, got;
	struct store_report rep;
	struct store *st;

	append_n(*state, 10);
	st = store_open(*state, NULL);
	assert_non_null(st);
	assert_int_equal(store_meta_truncate_from(st, 7), 0);
	assert_int_equal(store_meta_last(st), 6);
	assert_int_equal(store_meta_read(st, 7, &got), -ENOENT);
	/* Past the end: nothing to do. */
	assert_int_equal(store_meta_truncate_from(st, 50), 0);
	assert_int_equal(store_meta_last(st), 6);
	/* A new entry 7 of another term replaces the old one. */
	entry_make(&e, 70);
	assert_int_equal(store_meta_append(st, 7, &e), 0);
	assert_int_equal(store_sync(st), 0);
	store_close(st);
	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(store_meta_last(st), 7);
	assert_int_equal(store_meta_read(st, 7, &got), 0);
	assert_memory_equal(&got, &e, sizeof(e));
	/* Everything. */
	assert_int_equal(store_meta_truncate_from(st, 1), 0);
	assert_int_equal(store_meta_first(st), 0);
	assert_int_equal(store_meta_last(st), 0);
	store_close(st);
	st = store_open(*state, NULL);
	assert_non_null(st);
	assert_int_equal(store_meta_last(st), 0);
	store_close(st);
}

/*
 * A crash after the temp file was written but before the rename: the
 * temp file holds a newer state, but the old one is what was durable
 * when the node last spoke, so the old one wins and the temp goes away.
 */
static void
test_crash_before_rename(void **state)
{
	struct store_state old = {.term = 5, .voted_for = 1};
	struct store_state newer = {.term = 6, .voted_for = 2};
	struct store_report rep;
	char other[128], src[160], dst[128];
	struct store *st;

	st = store_open(*state, NULL);
	assert_non_null(st);
	assert_int_equal(store_save_state(st, &old), 0);
	store_close(st);
	/* A complete, valid newer record left as state.tmp. */
	file_path(other, sizeof(other), *state, "other");
	st = store_open(other, NULL);
	assert_non_null(st);
	assert_int_equal(store_save_state(st, &newer), 0);
	store_close(st);
	snprintf(src, sizeof(src), "%s/state", other);
	file_path(dst, sizeof(dst), *state, "state.tmp");
	assert_int_equal(rename(src, dst), 0);

	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_true(rep.tmp_removed);
	assert_true(rep.state_found);
	assert_int_equal(store_state(st)->term, 5);
	assert_int_equal(store_state(st)->voted_for, 1);
	assert_int_equal(access(dst, F_OK), -1);
	store_close(st);

	/* A torn temp file (partial write) is ignored the same way. */
	{
		int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "partial", 7), 7);
		close(fd);
	}
	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_true(rep.tmp_removed);
	assert_int_equal(store_state(st)->term, 5);
	store_close(st);
}

/* Flip one byte of file @name in @dir at @off. */
static void
file_flip(const char *dir, const char *name, off_t off)
{
	char path[128];
	uint8_t byte;
	int fd;

	file_path(path, sizeof(path), dir, name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, off), 1);
	byte ^= 1;
	assert_int_equal(pwrite(fd, &byte, 1, off), 1);
	close(fd);
}

/* Slot size of `state` version 2 (control/store.c). */
#define SLOT 4096

/* A corrupt state record is an error, never a silent reset to term 0. */
static void
test_corrupt_state_refused(void **state)
{
	struct store_state s = {.term = 9, .voted_for = 2};
	struct store *st;

	st = store_open(*state, NULL);
	assert_non_null(st);
	assert_int_equal(store_save_state(st, &s), 0);
	store_close(st);
	/* Both slots damaged: no record to trust. */
	file_flip(*state, "state", 15);
	file_flip(*state, "state", SLOT + 15);
	errno = 0;
	assert_null(store_open(*state, NULL));
	assert_int_equal(errno, EIO);
}

/*
 * Saves alternate between the slots, so a crash that tears the one being
 * written leaves the record before it: torn newest slot, older state.
 */
static void
test_torn_save_keeps_the_one_before(void **state)
{
	struct store_state s = {.voted_for = 1};
	struct store_report rep;
	struct store *st;
	uint64_t t;

	st = store_open(*state, NULL);
	assert_non_null(st);
	for (t = 1; t <= 5; t++) {
		s.term = t;
		assert_int_equal(store_save_state(st, &s), 0);
		store_close(st);
		st = store_open(*state, &rep);
		assert_non_null(st);
		assert_true(rep.state_found);
		assert_false(rep.torn_state_slot);
		assert_int_equal(store_state(st)->term, t);
	}
	store_close(st);
	/* Term 5 is the 6th record (seq 6, the file's own is seq 1): it is
	 * in the slot the 1st, 3rd and 5th saves went to, slot 1. Tear it. */
	file_flip(*state, "state", SLOT + 20);
	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_true(rep.torn_state_slot);
	assert_int_equal(store_state(st)->term, 4);
	/* The next save goes over the torn slot, not the good one. */
	s.term = 7;
	assert_int_equal(store_save_state(st, &s), 0);
	store_close(st);
	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_false(rep.torn_state_slot);
	assert_int_equal(store_state(st)->term, 7);
	store_close(st);
}

/* A version 1 `state` (one 36-byte record) is read and rewritten as
 * version 2, with nothing lost. */
static void
test_state_version_1_upgraded(void **state)
{
	static const uint8_t v1[36] = {
		0x4c, 0x54, 0x43, 0x53, 0, 0, 0,    1,    /* magic, version 1 */
		0,    0,    0,    0,    0, 0, 0,    42,   /* term */
		0,    0,    0,    3,    0, 0, 0,    0,    /* vote, reserved */
		0,    0,    0,    0,    0, 0, 0x12, 0x34, /* caught_up */
	};
	uint8_t rec[36];
	struct store_state s;
	struct store_report rep;
	char path[128];
	struct stat sb;
	struct store *st;
	int fd;

	memcpy(rec, v1, sizeof(rec));
	{
		uint32_t crc = crc32c(0, rec, 32);

		rec[32] = (uint8_t)(crc >> 24);
		rec[33] = (uint8_t)(crc >> 16);
		rec[34] = (uint8_t)(crc >> 8);
		rec[35] = (uint8_t)crc;
	}
	file_path(path, sizeof(path), *state, "state");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
	close(fd);

	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_true(rep.state_found);
	assert_int_equal(store_state(st)->term, 42);
	assert_int_equal(store_state(st)->voted_for, 3);
	assert_int_equal(store_state(st)->caught_up_incarnation, 0x1234);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 2 * SLOT);
	s = *store_state(st);
	s.term = 43;
	assert_int_equal(store_save_state(st, &s), 0);
	store_close(st);
	st = store_open(*state, &rep);
	assert_non_null(st);
	assert_int_equal(store_state(st)->term, 43);
	assert_int_equal(store_state(st)->voted_for, 3);
	store_close(st);
	/* A damaged version 1 record is refused like any other. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	rec[10] ^= 1;
	assert_int_equal(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
	close(fd);
	errno = 0;
	assert_null(store_open(*state, NULL));
	assert_int_equal(errno, EIO);
}

#define DIR_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, dir_setup, dir_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		DIR_TEST(test_fresh_store),
		DIR_TEST(test_round_trip),
		DIR_TEST(test_log_starting_later),
		DIR_TEST(test_torn_tail_garbage),
		DIR_TEST(test_torn_tail_bad_checksum),
		DIR_TEST(test_truncate_from),
		DIR_TEST(test_padding_is_not_torn),
		DIR_TEST(test_crash_before_rename),
		DIR_TEST(test_corrupt_state_refused),
		DIR_TEST(test_torn_save_keeps_the_one_before),
		DIR_TEST(test_state_version_1_upgraded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
