#include "ccrc32c.h"

#include <string.h>

#if defined(__x86_64__)

int sundial_crc32c_hardware_available(void) {
    return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2")))
uint32_t sundial_crc32c_update(uint32_t state, const void *bytes, size_t length) {
    const unsigned char *p = (const unsigned char *)bytes;
    uint64_t crc = state;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);  // unaligned-safe load
        crc = __builtin_ia32_crc32di(crc, word);
        p += 8;
        length -= 8;
    }
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
