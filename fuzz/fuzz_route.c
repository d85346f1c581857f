/* libFuzzer target: request paths from clients go through the route parser (split, percent-
 * decode, repo/marker detection) without crashing or leaking, whatever the bytes. */
#include <stdlib.h>
#include <string.h>

#include "hub/hub_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    hub_route r;
    if (hub_route_parse(s, &r) == HG_OK) {
        if (r.nrest > HUB_MAX_SEGS)
            abort();
        for (size_t i = 0; i < r.nrest; i++)
            if (!r.rest[i] || !r.raw_rest[i])
                abort();
        hub_route_clear(&r);
    }
    char out[256];
    size_t len;
    if (size < sizeof out && http_pct_decode(s, strlen(s), out, sizeof out, &len) == HG_OK && len > strlen(s))
        abort();
    free(s);
    return 0;
}
