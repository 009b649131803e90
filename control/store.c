/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's durable state (see store.h). Integers in the files are
 * big-endian, like the wire, so a state directory can move between hosts.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "control/store.h"

/*
 * state, version 2: two slots of STATE_SLOT_LEN bytes (a page and a whole
 * sector of a 4Kn disk each, so a torn write damages one slot only), each
 * a record of magic 4,
 * version 4, seq 8, term 8, voted_for 4, reserved 4,
 * caught_up_incarnation 8, CRC-32C 4. A save overwrites the slot that
 * does not hold the newest record, then fdatasyncs: the file's size and
 * blocks never change, so that is one flush, where replacing the file
 * (temp, fsync, rename, fsync of the directory) was two journal commits
 * (about 1 ms here, three times on an election's critical path). At open
 * the valid slot with the higher seq wins; a slot that is neither valid
 * nor empty is a save that a crash cut short, and the other slot holds
 * what was durable before it.
 */
#define STATE_SLOT_LEN   4096
#define STATE_FILE_LEN   (2 * STATE_SLOT_LEN)
#define STATE_RECORD_LEN 44
#define STATE_VERSION    2
/* Version 1: one record replaced whole (magic 4, version 4, term 8,
 * voted_for 4, reserved 4, caught_up_incarnation 8, CRC-32C 4), read once
 * and rewritten as version 2. */
#define STATE_V1_LEN     36
#define STATE_V1_VERSION 1

struct store {
	int dirfd;
	int logfd;
	int statefd;
	uint64_t state_seq;  /* seq of the newest record */
	unsigned state_slot; /* its slot; saves go to the other one */
	char dir[PATH_MAX];
	struct store_state state;
	uint64_t first;
	uint64_t last;
	off_t log_size; /* meta.log's size: records, then zero padding */
};

/*
 * meta.log grows by this many records of zeros at a time, so an append
 * overwrites blocks the file already has and its sync is a data flush
 * (fdatasync), not a journal commit for a new size: the new leader's
 * no-op is on every failover's critical path (about 1.5 ms saved on the
 * lab's disk). Zeros after the last record are padding, not a torn tail.
 */
#define STORE_PAD_RECORDS 256

/* write() all of @len at @off, or -errno. */
static int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Bytes read at @off (short only at end of file), or -errno. */
static ssize_t
pread_all(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, off + (off_t)got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static void
state_encode(const struct store_state *s, uint64_t seq,
	     uint8_t buf[STATE_SLOT_LEN])
{
	memset(buf, 0, STATE_SLOT_LEN);
	be_put_n(buf, 4, STORE_STATE_MAGIC);
	be_put_n(buf + 4, 4, STATE_VERSION);
	be_put_n(buf + 8, 8, seq);
	be_put_n(buf + 16, 8, s->term);
	be_put_n(buf + 24, 4, s->voted_for);
	be_put_n(buf + 32, 8, s->caught_up_incarnation);
	be_put_n(buf + 40, 4, crc32c(0, buf, 40));
}

/* One slot: 0 and @s, @seq filled if valid, -ENOENT if all zero (never
 * written), -EIO otherwise (torn or corrupt). */
static int
state_decode(const uint8_t buf[STATE_SLOT_LEN], struct store_state *s,
	     uint64_t *seq)
{
	unsigned i;

	if (be_get_n(buf, 4) != STORE_STATE_MAGIC ||
	    be_get_n(buf + 4, 4) != STATE_VERSION ||
	    be_get_n(buf + 40, 4) != crc32c(0, buf, 40)) {
		for (i = 0; i < STATE_SLOT_LEN; i++)
			if (buf[i] != 0)
				return -EIO;
		return -ENOENT;
	}
	*seq = be_get_n(buf + 8, 8);
	s->term = be_get_n(buf + 16, 8);
	s->voted_for = (uint32_t)be_get_n(buf + 24, 4);
	s->caught_up_incarnation = be_get_n(buf + 32, 8);
	return 0;
}

/* A version 1 record (36 bytes), or -EIO. */
static int
state_decode_v1(const uint8_t buf[STATE_V1_LEN], struct store_state *s)
{
	if (be_get_n(buf, 4) != STORE_STATE_MAGIC ||
	    be_get_n(buf + 4, 4) != STATE_V1_VERSION ||
	    be_get_n(buf + 32, 4) != crc32c(0, buf, 32))
		return -EIO;
	s->term = be_get_n(buf + 8, 8);
	s->voted_for = (uint32_t)be_get_n(buf + 16, 4);
	s->caught_up_incarnation = be_get_n(buf + 24, 8);
	return 0;
}

/*
 * Replace file @name in the store's directory by @len bytes of @buf,
 * atomically: write NAME.tmp, fsync, rename, fsync the directory. A crash
 * leaves the old file or the new one (a NAME.tmp is removed at open).
 */
static int
store_replace_file(struct store *st, const char *name, const void *buf,
		   size_t len)
{
	char tmp[64];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	rc = pwrite_all(fd, buf, len, 0);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && renameat(st->dirfd, tmp, st->dirfd, name) != 0)
		rc = -errno;
	if (rc != 0) {
		unlinkat(st->dirfd, tmp, 0);
		return rc;
	}
	/* The rename is durable only once the directory is. */
	return fsync(st->dirfd) != 0 ? -errno : 0;
}

