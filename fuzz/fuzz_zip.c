/* libFuzzer target: the strict zip reader and what it dispatches members to (torch data.pkl, npy, keras config) must judge any bytes without reading out of bounds, leaking or
 * crashing, and always produce a verdict that renders as JSON. */
#include <stdlib.h>

#include "scan/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan_result r;
    if (scan_mem(data, size, "model.pt", &r) != HG_OK)
        return 0;
    if (r.verdict > SCAN_BLOCK)
        abort();
    json_t *j = scan_result_json(&r, "model.pt");
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
