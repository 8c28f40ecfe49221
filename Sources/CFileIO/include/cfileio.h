// File-system calls Swift's Glibc module does not expose (they need _GNU_SOURCE).
#ifndef SUNDIAL_CFILEIO_H
#define SUNDIAL_CFILEIO_H

#include <stdint.h>

// Starts writeback of the dirty pages in [offset, offset + length) of `fd` without waiting for
// it to finish (sync_file_range with SYNC_FILE_RANGE_WRITE): no durability promise, no
// metadata, no device flush — a later fdatasync finds less to write. 0, or -1 with errno set.
int sundial_start_writeback(int fd, int64_t offset, int64_t length);

#endif