/* Write a version 2 file whose slot 0 holds st->state as seq 1. */
static int
store_state_create(struct store *st)
{
	uint8_t buf[STATE_FILE_LEN];

	memset(buf, 0, sizeof(buf));
	state_encode(&st->state, 1, buf);
	st->state_seq = 1;
	st->state_slot = 0;
	return store_replace_file(st, "state", buf, sizeof(buf));
}

/*
 * Load `state` into st->state and open it for saves: a fresh store gets
 * a file holding term 0 and no vote; a version 1 file is rewritten as
 * version 2.
 */
static int
store_load_state(struct store *st, struct store_report *rep)
{
	uint8_t buf[STATE_FILE_LEN];
	struct store_state slot[2];
	uint64_t seq[2];
	int fd, rc, ok[2];
	ssize_t n;

	/* A temp file is a replacement that never reached its rename. */
	if (unlinkat(st->dirfd, "state.tmp", 0) == 0)
		rep->tmp_removed = true;
	else if (errno != ENOENT)
		return -errno;
	st->state.term = 0;
	st->state.voted_for = STORE_VOTE_NONE;
	st->state.caught_up_incarnation = 0;
	fd = openat(st->dirfd, "state", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return -errno;
	if (fd < 0) {
		rc = store_state_create(st);
	} else {
		n = pread_all(fd, buf, sizeof(buf), 0);
		close(fd);
		if (n < 0)
			return (int)n;
		if (n == STATE_V1_LEN) {
			rc = state_decode_v1(buf, &st->state);
			if (rc == 0)
				rc = store_state_create(st);
			rep->state_found = rc == 0;
		} else if (n == STATE_FILE_LEN) {
			ok[0] = state_decode(buf, &slot[0], &seq[0]);
			ok[1] = state_decode(buf + STATE_SLOT_LEN, &slot[1],
					     &seq[1]);
			if (ok[0] != 0 && ok[1] != 0)
				return -EIO; /* never a silent reset */
			rep->torn_state_slot = ok[0] == -EIO || ok[1] == -EIO;
			st->state_slot =
				ok[0] == 0 && (ok[1] != 0 || seq[0] > seq[1])
					? 0
					: 1;
			st->state = slot[st->state_slot];
			st->state_seq = seq[st->state_slot];
			/* seq 1 is the file made at creation. */
			rep->state_found = st->state_seq > 1;
			rc = 0;
		} else {
			return -EIO;
		}
	}
	if (rc != 0)
		return rc;
	st->statefd = openat(st->dirfd, "state", O_WRONLY | O_CLOEXEC);
	return st->statefd < 0 ? -errno : 0;
}

int
store_save_state(struct store *st, const struct store_state *s)
{
	uint8_t buf[STATE_SLOT_LEN];
	uint64_t seq = st->state_seq + 1;
	int rc;

	/* Never the slot of the newest record: a torn write must leave it. */
	state_encode(s, seq, buf);
	rc = pwrite_all(st->statefd, buf, sizeof(buf),
			(off_t)(1 - st->state_slot) * STATE_SLOT_LEN);
	if (rc == 0 && fdatasync(st->statefd) != 0)
		rc = -errno;
	if (rc != 0)
		return rc;
	st->state_seq = seq;
	st->state_slot = 1 - st->state_slot;
	st->state = *s;
	return 0;
}

/* Encode one meta record. -EINVAL if the entry does not fit. */
static int
record_encode(uint64_t index, const struct lock_entry *e,
	      uint8_t buf[STORE_RECORD_LEN])
{
	int len;

	memset(buf, 0, STORE_RECORD_LEN);
	len = raft_wire_entry_encode(e, buf + 16, STORE_PAYLOAD_MAX);
	if (len < 0)
		return -EINVAL;
	be_put_n(buf, 4, STORE_META_MAGIC);
	be_put_n(buf + 4, 8, index);
	be_put_n(buf + 12, 2, (uint64_t)len);
	be_put_n(buf + STORE_RECORD_LEN - 4, 4,
		 crc32c(0, buf, STORE_RECORD_LEN - 4));
	return 0;
}

/* Check one record; its index in @index. 0 or -EIO. */
static int
record_check(const uint8_t buf[STORE_RECORD_LEN], uint64_t *index)
{
	if (be_get_n(buf, 4) != STORE_META_MAGIC ||
	    be_get_n(buf + STORE_RECORD_LEN - 4, 4) !=
		    crc32c(0, buf, STORE_RECORD_LEN - 4) ||
	    be_get_n(buf + 12, 2) > STORE_PAYLOAD_MAX)
		return -EIO;
	*index = be_get_n(buf + 4, 8);
	return 0;
}

/* 1 if bytes [@from, @to) of @fd are all zero, 0 if not, or -errno. */
static int
store_all_zero(int fd, off_t from, off_t to)
{
	uint8_t buf[4096];
	ssize_t n, i;

	while (from < to) {
		size_t want = to - from < (off_t)sizeof(buf)
				      ? (size_t)(to - from)
				      : sizeof(buf);

		n = pread_all(fd, buf, want, from);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 1;
		for (i = 0; i < n; i++)
			if (buf[i] != 0)
				return 0;
		from += n;
	}
	return 1;
}

/* Scan meta.log: keep the longest valid, in-sequence prefix, and the
 * zeros after it (padding); anything else after it is a torn write. */
static int
store_load_meta(struct store *st, struct store_report *rep)
{
	uint8_t buf[STORE_RECORD_LEN];
	struct stat sb;
	off_t off = 0;
	uint64_t index;

	if (fstat(st->logfd, &sb) != 0)
		return -errno;
	for (;;) {
		ssize_t n = pread_all(st->logfd, buf, sizeof(buf), off);

		if (n < 0)
			return (int)n;
		if (n < (ssize_t)sizeof(buf))
			break;
		if (record_check(buf, &index) != 0 || index == 0 ||
		    (st->last != 0 && index != st->last + 1))
			break;
		if (st->first == 0)
			st->first = index;
		st->last = index;
		off += (off_t)sizeof(buf);
	}
	st->log_size = sb.st_size;
	if (sb.st_size > off) {
		int rc = store_all_zero(st->logfd, off, sb.st_size);

		if (rc < 0)
			return rc;
		if (rc == 0) {
			rep->torn_bytes = (uint64_t)(sb.st_size - off);
			if (ftruncate(st->logfd, off) != 0 ||
			    fsync(st->logfd) != 0)
				return -errno;
			st->log_size = off;
		}
	}
	return 0;
}

struct store *
store_open(const char *dir, struct store_report *report)
{
	struct store_report local;
	struct store *st;
	int rc;

	if (report == NULL)
		report = &local;
	memset(report, 0, sizeof(*report));
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		goto free_store;
	st->statefd = -1;
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0)
		goto free_store;
	rc = store_load_state(st, report);
	if (rc != 0) {
		errno = -rc;
		goto close_dir;
	}
	st->logfd = openat(st->dirfd, "meta.log", O_RDWR | O_CREAT | O_CLOEXEC,
			   0600);
	if (st->logfd < 0)
		goto close_dir;
	rc = store_load_meta(st, report);
	if (rc != 0) {
		errno = -rc;
		goto close_log;
	}
	return st;

close_log:
	rc = errno;
	close(st->logfd);
	errno = rc;
close_dir:
	rc = errno;
	if (st->statefd >= 0)
		close(st->statefd);
	close(st->dirfd);
	errno = rc;
free_store:
	rc = errno;
	free(st);
	errno = rc;
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	close(st->logfd);
	close(st->statefd);
	close(st->dirfd);
	free(st);
}

