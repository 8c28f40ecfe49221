#include "ccrc32c.h"

#include <string.h>

// The crc32 instruction has a latency of three cycles and a throughput of one per cycle, so a
// single chain of them runs at a third of what the unit can do. Large buffers are therefore
// taken in blocks of three equal parts whose CRCs run as three independent chains, then
// joined: the register after A then B is shift(crc(A), |B|) xor crc0(B), where crc0 starts
// from zero and shift appends |B| zero bytes, i.e. multiplies by x^(8|B|) modulo the
// polynomial (the same algebra as zlib's crc32_combine).

#define SUNDIAL_CRC_POLY 0x82F63B78u  // Castagnoli, reflected
#define SUNDIAL_CRC_PART 4096         // bytes per chain in a block

// a * b modulo the polynomial, both in the reflected representation (x^0 is bit 31).
static uint32_t crc_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
        if (a & bit) product ^= b;
        b = (b & 1) ? (b >> 1) ^ SUNDIAL_CRC_POLY : b >> 1;
    }
    return product;
}

// x^(8 * bytes) modulo the polynomial: what shifting a register past `bytes` zero bytes
// multiplies it by. Square-and-multiply over x^(2^k).
static uint32_t crc_shift_factor(uint64_t bytes) {
    uint32_t result = 1u << 31;        // x^0
    uint32_t power = 1u << 23;         // x^8: one byte
    while (bytes != 0) {
        if (bytes & 1) result = crc_multiply(result, power);
        power = crc_multiply(power, power);
        bytes >>= 1;
    }
    return result;
}

uint32_t sundial_crc32c_zeros(uint32_t state, uint64_t bytes) {
    return crc_multiply(crc_shift_factor(bytes), state);
}

#if defined(__x86_64__)

int sundial_crc32c_hardware_available(void) {
    return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2")))
static uint64_t crc_chain(uint64_t crc, const unsigned char *p, size_t length) {
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);  // unaligned-safe load
        crc = __builtin_ia32_crc32di(crc, word);
        p += 8;
        length -= 8;
    }
    return crc;
}

__attribute__((target("sse4.2")))
uint32_t sundial_crc32c_update(uint32_t state, const void *bytes, size_t length) {
    const unsigned char *p = (const unsigned char *)bytes;
    uint64_t crc = state;
    if (length >= 3 * SUNDIAL_CRC_PART) {
        // Both factors in one word, computed on first use: threads racing here compute the
        // same value, and one atomic word cannot be seen half written.
        static uint64_t factors = 0;
        uint64_t both = __atomic_load_n(&factors, __ATOMIC_RELAXED);
        if (both == 0) {
            both = (uint64_t)crc_shift_factor(SUNDIAL_CRC_PART) << 32 | crc_shift_factor(2 * SUNDIAL_CRC_PART);
            __atomic_store_n(&factors, both, __ATOMIC_RELAXED);
        }
        uint32_t shift_one = (uint32_t)(both >> 32), shift_two = (uint32_t)both;
        while (length >= 3 * SUNDIAL_CRC_PART) {
            uint64_t a = crc, b = 0, c = 0;
            const unsigned char *pb = p + SUNDIAL_CRC_PART, *pc = p + 2 * SUNDIAL_CRC_PART;
            for (size_t offset = 0; offset < SUNDIAL_CRC_PART; offset += 8) {
                uint64_t wa, wb, wc;
                memcpy(&wa, p + offset, 8);
                memcpy(&wb, pb + offset, 8);
                memcpy(&wc, pc + offset, 8);
                a = __builtin_ia32_crc32di(a, wa);
                b = __builtin_ia32_crc32di(b, wb);
                c = __builtin_ia32_crc32di(c, wc);
            }
            crc = crc_multiply(shift_two, (uint32_t)a) ^ crc_multiply(shift_one, (uint32_t)b) ^ (uint32_t)c;
            p += 3 * SUNDIAL_CRC_PART;
            length -= 3 * SUNDIAL_CRC_PART;
        }
    }
    crc = crc_chain(crc, p, length);
    p += length & ~(size_t)7;
    length &= 7;
    uint32_t crc32 = (uint32_t)crc;
    while (length > 0) {
        crc32 = __builtin_ia32_crc32qi(crc32, *p);
        p++;
        length--;
    }
    return crc32;
}

#else

int sundial_crc32c_hardware_available(void) {
    return 0;
}

uint32_t sundial_crc32c_update(uint32_t state, const void *bytes, size_t length) {
    (void)bytes;
    (void)length;
    return state;  // never called: the Swift table implementation is used instead
}

#endif
