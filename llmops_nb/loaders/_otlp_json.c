/* OTLP/JSON ExportTraceServiceRequest decoded straight from its bytes into what
 * llmops_nb/loaders/_otlp_fast.py's mapping reads per span (the native hot path of map_json): no
 * intermediate dicts for the {"key": .., "value": {"stringValue": ..}} attribute lists.
 *
 * decode(data, kind_names, bytes_value) -> None | groups
 *   None: anything this decoder does not read exactly as orjson + the Python mapping would: malformed
 *         JSON (strict RFC 8259: no NaN/Infinity literals, no comments, no trailing commas), invalid
 *         UTF-8, a lone surrogate escape, a number orjson would give as a float where we read an int
 *         (negative beyond 64 bits) or that overflows a double, a duplicate member of an object this
 *         decoder reads, a top-level member other than resourceSpans, the snake_case or legacy layout
 *         (resource_spans, scope_spans, instrumentationLibrarySpans, instrumentationLibrary), resource
 *         attributes or a scope name it does not decode exactly, a span that is not an object,
 *         nesting deeper than MAX_DEPTH. The caller then parses with orjson, as without this module,
 *         so the frame and the errors are unchanged.
 *   groups: [(resource_attributes, [(scope_name | None, [span | None, ...]), ...]), ...] in document
 *          order, every resourceSpans and scopeSpans included (indexes line up with the document).
 *   span:  (attributes, trace_id, span_id, parent | None, name, start_us | None, end_us | None, status,
 *           status_message | None, otel_kind): the arguments of _map, exactly as _json_span computes
 *           them, or None when _json_span would hand the span to the reference mapping or when a
 *           value is not in the exact subset decoded here (then the reference decides, from orjson's
 *           document): events, ids not lowercase hex of 32/16 digits or all zeros, times outside
 *           1900-2200 or not whole nanoseconds, a span kind outside 0..5 and its enum names, an
 *           AnyValue with several members or an unknown one, a conversion int()/float() refuses...
 * Values: int() and float() of a string are CPython's own (PyNumber_Long/PyNumber_Float), bytesValue
 * goes through the bytes_value callable (the reference's base64 rule), so they cannot drift.
 * Every read is bounded by the end of the buffer; nothing is read past `end`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_native_text.h"
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 256 /* JSON nesting levels followed (~60 AnyValue levels; orjson stops at 1024) */
#define US_LO (-2208988800000000LL) /* 1900-01-01 in microseconds since 1970 */
#define US_HI 7258118400000000LL    /* 2200-01-01 */

static PyObject *S_ERROR, *S_OK, *S_UNSET;

typedef struct {
    const unsigned char *p, *end;
    int fail;     /* the whole export goes to orjson */
    int ref;      /* the current span goes to the reference mapping */
    int depth;
    PyObject *kinds;       /* tuple of 6 names (or None) for kinds 0..5 */
    PyObject *bytes_value; /* callable: the reference's bytesValue rule */
    char *buf;             /* scratch for strings with escapes and numbers */
    Py_ssize_t cap;
} P;

/* ------------------------------------------------------------------ key cache */
/* Attribute keys repeat across spans: the same str object is handed back (its hash cached too). */
#define KC_SIZE 4096
#define KC_MAXLEN 96
#define VC_MAXLEN 32
typedef struct {
    uint32_t h;
    Py_ssize_t n;
    PyObject *s;
} kc_entry;
static kc_entry kc[KC_SIZE]; /* attribute keys */
static kc_entry vc[KC_SIZE]; /* short string values (model, provider, roles, kinds, names...) and span/trace ids */

static PyObject *ascii_str(const unsigned char *s, Py_ssize_t n) {
    PyObject *o = PyUnicode_New(n, 127);
    if (!o) return NULL;
    memcpy(PyUnicode_1BYTE_DATA(o), s, (size_t)n);
    return o;
}

/* The str of ASCII text s[:n] from table tab (probes: how many neighbouring slots are tried): the
 * same object each time the text repeats while it stays in the table (fewer objects, hash cached);
 * a text not found takes an empty slot, or the first slot of its neighbourhood. */
static PyObject *cached(kc_entry *tab, int probes, const unsigned char *s, Py_ssize_t n) {
    uint32_t h = bytes_hash(s, n);
    for (int probe = 0; probe < probes; probe++) {
        kc_entry *e = &tab[(h + (uint32_t)probe) & (KC_SIZE - 1)];
        if (e->s == NULL) {
            PyObject *o = ascii_str(s, n);
            if (!o) return NULL;
            e->h = h;
            e->n = n;
            e->s = o;
            Py_INCREF(o);
            return o;
        }
        if (e->h == h && e->n == n && memcmp(PyUnicode_1BYTE_DATA(e->s), s, (size_t)n) == 0) {
            Py_INCREF(e->s);
            return e->s;
        }
    }
    kc_entry *e = &tab[h & (KC_SIZE - 1)]; /* the neighbourhood is full: the newest text replaces the first */
    PyObject *o = ascii_str(s, n);
    if (!o) return NULL;
    Py_SETREF(e->s, Py_NewRef(o));
    e->h = h;
    e->n = n;
    return o;
}

static PyObject *cached_key(const unsigned char *s, Py_ssize_t n) {
    return n > KC_MAXLEN ? ascii_str(s, n) : cached(kc, 8, s, n);
}

/* a string value: short ones through the value table (they repeat across spans: a span's parent
 * id is another span's id, a trace's spans share its id, models and roles recur) */
static PyObject *value_str(const unsigned char *s, Py_ssize_t n) {
    return n > VC_MAXLEN ? ascii_str(s, n) : cached(vc, 2, s, n);
}

/* ------------------------------------------------------------------ tokenizer */

