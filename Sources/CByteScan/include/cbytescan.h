// Finding the structural bytes of an ILP line with SSE2 (part of every x86-64 CPU). Swift has no
// portable way to turn a vector compare into a bit mask, so these loops live in C; the functions
// are static inline so Swift inlines them into the parser. Other CPUs take the scalar loops.
#ifndef SUNDIAL_CBYTESCAN_H
#define SUNDIAL_CBYTESCAN_H

#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// The index of the first of seven stop bytes in [start, end), or end (a set with fewer repeats
// one; the repeated compares fold away once inlined with constant stops).
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

// Stops inside a quoted string: LF, double quote, backslash.
static inline long sundial_scan_quoted(const uint8_t *base, long start, long end) {
    return sundial_scan_stops(base, start, end, '\n', '"', '\\', '\\', '\\', '\\', '\\');
}

// Stop bytes of names over a 64-byte block, as bit masks (bit i: byte start + i): `stops` has
// NUL, LF, CR, space, comma, equals and backslash; `equals` only the equals signs (a value's
// stops are `stops & ~equals`). From `end` on every bit is a stop, so a scan ends there. The
// parser classifies a block once and then finds each token's end with a shift and a count of
// trailing zeros, instead of a vector loop (and its setup) per token. Returns whether a byte
// of the block (before `end`) has its high bit set: the line's UTF-8 check needs no pass of
// its own when none has.
static inline int sundial_classify_block(const uint8_t *base, long start, long end, uint64_t *stops,
                                         uint64_t *equals) {
    uint64_t s = 0, e = 0;
    int high = 0;
#if defined(__SSE2__)
    if (end - start >= 64) {
        const __m128i nul = _mm_setzero_si128(), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
        const __m128i space = _mm_set1_epi8(' '), comma = _mm_set1_epi8(','), eq = _mm_set1_epi8('=');
        const __m128i backslash = _mm_set1_epi8('\\');
        for (int part = 0; part < 4; part++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(base + start + part * 16));
            __m128i isEquals = _mm_cmpeq_epi8(v, eq);
            __m128i hit = _mm_or_si128(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, nul), _mm_cmpeq_epi8(v, lf)),
                             _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, space))),
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), isEquals), _mm_cmpeq_epi8(v, backslash)));
            s |= (uint64_t)(uint16_t)_mm_movemask_epi8(hit) << (part * 16);
            e |= (uint64_t)(uint16_t)_mm_movemask_epi8(isEquals) << (part * 16);
            high |= _mm_movemask_epi8(v);
        }
        *stops = s;
        *equals = e;
        return high != 0;
    }
#endif
    long limit = end - start < 64 ? end : start + 64;
    for (long index = start; index < limit; index++) {
        uint8_t b = base[index];
        uint64_t bit = (uint64_t)1 << (index - start);
        if (b == 0 || b == '\n' || b == '\r' || b == ' ' || b == ',' || b == '=' || b == '\\') s |= bit;
        if (b == '=') e |= bit;
        high |= b & 0x80;
    }
    if (limit - start < 64) s |= ~(uint64_t)0 << (limit - start);
    *stops = s;
    *equals = e;
    return high != 0;
}

#endif
