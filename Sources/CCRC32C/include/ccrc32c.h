// Hardware CRC-32C (Castagnoli) for Sundial's checksums: the SSE4.2 crc32 instruction where
// the CPU has it. Swift cannot emit that instruction itself; everything else stays in Swift.
#ifndef SUNDIAL_CCRC32C_H
#define SUNDIAL_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

// Nonzero when sundial_crc32c_update may be called on this CPU.
int sundial_crc32c_hardware_available(void);

// Continues a CRC-32C over `length` bytes. `state` is the running register (start with
// 0xFFFFFFFF, finish with ~state), exactly as the portable Swift implementation keeps it.
uint32_t sundial_crc32c_update(uint32_t state, const void *bytes, size_t length);

// The register `state` after `bytes` zero bytes with no initial or final inversion: the
// factor that joins CRCs of adjacent parts, and that carries a change in a message's prefix
// to its checksum (CRC is affine).
uint32_t sundial_crc32c_zeros(uint32_t state, uint64_t bytes);

#endif
