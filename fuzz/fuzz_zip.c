/* libFuzzer target: the strict zip reader and what it dispatches members to (torch data.pkl, npy, keras config) must judge any bytes without reading out of bounds, leaking or
 * crashing, and always produce a verdict that renders as JSON. */
#include "fuzz_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_scan_one(data, size, "model.pt");
}