static inline void ws(P *p) {
    while (p->p < p->end) {
        unsigned char c = *p->p;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            p->p++;
        else
            break;
    }
}

static inline int peek(P *p) {
    ws(p);
    return p->p < p->end ? *p->p : -1;
}

static inline int eat(P *p, unsigned char c) {
    if (peek(p) == c) {
        p->p++;
        return 1;
    }
    return 0;
}

static int grow(P *p, Py_ssize_t need) {
    if (need <= p->cap) return 0;
    Py_ssize_t cap = p->cap ? p->cap : 256;
    while (cap < need) cap *= 2;
    char *b = PyMem_Realloc(p->buf, (size_t)cap);
    if (!b) {
        PyErr_NoMemory();
        return -1;
    }
    p->buf = b;
    p->cap = cap;
    return 0;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex4(P *p, const unsigned char *s, uint32_t *out) {
    if (p->end - s < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0) return -1;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* A string token (p->p at its opening quote). Raw form: *s, *n point into the buffer and *esc says
 * whether it holds escapes; *ascii whether every byte is below 0x80. Only checks the token's extent. */
static int scan_string(P *p, const unsigned char **s, Py_ssize_t *n, int *esc, int *ascii) {
    if (p->p >= p->end || *p->p != '"') return -1;
    const unsigned char *q = ++p->p, *end = p->end;
    unsigned char hi = 0;
    int e = 0;
    /* eight bytes at a time while none is '"', '\\', a control character (< 0x20), or stops the
     * word test; the byte loop below then takes over at the word that holds one (same result) */
    uint64_t hiw = 0;
    while (end - q >= 8) {
        uint64_t w;
        memcpy(&w, q, 8);
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        uint64_t xq = w ^ (ones * '"'), xb = w ^ (ones * '\\');
        if (((xq - ones) & ~xq & highs) | ((xb - ones) & ~xb & highs) | ((w - ones * 0x20) & ~w & highs)) break;
        hiw |= w;
        q += 8;
    }
    if (hiw & 0x8080808080808080ULL) hi = 0x80;
    while (q < end) {
        unsigned char c = *q;
        if (c == '"') break;
        if (c == '\\') {
            e = 1;
            q += 2;
            continue;
        }
        if (c < 0x20) return -1;
        hi |= c;
        q++;
    }
    if (q >= end) return -1;
    *s = p->p;
    *n = q - p->p;
    *esc = e;
    *ascii = !(hi & 0x80);
    p->p = q + 1;
    return 0;
}

static void put_utf8(char *b, Py_ssize_t *k, uint32_t cp) {
    if (cp < 0x80) {
        b[(*k)++] = (char)cp;
    } else if (cp < 0x800) {
        b[(*k)++] = (char)(0xC0 | (cp >> 6));
        b[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        b[(*k)++] = (char)(0xE0 | (cp >> 12));
        b[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        b[(*k)++] = (char)(0xF0 | (cp >> 18));
        b[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[(*k)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* The str of a scanned string token; NULL with p->fail set (and no Python error) when it is not
 * exactly what orjson decodes (bad escape, lone surrogate, invalid UTF-8). */
static PyObject *make_string(P *p, const unsigned char *s, Py_ssize_t n, int esc, int ascii, int key) {
    if (!esc) {
        if (ascii) return key ? cached_key(s, n) : value_str(s, n);
        PyObject *o = PyUnicode_DecodeUTF8((const char *)s, n, "strict");
        if (!o && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            p->fail = 1;
        }
        return o;
    }
    if (grow(p, n) < 0) return NULL; /* the decoded UTF-8 is never longer than the escaped text */
    char *b = p->buf;
    Py_ssize_t k = 0;
    const unsigned char *q = s, *end = s + n;
    while (q < end) {
        const unsigned char *bs = memchr(q, '\\', (size_t)(end - q)); /* copy the run up to the next escape */
        size_t run = (size_t)((bs ? bs : end) - q);
        memcpy(b + k, q, run);
        k += (Py_ssize_t)run;
        q += run;
        if (bs == NULL) break;
        unsigned char c;
        if (end - q < 2) goto bad;
        c = q[1];
        q += 2;
        switch (c) {
        case '"': b[k++] = '"'; break;
        case '\\': b[k++] = '\\'; break;
        case '/': b[k++] = '/'; break;
        case 'b': b[k++] = '\b'; break;
        case 'f': b[k++] = '\f'; break;
        case 'n': b[k++] = '\n'; break;
        case 'r': b[k++] = '\r'; break;
        case 't': b[k++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (end - q < 4 || hex4(p, q, &cp) < 0) goto bad;
            q += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(p, q + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                    goto bad; /* a high surrogate with no low one after it */
                q += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                goto bad; /* a lone low surrogate */
            }
            put_utf8(b, &k, cp);
            break;
        }
        default:
            goto bad;
        }
    }
    {
        PyObject *o = PyUnicode_DecodeUTF8(b, k, "strict");
        if (!o && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            p->fail = 1;
        }
        return o;
    }
bad:
    p->fail = 1;
    return NULL;
}

static PyObject *read_string(P *p, int key) {
    const unsigned char *s;
    Py_ssize_t n;
    int esc, ascii;
    if (scan_string(p, &s, &n, &esc, &ascii) < 0) {
        p->fail = 1;
        return NULL;
    }
    return make_string(p, s, n, esc, ascii, key);
}

/* An object member's name compared with known names: returns its index in `names`, -1 for another
 * name, -2 on failure (escaped names are not compared: the whole export goes to orjson). */
static int read_name(P *p, const char *const *names, int count) {
    const unsigned char *s;
    Py_ssize_t n;
    int esc, ascii;
    if (peek(p) != '"' || scan_string(p, &s, &n, &esc, &ascii) < 0 || esc) {
        p->fail = 1;
        return -2;
    }
    if (!ascii) { /* still has to be valid UTF-8 */
        PyObject *o = make_string(p, s, n, 0, 0, 0);
        if (!o) return -2;
        Py_DECREF(o);
    }
    if (!eat(p, ':')) {
        p->fail = 1;
        return -2;
    }
    for (int i = 0; i < count; i++) /* the first byte first: most names differ there */
        if (n > 0 && names[i][0] == (char)s[0] && (Py_ssize_t)strlen(names[i]) == n && memcmp(names[i], s, (size_t)n) == 0)
            return i;
    return -1;
}

/* Scan a number token: its extent, whether it is an integer literal. */
static int scan_number(P *p, const unsigned char **s, Py_ssize_t *n, int *is_int) {
    const unsigned char *q = p->p, *end = p->end;
    int integer = 1;
    if (q < end && *q == '-') q++;
    if (q >= end) return -1;
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < end && *q >= '0' && *q <= '9') q++;
    } else {
        return -1;
    }
    if (q < end && *q == '.') {
        integer = 0;
        q++;
        if (q >= end || *q < '0' || *q > '9') return -1;
        while (q < end && *q >= '0' && *q <= '9') q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        integer = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (q >= end || *q < '0' || *q > '9') return -1;
        while (q < end && *q >= '0' && *q <= '9') q++;
    }
    *s = p->p;
    *n = q - p->p;
    *is_int = integer;
    p->p = q;
    return 0;
}

/* The Python value orjson gives for a number token (json.loads for integers of 20+ digits, which
 * read_traces uses then); NULL with p->fail where those differ or overflow. */
static PyObject *make_number(P *p, const unsigned char *s, Py_ssize_t n, int is_int) {
    if (is_int) {
        int neg = s[0] == '-';
        Py_ssize_t digits = n - neg;
        if (digits <= 18) {
            long long v = 0;
            for (Py_ssize_t i = neg; i < n; i++) v = v * 10 + (s[i] - '0');
            return PyLong_FromLongLong(neg ? -v : v);
        }
        if (digits == 19) {
            unsigned long long v = 0;
            for (Py_ssize_t i = neg; i < n; i++) v = v * 10 + (unsigned long long)(s[i] - '0');
            if (!neg) return PyLong_FromUnsignedLongLong(v);
            if (v > 9223372036854775808ULL) { /* orjson gives a float there */
                p->fail = 1;
                return NULL;
            }
            return PyLong_FromLongLong(v == 9223372036854775808ULL ? LLONG_MIN : -(long long)v);
        }
        /* 20 digits or more: read_traces parses such a document with json.loads (exact ints) */
    }
    if (grow(p, n + 1) < 0) return NULL;
    memcpy(p->buf, s, (size_t)n);
    p->buf[n] = 0;
    if (is_int) {
        PyObject *o = PyLong_FromString(p->buf, NULL, 10);
        if (!o && PyErr_ExceptionMatches(PyExc_ValueError)) { /* beyond sys.get_int_max_str_digits() */
            PyErr_Clear();
            p->fail = 1;
        }
        return o;
    }
    double d = PyOS_string_to_double(p->buf, NULL, NULL);
    if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        p->fail = 1;
        return NULL;
    }
    if (Py_IS_INFINITY(d)) { /* orjson refuses it */
        p->fail = 1;
        return NULL;
    }
    return PyFloat_FromDouble(d);
}

static int lit(P *p, const char *word, Py_ssize_t n) {
    if (p->end - p->p < n || memcmp(p->p, word, (size_t)n) != 0) return -1;
    p->p += n;
    return 0;
}

/* Any JSON value, checked and skipped. */
static int skip_value(P *p) {
    int c = peek(p);
    const unsigned char *s;
    Py_ssize_t n;
    int a, b;
    switch (c) {
    case '"':
        if (scan_string(p, &s, &n, &a, &b) < 0) return -1;
        if (a || !b) { /* escapes and UTF-8 checked as a value would be */
            PyObject *o = make_string(p, s, n, a, b, 0);
            if (!o) return -1;
            Py_DECREF(o);
        }
        return 0;
    case '{':
        if (++p->depth > MAX_DEPTH) return -1;
        p->p++;
        if (!eat(p, '}')) {
            do {
                if (peek(p) != '"' || skip_value(p) < 0 || !eat(p, ':') || skip_value(p) < 0) return -1;
            } while (eat(p, ','));
            if (!eat(p, '}')) return -1;
        }
        p->depth--;
        return 0;
    case '[':
        if (++p->depth > MAX_DEPTH) return -1;
        p->p++;
        if (!eat(p, ']')) {
            do {
                if (skip_value(p) < 0) return -1;
            } while (eat(p, ','));
            if (!eat(p, ']')) return -1;
        }
        p->depth--;
        return 0;
    case 't': return lit(p, "true", 4);
    case 'f': return lit(p, "false", 5);
    case 'n': return lit(p, "null", 4);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            if (scan_number(p, &s, &n, &a) < 0) return -1;
            if (!a || n - (s[0] == '-') >= 19) { /* the same numbers make_number refuses */
                PyObject *o = make_number(p, s, n, a);
                if (!o) return -1;
                Py_DECREF(o);
            }
            return 0;
        }
        return -1;
    }
}

/* skip_value with failure recorded; for members this decoder ignores or spans marked for the reference */
static int skip(P *p) {
    if (skip_value(p) < 0) {
        p->fail = 1;
        return -1;
    }
    return 0;
}

/* '{' or '[' opened one level deeper (p->fail past MAX_DEPTH or on another character) */
static int open_(P *p, unsigned char c) {
    if (peek(p) != c || ++p->depth > MAX_DEPTH) {
        p->fail = 1;
        return -1;
    }
    p->p++;
    return 0;
}

static int close_(P *p, unsigned char c) {
    if (!eat(p, c)) {
        p->fail = 1;
        return -1;
    }
    p->depth--;
    return 0;
}

/* a null here: consumed, 1; another value: 0; a broken literal: -1 */
static int null_(P *p) {
    if (peek(p) != 'n') return 0;
    if (lit(p, "null", 4) < 0) {
        p->fail = 1;
        return -1;
    }
    return 1;
}

typedef int (*item_fn)(P *p, PyObject *out);

/* A JSON array, each item read by fn into out (p->p at '['). */
static int array_(P *p, item_fn fn, PyObject *out) {
    if (open_(p, '[') < 0) return -1;
    if (eat(p, ']')) {
        p->depth--;
        return 0;
    }
    do {
        if (fn(p, out) < 0) return -1;
    } while (eat(p, ','));
    return close_(p, ']');
}

/* out.append(fn(p)) for the readers that return a new object */
static int append_(PyObject *out, PyObject *x) {
    if (!x) return -1;
    int r = PyList_Append(out, x);
    Py_DECREF(x);
    return r;
}

/* A JSON scalar as orjson gives it (str, int, float, bool, None); NULL + *other when the value is an
 * object or array (not consumed), NULL + p->fail on failure. */
static PyObject *scalar(P *p, int *other) {
    int c = peek(p);
    *other = 0;
    if (c == '"') return read_string(p, 0);
    if (c == 't') {
        if (lit(p, "true", 4) < 0) goto bad;
        Py_RETURN_TRUE;
    }
    if (c == 'f') {
        if (lit(p, "false", 5) < 0) goto bad;
        Py_RETURN_FALSE;
    }
    if (c == 'n') {
        if (lit(p, "null", 4) < 0) goto bad;
        Py_RETURN_NONE;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const unsigned char *s;
        Py_ssize_t n;
        int is_int;
        if (scan_number(p, &s, &n, &is_int) < 0) goto bad;
        return make_number(p, s, n, is_int);
    }
    if (c == '{' || c == '[') {
        *other = 1;
        return NULL;
    }
bad:
    p->fail = 1;
    return NULL;
}

/* A Python conversion that raised: the span goes to the reference (which raises or not, itself);
 * MemoryError propagates. */
static PyObject *conversion_failed(P *p) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) return NULL;
    PyErr_Clear();
    p->ref = 1;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ AnyValue */

static PyObject *any_value(P *p);

static const char *const ANY_NAMES[] = {"stringValue", "intValue", "doubleValue", "boolValue", "arrayValue",
                                        "kvlistValue", "bytesValue"};
enum { A_STR, A_INT, A_DOUBLE, A_BOOL, A_ARRAY, A_KVLIST, A_BYTES };
static const char *const VALUES_NAME[] = {"values"};
static const char *const KV_NAMES[] = {"key", "value"};

/* {"values": [...]} of arrayValue / kvlistValue (null or {} -> empty), other members ignored as the
 * reference ignores them. Each item goes to one_item. */
static int values_of(P *p, int kv, PyObject *out);

static int kv_item(P *p, PyObject *out);

/* An AnyValue object or null (what `_any_value(kv.get("value"))` reads); Py_None with p->ref set when
 * it is outside the exact subset. */
static PyObject *any_value(P *p) {
    int c = peek(p);
    if (c == 'n') {
        if (lit(p, "null", 4) < 0) {
            p->fail = 1;
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (c != '{') { /* a truthy non-object reads differently in the reference: it decides */
        if (skip(p) < 0) return NULL;
        p->ref = 1;
        Py_RETURN_NONE;
    }
    if (++p->depth > MAX_DEPTH) {
        p->fail = 1;
        return NULL;
    }
    p->p++;
    if (eat(p, '}')) { /* {} is falsy: None */
        p->depth--;
        Py_RETURN_NONE;
    }
    int which = read_name(p, ANY_NAMES, 7);
    if (which == -2) return NULL;
    PyObject *v = NULL;
    int other;
    switch (which) {
    case A_STR:
        v = scalar(p, &other);
        if (!v) {
            if (p->fail || PyErr_Occurred()) return NULL;
            if (skip(p) < 0) return NULL;
            p->ref = 1;
            v = Py_NewRef(Py_None);
        } else if (!PyUnicode_CheckExact(v) && v != Py_None) {
            p->ref = 1; /* a number or bool as stringValue: the reference decides */
        }
        break;
    case A_INT:
    case A_DOUBLE:
    case A_BOOL: {
        PyObject *x = scalar(p, &other);
        if (!x) {
            if (p->fail || PyErr_Occurred()) return NULL;
            if (skip(p) < 0) return NULL;
            p->ref = 1;
            v = Py_NewRef(Py_None);
            break;
        }
        if (which == A_BOOL) {
            if (x == Py_True || x == Py_False)
                v = Py_NewRef(x);
            else {
                p->ref = 1;
                v = Py_NewRef(Py_None);
            }
        } else if (x == Py_None || PyBool_Check(x)) {
            p->ref = 1;
            v = Py_NewRef(Py_None);
        } else {
            v = which == A_INT ? PyNumber_Long(x) : PyNumber_Float(x); /* int(x) / float(x), CPython's own */
            if (!v) v = conversion_failed(p);
        }
        Py_DECREF(x);
        break;
    }
    case A_ARRAY:
    case A_KVLIST: {
        int k = which == A_KVLIST;
        v = k ? PyDict_New() : PyList_New(0);
        if (!v) return NULL;
        int isnull = null_(p), r = isnull < 0 ? -1 : 0;
        if (!isnull) {
            if (peek(p) == '{')
                r = values_of(p, k, v);
            else if ((r = skip(p)) == 0)
                p->ref = 1;
        }
        if (r < 0) {
            Py_DECREF(v);
            return NULL;
        }
        break;
    }
    case A_BYTES: {
        PyObject *x = scalar(p, &other);
        if (!x) {
            if (p->fail || PyErr_Occurred()) return NULL;
            if (skip(p) < 0) return NULL;
            p->ref = 1;
            v = Py_NewRef(Py_None);
            break;
        }
        if (PyUnicode_CheckExact(x)) {
            v = PyObject_CallOneArg(p->bytes_value, x);
            if (!v) v = conversion_failed(p);
        } else {
            p->ref = 1;
            v = Py_NewRef(Py_None);
        }
        Py_DECREF(x);
        break;
    }
    default: /* another member name (snake_case spellings...): the reference decides */
        if (skip(p) < 0) return NULL;
        p->ref = 1;
        v = Py_NewRef(Py_None);
    }
    if (!v) return NULL;
    if (!eat(p, '}')) { /* a second member: which one wins is the reference's business */
        if (!eat(p, ',')) {
            p->fail = 1;
            Py_DECREF(v);
            return NULL;
        }
        p->ref = 1;
        do {
            if (peek(p) != '"' || skip(p) < 0 || !eat(p, ':') || skip(p) < 0) {
                p->fail = 1;
                Py_DECREF(v);
                return NULL;
            }
        } while (eat(p, ','));
        if (!eat(p, '}')) {
            p->fail = 1;
            Py_DECREF(v);
            return NULL;
        }
    }
    p->depth--;
    return v;
}

/* {"key": str, "value": AnyValue} into out[key]; the span goes to the reference when the key is
 * missing or not a string. */
static int kv_item(P *p, PyObject *out) {
    if (peek(p) != '{') {
        if (skip(p) < 0) return -1;
        p->ref = 1;
        return 0;
    }
    if (++p->depth > MAX_DEPTH) {
        p->fail = 1;
        return -1;
    }
    p->p++;
    PyObject *key = NULL, *val = NULL;
    int seen = 0;
    if (!eat(p, '}')) {
        do {
            int w = read_name(p, KV_NAMES, 2);
            if (w == -2) goto err;
            if (w >= 0) {
                if (seen & (1 << w)) { /* a duplicate member */
                    p->fail = 1;
                    goto err;
                }
                seen |= 1 << w;
            }
            if (w == 0) {
                if (peek(p) == '"') {
                    key = read_string(p, 1);
                    if (!key) goto err;
                } else {
                    if (skip(p) < 0) goto err;
                    p->ref = 1;
                }
            } else if (w == 1) {
                val = any_value(p);
                if (!val) goto err;
            } else if (skip(p) < 0) {
                goto err;
            }
        } while (eat(p, ','));
        if (!eat(p, '}')) {
            p->fail = 1;
            goto err;
        }
    }
    p->depth--;
    if (!key) {
        p->ref = 1;
    } else if (PyDict_SetItem(out, key, val ? val : Py_None) < 0) {
        goto err;
    }
    Py_XDECREF(key);
    Py_XDECREF(val);
    return 0;
err:
    Py_XDECREF(key);
    Py_XDECREF(val);
    return -1;
}

static int any_item(P *p, PyObject *out) {
    return append_(out, any_value(p));
}

static int values_of(P *p, int kv, PyObject *out) {
    if (open_(p, '{') < 0) return -1;
    int seen = 0;
    if (!eat(p, '}')) {
        do {
            int w = read_name(p, VALUES_NAME, 1);
            if (w == -2) return -1;
            if (w != 0) {
                if (skip(p) < 0) return -1;
                continue;
            }
            if (seen++) {
                p->fail = 1;
                return -1;
            }
            int isnull = null_(p);
            if (isnull) {
                if (isnull < 0) return -1;
                continue;
            }
            if (peek(p) != '[') {
                if (skip(p) < 0) return -1;
                p->ref = 1;
                continue;
            }
            if (array_(p, kv ? kv_item : any_item, out) < 0) return -1;
        } while (eat(p, ','));
        return close_(p, '}');
    }
    p->depth--;
    return 0;
}

/* An attributes list (null -> {}); returns a new dict, or NULL. Anything but a list: p->ref. */
static PyObject *attributes(P *p) {
    PyObject *a = PyDict_New();
    if (!a) return NULL;
    int isnull = null_(p);
    if (isnull) {
        if (isnull > 0) return a;
    } else if (peek(p) != '[') {
        if (skip(p) == 0) {
            p->ref = 1;
            return a;
        }
    } else if (array_(p, kv_item, a) == 0) {
        return a;
    }
    Py_DECREF(a);
    return NULL;
}

/* ------------------------------------------------------------------ spans */

/* A lowercase hex id of n digits, not all zeros, as a str; else p->ref (NULL only on failure). */
static PyObject *hex_id(P *p, Py_ssize_t digits, int nullable) {
    int c = peek(p);
    if (nullable && c == 'n') {
        if (lit(p, "null", 4) < 0) {
            p->fail = 1;
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (c != '"') {
        if (skip(p) < 0) return NULL;
        p->ref = 1;
        Py_RETURN_NONE;
    }
    const unsigned char *s;
    Py_ssize_t n;
    int esc, ascii;
    if (scan_string(p, &s, &n, &esc, &ascii) < 0) {
        p->fail = 1;
        return NULL;
    }
    if (nullable && n == 0) Py_RETURN_NONE; /* "" or None */
    int ok = !esc && n == digits, nonzero = 0;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        unsigned char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) ok = 0;
        if (ch != '0') nonzero = 1;
    }
    if (!ok || !nonzero) {
        if (esc || !ascii) { /* still checked as a string */
            PyObject *o = make_string(p, s, n, esc, ascii, 0);
            if (!o) return NULL;
            Py_DECREF(o);
        }
        p->ref = 1;
        Py_RETURN_NONE;
    }
    return value_str(s, n);
}

/* _us: nanoseconds (a string of digits or an integer) as whole microseconds, floored; 0/"0"/""/null
 * -> None; outside 1900-2200 or any other spelling -> p->ref. */
static PyObject *time_us(P *p) {
    int c = peek(p);
    if (c == 'n') {
        if (lit(p, "null", 4) < 0) {
            p->fail = 1;
            return NULL;
        }
        Py_RETURN_NONE;
    }
    const unsigned char *s;
    Py_ssize_t n;
    int a, b, quoted = 0;
    if (c == '"') {
        if (scan_string(p, &s, &n, &a, &b) < 0) {
            p->fail = 1;
            return NULL;
        }
        quoted = 1;
        if (a || !b) { /* escapes or non-ASCII: the reference reads it */
            PyObject *o = make_string(p, s, n, a, b, 0);
            if (!o) return NULL;
            Py_DECREF(o);
            p->ref = 1;
            Py_RETURN_NONE;
        }
        if (n == 0 || (n == 1 && s[0] == '0')) Py_RETURN_NONE;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (scan_number(p, &s, &n, &a) < 0) {
            p->fail = 1;
            return NULL;
        }
        if (!a || n - (s[0] == '-') >= 20) { /* a float, or a big integer checked as a number */
            PyObject *o = make_number(p, s, n, a);
            if (!o) return NULL;
            Py_DECREF(o);
            p->ref = 1;
            Py_RETURN_NONE;
        }
    } else {
        if (skip(p) < 0) return NULL;
        p->ref = 1;
        Py_RETURN_NONE;
    }
    int neg = n > 0 && s[0] == '-';
    Py_ssize_t digits = n - neg;
    if (digits < 1 || digits > 19) {
        p->ref = 1;
        Py_RETURN_NONE;
    }
    unsigned long long v = 0;
    for (Py_ssize_t i = neg; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            p->ref = 1;
            Py_RETURN_NONE;
        }
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    if (!quoted && v == 0) Py_RETURN_NONE; /* the number 0 (or -0) */
    if (v > 9000000000000000000ULL) { /* far outside 2200 either way */
        p->ref = 1;
        Py_RETURN_NONE;
    }
    long long ns = neg ? -(long long)v : (long long)v;
    long long us = ns / 1000;
    if (ns % 1000 != 0 && ns < 0) us -= 1; /* floored, as int(v) // 1000 */
    if (us < US_LO || us > US_HI) {
        p->ref = 1;
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(us);
}

/* the span kind as _json_span maps it: 0..5 -> kind_names, exact enum names, null -> None */
static PyObject *span_kind(P *p) {
    int c = peek(p);
    if (c == 'n') {
        if (lit(p, "null", 4) < 0) {
            p->fail = 1;
            return NULL;
        }
        Py_RETURN_NONE;
    }
    int other;
    PyObject *x = scalar(p, &other);
    if (!x) {
        if (p->fail || PyErr_Occurred()) return NULL;
        if (skip(p) < 0) return NULL;
        p->ref = 1;
        Py_RETURN_NONE;
    }
    PyObject *out = NULL;
    if (PyLong_CheckExact(x)) {
        int overflow;
        long k = PyLong_AsLongAndOverflow(x, &overflow);
        if (!overflow && k >= 0 && k <= 5) out = Py_NewRef(PyTuple_GET_ITEM(p->kinds, k));
    } else if (PyUnicode_CheckExact(x)) {
        if (PyUnicode_CompareWithASCIIString(x, "SPAN_KIND_INTERNAL") == 0 ||
            PyUnicode_CompareWithASCIIString(x, "SPAN_KIND_UNSPECIFIED") == 0) {
            out = Py_NewRef(Py_None);
        } else {
            for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(p->kinds); k++) {
                PyObject *name = PyTuple_GET_ITEM(p->kinds, k);
                if (name != Py_None && PyUnicode_Compare(x, name) == 0) {
                    out = Py_NewRef(name);
                    break;
                }
            }
        }
    }
    Py_DECREF(x);
    if (!out) {
        if (PyErr_Occurred()) return NULL;
        p->ref = 1;
        out = Py_NewRef(Py_None);
    }
    return out;
}

static const char *const STATUS_NAMES[] = {"code", "message"};

/* status -> (status, message): {"code": int, "message": str}; null -> unset */
static int status_of(P *p, PyObject **status, PyObject **msg) {
    *status = Py_NewRef(S_UNSET);
    *msg = Py_NewRef(Py_None);
    int c = peek(p);
    if (c == 'n') {
        if (lit(p, "null", 4) < 0) {
            p->fail = 1;
            return -1;
        }
        return 0;
    }
    if (c != '{') {
        if (skip(p) < 0) return -1;
        p->ref = 1;
        return 0;
    }
    if (++p->depth > MAX_DEPTH) {
        p->fail = 1;
        return -1;
    }
    p->p++;
    int seen = 0;
    if (!eat(p, '}')) {
        do {
            int w = read_name(p, STATUS_NAMES, 2);
            if (w == -2) return -1;
            if (w >= 0) {
                if (seen & (1 << w)) {
                    p->fail = 1;
                    return -1;
                }
                seen |= 1 << w;
            }
            if (w < 0) {
                if (skip(p) < 0) return -1;
                continue;
            }
            int other;
            PyObject *x = scalar(p, &other);
            if (!x) {
                if (p->fail || PyErr_Occurred()) return -1;
                if (skip(p) < 0) return -1;
                p->ref = 1;
                continue;
            }
            if (w == 0) {
                if (PyLong_CheckExact(x)) {
                    int overflow;
                    long code = PyLong_AsLongAndOverflow(x, &overflow);
                    Py_SETREF(*status, Py_NewRef(overflow ? S_UNSET : code == 2 ? S_ERROR : code == 1 ? S_OK : S_UNSET));
                } else {
                    p->ref = 1; /* a named or textual code: _status reads those */
                }
            } else {
                if (PyUnicode_CheckExact(x)) {
                    if (PyUnicode_GET_LENGTH(x) > 0) Py_SETREF(*msg, Py_NewRef(x));
                } else if (x != Py_None) {
                    p->ref = 1;
                }
            }
            Py_DECREF(x);
        } while (eat(p, ','));
        if (!eat(p, '}')) {
            p->fail = 1;
            return -1;
        }
    }
    p->depth--;
    return 0;
}

static const char *const SPAN_NAMES[] = {"traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
                                         "endTimeUnixNano", "attributes", "status", "events"};
enum { F_TID, F_SID, F_PID, F_NAME, F_KIND, F_START, F_END, F_ATTRS, F_STATUS, F_EVENTS, F_COUNT };

/* One span object: its tuple of _map arguments, or Py_None for the reference. */
static PyObject *span(P *p) {
    if (peek(p) != '{') { /* a span that is not an object: the reference raises its error */
        p->fail = 1;
        return NULL;
    }
    if (++p->depth > MAX_DEPTH) {
        p->fail = 1;
        return NULL;
    }
    p->p++;
    p->ref = 0;
    PyObject *f[F_COUNT + 1] = {NULL}; /* + status message */
    int seen = 0;
    if (!eat(p, '}')) {
        do {
            int w = read_name(p, SPAN_NAMES, F_COUNT);
            if (w == -2) goto err;
            if (w < 0) {
                if (skip(p) < 0) goto err;
                continue;
            }
            if (seen & (1 << w)) {
                p->fail = 1;
                goto err;
            }
            seen |= 1 << w;
            PyObject *v = NULL;
            int other;
            switch (w) {
            case F_TID: v = hex_id(p, 32, 0); break;
            case F_SID: v = hex_id(p, 16, 0); break;
            case F_PID: v = hex_id(p, 16, 1); break;
            case F_NAME:
                v = scalar(p, &other);
                if (!v) {
                    if (p->fail || PyErr_Occurred()) goto err;
                    if (skip(p) < 0) goto err;
                    p->ref = 1;
                    v = Py_NewRef(Py_None);
                } else if (!PyUnicode_CheckExact(v) && v != Py_None) {
                    p->ref = 1;
                }
                break;
            case F_KIND: v = span_kind(p); break;
            case F_START:
            case F_END: v = time_us(p); break;
            case F_ATTRS: v = attributes(p); break;
            case F_STATUS:
                if (status_of(p, &f[F_STATUS], &f[F_COUNT]) < 0) goto err;
                continue;
            case F_EVENTS: {
                int c = peek(p);
                if (c == 'n') {
                    if (lit(p, "null", 4) < 0) {
                        p->fail = 1;
                        goto err;
                    }
                } else if (c == '[') {
                    const unsigned char *at = p->p;
                    if (skip(p) < 0) goto err;
                    /* [] is falsy: no events; anything in it goes to the reference */
                    const unsigned char *q = at + 1;
                    while (q < p->p && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q++;
                    if (*q != ']') p->ref = 1;
                } else {
                    if (skip(p) < 0) goto err;
                    p->ref = 1;
                }
                continue;
            }
            }
            if (!v) goto err;
            f[w] = v;
        } while (eat(p, ','));
        if (!eat(p, '}')) {
            p->fail = 1;
            goto err;
        }
    }
    p->depth--;
    if (!f[F_TID] || !f[F_SID] || !f[F_START] || !f[F_END]) p->ref = 1; /* sp["..."] raises: the reference */
    if (p->ref) {
        for (int i = 0; i <= F_COUNT; i++) Py_XDECREF(f[i]);
        Py_RETURN_NONE;
    }
    PyObject *t = PyTuple_New(10);
    if (!t) goto err;
    PyObject *items[10] = {f[F_ATTRS], f[F_TID], f[F_SID], f[F_PID], f[F_NAME], f[F_START], f[F_END], f[F_STATUS],
                           f[F_COUNT], f[F_KIND]};
    for (int i = 0; i < 10; i++) {
        PyObject *x = items[i];
        if (!x) {
            if (i == 0) x = PyDict_New();
            else if (i == 7) x = Py_NewRef(S_UNSET);
            else x = Py_NewRef(Py_None);
            if (!x) {
                Py_DECREF(t);
                for (int j = i + 1; j < 10; j++) Py_XDECREF(items[j]);
                return NULL;
            }
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
err:
    for (int i = 0; i <= F_COUNT; i++) Py_XDECREF(f[i]);
    return NULL;
}

/* ------------------------------------------------------------------ structure */

static const char *const SCOPE_NAMES[] = {"name"};

static int span_item(P *p, PyObject *out) {
    return append_(out, span(p));
}

/* {"name": str | null, ...} of a scope into *name (other members ignored, as the reference does) */
static int scope_name(P *p, PyObject **name) {
    if (open_(p, '{') < 0) return -1;
    if (eat(p, '}')) {
        p->depth--;
        return 0;
    }
    int named = 0;
    do {
        int k = read_name(p, SCOPE_NAMES, 1);
        if (k == -2) return -1;
        if (k < 0) {
            if (skip(p) < 0) return -1;
            continue;
        }
        int other;
        PyObject *x = named++ ? NULL : scalar(p, &other);
        if (!x || !(x == Py_None || PyUnicode_CheckExact(x))) { /* twice, or not text: the reference's business */
            Py_XDECREF(x);
            p->fail = 1;
            return -1;
        }
        if (x != Py_None && PyUnicode_GET_LENGTH(x) > 0)
            Py_SETREF(*name, x);
        else
            Py_DECREF(x);
    } while (eat(p, ','));
    return close_(p, '}');
}

static const char *const SCOPE_SPANS_NAMES[] = {"scope", "spans", "instrumentationLibrary"};

/* One scopeSpans object appended to out as (scope_name, [span...]) */
static int scope_spans_item(P *p, PyObject *out) {
    if (open_(p, '{') < 0) return -1;
    PyObject *name = Py_NewRef(Py_None), *spans = PyList_New(0);
    int seen = 0, r = spans ? 0 : -1;
    if (r == 0 && !eat(p, '}')) {
        do {
            int w = read_name(p, SCOPE_SPANS_NAMES, 3);
            if (w == -2) {
                r = -1;
            } else if (w < 0) {
                r = skip(p);
            } else if (w == 2 || (seen & (1 << w))) { /* the legacy spelling, or a member twice */
                p->fail = 1;
                r = -1;
            } else {
                seen |= 1 << w;
                int isnull = null_(p);
                r = isnull < 0 ? -1 : isnull ? 0 : w == 0 ? scope_name(p, &name) : array_(p, span_item, spans);
            }
        } while (r == 0 && eat(p, ','));
        if (r == 0) r = close_(p, '}');
    } else if (r == 0) {
        p->depth--;
    }
    if (r == 0) r = append_(out, PyTuple_Pack(2, name, spans));
    Py_DECREF(name);
    Py_XDECREF(spans);
    return r;
}

static const char *const RS_NAMES[] = {"resource", "scopeSpans", "scope_spans", "instrumentationLibrarySpans"};
static const char *const RESOURCE_NAMES[] = {"attributes"};

/* {"attributes": [...], ...} of a resource into *res; attributes outside the exact subset: orjson's path */
static int resource_attributes(P *p, PyObject **res) {
    if (open_(p, '{') < 0) return -1;
    if (eat(p, '}')) {
        p->depth--;
        return 0;
    }
    int had = 0;
    do {
        int k = read_name(p, RESOURCE_NAMES, 1);
        if (k == -2) return -1;
        if (k < 0) {
            if (skip(p) < 0) return -1;
            continue;
        }
        p->ref = 0;
        PyObject *a = had++ ? NULL : attributes(p);
        if (!a || p->ref) {
            Py_XDECREF(a);
            p->fail = 1;
            return -1;
        }
        Py_SETREF(*res, a);
    } while (eat(p, ','));
    return close_(p, '}');
}

/* One resourceSpans object appended to out as (resource_attributes, [scopeSpans...]) */
static int resource_spans_item(P *p, PyObject *out) {
    if (open_(p, '{') < 0) return -1;
    PyObject *res = PyDict_New(), *scopes = PyList_New(0);
    int seen = 0, r = res && scopes ? 0 : -1;
    if (r == 0 && !eat(p, '}')) {
        do {
            int w = read_name(p, RS_NAMES, 4);
            if (w == -2) {
                r = -1;
            } else if (w < 0) {
                r = skip(p);
            } else if (w >= 2 || (seen & (1 << w))) { /* snake_case or legacy spellings, or a member twice */
                p->fail = 1;
                r = -1;
            } else {
                seen |= 1 << w;
                int isnull = null_(p);
                r = isnull < 0 ? -1 : isnull ? 0 : w == 0 ? resource_attributes(p, &res) : array_(p, scope_spans_item, scopes);
            }
        } while (r == 0 && eat(p, ','));
        if (r == 0) r = close_(p, '}');
    } else if (r == 0) {
        p->depth--;
    }
    if (r == 0) r = append_(out, PyTuple_Pack(2, res, scopes));
    Py_XDECREF(res);
    Py_XDECREF(scopes);
    return r;
}

static const char *const TOP_NAMES[] = {"resourceSpans"};

static PyObject *export(P *p) {
    if (open_(p, '{') < 0) return NULL;
    if (read_name(p, TOP_NAMES, 1) != 0) { /* not an export this decoder reads: bail out at once */
        p->fail = 1;
        return NULL;
    }
    PyObject *groups = PyList_New(0);
    if (!groups) return NULL;
    if (array_(p, resource_spans_item, groups) < 0 || close_(p, '}') < 0) { /* any other top-level member: orjson's path */
        Py_DECREF(groups);
        return NULL;
    }
    ws(p);
    if (p->p != p->end) {
        p->fail = 1;
        Py_DECREF(groups);
        return NULL;
    }
    return groups;
}

static PyObject *decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "decode(data, kind_names, bytes_value) takes 3 arguments");
        return NULL;
    }
    if (!PyTuple_CheckExact(args[1]) || PyTuple_GET_SIZE(args[1]) != 6) {
        PyErr_SetString(PyExc_TypeError, "kind_names must be a tuple of 6 names");
        return NULL;
    }
    if (!PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "bytes_value must be callable");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    P p = {0};
    p.p = (const unsigned char *)view.buf;
    p.end = p.p + view.len;
    p.kinds = args[1];
    p.bytes_value = args[2];
    PyObject *out = export(&p);
    PyBuffer_Release(&view);
    PyMem_Free(p.buf);
    if (out) return out;
    if (PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_MemoryError) || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) return NULL;
        PyErr_Clear(); /* anything else: orjson's path decides */
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(data, kind_names, bytes_value) -> None | groups: see the header of _otlp_json.c"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_otlp_json", "Native OTLP/JSON decoder (see _otlp_json.c).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__otlp_json(void) {
    S_ERROR = PyUnicode_InternFromString("error");
    S_OK = PyUnicode_InternFromString("ok");
    S_UNSET = PyUnicode_InternFromString("unset");
    if (!S_ERROR || !S_OK || !S_UNSET) return NULL;
    return PyModule_Create(&module);
}
