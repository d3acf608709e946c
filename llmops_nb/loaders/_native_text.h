/* Shared by the native OTLP modules (_otlp_pb.c, _otlp_json.c): the hash of their string caches. */
#ifndef LLMOPS_NB_NATIVE_TEXT_H
#define LLMOPS_NB_NATIVE_TEXT_H

#include <stdint.h>
#include <string.h>

/* A cheap hash of s[:n] for the string caches (a miss only costs a new object): texts of 8 bytes
 * or more by their first and last 8 bytes and length, shorter ones byte by byte. */
static inline uint32_t bytes_hash(const unsigned char *s, Py_ssize_t n) {
    if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        uint64_t x = (a ^ (b * 0x9E3779B97F4A7C15ull) ^ (uint64_t)n) * 0xBF58476D1CE4E5B9ull;
        return (uint32_t)(x >> 32) ^ (uint32_t)x;
    }
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

#endif
