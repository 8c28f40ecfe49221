// Finding the next structural byte of an ILP line sixteen bytes at a time (SSE2, part of every
// x86-64 CPU). Swift has no portable way to turn a vector compare into a bit mask, so this one
// loop lives in C; the functions are static inline so Swift inlines them into the parser.
// Other CPUs take the scalar loop. Each returns the index of the first stop byte in
// [start, end), or end.
#ifndef SUNDIAL_CBYTESCAN_H
#define SUNDIAL_CBYTESCAN_H

#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// The first of seven stop bytes (a set with fewer repeats one; the repeated compares fold away
// once inlined with constant stops).
static inline long sundial_scan_stops(const uint8_t *base, long start, long end, uint8_t s0, uint8_t s1, uint8_t s2,
                                      uint8_t s3, uint8_t s4, uint8_t s5, uint8_t s6) {
    long index = start;
#if defined(__SSE2__)
    const __m128i v0 = _mm_set1_epi8((char)s0), v1 = _mm_set1_epi8((char)s1), v2 = _mm_set1_epi8((char)s2);
    const __m128i v3 = _mm_set1_epi8((char)s3), v4 = _mm_set1_epi8((char)s4), v5 = _mm_set1_epi8((char)s5);
    const __m128i v6 = _mm_set1_epi8((char)s6);
    while (index + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(base + index));
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, v0), _mm_cmpeq_epi8(v, v1)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, v2), _mm_cmpeq_epi8(v, v3))),
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, v4), _mm_cmpeq_epi8(v, v5)), _mm_cmpeq_epi8(v, v6)));
        int bits = _mm_movemask_epi8(hit);
        if (bits) return index + __builtin_ctz((unsigned)bits);
        index += 16;
    }
#endif
    for (; index < end; index++) {
        uint8_t b = base[index];
        if (b == s0 || b == s1 || b == s2 || b == s3 || b == s4 || b == s5 || b == s6) return index;
    }
    return end;
}

// Stops of names (table, tag and field): NUL, LF, CR, space, comma, equals, backslash.
static inline long sundial_scan_name(const uint8_t *base, long start, long end) {
    return sundial_scan_stops(base, start, end, 0, '\n', '\r', ' ', ',', '=', '\\');
}

// Stops of unquoted values: NUL, LF, CR, space, comma, backslash.
static inline long sundial_scan_value(const uint8_t *base, long start, long end) {
    return sundial_scan_stops(base, start, end, 0, '\n', '\r', ' ', ',', '\\', '\\');
}

// Stops inside a quoted string: LF, double quote, backslash.
static inline long sundial_scan_quoted(const uint8_t *base, long start, long end) {
    return sundial_scan_stops(base, start, end, '\n', '"', '\\', '\\', '\\', '\\', '\\');
}

#endif
