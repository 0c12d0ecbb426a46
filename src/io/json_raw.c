#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_raw.h"

#define GC_JR_MAX_DEPTH 512

typedef struct {
    gc_jr_doc *d;
    size_t pos;
} parser;

static gc_status fail(const parser *p, const char *what) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->pos && i < p->d->len; i++) {
        if (p->d->text[i] == '\n') line++, col = 1;
        else col++;
    }
    return gc_errorf(GC_ERR_FORMAT, "%s: not valid JSON at line %zu, column %zu: %s", p->d->label, line, col, what);
}

static void skip_ws(parser *p) {
    const char *t = p->d->text;
    while (p->pos < p->d->len && (t[p->pos] == ' ' || t[p->pos] == '\t' || t[p->pos] == '\n' || t[p->pos] == '\r'))
        p->pos++;
}

static int64_t new_node(parser *p, gc_jr_type type) {
    gc_jr_doc *d = p->d;
    if (d->n == d->cap) {
        int64_t cap = d->cap ? 2 * d->cap : 256;
        gc_jr_node *nn = gc_realloc_array(d->nodes, (size_t)cap, sizeof *nn);
        if (!nn) return -1;
        d->nodes = nn, d->cap = cap;
    }
    gc_jr_node *n = &d->nodes[d->n];
    memset(n, 0, sizeof *n);
    n->type = type, n->start = p->pos, n->first = n->next = -1;
    return d->n++;
}

