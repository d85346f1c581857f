/* libFuzzer target: the pickle machine (every opcode path, memo, frames, nested pickles, joblib skipping) must judge any bytes without reading out of bounds, leaking or
 * crashing, and always produce a verdict that renders as JSON. */
#include <stdlib.h>

#include "scan/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan_result r;
    if (scan_mem(data, size, "model.pkl", &r) != HG_OK)
        return 0;
    if (r.verdict > SCAN_BLOCK)
        abort();
    json_t *j = scan_result_json(&r, "model.pkl");
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
