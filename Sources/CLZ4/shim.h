// liblz4's public headers, exposed to Swift as the CLZ4 module.
// The frame API (lz4frame.h) is the only one Sundial uses on the wire: it carries block and
// content checksums and the content size, so a replica can verify a chunk before using it.
#include <lz4.h>
#include <lz4frame.h>