/* Length of the UTF-8 sequence at s (max bytes left), 0 if invalid (overlong, surrogate, > U+10FFFF). */
static int utf8_len(const unsigned char *s, size_t max) {
    if (s[0] < 0x80) return 1;
    int n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (!n || (size_t)n > max) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0;
    if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0;
    return n;
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* A string token at pos (the opening quote); pos ends after the closing quote. */
static gc_status scan_string(parser *p) {
    const char *t = p->d->text;
    size_t n = p->d->len;
    p->pos++;
    while (p->pos < n && t[p->pos] != '"') {
        unsigned char c = (unsigned char)t[p->pos];
        if (c < 0x20) return fail(p, "control character inside a string (must be escaped)");
        if (c == '\\') {
            if (p->pos + 1 >= n) break;
            char e = t[p->pos + 1];
            if (e == 'u') {
                for (int i = 2; i < 6; i++)
                    if (p->pos + i >= n || !is_hex(t[p->pos + i])) return fail(p, "bad \\u escape");
                p->pos += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                p->pos += 2;
            } else {
                return fail(p, "bad escape in a string");
            }
            continue;
        }
        int l = utf8_len((const unsigned char *)t + p->pos, n - p->pos);
        if (!l) return fail(p, "invalid UTF-8");
        p->pos += (size_t)l;
    }
    if (p->pos >= n) return fail(p, "unterminated string");
    p->pos++;
    return GC_OK;
}

static bool digit(const parser *p) { return p->pos < p->d->len && p->d->text[p->pos] >= '0' && p->d->text[p->pos] <= '9'; }

static gc_status scan_number(parser *p, bool *is_int) {
    const char *t = p->d->text;
    *is_int = true;
    if (t[p->pos] == '-') p->pos++;
    if (!digit(p)) return fail(p, "expected a digit (NaN and Infinity are not JSON)");
    if (t[p->pos] == '0') p->pos++;
    else
        while (digit(p)) p->pos++;
    if (p->pos < p->d->len && t[p->pos] == '.') {
        p->pos++, *is_int = false;
        if (!digit(p)) return fail(p, "expected a digit after '.'");
        while (digit(p)) p->pos++;
    }
    if (p->pos < p->d->len && (t[p->pos] == 'e' || t[p->pos] == 'E')) {
        p->pos++, *is_int = false;
        if (p->pos < p->d->len && (t[p->pos] == '+' || t[p->pos] == '-')) p->pos++;
        if (!digit(p)) return fail(p, "expected a digit in the exponent");
        while (digit(p)) p->pos++;
    }
    return GC_OK;
}

static gc_status parse_value(parser *p, int depth, int64_t *out);

/* Members or elements of a container node c (pos after its opening bracket). */
static gc_status parse_children(parser *p, int depth, int64_t c, bool object) {
    const char close = object ? '}' : ']';
    const char *t = p->d->text;
    int64_t last = -1;
    skip_ws(p);
    if (p->pos < p->d->len && t[p->pos] == close) {
        p->pos++;
        return GC_OK;
    }
    for (;;) {
        size_t kstart = 0, klen = 0;
        if (object) {
            if (p->pos >= p->d->len || t[p->pos] != '"') return fail(p, "expected a string key");
            kstart = p->pos;
            GC_TRY(scan_string(p));
            klen = p->pos - kstart;
            skip_ws(p);
            if (p->pos >= p->d->len || t[p->pos] != ':') return fail(p, "expected ':' after a key");
            p->pos++;
            skip_ws(p);
        }
        int64_t v;
        GC_TRY(parse_value(p, depth + 1, &v));
        gc_jr_node *nodes = p->d->nodes;
        nodes[v].kstart = kstart, nodes[v].klen = klen;
        if (last < 0) nodes[c].first = v;
        else nodes[last].next = v;
        last = v;
        nodes[c].count++;
        skip_ws(p);
        if (p->pos < p->d->len && t[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (p->pos < p->d->len && t[p->pos] == close) {
            p->pos++;
            return GC_OK;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static gc_status parse_value(parser *p, int depth, int64_t *out) {
    if (depth > GC_JR_MAX_DEPTH) return fail(p, "nested too deeply");
    if (p->pos >= p->d->len) return fail(p, "unexpected end of text");
    const char *t = p->d->text + p->pos;
    size_t left = p->d->len - p->pos;
    static const struct {
        const char *word;
        gc_jr_type type;
    } k_words[] = {{"null", GC_JR_NULL}, {"true", GC_JR_TRUE}, {"false", GC_JR_FALSE}};
    gc_jr_type type = GC_JR_NUMBER;
    size_t wlen = 0;
    for (size_t i = 0; i < GC_COUNTOF(k_words); i++)
        if (left >= strlen(k_words[i].word) && memcmp(t, k_words[i].word, strlen(k_words[i].word)) == 0)
            type = k_words[i].type, wlen = strlen(k_words[i].word);
    if (*t == '"') type = GC_JR_STRING;
    else if (*t == '[') type = GC_JR_ARRAY;
    else if (*t == '{') type = GC_JR_OBJECT;
    else if (!wlen && *t != '-' && !(*t >= '0' && *t <= '9'))
        return fail(p, *t == '\xef'              ? "byte-order mark (not allowed in JSON)"
                       : *t == 'N' || *t == 'I' ? "NaN and Infinity are not JSON"
                                                : "unexpected character");
    int64_t v = new_node(p, type);
    if (v < 0) return GC_ERR_NOMEM;
    gc_status s = GC_OK;
    if (wlen) p->pos += wlen;
    else if (type == GC_JR_STRING) s = scan_string(p);
    else if (type == GC_JR_NUMBER) s = scan_number(p, &p->d->nodes[v].is_int);
    else p->pos++, s = parse_children(p, depth, v, type == GC_JR_OBJECT);
    if (s != GC_OK) return s;
    p->d->nodes[v].len = p->pos - p->d->nodes[v].start;
    *out = v;
    return GC_OK;
}

gc_status gc_jr_parse(gc_jr_doc *d, const char *text, size_t len, const char *label) {
    memset(d, 0, sizeof *d);
    d->text = text, d->len = len, d->label = label;
    parser p = {d, 0};
    skip_ws(&p);
    int64_t top;
    gc_status s = parse_value(&p, 0, &top);
    skip_ws(&p);
    if (s == GC_OK && p.pos != len) s = fail(&p, "extra text after the value");
    if (s != GC_OK) gc_jr_free(d);
    return s;
}

void gc_jr_free(gc_jr_doc *d) {
    free(d->nodes);
    memset(d, 0, sizeof *d);
}

static unsigned hex4(const char *s) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) v = v * 16 + (unsigned)(s[i] <= '9' ? s[i] - '0' : (s[i] | 32) - 'a' + 10);
    return v;
}

/* Decode the string token text[start..start+len) (with its quotes). */
static char *decode(const gc_jr_doc *d, size_t start, size_t len) {
    const char *s = d->text + start + 1, *end = d->text + start + len - 1;
    char *out = malloc(len + 1), *o = out; /* an escape never decodes to more bytes than it takes */
    if (!out) {
        gc_errorf(GC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    while (s < end) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        char e = s[1];
        s += 2;
        if (e != 'u') {
            *o++ = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
            continue;
        }
        unsigned c = hex4(s);
        s += 4;
        if (c >= 0xd800 && c < 0xdc00 && end - s >= 6 && s[0] == '\\' && s[1] == 'u' && hex4(s + 2) >= 0xdc00 &&
            hex4(s + 2) < 0xe000) {
            c = 0x10000 + ((c - 0xd800) << 10) + (hex4(s + 2) - 0xdc00);
            s += 6;
        } else if ((c >= 0xd800 && c < 0xe000) || c == 0) {
            free(out);
            gc_errorf(GC_ERR_FORMAT, "%s: a string holds %s", d->label, c ? "an unpaired surrogate escape" : "a NUL character");
            return NULL;
        }
        if (c < 0x80) *o++ = (char)c;
        else if (c < 0x800) *o++ = (char)(0xc0 | c >> 6), *o++ = (char)(0x80 | (c & 0x3f));
        else if (c < 0x10000)
            *o++ = (char)(0xe0 | c >> 12), *o++ = (char)(0x80 | (c >> 6 & 0x3f)), *o++ = (char)(0x80 | (c & 0x3f));
        else
            *o++ = (char)(0xf0 | c >> 18), *o++ = (char)(0x80 | (c >> 12 & 0x3f)), *o++ = (char)(0x80 | (c >> 6 & 0x3f)),
            *o++ = (char)(0x80 | (c & 0x3f));
    }
    *o = 0;
    return out;
}

char *gc_jr_str(const gc_jr_doc *d, int64_t node, int kind) {
    const gc_jr_node *n = &d->nodes[node];
    if (kind ? !n->klen : n->type != GC_JR_STRING) {
        gc_errorf(GC_ERR_ARG, "%s: not a string", d->label);
        return NULL;
    }
    return kind ? decode(d, n->kstart, n->klen) : decode(d, n->start, n->len);
}

/* Key of member m equals key (decoding only keys with escapes). */
static bool key_eq(const gc_jr_doc *d, const gc_jr_node *m, const char *key) {
    const char *k = d->text + m->kstart + 1;
    size_t kl = m->klen - 2, l = strlen(key);
    if (!memchr(k, '\\', kl)) return kl == l && memcmp(k, key, l) == 0;
    char *dk = decode(d, m->kstart, m->klen);
    bool eq = dk && strcmp(dk, key) == 0;
    free(dk);
    return eq;
}

int64_t gc_jr_get(const gc_jr_doc *d, int64_t obj, const char *key) {
    if (obj < 0 || d->nodes[obj].type != GC_JR_OBJECT) return -1;
    int64_t found = -1;
    for (int64_t m = d->nodes[obj].first; m >= 0; m = d->nodes[m].next)
        if (key_eq(d, &d->nodes[m], key)) found = m;
    return found;
}

bool gc_jr_int64(const gc_jr_doc *d, int64_t node, int64_t *out) {
    const gc_jr_node *n = &d->nodes[node];
    if (n->type != GC_JR_NUMBER || !n->is_int || n->len > 20) return false;
    char buf[24];
    memcpy(buf, d->text + n->start, n->len);
    buf[n->len] = 0;
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE) return false;
    *out = v;
    return true;
}

double gc_jr_num(const gc_jr_doc *d, int64_t node) {
    const gc_jr_node *n = &d->nodes[node];
    char buf[64];
    if (n->len >= sizeof buf) { /* long literals: strtod needs a terminated copy */
        char *t = gc_strfmt("%.*s", (int)n->len, d->text + n->start);
        double v = t ? strtod(t, NULL) : 0;
        free(t);
        return v;
    }
    memcpy(buf, d->text + n->start, n->len);
    buf[n->len] = 0;
    return strtod(buf, NULL);
}
