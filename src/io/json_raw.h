/* A JSON reader that keeps every value's source text: for files whose values must be passed on
 * unchanged (the AP-10K builder copies COCO annotation fields into its own files, and Python reads
 * them back with their JSON types: 363.0 stays a float, 363 an int, big integers stay exact), which
 * a reader that turns numbers into doubles (cJSON) cannot do. Strict RFC 8259: no NaN/Infinity,
 * no byte-order mark, no control characters inside strings, no trailing commas; nesting depth is
 * capped. Duplicate object keys are kept; lookups return the last one (as Python's json does). */
#ifndef GC_IO_JSON_RAW_H
#define GC_IO_JSON_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef enum { GC_JR_NULL, GC_JR_FALSE, GC_JR_TRUE, GC_JR_NUMBER, GC_JR_STRING, GC_JR_ARRAY, GC_JR_OBJECT } gc_jr_type;

typedef struct {
    gc_jr_type type;
    bool is_int;         /* a number written without fraction or exponent (Python int) */
    size_t start, len;   /* the value's text */
    size_t kstart, klen; /* object members: the key's text with its quotes (klen 0 otherwise) */
    int64_t first, next; /* first child, next sibling; -1 = none */
    int64_t count;       /* children (arrays and objects) */
} gc_jr_node;

typedef struct {
    const char *text;    /* not owned; must outlive the document */
    size_t len;
    const char *label;   /* file name for messages (not owned) */
    gc_jr_node *nodes;   /* [n]; node 0 = the top-level value */
    int64_t n, cap;
} gc_jr_doc;

/* Parse text[0..len) (a NUL byte anywhere is an error). On failure the message names label, line and column. */
gc_status gc_jr_parse(gc_jr_doc *d, const char *text, size_t len, const char *label);
void gc_jr_free(gc_jr_doc *d);

/* The member `key` of object node obj (the last if repeated), or -1. */
int64_t gc_jr_get(const gc_jr_doc *d, int64_t obj, const char *key);
/* Decoded UTF-8 of a string node (kind 0) or of a member's key (kind 1); NULL with a message when it
 * holds an unpaired surrogate or a NUL character. Caller frees. */
char *gc_jr_str(const gc_jr_doc *d, int64_t node, int kind);
/* An integer-literal node within int64 range. */
bool gc_jr_int64(const gc_jr_doc *d, int64_t node, int64_t *out);
/* A number node's value (strtod of its text; out of range gives +-inf). */
double gc_jr_num(const gc_jr_doc *d, int64_t node);

#endif