const struct store_state *
store_state(const struct store *st)
{
	return &st->state;
}

uint64_t
store_meta_first(const struct store *st)
{
	return st->first;
}

uint64_t
store_meta_last(const struct store *st)
{
	return st->last;
}

static off_t
record_off(const struct store *st, uint64_t index)
{
	return (off_t)((index - st->first) * STORE_RECORD_LEN);
}

/* Make meta.log at least @end bytes long, STORE_PAD_RECORDS records of
 * zeros at a time (made durable by the next store_sync). */
static int
store_meta_room(struct store *st, off_t end)
{
	uint8_t zeros[STORE_RECORD_LEN];
	off_t size = st->log_size;
	int rc;

	if (end <= size)
		return 0;
	memset(zeros, 0, sizeof(zeros));
	end += (off_t)(STORE_PAD_RECORDS - 1) * STORE_RECORD_LEN;
	while (size < end) {
		rc = pwrite_all(st->logfd, zeros, sizeof(zeros), size);
		if (rc != 0)
			return rc;
		size += (off_t)sizeof(zeros);
	}
	st->log_size = size;
	return 0;
}

int
store_meta_append(struct store *st, uint64_t index, const struct lock_entry *e)
{
	uint8_t buf[STORE_RECORD_LEN];
	int rc;

	if (index == 0 || (st->last != 0 && index != st->last + 1))
		return -EINVAL;
	rc = record_encode(index, e, buf);
	if (rc != 0)
		return rc;
	if (st->last == 0)
		st->first = index;
	rc = store_meta_room(st, record_off(st, index) + STORE_RECORD_LEN);
	if (rc == 0)
		rc = pwrite_all(st->logfd, buf, sizeof(buf),
				record_off(st, index));
	if (rc != 0) {
		if (st->last == 0)
			st->first = 0;
		return rc;
	}
	st->last = index;
	return 0;
}

