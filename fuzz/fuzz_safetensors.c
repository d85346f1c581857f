/* libFuzzer target: the safetensors header validator (length bounds, JSON, dtypes, offsets) must judge any bytes without reading out of bounds, leaking or
 * crashing, and always produce a verdict that renders as JSON. */
#include "fuzz_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_scan_one(data, size, "model.safetensors");
}
