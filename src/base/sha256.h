/* SHA-256 (FIPS 180-4): the fixtures identify uint8 arrays by the digest of their raw bytes. */
#ifndef GC_SHA256_H
#define GC_SHA256_H

#include <stddef.h>
#include <stdint.h>

void gc_sha256(const void *data, size_t len, uint8_t digest[32]);

#endif