int
store_meta_truncate_from(struct store *st, uint64_t index)
{
	if (st->last == 0 || index > st->last)
		return 0;
	if (index <= st->first)
		index = st->first;
	if (ftruncate(st->logfd, record_off(st, index)) != 0)
		return -errno;
	st->log_size = record_off(st, index);
	st->last = index - 1;
	if (st->last < st->first)
		st->first = st->last = 0;
	return 0;
}

int
store_meta_read(struct store *st, uint64_t index, struct lock_entry *out)
{
	uint8_t buf[STORE_RECORD_LEN];
	uint64_t got;
	ssize_t n;

	if (st->last == 0 || index < st->first || index > st->last)
		return -ENOENT;
	n = pread_all(st->logfd, buf, sizeof(buf), record_off(st, index));
	if (n < 0)
		return (int)n;
	if (n != (ssize_t)sizeof(buf) || record_check(buf, &got) != 0 ||
	    got != index)
		return -EIO;
	if (raft_wire_entry_decode(buf + 16, be_get_n(buf + 12, 2), out) < 0)
		return -EIO;
	return 0;
}

int
store_sync(struct store *st)
{
	/* Metadata too when the size changed (padding added, truncation):
	 * fdatasync flushes what reading the data back needs. */
	return fdatasync(st->logfd) != 0 ? -errno : 0;
}

/* `starts`: magic 4, count 8, CRC-32C 4 (same replace-whole discipline as
 * `state`). "LTST": latch control starts. */
#define STARTS_MAGIC 0x4c545354u
#define STARTS_LEN   16

int
store_start_count(struct store *st, uint64_t *count)
{
	uint8_t buf[STARTS_LEN];
	uint64_t n = 0;
	ssize_t got;
	int fd, rc;

	unlinkat(st->dirfd, "starts.tmp", 0);
	fd = openat(st->dirfd, "starts", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = pread_all(fd, buf, sizeof(buf), 0);
		close(fd);
		if (got != STARTS_LEN || be_get_n(buf, 4) != STARTS_MAGIC ||
		    be_get_n(buf + 12, 4) != crc32c(0, buf, 12))
			return -EIO;
		n = be_get_n(buf + 4, 8);
	} else if (errno != ENOENT) {
		return -errno;
	}
	n++;
	be_put_n(buf, 4, STARTS_MAGIC);
	be_put_n(buf + 4, 8, n);
	be_put_n(buf + 12, 4, crc32c(0, buf, 12));
	rc = store_replace_file(st, "starts", buf, sizeof(buf));
	if (rc != 0)
		return rc;
	*count = n;
	return 0;
}
