/*
 * fuzz_scan.h - what every scanner fuzz target checks for one input: the scanner judges any
 * bytes without reading out of bounds, leaking or crashing, gives a verdict in range, and the
 * result renders as JSON.
 */
#ifndef HG_FUZZ_SCAN_H
#define HG_FUZZ_SCAN_H

#include <stdlib.h>

#include "scan/scan.h"

static inline int fuzz_scan_one(const uint8_t *data, size_t size, const char *name)
{
    scan_result r;
    if (scan_mem(data, size, name, &r) != HG_OK)
        return 0;
    if (r.verdict > SCAN_BLOCK)
        abort();
    json_t *j = scan_result_json(&r, name);
    if (!j)
        abort();
    char *s = json_dumps(j, 0);
    if (!s)
        abort();
    free(s);
    json_decref(j);
    scan_result_free(&r);
    return 0;
}

#endif
