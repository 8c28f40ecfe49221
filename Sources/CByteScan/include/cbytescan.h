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

// Stops of names (table, tag and field): NUL, LF, CR, space, comma, equals, backslash.
static inline long sundial_scan_name(const uint8_t *base, long start, long end) {
    long index = start;
#if defined(__SSE2__)
    const __m128i nul = _mm_setzero_si128(), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    const __m128i space = _mm_set1_epi8(' '), comma = _mm_set1_epi8(','), equals = _mm_set1_epi8('=');
    const __m128i backslash = _mm_set1_epi8('\\');
    while (index + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(base + index));
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, nul), _mm_cmpeq_epi8(v, lf)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, space))),
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, equals)),
                         _mm_cmpeq_epi8(v, backslash)));
        int bits = _mm_movemask_epi8(hit);
        if (bits) return index + __builtin_ctz((unsigned)bits);
        index += 16;
    }
#endif
    for (; index < end; index++) {
        uint8_t b = base[index];
        if (b == 0 || b == '\n' || b == '\r' || b == ' ' || b == ',' || b == '=' || b == '\\') return index;
    }
    return end;
}

// Stops of unquoted values: NUL, LF, CR, space, comma, backslash.
static inline long sundial_scan_value(const uint8_t *base, long start, long end) {
    long index = start;
#if defined(__SSE2__)
    const __m128i nul = _mm_setzero_si128(), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    const __m128i space = _mm_set1_epi8(' '), comma = _mm_set1_epi8(','), backslash = _mm_set1_epi8('\\');
    while (index + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(base + index));
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, nul), _mm_cmpeq_epi8(v, lf)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, space))),
            _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, backslash)));
        int bits = _mm_movemask_epi8(hit);
        if (bits) return index + __builtin_ctz((unsigned)bits);
        index += 16;
    }
#endif
    for (; index < end; index++) {
        uint8_t b = base[index];
        if (b == 0 || b == '\n' || b == '\r' || b == ' ' || b == ',' || b == '\\') return index;
    }
    return end;
}

// Stops inside a quoted string: LF, double quote, backslash.
static inline long sundial_scan_quoted(const uint8_t *base, long start, long end) {
    long index = start;
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n'), quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    while (index + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(base + index));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, quote)),
                                   _mm_cmpeq_epi8(v, backslash));
        int bits = _mm_movemask_epi8(hit);
        if (bits) return index + __builtin_ctz((unsigned)bits);
        index += 16;
    }
#endif
    for (; index < end; index++) {
        uint8_t b = base[index];
        if (b == '\n' || b == '"' || b == '\\') return index;
    }
    return end;
}

#endif
