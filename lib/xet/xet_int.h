/*
 * xet_int.h - private to lib/xet: tables and little-endian helpers shared by the codecs.
 */
#ifndef HG_XET_INT_H
#define HG_XET_INT_H

#include <stdint.h>

#include "xet/xet.h"

extern const uint64_t xet_gear[256];

/* The gear mask: the high 16 bits (xet-spec.md 1.1). */
#define XET_GEAR_MASK 0xFFFF000000000000ull
/* Bytes at the start of every chunk that are never hashed: MIN - 64 - 1. */
#define XET_SKIP 8127u

static inline uint32_t xet_le24(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static inline uint32_t xet_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t xet_le64(const uint8_t *p)
{
    return (uint64_t)xet_le32(p) | (uint64_t)xet_le32(p + 4) << 32;
}

static inline void xet_put24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

static inline void xet_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void xet_put64(uint8_t *p, uint64_t v)
{
    xet_put32(p, (uint32_t)v);
    xet_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
