/*
 * xet_merkle.c - the Xet merkle aggregation (xet-spec.md 2.3), computed incrementally.
 *
 * The batch definition cuts each level, left to right, into groups of 2..9 nodes: a group ends
 * at a "natural cut" node (raw byte 24 % 4 == 0) once it has at least two members before that
 * node, after nine members, or at the end of the level.  Whether a group ends depends only on
 * its own members, so each level can be grouped as nodes arrive: keep the open group of every
 * level (at most 8 nodes while open), and when a group closes push its parent one level up.
 * At the end, open groups are flushed bottom-up until a level with exactly one node remains.
 * Memory is fixed (XET_MERKLE_LEVELS levels of 9 nodes), whatever the file size.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <blake3.h>

#include "xet/xet_int.h"

_Static_assert(sizeof(xet_hash) == 32, "xet_hash must be 32 raw bytes");

void xet_merkle_init(xet_merkle *m)
{
    memset(m->npending, 0, sizeof m->npending);
    memset(m->count, 0, sizeof m->count);
    m->nlevels = 0;
    m->overflow = 0;
}

static int is_natural_cut(const xet_hash *h)
{
    return (h->b[24] & 3) == 0;
}

/* Parent of a group: keyed(INTERNAL_NODE_KEY, "<xet hex> : <size>\n" for each member). */
static void group_parent(const xet_merkle_node *g, size_t n, xet_merkle_node *parent)
{
    blake3_hasher h;
    blake3_hasher_init_keyed(&h, XET_INTERNAL_NODE_KEY);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char line[XET_HEX_LEN + 32];
        xet_hash_to_hex(&g[i].hash, line);
        int len = snprintf(line + XET_HEX_LEN, sizeof line - XET_HEX_LEN, " : %" PRIu64 "\n",
                           g[i].size);
        blake3_hasher_update(&h, line, XET_HEX_LEN + (size_t)len);
        total += g[i].size;
    }
    blake3_hasher_finalize(&h, parent->hash.b, 32);
    parent->size = total;
}

static void add_at(xet_merkle *m, int level, const xet_hash *hash, uint64_t size)
{
    if (level >= XET_MERKLE_LEVELS) {
        m->overflow = 1;
        return;
    }
    if (level >= m->nlevels)
        m->nlevels = level + 1;
    m->count[level]++;
    uint8_t n = m->npending[level];
    xet_merkle_node *g = m->pending[level];
    g[n].hash = *hash;
    g[n].size = size;
    n++;
    /* The node just added sits at position n-1 of its group. */
    if ((n >= 3 && is_natural_cut(hash)) || n == 9) {
        xet_merkle_node parent;
        group_parent(g, n, &parent);
        m->npending[level] = 0;
        add_at(m, level + 1, &parent.hash, parent.size);
        return;
    }
    m->npending[level] = n;
}

void xet_merkle_add(xet_merkle *m, const xet_hash *h, uint64_t size)
{
    add_at(m, 0, h, size);
}

hg_err xet_merkle_finish(xet_merkle *m, xet_hash *root, uint64_t *size)
{
    if (m->overflow)
        return HG_ERR_TOOBIG;
    if (m->nlevels == 0) {
        memset(root->b, 0, 32);
        if (size)
            *size = 0;
        return HG_OK;
    }
    for (int level = 0; level < XET_MERKLE_LEVELS; level++) {
        /* A level with a single node and nothing above it holds the root. */
        if (m->count[level] == 1 && level + 1 >= m->nlevels) {
            assert(m->npending[level] == 1);
            *root = m->pending[level][0].hash;
            if (size)
                *size = m->pending[level][0].size;
            return HG_OK;
        }
        if (m->npending[level] > 0) {
            xet_merkle_node parent;
            group_parent(m->pending[level], m->npending[level], &parent);
            m->npending[level] = 0;
            add_at(m, level + 1, &parent.hash, parent.size);
            if (m->overflow)
                return HG_ERR_TOOBIG;
        }
    }
    return HG_ERR_TOOBIG;
}

hg_err xet_merkle_root(const xet_merkle_node *leaves, size_t n, xet_hash *root)
{
    xet_merkle m;
    xet_merkle_init(&m);
    for (size_t i = 0; i < n; i++)
        xet_merkle_add(&m, &leaves[i].hash, leaves[i].size);
    return xet_merkle_finish(&m, root, NULL);
}
