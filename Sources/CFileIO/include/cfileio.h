// C library calls Swift's Glibc module does not expose (they need _GNU_SOURCE or malloc.h).
#ifndef SUNDIAL_CFILEIO_H
#define SUNDIAL_CFILEIO_H

#include <stdint.h>

// Starts writeback of the dirty pages in [offset, offset + length) of `fd` without waiting for
// it to finish (sync_file_range with SYNC_FILE_RANGE_WRITE): no durability promise, no
// metadata, no device flush — a later fdatasync finds less to write. 0, or -1 with errno set.
int sundial_start_writeback(int fd, int64_t offset, int64_t length);

// Sets glibc's mmap and trim thresholds (mallopt M_MMAP_THRESHOLD, M_TRIM_THRESHOLD; see
// Node's HeapPolicy). 1 when both were accepted, 0 otherwise (or on another C library).
int sundial_set_heap_thresholds(int mmap_threshold, int trim_threshold);

// Turns direct I/O (O_DIRECT: writes go from the caller's memory to the device, past the page
// cache) on (on != 0) or off for the open file `fd`. 0, or -1 with errno set (EINVAL: the file
// system has no direct I/O).
int sundial_set_direct_io(int fd, int on);

// Allocates the blocks of [offset, offset + length) of `fd` without changing its size
// (fallocate with FALLOC_FL_KEEP_SIZE): later writes there find their blocks in place, and the
// file's length and contents stay what the writes made them. 0, or -1 with errno set
// (EOPNOTSUPP: the file system cannot).
int sundial_preallocate(int fd, int64_t offset, int64_t length);

// Bytes a file may hold past its contents without having had blocks allocated ahead.
#define SUNDIAL_ALLOCATION_SLACK (64 * 1024)

// Whether a file of `size` bytes holding `blocks` 512-byte blocks (stat's st_blocks) holds blocks
// allocated ahead: past its contents' last 4 KiB block, beyond a slack for what a file system
// counts besides data (ext4's extent index blocks, an xattr block).
static inline int sundial_holds_blocks_ahead(int64_t size, int64_t blocks) {
    return blocks * 512 > (size + 4095) / 4096 * 4096 + SUNDIAL_ALLOCATION_SLACK;
}

// Frees the blocks `fd` holds past its length (allocated ahead by `sundial_preallocate`) by
// cutting the file at its own length; the contents and length stay. 1 when there were such
// blocks (more than SUNDIAL_ALLOCATION_SLACK), 0 when none, -1 with errno set.
int sundial_release_preallocated(int fd);

#endif
