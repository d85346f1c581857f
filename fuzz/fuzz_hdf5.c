/* libFuzzer target: the HDF5 reader (superblock, object headers, continuation blocks, attribute
 * messages, global heap strings) and the Keras config check behind it must judge any bytes named
 * like a Keras model without reading out of bounds, leaking or crashing. */
#include "fuzz_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_scan_one(data, size, "model.h5");
}
