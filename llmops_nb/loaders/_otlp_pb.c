/* Native helpers of the OTLP mapping (llmops_nb/loaders/_otlp_fast.py): decode(), scan(), map(),
 * map_spans(), only_text(), int_column(), transpose() and span_tree() below.
 *
 * OTLP protobuf ExportTraceServiceRequest decoded straight from its wire format into what
 * llmops_nb/loaders/_otlp_fast.py's mapping reads per span (the native hot path of map_proto).
 *
 * decode(data, kind_names) -> None | (groups, validate)
 *   None: something this decoder does not interpret exactly (malformed or truncated bytes, a group
 *         or unknown wire type, a known field with another wire type, a singular message field given
 *         twice (protobuf would merge them), two members of AnyValue's oneof, string_value_strindex,
 *         invalid UTF-8, nesting deeper than MAX_DEPTH): the caller maps the export with upb, which
 *         gives the same frame or raises the same error as without this module.
 *   groups: [(resource_attributes, [(scope_name | None, [span | None, ...]), ...]), ...] in wire order.
 *   span:  (attributes, trace_id_hex, span_id_hex, parent_hex | None, name, start_us | None,
 *           end_us | None, status, status_message | None, otel_kind): the arguments of _map, or None
 *          when the span needs the reference mapping (events, ids of the wrong length or all zeros,
 *          times outside 1900-2200, a span kind outside 0..5).
 *   validate: True when a field this decoder skips without checking its content (links, events,
 *          scope attributes, resource entity_refs) is present: the caller parses the export with upb
 *          too, so bad bytes there raise as they do without this module.
 * Field numbers: opentelemetry-proto collector/trace/v1, trace/v1, common/v1, resource/v1.
 * Every length is checked against the end of its enclosing message; nothing is read past `end`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_native_text.h"
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 32 /* nested AnyValue levels (arrays/kvlists); upb's own limit (100 messages) is never reached below */
#define US_HI 7258118400000000ULL /* 2200-01-01 in microseconds since 1970 (the 1900 bound cannot be crossed: unsigned) */

enum { OK = 0, BAIL = 1, ERR = -1 };

static PyObject *S_ERROR, *S_OK, *S_UNSET, *S_EMPTY;

typedef struct {
    int validate;
} ctx_t;

static int varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end) return BAIL;
        uint8_t b = *p++;
        if (i == 9 && b > 1) return BAIL; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return OK;
        }
    }
    return BAIL;
}

/* one field's key; wire type 2 also gives its payload [*s, *s + *n) */
static int field(const uint8_t **pp, const uint8_t *end, uint32_t *num, int *wt, uint64_t *val, const uint8_t **s,
                 Py_ssize_t *n) {
    uint64_t key;
    if (varint(pp, end, &key)) return BAIL;
    if (key >> 32) return BAIL;
    *num = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    if (*num == 0) return BAIL;
    switch (*wt) {
    case 0:
        return varint(pp, end, val);
    case 1:
        if (end - *pp < 8) return BAIL;
        memcpy(val, *pp, 8); /* little-endian hosts only: checked at import */
        *pp += 8;
        return OK;
    case 5: {
        uint32_t v32;
        if (end - *pp < 4) return BAIL;
        memcpy(&v32, *pp, 4);
        *val = v32;
        *pp += 4;
        return OK;
    }
    case 2: {
        uint64_t len;
        if (varint(pp, end, &len)) return BAIL;
        if (len > (uint64_t)(end - *pp)) return BAIL;
        *s = *pp;
        *n = (Py_ssize_t)len;
        *pp += len;
        return OK;
    }
    default: /* groups (3, 4) and 6, 7 */
        return BAIL;
    }
}

/* str of UTF-8 bytes; invalid UTF-8 -> BAIL (upb rejects it as "String field had bad UTF-8") */
static int text(const uint8_t *s, Py_ssize_t n, PyObject **out) {
    if (n == 0) {
        Py_INCREF(S_EMPTY);
        *out = S_EMPTY;
        return OK;
    }
    PyObject *o = PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    if (o == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            return BAIL;
        }
        return ERR;
    }
    *out = o;
    return OK;
}

/* Attribute keys repeat on every span: a small direct-mapped cache gives the same str object (its
 * hash already computed, which the mapping's dict and set operations reuse) for the same bytes.
 * Bounded: KC_SIZE entries of at most KC_MAXLEN bytes; a collision replaces the entry. */
#define KC_SIZE 4096
#define KC_MAXLEN 96
#define VC_MAXLEN 32
static PyObject *kc[KC_SIZE]; /* attribute keys */
static PyObject *vc[KC_SIZE]; /* short string values (models, providers, roles, kinds, span names...) */

static int cached_in(PyObject **tab, const uint8_t *s, Py_ssize_t n, PyObject **out) {
    uint32_t h = bytes_hash(s, n);
    PyObject **slot = &tab[(h ^ (h >> 16)) & (KC_SIZE - 1)];
    PyObject *o = *slot;
    if (o != NULL && PyUnicode_IS_ASCII(o) && PyUnicode_GET_LENGTH(o) == n && memcmp(PyUnicode_1BYTE_DATA(o), s, n) == 0) {
        *out = Py_NewRef(o);
        return OK;
    }
    int r = text(s, n, &o);
    if (r) return r;
    if (PyUnicode_IS_ASCII(o)) { /* only ASCII texts are cached: their bytes are the str's own */
        if (tab == kc && PyObject_Hash(o) == -1) { /* keys: their hash is taken now, once */
            Py_DECREF(o);
            return ERR;
        }
        Py_XSETREF(*slot, Py_NewRef(o));
    }
    *out = o;
    return OK;
}

static int cached_text(const uint8_t *s, Py_ssize_t n, PyObject **out) {
    if (n == 0 || n > KC_MAXLEN) return text(s, n, out);
    return cached_in(kc, s, n, out);
}

/* a string value: short ones repeat across spans (models, roles, kinds, names): the same object */
static int value_text(const uint8_t *s, Py_ssize_t n, PyObject **out) {
    if (n == 0 || n > VC_MAXLEN) return text(s, n, out);
    return cached_in(vc, s, n, out);
}

static int check_text(const uint8_t *s, Py_ssize_t n) {
    PyObject *o;
    int r = text(s, n, &o);
    if (r == OK) Py_DECREF(o);
    return r;
}

static PyObject *hex(const uint8_t *s, Py_ssize_t n) {
    static const char digits[] = "0123456789abcdef";
    PyObject *o = PyUnicode_New(2 * n, 127);
    if (o == NULL) return NULL;
    Py_UCS1 *d = PyUnicode_1BYTE_DATA(o);
    for (Py_ssize_t i = 0; i < n; i++) {
        d[2 * i] = digits[s[i] >> 4];
        d[2 * i + 1] = digits[s[i] & 15];
    }
    return o;
}

/* Ids repeat: a trace's spans share its id, a span's parent id is another span's id. A small
 * direct-mapped cache keyed by the raw bytes gives the same str for the same id. */
typedef struct {
    uint8_t raw[16];
    Py_ssize_t n;
    PyObject *s;
} id_entry;
static id_entry ic[KC_SIZE];

static PyObject *id_str(const uint8_t *s, Py_ssize_t n) {
    uint32_t h = bytes_hash(s, n);
    id_entry *e = &ic[(h ^ (h >> 16)) & (KC_SIZE - 1)];
    if (e->s != NULL && e->n == n && memcmp(e->raw, s, (size_t)n) == 0) return Py_NewRef(e->s);
    PyObject *o = hex(s, n);
    if (o == NULL) return NULL;
    memcpy(e->raw, s, (size_t)n);
    e->n = n;
    Py_XSETREF(e->s, Py_NewRef(o));
    return o;
}

/* hex of an id of exactly n bytes, not all zeros; else NULL without an error set */
static PyObject *id_hex(const uint8_t *s, Py_ssize_t len, Py_ssize_t n, int *bad) {
    if (s == NULL || len != n) {
        *bad = 1;
        return NULL;
    }
    int zero = 1;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i]) {
            zero = 0;
            break;
        }
    if (zero) {
        *bad = 1;
        return NULL;
    }
    return n <= 16 ? id_str(s, n) : hex(s, n);
}

static int any_value(const uint8_t *p, const uint8_t *end, int depth, PyObject **out);

/* one KeyValue into dict d (d[key] = value, as the Python path's dict assignment) */
static int key_value(const uint8_t *p, const uint8_t *end, int depth, PyObject *d) {
    const uint8_t *ks = NULL, *vs = NULL;
    Py_ssize_t kn = 0, vn = 0;
    int has_value = 0;
    while (p < end) {
        uint32_t num;
        int wt;
        uint64_t val;
        const uint8_t *s = NULL;
        Py_ssize_t n = 0;
        if (field(&p, end, &num, &wt, &val, &s, &n)) return BAIL;
        if (num == 1) {
            if (wt != 2) return BAIL;
            ks = s, kn = n; /* last one wins */
        } else if (num == 2) {
            if (wt != 2 || has_value) return BAIL; /* a second value would be merged into the first */
            vs = s, vn = n, has_value = 1;
        } else if (num == 3) {
            if (wt != 0) return BAIL; /* key_strindex: not read by the mapping */
        }
    }
    PyObject *key, *value;
    int r = cached_text(ks, kn, &key);
    if (r) return r;
    if (has_value) {
        r = any_value(vs, vs + vn, depth, &value);
        if (r) {
            Py_DECREF(key);
            return r;
        }
    } else {
        Py_INCREF(Py_None);
        value = Py_None;
    }
    r = PyDict_SetItem(d, key, value) ? ERR : OK;
    Py_DECREF(key);
    Py_DECREF(value);
    return r;
}

/* ArrayValue (list) or KeyValueList (dict) payload: repeated field 1 */
static int values(const uint8_t *p, const uint8_t *end, int depth, int is_list, PyObject **out) {
    PyObject *o = is_list ? PyList_New(0) : PyDict_New();
    if (o == NULL) return ERR;
    while (p < end) {
        uint32_t num;
        int wt;
        uint64_t val;
        const uint8_t *s = NULL;
        Py_ssize_t n = 0;
        int r = field(&p, end, &num, &wt, &val, &s, &n);
        if (!r && num == 1) {
            if (wt != 2)
                r = BAIL;
            else if (is_list) {
                PyObject *x;
                r = any_value(s, s + n, depth, &x);
                if (!r) {
                    r = PyList_Append(o, x) ? ERR : OK;
                    Py_DECREF(x);
                }
            } else
                r = key_value(s, s + n, depth, o);
        }
        if (r) {
            Py_DECREF(o);
            return r;
        }
    }
    *out = o;
    return OK;
}

static int any_value(const uint8_t *p, const uint8_t *end, int depth, PyObject **out) {
    if (depth > MAX_DEPTH) return BAIL;
    PyObject *v = NULL;
    while (p < end) {
        uint32_t num;
        int wt;
        uint64_t val;
        const uint8_t *s = NULL;
        Py_ssize_t n = 0;
        int r = field(&p, end, &num, &wt, &val, &s, &n);
        if (!r && num >= 1 && num <= 8) {
            static const int want[9] = {-1, 2, 0, 0, 1, 2, 2, 2, 0};
            if (v != NULL || wt != want[num] || num == 8) /* oneof given twice; string_value_strindex */
                r = BAIL;
            else if (num == 1)
                r = value_text(s, n, &v);
            else if (num == 2)
                v = PyBool_FromLong(val != 0);
            else if (num == 3)
                v = PyLong_FromLongLong((long long)(int64_t)val);
            else if (num == 4) {
                double d;
                memcpy(&d, &val, 8);
                v = PyFloat_FromDouble(d);
            } else if (num == 5 || num == 6)
                r = values(s, s + n, depth + 1, num == 5, &v);
            else
                v = hex(s, n);
            if (!r && v == NULL) r = ERR;
        }
        if (r) {
            Py_XDECREF(v);
            return r;
        }
    }
    if (v == NULL) {
        Py_INCREF(Py_None);
        v = Py_None;
    }
    *out = v;
    return OK;
}

/* a repeated KeyValue field's occurrence appended to *d (created on first use) */
static int attribute(const uint8_t *s, Py_ssize_t n, PyObject **d) {
    if (*d == NULL && (*d = PyDict_New()) == NULL) return ERR;
    return key_value(s, s + n, 0, *d);
}

static int status(const uint8_t *p, const uint8_t *end, PyObject **msg, int32_t *code) {
    while (p < end) {
        uint32_t num;
        int wt;
        uint64_t val;
        const uint8_t *s = NULL;
        Py_ssize_t n = 0;
        if (field(&p, end, &num, &wt, &val, &s, &n)) return BAIL;
        if (num == 2) {
            if (wt != 2) return BAIL;
            PyObject *m;
            int r = text(s, n, &m);
            if (r) return r;
            Py_XSETREF(*msg, m);
        } else if (num == 3) {
            if (wt != 0) return BAIL;
            *code = (int32_t)val;
        }
    }
    return OK;
}

static PyObject *none_if_empty(PyObject *s) {
    if (s == NULL || PyUnicode_GET_LENGTH(s) == 0) {
        Py_XDECREF(s);
        Py_RETURN_NONE;
    }
    return s;
}

static PyObject *time_us(uint64_t ns, int *bad) {
    if (ns == 0) Py_RETURN_NONE;
    uint64_t us = ns / 1000;
    if (us > US_HI) {
        *bad = 1;
        return NULL;
    }
    return PyLong_FromLongLong((long long)us);
}

/* one Span -> *out: the tuple of _map's arguments, or None (reference mapping) */
static int span(ctx_t *cx, const uint8_t *p, const uint8_t *end, PyObject *kind_names, PyObject **out) {
    const uint8_t *tid = NULL, *sid = NULL, *pid = NULL;
    Py_ssize_t tn = 0, sn = 0, pn = 0;
    PyObject *name = NULL, *attrs = NULL, *msg = NULL;
    uint64_t kind = 0, start = 0, stop = 0;
    int32_t code = 0;
    int events = 0, has_status = 0, r = OK;
    while (p < end && !r) {
        uint32_t num;
        int wt;
        uint64_t val;
        const uint8_t *s = NULL;
        Py_ssize_t n = 0;
        if ((r = field(&p, end, &num, &wt, &val, &s, &n))) break;
        static const int want[17] = {-1, 2, 2, 2, 2, 2, 0, 1, 1, 2, 0, 2, 0, 2, 0, 2, 5};
        if (num > 16) continue; /* unknown field: kept aside by protobuf, not read by the mapping */
        if (wt != want[num]) {
            r = BAIL;
            break;
        }
        switch (num) {
        case 1: tid = s, tn = n; break;
        case 2: sid = s, sn = n; break;
        case 3: r = check_text(s, n); break; /* trace_state */
        case 4: pid = s, pn = n; break;
        case 5: {
            PyObject *t;
            if (!(r = value_text(s, n, &t))) Py_XSETREF(name, t);
            break;
        }
        case 6: kind = val; break;
        case 7: start = val; break;
        case 8: stop = val; break;
        case 9: r = attribute(s, n, &attrs); break;
        case 11: events = 1, cx->validate = 1; break;
        case 13: cx->validate = 1; break; /* links: not mapped, checked by upb */
        case 15:
            if (has_status) r = BAIL; /* two status messages are merged by protobuf */
            else {
                has_status = 1;
                r = status(s, s + n, &msg, &code);
            }
            break;
        default: break; /* 10, 12, 14: dropped counts; 16: flags */
        }
    }
    int32_t k = (int32_t)kind;
    int bad = events || k < 0 || k > 5;
    PyObject *t = NULL, *ts = NULL, *ss = NULL, *ps = NULL, *st = NULL, *en = NULL;
    if (!r && !bad) {
        ts = id_hex(tid, tn, 16, &bad);
        if (!bad) ss = id_hex(sid, sn, 8, &bad);
        if (!bad && pn) ps = id_hex(pid, pn, 8, &bad);
        else if (!bad) ps = Py_NewRef(Py_None);
        if (!bad) st = time_us(start, &bad);
        if (!bad) en = time_us(stop, &bad);
        if (!bad && (ts == NULL || ss == NULL || ps == NULL || st == NULL || en == NULL)) r = ERR;
        if (!r && !bad) {
            if (attrs == NULL && (attrs = PyDict_New()) == NULL) r = ERR;
        }
        if (!r && !bad) {
            PyObject *kn = PyTuple_GET_ITEM(kind_names, k);
            t = PyTuple_Pack(10, attrs, ts, ss, ps, name ? name : S_EMPTY, st, en,
                             code == 2 ? S_ERROR : code == 1 ? S_OK : S_UNSET, msg && PyUnicode_GET_LENGTH(msg) ? msg : Py_None,
                             kn);
            if (t == NULL) r = ERR;
        }
    }
    Py_XDECREF(ts), Py_XDECREF(ss), Py_XDECREF(ps), Py_XDECREF(st), Py_XDECREF(en);
    Py_XDECREF(name), Py_XDECREF(attrs), Py_XDECREF(msg);
    if (r) {
        Py_XDECREF(t);
        return r;
    }
    *out = t ? t : Py_NewRef(Py_None);
    return OK;
}

static int scope_spans(ctx_t *cx, const uint8_t *p, const uint8_t *end, PyObject *kind_names, PyObject **out) {
    PyObject *spans = PyList_New(0), *name = NULL;
    int has_scope = 0, r = spans ? OK : ERR;
    while (p < end && !r) {
        uint32_t num;
        int wt;
        uint64_t val;
        const uint8_t *s = NULL;
        Py_ssize_t n = 0;
        if ((r = field(&p, end, &num, &wt, &val, &s, &n))) break;
        if (num > 3) continue;
        if (wt != 2) {
            r = BAIL;
            break;
        }
        if (num == 1) { /* InstrumentationScope */
            if (has_scope) {
                r = BAIL;
                break;
            }
            has_scope = 1;
            const uint8_t *q = s, *qe = s + n;
            while (q < qe && !r) {
                uint32_t qn;
                int qw;
                uint64_t qv;
                const uint8_t *qs = NULL;
                Py_ssize_t ql = 0;
                if ((r = field(&q, qe, &qn, &qw, &qv, &qs, &ql))) break;
                if (qn > 4) continue;
                if (qw != (qn == 4 ? 0 : 2)) r = BAIL;
                else if (qn == 1) {
                    PyObject *t;
                    if (!(r = text(qs, ql, &t))) Py_XSETREF(name, t);
                } else if (qn == 2)
                    r = check_text(qs, ql);
                else if (qn == 3)
                    cx->validate = 1; /* scope attributes: not mapped */
            }
        } else if (num == 2) {
            PyObject *sp;
            if (!(r = span(cx, s, s + n, kind_names, &sp))) {
                r = PyList_Append(spans, sp) ? ERR : OK;
                Py_DECREF(sp);
            }
        } else
            r = check_text(s, n); /* schema_url */
    }
    if (!r) {
        name = none_if_empty(name);
        *out = PyTuple_Pack(2, name, spans);
        if (*out == NULL) r = ERR;
    }
    Py_XDECREF(name);
    Py_XDECREF(spans);
    return r;
}

static int resource_spans(ctx_t *cx, const uint8_t *p, const uint8_t *end, PyObject *kind_names, PyObject **out) {
    PyObject *scopes = PyList_New(0), *res = NULL;
    int has_resource = 0, r = scopes ? OK : ERR;
    while (p < end && !r) {
        uint32_t num;
        int wt;
        uint64_t val;
        const uint8_t *s = NULL;
        Py_ssize_t n = 0;
        if ((r = field(&p, end, &num, &wt, &val, &s, &n))) break;
        if (num > 3) continue;
        if (wt != 2) {
            r = BAIL;
            break;
        }
        if (num == 1) { /* Resource */
            if (has_resource) {
                r = BAIL;
                break;
            }
            has_resource = 1;
            const uint8_t *q = s, *qe = s + n;
            while (q < qe && !r) {
                uint32_t qn;
                int qw;
                uint64_t qv;
                const uint8_t *qs = NULL;
                Py_ssize_t ql = 0;
                if ((r = field(&q, qe, &qn, &qw, &qv, &qs, &ql))) break;
                if (qn > 3) continue;
                if (qw != (qn == 2 ? 0 : 2)) r = BAIL;
                else if (qn == 1)
                    r = attribute(qs, ql, &res);
                else if (qn == 3)
                    cx->validate = 1; /* entity_refs: not mapped */
            }
        } else if (num == 2) {
            PyObject *ss;
            if (!(r = scope_spans(cx, s, s + n, kind_names, &ss))) {
                r = PyList_Append(scopes, ss) ? ERR : OK;
                Py_DECREF(ss);
            }
        } else
            r = check_text(s, n); /* schema_url */
    }
    if (!r && res == NULL && (res = PyDict_New()) == NULL) r = ERR;
    if (!r) {
        *out = PyTuple_Pack(2, res, scopes);
        if (*out == NULL) r = ERR;
    }
    Py_XDECREF(res);
    Py_XDECREF(scopes);
    return r;
}

static PyObject *decode(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf;
    PyObject *kind_names;
    if (!PyArg_ParseTuple(args, "y*O!:decode", &buf, &PyTuple_Type, &kind_names)) return NULL;
    if (PyTuple_GET_SIZE(kind_names) != 6) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "kind_names: a tuple of the 6 OTLP span kind names");
        return NULL;
    }
    ctx_t cx = {0};
    const uint8_t *p = buf.buf, *end = p + buf.len;
    PyObject *groups = PyList_New(0);
    int r = groups ? OK : ERR;
    while (p < end && !r) {
        uint32_t num;
        int wt;
        uint64_t val;
        const uint8_t *s = NULL;
        Py_ssize_t n = 0;
        if ((r = field(&p, end, &num, &wt, &val, &s, &n))) break;
        if (num != 1) continue;
        if (wt != 2) {
            r = BAIL;
            break;
        }
        PyObject *g;
        if (!(r = resource_spans(&cx, s, s + n, kind_names, &g))) {
            r = PyList_Append(groups, g) ? ERR : OK;
            Py_DECREF(g);
        }
    }
    PyBuffer_Release(&buf);
    if (r) {
        Py_XDECREF(groups);
        if (r == ERR) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *res = Py_BuildValue("(NO)", groups, cx.validate ? Py_True : Py_False);
    return res;
}


/* ------------------------------------------------------------------------------------------
 * scan(a, key_info, classify) -> None | (best, nss, specials, oi, docs_parts, used)
 * The first pass of _otlp_fast._map over a span's attributes (_otlp_fast._scan_py is the same in
 * Python; tests compare both): each key's (namespace flag, alias hits, role, payload) from key_info,
 * else classify(key); None when a key needs the reference mapping. Roles as in _otlp_fast:
 * 0 plain, 1 fallback, 2 OpenInference message part, 3 retrieval document part, 4 special.
 */
static int set_new(PyObject *d, PyObject *key, PyObject *(*make)(void), PyObject **out) {
    PyObject *x = PyDict_GetItemWithError(d, key); /* borrowed */
    if (x == NULL) {
        if (PyErr_Occurred()) return -1;
        if ((x = make()) == NULL) return -1;
        int r = PyDict_SetItem(d, key, x);
        Py_DECREF(x);
        if (r) return -1;
    }
    *out = x;
    return 0;
}

static PyObject *new_entry(void) { /* [{}, None] */
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    PyObject *l = PyList_New(2);
    if (l == NULL) {
        Py_DECREF(d);
        return NULL;
    }
    PyList_SET_ITEM(l, 0, d);
    PyList_SET_ITEM(l, 1, Py_NewRef(Py_None));
    return l;
}

static int scan_one(PyObject *k, PyObject *v, PyObject *info, long *nss, PyObject *best, PyObject *used,
                    PyObject **specials, PyObject **oi, PyObject **docs) {
    if (!PyTuple_Check(info) || PyTuple_GET_SIZE(info) != 4) {
        PyErr_Format(PyExc_TypeError, "key info of %R: a tuple of 4", k);
        return ERR;
    }
    long ns = PyLong_AsLong(PyTuple_GET_ITEM(info, 0));
    long role = PyLong_AsLong(PyTuple_GET_ITEM(info, 2));
    if ((ns == -1 || role == -1) && PyErr_Occurred()) return ERR;
    PyObject *hits = PyTuple_GET_ITEM(info, 1), *payload = PyTuple_GET_ITEM(info, 3);
    *nss |= ns;
    if (role == 1) return BAIL;
    if (role == 2) {
        if (PySet_Add(used, k)) return ERR;
        if (!PyTuple_Check(payload) || PyTuple_GET_SIZE(payload) != 5) {
            PyErr_Format(PyExc_TypeError, "message part of %R: a tuple of 5", k);
            return ERR;
        }
        long side = PyLong_AsLong(PyTuple_GET_ITEM(payload, 0));
        if (side != 0 && side != 1) {
            if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "message side of %R: 0 or 1", k);
            return ERR;
        }
        PyObject *n = PyTuple_GET_ITEM(payload, 1), *tail = PyTuple_GET_ITEM(payload, 2);
        PyObject *m = PyTuple_GET_ITEM(payload, 3), *ctail = PyTuple_GET_ITEM(payload, 4);
        if (*oi == NULL) {
            PyObject *d0 = PyDict_New(), *d1 = PyDict_New();
            *oi = d0 && d1 ? PyTuple_Pack(2, d0, d1) : NULL;
            Py_XDECREF(d0), Py_XDECREF(d1);
            if (*oi == NULL) return ERR;
        }
        PyObject *entry;
        if (set_new(PyTuple_GET_ITEM(*oi, side), n, new_entry, &entry)) return ERR;
        if (tail != Py_None) {
            if (PyDict_SetItem(PyList_GET_ITEM(entry, 0), tail, v)) return ERR;
        } else {
            PyObject *calls = PyList_GET_ITEM(entry, 1), *c;
            if (calls == Py_None) {
                if ((calls = PyDict_New()) == NULL) return ERR;
                PyList_SetItem(entry, 1, calls); /* steals calls */
            }
            if (set_new(calls, m, PyDict_New, &c)) return ERR;
            if (PyDict_SetItem(c, ctail, v)) return ERR;
        }
    } else if (role == 3) {
        if (!PyTuple_Check(payload) || PyTuple_GET_SIZE(payload) != 2) {
            PyErr_Format(PyExc_TypeError, "document part of %R: a tuple of 2", k);
            return ERR;
        }
        if (*docs == NULL && (*docs = PyDict_New()) == NULL) return ERR;
        PyObject *d;
        if (set_new(*docs, PyTuple_GET_ITEM(payload, 0), PyDict_New, &d)) return ERR;
        if (PyDict_SetItem(d, PyTuple_GET_ITEM(payload, 1), v)) return ERR;
    } else if (role) {
        if (*specials == NULL && (*specials = PySet_New(NULL)) == NULL) return ERR;
        if (PySet_Add(*specials, k)) return ERR;
    }
    if (hits == Py_None || v == Py_None) return OK;
    int ne = PyObject_RichCompareBool(v, S_EMPTY, Py_NE);
    if (ne <= 0) return ne < 0 ? ERR : OK;
    if (!PyTuple_Check(hits)) {
        PyErr_Format(PyExc_TypeError, "alias hits of %R: a tuple", k);
        return ERR;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(hits); i++) {
        PyObject *h = PyTuple_GET_ITEM(hits, i);
        if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2) {
            PyErr_Format(PyExc_TypeError, "alias hit of %R: (field, rank)", k);
            return ERR;
        }
        PyObject *f = PyTuple_GET_ITEM(h, 0), *rank = PyTuple_GET_ITEM(h, 1);
        PyObject *b = PyDict_GetItemWithError(best, f);
        if (b == NULL && PyErr_Occurred()) return ERR;
        if (b != NULL) {
            int lt = PyObject_RichCompareBool(rank, PyTuple_GET_ITEM(b, 0), Py_LT);
            if (lt < 0) return ERR;
            if (!lt) continue;
        }
        PyObject *t = PyTuple_Pack(3, rank, k, v);
        if (t == NULL) return ERR;
        int r = PyDict_SetItem(best, f, t);
        Py_DECREF(t);
        if (r) return ERR;
    }
    return OK;
}

typedef struct {
    PyObject *best, *used, *specials, *oi, *docs; /* new references (specials, oi, docs: NULL when absent) */
    long nss;
} scanned_t;

static void scanned_clear(scanned_t *s) {
    Py_CLEAR(s->best);
    Py_CLEAR(s->used);
    Py_CLEAR(s->specials);
    Py_CLEAR(s->oi);
    Py_CLEAR(s->docs);
}

/* the pass itself: OK (s filled), BAIL (a key needs the reference mapping) or ERR; s is cleared unless OK */
static int scan_attrs(PyObject *a, PyObject *key_info, PyObject *classify, scanned_t *s) {
    s->best = PyDict_New(), s->used = PySet_New(NULL), s->specials = s->oi = s->docs = NULL, s->nss = 0;
    int r = s->best && s->used ? OK : ERR;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    Py_INCREF(a);
    while (!r && PyDict_Next(a, &pos, &k, &v)) {
        Py_INCREF(k), Py_INCREF(v); /* classify runs Python code */
        PyObject *info = PyDict_GetItemWithError(key_info, k);
        if (info != NULL)
            Py_INCREF(info);
        else if (!PyErr_Occurred())
            info = PyObject_CallOneArg(classify, k);
        r = info ? scan_one(k, v, info, &s->nss, s->best, s->used, &s->specials, &s->oi, &s->docs) : ERR;
        Py_XDECREF(info), Py_DECREF(k), Py_DECREF(v);
    }
    Py_DECREF(a);
    if (r) scanned_clear(s);
    return r;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *a, *key_info, *classify;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O:scan", &PyDict_Type, &a, &PyDict_Type, &key_info, &classify)) return NULL;
    scanned_t s;
    int r = scan_attrs(a, key_info, classify, &s);
    PyObject *best = s.best, *used = s.used, *specials = s.specials, *oi = s.oi, *docs = s.docs;
    long nss = s.nss;
    PyObject *out = NULL;
    if (!r)
        out = Py_BuildValue("(OlOOOO)", best, nss, specials ? specials : Py_None, oi ? oi : Py_None,
                            docs ? docs : Py_None, used);
    else if (r == BAIL)
        out = Py_NewRef(Py_None);
    Py_XDECREF(best), Py_XDECREF(used), Py_XDECREF(specials), Py_XDECREF(oi), Py_XDECREF(docs);
    return out;
}


/* ------------------------------------------------------------------------------------------
 * map(a, trace_id, span_id, parent, name, start, end, status, err, otel_kind, resource, scope,
 *     source_format) -> tuple | None | NotImplemented
 * _otlp_fast._map_py in C, step for step (tests compare both on every span of every fixture and
 * on generated attribute dicts): the spans row as a tuple; None when the span needs the reference
 * mapping (as _map_py says None); NotImplemented when something is outside what this port
 * reproduces exactly (then _otlp_fast maps the span with _map_py). What needs parsing or the
 * reference's helpers (gen_ai JSON messages, documents, JSON request/response values, tool-call
 * id filling, text of non-text values...) calls those same Python helpers, handed once by
 * configure(helpers) from _otlp_fast.
 */
enum {
    K_OI_KIND, K_GENAI_OP, K_LLM_MODEL, K_GENAI_REQ_MODEL, K_INV_PARAMS, K_IN_MSGS, K_SYS_INSTR, K_OUT_MSGS,
    K_IN_MIME, K_OUT_MIME, K_TOOL_NAME, K_GENAI_TOOL_NAME, K_TOOL_DESC, K_GENAI_TOOL_DESC, K_GENAI_TOOL_CALL_ID,
    K_AI_TOOLCALL_ID, K_GENAI_TOOL_TYPE, K_GENAI_RET_DOCS, K_METADATA, K_SERVICE_NAME, K_RESOURCE, K_SCOPE_NAME,
    K_SPAN_KIND, K_INPUT_VALUE, K_OUTPUT_VALUE, K_DOC_PREFIX,
    F_MODEL, F_PROVIDER, F_INPUT, F_OUTPUT, F_TOOL_NAME, F_TOOL_ARGS, F_PT, F_CT, F_TT, F_COST, F_SESSION, F_USER,
    F_TAGS, M_ROLE, M_CONTENT, M_TOOL_CALL_ID, C_ID, C_NAME, C_ARGS, O_ROLE, O_CONTENT, O_TOOL_CALLS,
    O_TOOL_CALL_ID, O_ID, O_NAME, O_ARGUMENTS, V_LLM, V_UNKNOWN, V_TOOL, V_RETRIEVER, V_USER, V_NL, V_UPPER,
    V_LOWER, V_INPUT, V_OUTPUT, V_OBJ_START, V_LIST_START, G_PARTS, G_TYPE, G_TEXT, G_REASONING, G_TOOL_CALL,
    G_TOOL_CALL_RESPONSE, N_STR
};
static const char *const STR_TEXT[N_STR] = {
    "openinference.span.kind", "gen_ai.operation.name", "llm.model_name", "gen_ai.request.model",
    "llm.invocation_parameters", "gen_ai.input.messages", "gen_ai.system_instructions", "gen_ai.output.messages",
    "input.mime_type", "output.mime_type", "tool.name", "gen_ai.tool.name", "tool.description",
    "gen_ai.tool.description", "gen_ai.tool.call.id", "ai.toolCall.id", "gen_ai.tool.type",
    "gen_ai.retrieval.documents", "metadata", "service.name", "resource", "otel.scope.name", "otel.span.kind",
    "input.value", "output.value", "retrieval.documents.",
    "model", "provider", "input", "output", "tool_name", "tool_arguments", "prompt_tokens", "completion_tokens",
    "total_tokens", "cost_usd", "session_id", "user_id", "tags", "message.role", "message.content",
    "message.tool_call_id", "tool_call.id", "tool_call.function.name", "tool_call.function.arguments", "role",
    "content", "tool_calls", "tool_call_id", "id", "name", "arguments", "llm", "unknown", "tool", "retriever", "user",
    "\n", "upper", "lower", "input", "output", "{\"", "[", "parts", "type", "text", "reasoning", "tool_call",
    "tool_call_response"};
static PyObject *S[N_STR];

enum {
    H_KEY_INFO, H_CLASSIFY, H_OI_KINDS, H_GENAI_OPS, H_KIND_SET, H_GENAI_MESSAGES, H_CANONICAL, H_VALUE_MESSAGES,
    H_FILL_CALL_IDS, H_TOOL_MESSAGE_CONTENT, H_OI_DOCUMENT, H_JSON_LIST, H_GENAI_DOCUMENT, H_OUTPUT_DOCUMENTS,
    H_METADATA_VALUE, H_SPAN_KIND, H_TEXT_OF, H_JSON_TEXT, H_LAST_USER_TEXT, H_ASSISTANT_TEXT, H_JSON_LOADS,
    H_JSON_ERROR, N_HELPERS
};
static const char *const HELPER_NAMES[N_HELPERS] = {
    "key_info", "classify", "oi_kinds", "genai_ops", "kind_set", "genai_messages", "canonical", "value_messages",
    "fill_call_ids", "tool_message_content", "oi_document", "json_list", "genai_document", "output_documents",
    "metadata_value", "span_kind", "text_of", "json_text", "last_user_text", "assistant_text", "json_loads",
    "json_error"};
static PyObject *H[N_HELPERS];

static PyObject *configure(PyObject *self, PyObject *helpers) {
    (void)self;
    if (!PyDict_Check(helpers)) {
        PyErr_SetString(PyExc_TypeError, "configure(helpers): a dict of the helpers map() calls");
        return NULL;
    }
    PyObject *got[N_HELPERS];
    for (int i = 0; i < N_HELPERS; i++) {
        got[i] = PyDict_GetItemString(helpers, HELPER_NAMES[i]); /* borrowed */
        if (got[i] == NULL) {
            PyErr_Format(PyExc_KeyError, "configure(helpers): no helper %s", HELPER_NAMES[i]);
            return NULL;
        }
    }
    if (!PyDict_Check(got[H_KEY_INFO]) || !PyDict_Check(got[H_OI_KINDS]) || !PyDict_Check(got[H_GENAI_OPS]) ||
        !PyAnySet_Check(got[H_KIND_SET])) {
        PyErr_SetString(PyExc_TypeError, "configure(helpers): key_info, oi_kinds, genai_ops: dicts; kind_set: a set");
        return NULL;
    }
    for (int i = 0; i < N_HELPERS; i++) Py_XSETREF(H[i], Py_NewRef(got[i]));
    Py_RETURN_NONE;
}

/* otlp._json_list(v) and otlp._metadata_value(v), the common case in C: v a str of JSON that parses
 * (json_loads, the helpers' own parser) to a list (a dict for metadata) is that value; text that is
 * not JSON is None for _json_list; anything else goes to the Python helper, which decides. */
static PyObject *parsed_as(PyObject *v, PyTypeObject *type, int helper) {
    if (PyUnicode_CheckExact(v)) {
        PyObject *r = PyObject_CallOneArg(H[H_JSON_LOADS], v);
        if (r == NULL) {
            if (helper == H_JSON_LIST && PyErr_ExceptionMatches(H[H_JSON_ERROR])) {
                PyErr_Clear();
                Py_RETURN_NONE;
            }
            if (!PyErr_ExceptionMatches(H[H_JSON_ERROR])) return NULL;
            PyErr_Clear();
        } else if (Py_IS_TYPE(r, type)) {
            return r;
        } else {
            Py_DECREF(r);
        }
    }
    return PyObject_CallOneArg(H[helper], v);
}

static PyObject *json_list(PyObject *v) { return parsed_as(v, &PyList_Type, H_JSON_LIST); }

#define SET(var, expr)                 \
    do {                               \
        PyObject *_t = (expr);         \
        if (_t == NULL) goto fail;     \
        Py_XSETREF(var, _t);           \
    } while (0)
#define HAS(k) has(sp, k)

static int has(PyObject *sp, int k) { return sp ? PySet_Contains(sp, S[k]) : 0; }

static int is_str(PyObject *v, int k) { /* v == "literal" for the str kinds this mapping makes */
    return v != Py_None && PyUnicode_CheckExact(v) && PyUnicode_Compare(v, S[k]) == 0;
}

static PyObject *attr(PyObject *a, int k) { /* a[key], borrowed */
    PyObject *v = PyDict_GetItemWithError(a, S[k]);
    if (v == NULL && !PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, S[k]);
    return v;
}

static PyObject *pick(PyObject *best, int f) { /* best[field][2] or None, borrowed; NULL on error */
    PyObject *b = PyDict_GetItemWithError(best, S[f]);
    if (b == NULL) return PyErr_Occurred() ? NULL : Py_None;
    return PyTuple_GET_ITEM(b, 2);
}

static PyObject *text_of(PyObject *v) { /* _common.text_of, new reference */
    if (v == Py_None || PyUnicode_Check(v)) return Py_NewRef(v);
    return PyObject_CallOneArg(H[H_TEXT_OF], v);
}

static PyObject *json_text(PyObject *v) { /* _common.json_text */
    if (v == Py_None || PyUnicode_Check(v)) return Py_NewRef(v);
    return PyObject_CallOneArg(H[H_JSON_TEXT], v);
}

static PyObject *str_or_none(PyObject *v) { return v == Py_None ? Py_NewRef(v) : PyObject_Str(v); }

static PyObject *sorted_values(PyObject *d) { /* [v for _, v in sorted(d.items())] (keys distinct ints) */
    PyObject *keys = PyDict_Keys(d);
    if (keys == NULL || PyList_Sort(keys)) {
        Py_XDECREF(keys);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *v = PyDict_GetItemWithError(d, PyList_GET_ITEM(keys, i));
        if (v == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "dict changed");
            Py_DECREF(keys);
            return NULL;
        }
        PyList_SetItem(keys, i, Py_NewRef(v));
    }
    return keys;
}

static PyObject *get(PyObject *d, int k) { /* d.get(key), borrowed, None when absent; NULL on error */
    PyObject *v = PyDict_GetItemWithError(d, S[k]);
    return v ? v : PyErr_Occurred() ? NULL : Py_None;
}

static PyObject *oi_message(PyObject *fields, PyObject *calls) { /* _otlp_fast._msg */
    PyObject *role = get(fields, M_ROLE), *content = get(fields, M_CONTENT), *tcid = get(fields, M_TOOL_CALL_ID);
    if (!role || !content || !tcid) return NULL;
    PyObject *out_calls = Py_NewRef(Py_None), *r = NULL, *c = NULL, *t = NULL, *values = NULL, *m = NULL;
    if (calls != Py_None && PyDict_GET_SIZE(calls)) {
        SET(out_calls, PyList_New(0));
        SET(values, sorted_values(calls));
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
            PyObject *cd = PyList_GET_ITEM(values, i);
            PyObject *cid = get(cd, C_ID), *args = get(cd, C_ARGS), *name = get(cd, C_NAME);
            if (!cid || !args || !name) goto fail;
            int tr = PyObject_IsTrue(name);
            if (tr < 0) goto fail;
            SET(c, PyDict_New());
            SET(t, str_or_none(cid));
            if (PyDict_SetItem(c, S[O_ID], t) || PyDict_SetItem(c, S[O_NAME], tr ? name : Py_None)) goto fail;
            SET(t, PyUnicode_CheckExact(args) ? Py_NewRef(args) : json_text(args));
            if (PyDict_SetItem(c, S[O_ARGUMENTS], t) || PyList_Append(out_calls, c)) goto fail;
        }
        if (PyList_GET_SIZE(out_calls) == 0) Py_SETREF(out_calls, Py_NewRef(Py_None));
    }
    SET(m, PyDict_New());
    if (role == Py_None) {
        SET(t, Py_NewRef(Py_None));
    } else {
        SET(t, PyObject_Str(role));
        SET(t, PyObject_CallMethodNoArgs(t, S[V_LOWER]));
    }
    if (PyDict_SetItem(m, S[O_ROLE], t)) goto fail;
    SET(t, content == Py_None || PyUnicode_CheckExact(content) ? Py_NewRef(content) : text_of(content));
    if (PyDict_SetItem(m, S[O_CONTENT], t) || PyDict_SetItem(m, S[O_TOOL_CALLS], out_calls)) goto fail;
    SET(t, str_or_none(tcid));
    if (PyDict_SetItem(m, S[O_TOOL_CALL_ID], t)) goto fail;
    r = Py_NewRef(m);
fail:
    Py_XDECREF(out_calls), Py_XDECREF(c), Py_XDECREF(t), Py_XDECREF(values), Py_XDECREF(m);
    return r;
}

static PyObject *oi_side(PyObject *parts) { /* _otlp_fast._oi_side */
    PyObject *values = sorted_values(parts);
    if (values == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
        PyObject *entry = PyList_GET_ITEM(values, i); /* [fields, calls | None] */
        PyObject *m = oi_message(PyList_GET_ITEM(entry, 0), PyList_GET_ITEM(entry, 1));
        if (m == NULL) {
            Py_DECREF(values);
            return NULL;
        }
        PyList_SetItem(values, i, m);
    }
    return values;
}

static int exact_dicts(PyObject *msgs) { /* a list of dicts: what the C readers of messages below take */
    if (!PyList_CheckExact(msgs)) return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(msgs); i++)
        if (!PyDict_CheckExact(PyList_GET_ITEM(msgs, i))) return 0;
    return 1;
}

static PyObject *last_user_text(PyObject *msgs) { /* _common.last_user_text of truthy messages */
    if (!exact_dicts(msgs)) return PyObject_CallOneArg(H[H_LAST_USER_TEXT], msgs);
    for (int pass = 0; pass < 2; pass++) {
        for (Py_ssize_t i = PyList_GET_SIZE(msgs) - 1; i >= 0; i--) {
            PyObject *m = PyList_GET_ITEM(msgs, i), *role, *content;
            if (pass == 0) {
                if ((role = get(m, O_ROLE)) == NULL) return NULL;
                int eq = PyObject_RichCompareBool(role, S[V_USER], Py_EQ);
                if (eq < 0) return NULL;
                if (!eq) continue;
            }
            if ((content = get(m, O_CONTENT)) == NULL) return NULL;
            int tr = PyObject_IsTrue(content);
            if (tr < 0) return NULL;
            if (tr) return Py_NewRef(content);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *assistant_text(PyObject *msgs) { /* _common.assistant_text of truthy messages */
    if (!exact_dicts(msgs)) return PyObject_CallOneArg(H[H_ASSISTANT_TEXT], msgs);
    PyObject *parts = PyList_New(0);
    if (parts == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(msgs); i++) {
        PyObject *content = get(PyList_GET_ITEM(msgs, i), O_CONTENT);
        int tr = content ? PyObject_IsTrue(content) : -1;
        if (tr < 0 || (tr && PyList_Append(parts, content))) {
            Py_DECREF(parts);
            return NULL;
        }
    }
    PyObject *r = PyList_GET_SIZE(parts) ? PyUnicode_Join(S[V_NL], parts) : Py_NewRef(Py_None);
    Py_DECREF(parts);
    return r;
}

/* otlp._genai_parts_message of one message in the common shapes (parts of type text, reasoning,
 * tool_call or other content): a new list of its one canonical message; BAIL (NULL, no error) for
 * what this does not reproduce (no parts, parts not a list or not dicts, tool_call_response parts) */
static int genai_parts_message(PyObject *m, PyObject *msgs) {
    PyObject *parts = PyDict_GetItemWithError(m, S[G_PARTS]);
    if (parts == NULL) return PyErr_Occurred() ? ERR : BAIL;
    if (parts == Py_None) return BAIL;
    int tr = PyObject_IsTrue(parts);
    if (tr < 0) return ERR;
    if (tr && !PyList_CheckExact(parts)) return BAIL;
    PyObject *texts = PyList_New(0), *calls = PyList_New(0), *c = NULL, *t = NULL, *msg = NULL;
    int r = texts && calls ? OK : ERR;
    for (Py_ssize_t i = 0; r == OK && tr && i < PyList_GET_SIZE(parts); i++) {
        PyObject *p = PyList_GET_ITEM(parts, i);
        if (!PyDict_CheckExact(p)) {
            if (PyUnicode_Check(p) || PyLong_Check(p) || PyFloat_Check(p) || PyList_Check(p) || p == Py_None) continue;
            r = BAIL; /* a Mapping of another type */
            break;
        }
        PyObject *ty = PyDict_GetItemWithError(p, S[G_TYPE]);
        if (ty == NULL && PyErr_Occurred()) {
            r = ERR;
            break;
        }
        if (ty == NULL) ty = Py_None;
        int text = 0, call = 0, resp = 0;
        if (ty == Py_None) {
            if ((text = PyDict_Contains(p, S[O_CONTENT])) < 0) r = ERR;
        } else if ((text = PyObject_RichCompareBool(ty, S[G_TEXT], Py_EQ)) == 0 &&
                   (text = PyObject_RichCompareBool(ty, S[G_REASONING], Py_EQ)) == 0 &&
                   (call = PyObject_RichCompareBool(ty, S[G_TOOL_CALL], Py_EQ)) == 0) {
            resp = PyObject_RichCompareBool(ty, S[G_TOOL_CALL_RESPONSE], Py_EQ);
        }
        if (text < 0 || call < 0 || resp < 0) r = ERR;
        if (resp > 0) r = BAIL;
        if (r != OK) break;
        if (call) {
            PyObject *id = get(p, O_ID), *name = get(p, O_NAME), *args = get(p, O_ARGUMENTS);
            int named = name ? PyObject_IsTrue(name) : -1;
            if (!id || !args || named < 0) {
                r = ERR;
                break;
            }
            /* _common.message of {"id", "name", "arguments"} */
            if ((c = PyDict_New()) == NULL || (t = str_or_none(id)) == NULL || PyDict_SetItem(c, S[O_ID], t) ||
                PyDict_SetItem(c, S[O_NAME], named ? name : Py_None)) {
                r = ERR;
                break;
            }
            Py_SETREF(t, json_text(args));
            if (t == NULL || PyDict_SetItem(c, S[O_ARGUMENTS], t) || PyList_Append(calls, c)) r = ERR;
            Py_CLEAR(c);
            Py_CLEAR(t);
        } else { /* text, reasoning, content without a type, any other type: its content when it is text */
            PyObject *content = get(p, O_CONTENT);
            if (content == NULL) r = ERR;
            else if (PyUnicode_Check(content) && PyList_Append(texts, content)) r = ERR;
        }
    }
    if (r == OK) {
        PyObject *role = get(m, O_ROLE);
        msg = PyDict_New();
        if (role == NULL || msg == NULL) r = ERR;
        else if (role == Py_None) t = Py_NewRef(Py_None);
        else if ((t = PyObject_Str(role)) != NULL) Py_SETREF(t, PyObject_CallMethodNoArgs(t, S[V_LOWER]));
        if (r == OK && (t == NULL || PyDict_SetItem(msg, S[O_ROLE], t))) r = ERR;
        Py_XSETREF(t, PyList_GET_SIZE(texts) ? PyUnicode_Join(S[V_NL], texts) : Py_NewRef(Py_None));
        if (r == OK && (t == NULL || PyDict_SetItem(msg, S[O_CONTENT], t) ||
                        PyDict_SetItem(msg, S[O_TOOL_CALLS], PyList_GET_SIZE(calls) ? calls : Py_None) ||
                        PyDict_SetItem(msg, S[O_TOOL_CALL_ID], Py_None) || PyList_Append(msgs, msg)))
            r = ERR;
    }
    Py_XDECREF(texts), Py_XDECREF(calls), Py_XDECREF(c), Py_XDECREF(t), Py_XDECREF(msg);
    return r;
}

/* otlp._genai_messages of gen_ai.input.messages / gen_ai.output.messages (no system instructions):
 * OK with *inp, *out set (new references) and the keys read added to used, BAIL (nothing changed:
 * the caller calls the Python helper) or ERR */
static int genai_messages(PyObject *a, int has_in, int has_out, PyObject *used, PyObject **inp, PyObject **out) {
    PyObject *got[2] = {NULL, NULL};
    int r = OK;
    for (int side = 0; side < 2 && r == OK; side++) {
        if (!(side ? has_out : has_in)) continue;
        int key = side ? K_OUT_MSGS : K_IN_MSGS;
        PyObject *v = attr(a, key), *raw;
        if (v == NULL || (raw = json_list(v)) == NULL) {
            r = ERR;
            break;
        }
        if (raw == Py_None) {
            Py_DECREF(raw);
            continue;
        }
        if (!PyList_CheckExact(raw) || (got[side] = PyList_New(0)) == NULL) {
            r = PyList_CheckExact(raw) ? ERR : BAIL;
            Py_DECREF(raw);
            break;
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(raw) && r == OK; i++) {
            PyObject *m = PyList_GET_ITEM(raw, i);
            if (PyDict_CheckExact(m))
                r = genai_parts_message(m, got[side]);
            else if (!(PyUnicode_Check(m) || PyLong_Check(m) || PyFloat_Check(m) || PyList_Check(m) || m == Py_None))
                r = BAIL;
        }
        Py_DECREF(raw);
    }
    if (r == OK) {
        if ((got[0] && PySet_Add(used, S[K_IN_MSGS])) || (got[1] && PySet_Add(used, S[K_OUT_MSGS]))) {
            r = ERR;
        } else {
            *inp = got[0] ? got[0] : Py_NewRef(Py_None);
            *out = got[1] ? got[1] : Py_NewRef(Py_None);
            return OK;
        }
    }
    Py_XDECREF(got[0]), Py_XDECREF(got[1]);
    return r;
}

static int truthy(PyObject *v) { return v == Py_None ? 0 : PyObject_IsTrue(v); }

static int nonempty(PyObject *v) { /* v is not None and v != "" */
    return v == Py_None ? 0 : PyObject_RichCompareBool(v, S_EMPTY, Py_NE);
}

/* A retrieval document as otlp._oi_document (oi=1: keys "document.id"...) or otlp._genai_document
 * (oi=0: keys "id"...) build it, for the plain case: d an exact dict whose id is None, str or int,
 * content None or str, score None, float or int, metadata None or str. Any other value: the Python
 * helper builds it (same dict, or the same error). */
static PyObject *DOC_KEYS[2][4], *DOC_OUT[4];

static PyObject *document(PyObject *d, int oi, PyObject *helper) {
    if (DOC_OUT[0] == NULL) {
        static const char *names[2][4] = {{"id", "content", "score", "metadata"},
                                          {"document.id", "document.content", "document.score", "document.metadata"}};
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < 4; i++)
                if ((DOC_KEYS[j][i] = PyUnicode_InternFromString(names[j][i])) == NULL) return NULL;
        for (int i = 0; i < 4; i++) DOC_OUT[i] = Py_NewRef(DOC_KEYS[0][i]);
    }
    if (!PyDict_CheckExact(d)) return PyObject_CallOneArg(helper, d);
    PyObject *v[4];
    for (int i = 0; i < 4; i++) {
        v[i] = PyDict_GetItemWithError(d, DOC_KEYS[oi][i]); /* borrowed */
        if (v[i] == NULL) {
            if (PyErr_Occurred()) return NULL;
            v[i] = Py_None;
        }
    }
    if (!(v[0] == Py_None || PyUnicode_CheckExact(v[0]) || PyLong_CheckExact(v[0])) ||
        !(v[1] == Py_None || PyUnicode_CheckExact(v[1])) ||
        !(v[2] == Py_None || PyFloat_CheckExact(v[2]) || PyLong_CheckExact(v[2])) ||
        !(v[3] == Py_None || PyUnicode_CheckExact(v[3])))
        return PyObject_CallOneArg(helper, d);
    PyObject *id = v[0] == Py_None || PyUnicode_CheckExact(v[0]) ? Py_NewRef(v[0]) : PyObject_Str(v[0]);
    if (id == NULL) return NULL;
    PyObject *score = v[2] == Py_None || PyFloat_CheckExact(v[2]) ? Py_NewRef(v[2]) : PyNumber_Float(v[2]);
    if (score == NULL) { /* float(int) too large: the helper raises it the same way */
        Py_DECREF(id);
        PyErr_Clear();
        return PyObject_CallOneArg(helper, d);
    }
    PyObject *out = PyDict_New();
    if (out == NULL || PyDict_SetItem(out, DOC_OUT[0], id) || PyDict_SetItem(out, DOC_OUT[1], v[1]) ||
        PyDict_SetItem(out, DOC_OUT[2], score) || PyDict_SetItem(out, DOC_OUT[3], v[3])) {
        Py_XDECREF(out);
        out = NULL;
    }
    Py_DECREF(id);
    Py_DECREF(score);
    return out;
}

static PyObject *py_document(PyObject *self, PyObject *args) {
    PyObject *d, *helper;
    int oi;
    if (!PyArg_ParseTuple(args, "OpO:document", &d, &oi, &helper)) return NULL;
    return document(d, oi, helper);
}

#define CHECK(expr)                \
    do {                           \
        if ((expr) < 0) goto fail; \
    } while (0)
#define NEW(x) Py_NewRef(x)

static PyObject *map(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 13) {
        PyErr_Format(PyExc_TypeError, "map() takes 13 arguments (%zd given)", nargs);
        return NULL;
    }
    if (H[0] == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "map(): configure(helpers) first");
        return NULL;
    }
    PyObject *a = args[0], *name = args[4], *status = args[7], *resource = args[10], *scope = args[11];
    if (!PyDict_CheckExact(a)) Py_RETURN_NOTIMPLEMENTED;
    scanned_t s;
    int r = scan_attrs(a, H[H_KEY_INFO], H[H_CLASSIFY], &s);
    if (r == BAIL) Py_RETURN_NONE;
    if (r == ERR) return NULL;
    PyObject *result = NULL, *sp = s.specials, *best = s.best, *used = s.used, *v, *t = NULL;
    PyObject *kind = NEW(Py_None), *inp = NEW(Py_None), *out = NEW(Py_None), *docs = NEW(Py_None);
    PyObject *tool_name = NEW(Py_None), *tool_args = NEW(Py_None), *tool_result = NEW(Py_None);
    PyObject *pt = NEW(Py_None), *ct = NEW(Py_None), *tt = NEW(Py_None), *cost = NEW(Py_None), *tags = NEW(Py_None);
    PyObject *session = NEW(Py_None), *user = NEW(Py_None), *meta = NULL, *rest = NULL, *in_text = NEW(Py_None);
    PyObject *out_text = NEW(Py_None), *err = NEW(args[8]), *otel_kind = NEW(args[9]), *tags_out = NULL;
    PyObject *tool_args_text = NULL, *tool_result_text = NULL;
    int h, genai = (s.nss & 1) != 0;

    /* kind */
    CHECK(h = HAS(K_OI_KIND));
    if (h) {
        if ((v = attr(a, K_OI_KIND)) == NULL) goto fail;
        CHECK(h = nonempty(v));
        if (h) {
            CHECK(PySet_Add(used, S[K_OI_KIND]));
            if (PyUnicode_Check(v)) {
                SET(t, PyObject_CallMethodNoArgs(v, S[V_UPPER]));
                PyObject *k = PyDict_GetItemWithError(H[H_OI_KINDS], t);
                if (k == NULL && PyErr_Occurred()) goto fail;
                SET(kind, NEW(k ? k : S[V_UNKNOWN]));
            }
        }
    }
    if (kind == Py_None) {
        CHECK(h = HAS(K_GENAI_OP));
        if (h) {
            if ((v = attr(a, K_GENAI_OP)) == NULL) goto fail;
            if (PyUnicode_Check(v)) {
                CHECK(h = nonempty(v));
                if (h) {
                    CHECK(PySet_Add(used, S[K_GENAI_OP]));
                    SET(t, PyObject_CallMethodNoArgs(v, S[V_LOWER]));
                    PyObject *k = PyDict_GetItemWithError(H[H_GENAI_OPS], t);
                    if (k == NULL && PyErr_Occurred()) goto fail;
                    SET(kind, NEW(k ? k : Py_None));
                }
            }
        }
    }
    int llm_model, req_model;
    CHECK(llm_model = HAS(K_LLM_MODEL));
    CHECK(req_model = HAS(K_GENAI_REQ_MODEL));
    if (kind == Py_None && (genai || llm_model)) SET(kind, NEW(S[(req_model || llm_model) ? V_LLM : V_UNKNOWN]));

    PyObject *model = pick(best, F_MODEL), *provider;
    if (model == NULL) goto fail;
    if (model == Py_None) {
        CHECK(h = HAS(K_INV_PARAMS));
        if (h) {
            if ((v = attr(a, K_INV_PARAMS)) == NULL) goto fail;
            if (PyUnicode_Check(v)) {
                result = NEW(Py_None);
                goto fail; /* not a failure: the reference maps it */
            }
        }
    }
    if (req_model) CHECK(PySet_Add(used, S[K_GENAI_REQ_MODEL]));
    if ((provider = pick(best, F_PROVIDER)) == NULL) goto fail;

    /* messages */
    if ((s.nss & 2) && s.oi != NULL) {
        PyObject *o0 = PyTuple_GET_ITEM(s.oi, 0), *o1 = PyTuple_GET_ITEM(s.oi, 1);
        if (PyDict_GET_SIZE(o0)) SET(inp, oi_side(o0));
        if (PyDict_GET_SIZE(o1)) SET(out, oi_side(o1));
    }
    if ((inp == Py_None || out == Py_None) && genai) {
        static const int keys[3] = {K_IN_MSGS, K_SYS_INSTR, K_OUT_MSGS};
        SET(t, PyDict_New());
        for (int i = 0; i < 3; i++) {
            CHECK(h = HAS(keys[i]));
            if (h && ((v = attr(a, keys[i])) == NULL || PyDict_SetItem(t, S[keys[i]], v))) goto fail;
        }
        int sysi;
        CHECK(sysi = HAS(K_SYS_INSTR));
        PyObject *gi = NULL, *go = NULL;
        if (PyDict_GET_SIZE(t) && !sysi) {
            CHECK(r = genai_messages(a, PyDict_Contains(t, S[K_IN_MSGS]), PyDict_Contains(t, S[K_OUT_MSGS]), used, &gi, &go));
        }
        if (gi != NULL) { /* r == OK */
            if (inp == Py_None) SET(inp, NEW(gi));
            if (out == Py_None) SET(out, NEW(go));
            Py_DECREF(gi), Py_DECREF(go);
        } else if (PyDict_GET_SIZE(t)) {
            PyObject *ev = PyList_New(0), *ue = PySet_New(NULL), *got = NULL;
            if (ev && ue) got = PyObject_CallFunctionObjArgs(H[H_GENAI_MESSAGES], t, ev, used, ue, NULL);
            Py_XDECREF(ev), Py_XDECREF(ue);
            SET(t, got);
            if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 2) {
                result = Py_NewRef(Py_NotImplemented);
                goto fail;
            }
            if (inp == Py_None) SET(inp, NEW(PyTuple_GET_ITEM(t, 0)));
            if (out == Py_None) SET(out, NEW(PyTuple_GET_ITEM(t, 1)));
        }
    }
    PyObject *in_value = pick(best, F_INPUT), *out_value;
    if (in_value == NULL || (out_value = pick(best, F_OUTPUT)) == NULL) goto fail;
    int is_llm = is_str(kind, V_LLM), is_tool = is_str(kind, V_TOOL), is_retriever = is_str(kind, V_RETRIEVER);
    if (is_llm && (inp == Py_None || out == Py_None)) { /* messages in a JSON request/response */
        for (int side = 0; side < 2; side++) {
            PyObject **msgs = side ? &out : &inp, *value = side ? out_value : in_value;
            if (*msgs != Py_None || !PyUnicode_Check(value)) continue; /* _value_messages: None, _canonical(None): None */
            SET(t, PyObject_CallFunctionObjArgs(H[H_VALUE_MESSAGES], value, S[side ? V_OUTPUT : V_INPUT], NULL));
            SET(*msgs, PyObject_CallOneArg(H[H_CANONICAL], t));
        }
    }
    CHECK(h = truthy(inp));
    if (h && PyUnicode_Check(in_value)) { /* tool messages without their call id: filled from the raw request */
        if (!exact_dicts(inp)) {
            result = Py_NewRef(Py_NotImplemented);
            goto fail;
        }
        int found = 0;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(inp) && !found; i++) {
            PyObject *m = PyList_GET_ITEM(inp, i), *role = PyDict_GetItemWithError(m, S[O_ROLE]);
            if (role == NULL) {
                if (PyErr_Occurred()) goto fail;
                result = Py_NewRef(Py_NotImplemented);
                goto fail;
            }
            CHECK(h = PyObject_RichCompareBool(role, S[V_TOOL], Py_EQ));
            if (!h) continue;
            PyObject *tcid = PyDict_GetItemWithError(m, S[O_TOOL_CALL_ID]);
            if (tcid == NULL) {
                if (PyErr_Occurred()) goto fail;
                result = Py_NewRef(Py_NotImplemented);
                goto fail;
            }
            found = tcid == Py_None;
        }
        if (found) SET(inp, PyObject_CallFunctionObjArgs(H[H_FILL_CALL_IDS], inp, in_value, NULL));
    }
    CHECK(h = HAS(K_IN_MIME));
    if (h) CHECK(PySet_Add(used, S[K_IN_MIME]));
    CHECK(h = HAS(K_OUT_MIME));
    if (h) CHECK(PySet_Add(used, S[K_OUT_MIME]));

    /* tools */
    int tools = is_tool;
    if (!tools) CHECK(tools = HAS(K_TOOL_NAME));
    if (!tools) CHECK(tools = HAS(K_GENAI_TOOL_NAME));
    if (tools) {
        if ((v = pick(best, F_TOOL_NAME)) == NULL) goto fail;
        SET(tool_name, NEW(v));
        if ((v = pick(best, F_TOOL_ARGS)) == NULL) goto fail;
        SET(tool_args, NEW(v));
        if (tool_args == Py_None && is_tool) SET(tool_args, NEW(in_value));
        if (is_tool) {
            if (PyUnicode_Check(out_value) && PyUnicode_Tailmatch(out_value, S[V_OBJ_START], 0, PY_SSIZE_T_MAX, -1) == 1)
                SET(tool_result, PyObject_CallOneArg(H[H_TOOL_MESSAGE_CONTENT], out_value));
            else
                SET(tool_result, NEW(out_value));
        }
        if (tool_name == Py_None && is_tool) SET(tool_name, NEW(name));
        static const int desc[5] = {K_TOOL_DESC, K_GENAI_TOOL_DESC, K_GENAI_TOOL_CALL_ID, K_AI_TOOLCALL_ID, K_GENAI_TOOL_TYPE};
        for (int i = 0; i < 5; i++) {
            CHECK(h = HAS(desc[i]));
            if (!h) continue;
            if ((v = attr(a, desc[i])) == NULL) goto fail;
            CHECK(h = nonempty(v));
            if (h) {
                CHECK(PySet_Add(used, S[desc[i]]));
                break;
            }
        }
    }

    /* documents */
    int ret_docs = 0;
    if (!(s.docs != NULL && (s.nss & 4)) && genai) CHECK(ret_docs = HAS(K_GENAI_RET_DOCS));
    if (s.docs != NULL && (s.nss & 4)) {
        Py_ssize_t pos = 0;
        PyObject *k, *x;
        while (PyDict_Next(a, &pos, &k, &x)) {
            if (!PyUnicode_Check(k)) {
                result = Py_NewRef(Py_NotImplemented);
                goto fail;
            }
            if (PyUnicode_Tailmatch(k, S[K_DOC_PREFIX], 0, PY_SSIZE_T_MAX, -1) == 1) CHECK(PySet_Add(used, k));
        }
        SET(docs, sorted_values(s.docs));
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(docs); i++) {
            PyObject *d = document(PyList_GET_ITEM(docs, i), 1, H[H_OI_DOCUMENT]);
            if (d == NULL) goto fail;
            PyList_SetItem(docs, i, d);
        }
    } else if (ret_docs && (v = attr(a, K_GENAI_RET_DOCS)) != Py_None) {
        if (v == NULL) goto fail;
        CHECK(PySet_Add(used, S[K_GENAI_RET_DOCS]));
        SET(docs, PyList_New(0));
        SET(t, json_list(v));
        CHECK(h = truthy(t));
        if (h) {
            PyObject *it = PyObject_GetIter(t), *d;
            if (it == NULL) goto fail;
            while ((d = PyIter_Next(it)) != NULL) {
                PyObject *doc = document(d, 0, H[H_GENAI_DOCUMENT]);
                Py_DECREF(d);
                if (doc == NULL || PyList_Append(docs, doc)) {
                    Py_XDECREF(doc);
                    Py_DECREF(it);
                    goto fail;
                }
                Py_DECREF(doc);
            }
            Py_DECREF(it);
            if (PyErr_Occurred()) goto fail;
        }
    }
    if (docs == Py_None && is_retriever && PyUnicode_Check(out_value) &&
        PyUnicode_Tailmatch(out_value, S[V_LIST_START], 0, PY_SSIZE_T_MAX, -1) == 1)
        SET(docs, PyObject_CallOneArg(H[H_OUTPUT_DOCUMENTS], out_value));

    /* tokens and cost */
    static const int token_fields[3] = {F_PT, F_CT, F_TT};
    PyObject **tokens[3] = {&pt, &ct, &tt};
    for (int i = 0; i < 3; i++) {
        if ((v = pick(best, token_fields[i])) == NULL) goto fail;
        if (v == Py_None || PyLong_CheckExact(v)) {
            SET(*tokens[i], NEW(v));
            continue;
        }
        PyObject *n = PyNumber_Long(v); /* _otlp_fast._int: int(v), None on TypeError/ValueError */
        if (n == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError) && !PyErr_ExceptionMatches(PyExc_ValueError)) goto fail;
            PyErr_Clear();
            n = NEW(Py_None);
        }
        Py_SETREF(*tokens[i], n);
    }
    if (tt == Py_None && (pt != Py_None || ct != Py_None)) {
        PyObject *p, *c;
        CHECK(h = truthy(pt));
        p = h ? pt : NULL;
        CHECK(h = truthy(ct));
        c = h ? ct : NULL;
        PyObject *zero = PyLong_FromLong(0);
        if (zero == NULL) goto fail;
        PyObject *sum = PyNumber_Add(p ? p : zero, c ? c : zero);
        Py_DECREF(zero);
        SET(tt, sum);
    }
    if ((v = pick(best, F_COST)) == NULL) goto fail;
    if (v != Py_None) SET(cost, PyNumber_Float(v));

    /* session, user, tags, metadata */
    if ((v = pick(best, F_SESSION)) == NULL) goto fail;
    SET(session, str_or_none(v));
    if ((v = pick(best, F_USER)) == NULL) goto fail;
    SET(user, str_or_none(v));
    if ((v = pick(best, F_TAGS)) == NULL) goto fail;
    SET(tags, NEW(v));
    if (PyUnicode_Check(tags)) {
        SET(t, json_list(tags));
        CHECK(h = truthy(t));
        if (h)
            SET(tags, NEW(t));
        else {
            SET(t, PyList_New(1));
            PyList_SET_ITEM(t, 0, NEW(tags));
            SET(tags, NEW(t));
        }
    }
    SET(meta, PyDict_New());
    CHECK(h = HAS(K_METADATA));
    if (h) {
        if ((v = attr(a, K_METADATA)) == NULL) goto fail;
        CHECK(h = nonempty(v));
        if (h) {
            CHECK(PySet_Add(used, S[K_METADATA]));
            SET(t, parsed_as(v, &PyDict_Type, H_METADATA_VALUE));
            if (t != Py_None) CHECK(PyDict_Update(meta, t));
        }
    }
    CHECK(h = PyObject_RichCompareBool(status, S_ERROR, Py_NE));
    if (h) SET(err, NEW(Py_None));

    /* readable texts (otlp._readable_texts) */
    CHECK(h = truthy(inp));
    SET(in_text, h ? last_user_text(inp) : text_of(in_value));
    CHECK(h = truthy(out));
    SET(out_text, h ? assistant_text(out) : text_of(out_value));
    if (is_retriever && in_text == Py_None) SET(in_text, text_of(in_value));
    if (is_tool && in_text == Py_None && tool_args != Py_None) SET(in_text, json_text(tool_args));

    /* the aliased fields' keys are used (tool ones only when tools are read) */
    {
        Py_ssize_t pos = 0;
        PyObject *f, *b;
        while (PyDict_Next(best, &pos, &f, &b)) {
            if (!tools && (PyUnicode_Compare(f, S[F_TOOL_NAME]) == 0 || PyUnicode_Compare(f, S[F_TOOL_ARGS]) == 0)) continue;
            if (PyErr_Occurred()) goto fail;
            CHECK(PySet_Add(used, PyTuple_GET_ITEM(b, 1)));
        }
    }
    Py_ssize_t nu = PySet_GET_SIZE(used);
    if (nu == PyDict_GET_SIZE(a)) {
        SET(rest, PyDict_New());
    } else if (nu) {
        SET(rest, PyDict_New());
        Py_ssize_t pos = 0;
        PyObject *k, *x;
        while (PyDict_Next(a, &pos, &k, &x)) {
            CHECK(h = PySet_Contains(used, k));
            if (!h) CHECK(PyDict_SetItem(rest, k, x));
        }
    } else {
        SET(rest, PyDict_Copy(a));
    }
    if (otel_kind != Py_None) {
        CHECK(h = PySet_Contains(H[H_KIND_SET], otel_kind));
        if (!h) SET(otel_kind, PyObject_CallOneArg(H[H_SPAN_KIND], otel_kind));
    }
    /* otlp._record_fields */
    int res_true;
    CHECK(res_true = truthy(resource));
    if (res_true) CHECK(PyDict_SetItem(rest, S[K_RESOURCE], resource));
    CHECK(h = truthy(scope));
    if (h) CHECK(PyDict_SetItem(rest, S[K_SCOPE_NAME], scope));
    if (otel_kind != Py_None) CHECK(PyDict_SetItem(rest, S[K_SPAN_KIND], otel_kind));
    if (in_value != Py_None && inp != Py_None) CHECK(PyDict_SetItem(rest, S[K_INPUT_VALUE], in_value));
    if (out_value != Py_None && out != Py_None) CHECK(PyDict_SetItem(rest, S[K_OUTPUT_VALUE], out_value));
    if (res_true) {
        CHECK(h = PySequence_Contains(resource, S[K_SERVICE_NAME]));
        if (h) {
            SET(t, PyObject_GetItem(resource, S[K_SERVICE_NAME]));
            if (PyDict_SetDefault(meta, S[K_SERVICE_NAME], t) == NULL) goto fail;
        }
    }

    SET(tool_args_text, json_text(tool_args));
    SET(tool_result_text, PyDict_Check(tool_result) || PyList_Check(tool_result) ? json_text(tool_result) : text_of(tool_result));
    CHECK(h = truthy(tags));
    SET(tags_out, h ? PySequence_List(tags) : NEW(Py_None));
    CHECK(h = truthy(kind));
    PyObject *kind_out = h ? kind : S[V_UNKNOWN];
    result = PyTuple_Pack(30, args[1], args[2], args[3], name, kind_out, args[5], args[6], Py_None, status, err, model,
                          provider, inp, out, in_text, out_text, docs, tool_name, tool_args_text, tool_result_text, pt,
                          ct, tt, cost, session, user, tags_out, PyDict_GET_SIZE(meta) ? meta : Py_None,
                          PyDict_GET_SIZE(rest) ? rest : Py_None, args[12]);
fail:
    Py_XDECREF(t), Py_XDECREF(kind), Py_XDECREF(inp), Py_XDECREF(out), Py_XDECREF(docs), Py_XDECREF(tool_name);
    Py_XDECREF(tool_args), Py_XDECREF(tool_result), Py_XDECREF(pt), Py_XDECREF(ct), Py_XDECREF(tt), Py_XDECREF(cost);
    Py_XDECREF(tags), Py_XDECREF(session), Py_XDECREF(user), Py_XDECREF(meta), Py_XDECREF(rest), Py_XDECREF(in_text);
    Py_XDECREF(out_text), Py_XDECREF(err), Py_XDECREF(otel_kind), Py_XDECREF(tags_out), Py_XDECREF(tool_args_text);
    Py_XDECREF(tool_result_text);
    scanned_clear(&s);
    return result;
}

/* map_spans(spans, resource, scope, source_format) -> (rows, odd)
 * map() of each span a decoder gave (its 10 arguments, or None) with the group's resource and scope:
 * rows[i] is the row tuple, None (the reference maps it: the decoder or map said so, or map raised
 * an Exception, as _otlp_fast._decoded_row catches it) or NotImplemented (_map_py maps it); odd:
 * how many are not tuples. RecursionError, MemoryError and non-Exception errors propagate. */
static PyObject *map_spans(PyObject *self, PyObject *args) {
    PyObject *spans, *resource, *scope, *fmt;
    if (!PyArg_ParseTuple(args, "O!OOO:map_spans", &PyList_Type, &spans, &resource, &scope, &fmt)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(spans), odd = 0;
    PyObject *rows = PyList_New(n);
    if (rows == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(spans, i), *row;
        if (PyTuple_CheckExact(s) && PyTuple_GET_SIZE(s) == 10) {
            PyObject *argv[13];
            for (int j = 0; j < 10; j++) argv[j] = PyTuple_GET_ITEM(s, j);
            argv[10] = resource, argv[11] = scope, argv[12] = fmt;
            Py_INCREF(s);
            row = map(self, argv, 13);
            Py_DECREF(s);
            if (row == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_Exception) || PyErr_ExceptionMatches(PyExc_RecursionError) ||
                    PyErr_ExceptionMatches(PyExc_MemoryError)) {
                    Py_DECREF(rows);
                    return NULL;
                }
                PyErr_Clear();
                row = Py_NewRef(Py_None);
            }
        } else if (s == Py_None) {
            row = Py_NewRef(Py_None);
        } else {
            row = Py_NewRef(Py_NotImplemented); /* not what the decoders give: _decoded_row decides */
        }
        odd += !PyTuple_CheckExact(row);
        PyList_SET_ITEM(rows, i, row);
    }
    return Py_BuildValue("(Nn)", rows, odd);
}

/* only_text(values) -> bool: every item of the list is a str (exactly) or None, as
 * _read._only_text's frozenset((str, NoneType)).issuperset(map(type, values)) says, without a call per item */
static PyObject *only_text(PyObject *self, PyObject *vals) {
    (void)self;
    if (!PyList_CheckExact(vals)) {
        PyErr_SetString(PyExc_TypeError, "only_text(values): a list");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(vals); i++) {
        PyObject *v = PyList_GET_ITEM(vals, i);
        if (v != Py_None && !PyUnicode_CheckExact(v)) Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

/* int_column(values) -> None | (values, mask): a list of exact ints and None as two bytearrays,
 * the int64 values (0 where None) and a byte per value (1 where None), for _read._int_array's
 * IntegerArray; None when an item is another type or an int beyond 64 bits (the caller converts) */
static PyObject *int_column(PyObject *self, PyObject *vals) {
    (void)self;
    if (!PyList_CheckExact(vals)) {
        PyErr_SetString(PyExc_TypeError, "int_column(values): a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(vals);
    PyObject *data = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    PyObject *mask = data ? PyByteArray_FromStringAndSize(NULL, n) : NULL;
    if (mask == NULL) {
        Py_XDECREF(data);
        return NULL;
    }
    int64_t *d = (int64_t *)PyByteArray_AS_STRING(data);
    char *m = PyByteArray_AS_STRING(mask);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(vals, i);
        int overflow = 0;
        if (v == Py_None) {
            d[i] = 0, m[i] = 1;
            continue;
        }
        if (!PyLong_CheckExact(v) || ((d[i] = PyLong_AsLongLongAndOverflow(v, &overflow)) == -1 && (overflow || PyErr_Occurred()))) {
            PyErr_Clear();
            Py_DECREF(data), Py_DECREF(mask);
            Py_RETURN_NONE;
        }
        m[i] = 0;
    }
    return Py_BuildValue("(NN)", data, mask);
}

/* transpose(rows, n) -> None | [list, ...]: n column lists of rows that are all tuples of n items
 * (what map(list, zip(*rows)) gives them), None when a row is anything else (the caller zips) */
static PyObject *transpose(PyObject *self, PyObject *args) {
    PyObject *rows;
    Py_ssize_t n;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!n:transpose", &PyList_Type, &rows, &n)) return NULL;
    Py_ssize_t m = PyList_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *r = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) != n) Py_RETURN_NONE;
    }
    PyObject *cols = PyList_New(n);
    if (cols == NULL) return NULL;
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *c = PyList_New(m);
        if (c == NULL) {
            Py_DECREF(cols);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < m; i++) PyList_SET_ITEM(c, i, Py_NewRef(PyTuple_GET_ITEM(PyList_GET_ITEM(rows, i), j)));
        PyList_SET_ITEM(cols, j, c);
    }
    return cols;
}

/* The number of items of the lists in pieces (a list of lists), -1 with TypeError otherwise. */
static Py_ssize_t pieces_total(PyObject *pieces, const char *fname) {
    if (!PyList_Check(pieces)) {
        PyErr_Format(PyExc_TypeError, "%s() takes a list of lists, not %.100s", fname, Py_TYPE(pieces)->tp_name);
        return -1;
    }
    Py_ssize_t total = 0, k = PyList_GET_SIZE(pieces);
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *p = PyList_GET_ITEM(pieces, j);
        if (!PyList_Check(p)) {
            PyErr_Format(PyExc_TypeError, "%s() takes a list of lists; item %zd is a %.100s", fname, j, Py_TYPE(p)->tp_name);
            return -1;
        }
        total += PyList_GET_SIZE(p);
    }
    return total;
}

/* concat(pieces) -> list: the items of every list in pieces, in order, in one list allocated at its
 * final size (list.extend grows a list by an eighth at a time, copying it each time it moves). */
static PyObject *concat(PyObject *self, PyObject *pieces) {
    (void)self;
    Py_ssize_t total = pieces_total(pieces, "concat"), k = PyList_GET_SIZE(pieces);
    if (total < 0) return NULL;
    PyObject *out = PyList_New(total);
    if (out == NULL) return NULL;
    Py_ssize_t at = 0;
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *p = PyList_GET_ITEM(pieces, j);
        Py_ssize_t m = PyList_GET_SIZE(p);
        for (Py_ssize_t i = 0; i < m; i++) PyList_SET_ITEM(out, at + i, Py_NewRef(PyList_GET_ITEM(p, i)));
        at += m;
    }
    return out;
}

/* move_into(pieces, address, n) -> None: the items of the lists in pieces (n in all), in order, into
 * the n object slots at address (a fresh, C-contiguous numpy object array's data, each slot holding a
 * reference to None, as numpy.empty makes it). A list only pieces refers to hands its references
 * over and is left empty: no item is touched (its reference count stays as it is), so building an
 * array from a column costs no pass over its objects. Other lists are copied (new references). */
static PyObject *move_into(PyObject *self, PyObject *args) {
    PyObject *pieces;
    unsigned long long address;
    Py_ssize_t n;
    (void)self;
    if (!PyArg_ParseTuple(args, "OKn:move_into", &pieces, &address, &n)) return NULL;
    Py_ssize_t total = pieces_total(pieces, "move_into"), k = PyList_GET_SIZE(pieces);
    if (total < 0) return NULL;
    if (total != n || address == 0) {
        PyErr_Format(PyExc_ValueError, "move_into(): the pieces hold %zd items for %zd slots", total, n);
        return NULL;
    }
    PyObject **dst = (PyObject **)(uintptr_t)address;
    Py_ssize_t at = 0;
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *p = PyList_GET_ITEM(pieces, j);
        Py_ssize_t m = PyList_GET_SIZE(p);
        PyObject **items = ((PyListObject *)p)->ob_item;
        int own = Py_REFCNT(p) == 1; /* held by pieces alone: its references move */
        for (Py_ssize_t i = 0; i < m; i++) {
            PyObject *old = dst[at + i];
            dst[at + i] = own ? items[i] : Py_NewRef(items[i]);
            Py_XDECREF(old);
        }
        if (own) Py_SET_SIZE(p, 0); /* emptied without releasing the moved references */
        at += m;
    }
    Py_RETURN_NONE;
}

/* span_tree(trace_ids, span_ids, parents) -> None | str: whether _read._finish's span checks have
 * nothing to do, in O(n) without a Python object per span. None when every trace_id and span_id is
 * a non-empty exact str, every parent is None or an exact str, no id starts with '[' or '{' (the
 * text of a list or an object: _read._container_text's cases), no (trace_id, span_id) key repeats
 * and no parent links form a cycle (a span's parent is the span keyed (its trace_id, its parent),
 * when it is among them and the parent is not empty, as _read._break_cycles follows them). Else
 * what was found first: "ids", "duplicate", "cycle", or "crowded" (the keys' hashes collide far
 * more than chance allows, as crafted input could make them: the probes are bounded, O(n) always);
 * the caller then runs its Python checks, which decide everything themselves.
 * Keys go in an open-addressing table of row numbers (linear probing, at most half full) over a
 * hash of the strings' bytes (equal str have equal kind and bytes; a hash match is confirmed by
 * comparing the strings); each span's parent is looked up as soon as the span is in, again after
 * all are in when its parent comes later; the cycle search colours the parent-row array (on the
 * current walk up / leads to a root), each row walked once. */
typedef struct {
    uint64_t h;    /* the key's hash */
    Py_ssize_t i;  /* row + 1, 0: empty */
} tree_slot;

typedef struct {
    tree_slot *table;
    size_t mask, budget; /* budget: probes left (16 per row) */
    PyObject *tids, *sids;
} tree_keys;

static inline uint64_t text_hash(PyObject *v) { /* exact, ready str */
    const unsigned char *p = PyUnicode_DATA(v);
    size_t len = (size_t)PyUnicode_GET_LENGTH(v) * (size_t)PyUnicode_KIND(v);
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ len, w;
    for (; len >= 8; p += 8, len -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 29;
    }
    if (len) {
        w = 0;
        memcpy(&w, p, len);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 29;
    }
    return h;
}

static inline uint64_t tree_hash(uint64_t a, uint64_t b) {
    uint64_t x = a * 0x9E3779B97F4A7C15ULL ^ b;
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ULL;
    return x ^ (x >> 32);
}

static inline int same_text(PyObject *a, PyObject *b) { /* both exact, ready str */
    if (a == b) return 1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a);
    return n == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b) &&
           memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * (size_t)kind) == 0;
}

/* The row keyed (t, s) of hash h: its row, -1 when absent (then, with insert, row i is put in its
 * place), -2 when the probe budget is spent. */
static inline Py_ssize_t tree_find(tree_keys *tk, uint64_t h, PyObject *t, PyObject *s, Py_ssize_t insert) {
    for (size_t k = (size_t)h & tk->mask;; k = (k + 1) & tk->mask) {
        if (tk->budget-- == 0) return -2;
        tree_slot *slot = &tk->table[k];
        Py_ssize_t j = slot->i - 1;
        if (j < 0) {
            if (insert >= 0) slot->h = h, slot->i = insert + 1;
            return -1;
        }
        if (slot->h == h && same_text(PyList_GET_ITEM(tk->sids, j), s) && same_text(PyList_GET_ITEM(tk->tids, j), t))
            return j;
    }
}

static int plain_id(PyObject *v, int may_be_none) { /* 1: as span_tree wants it, 0: not, -1: error */
    if (v == Py_None) return may_be_none;
    if (!PyUnicode_CheckExact(v)) return 0;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(v) < 0) return -1;
#endif
    if (PyUnicode_GET_LENGTH(v) == 0) return may_be_none; /* an empty parent is no parent; an empty id is missing */
    Py_UCS4 c = PyUnicode_READ_CHAR(v, 0);
    return c != '[' && c != '{';
}

typedef union {
    uint64_t h;    /* the parent's key hash, while the parent is not found yet */
    Py_ssize_t up; /* the parent's row, -1: none among the spans */
} tree_link;

static PyObject *span_tree(PyObject *self, PyObject *args) {
    PyObject *tids, *sids, *parents, *found = NULL;
    const char *why = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O!:span_tree", &PyList_Type, &tids, &PyList_Type, &sids, &PyList_Type, &parents))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(tids);
    if (PyList_GET_SIZE(sids) != n || PyList_GET_SIZE(parents) != n) {
        PyErr_Format(PyExc_ValueError, "span_tree: columns of %zd, %zd and %zd rows; expected the same length", n,
                     PyList_GET_SIZE(sids), PyList_GET_SIZE(parents));
        return NULL;
    }
    if (n > PY_SSIZE_T_MAX / 64) return PyErr_NoMemory();
    size_t cap = 8, rows = n ? (size_t)n : 1;
    while (cap < (size_t)n * 2) cap <<= 1;
    tree_keys tk = {PyMem_Calloc(cap, sizeof(tree_slot)), cap - 1, 16 * (size_t)n + 64, tids, sids};
    tree_link *link = tk.table ? PyMem_Malloc(rows * sizeof(tree_link)) : NULL;
    unsigned char *state = link ? PyMem_Malloc(rows) : NULL; /* 3: parent not found yet; then 0, 1, 2 below */
    if (state == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* nothing below calls back into Python (exact str only): the lists cannot change under us */
    for (Py_ssize_t i = 0; i < n; i++) { /* the ids checked, each key in, each parent looked up among those in */
        PyObject *t = PyList_GET_ITEM(tids, i), *s = PyList_GET_ITEM(sids, i), *p = PyList_GET_ITEM(parents, i);
        int ok = plain_id(t, 0);
        ok = ok > 0 ? plain_id(s, 0) : ok;
        ok = ok > 0 ? plain_id(p, 1) : ok;
        if (ok < 0) goto done;
        if (ok == 0) {
            why = "ids";
            goto done;
        }
        uint64_t ht = text_hash(t);
        Py_ssize_t j = tree_find(&tk, tree_hash(ht, text_hash(s)), t, s, i);
        if (j != -1) {
            why = j == -2 ? "crowded" : "duplicate";
            goto done;
        }
        state[i] = 0, link[i].up = -1;
        if (p == Py_None || PyUnicode_GET_LENGTH(p) == 0) continue;
        uint64_t h = tree_hash(ht, text_hash(p));
        if ((j = tree_find(&tk, h, t, p, -1)) == -2) {
            why = "crowded";
            goto done;
        }
        if (j >= 0)
            link[i].up = j;
        else
            link[i].h = h, state[i] = 3; /* the parent may come later */
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (state[i] != 3) continue;
        Py_ssize_t j = tree_find(&tk, link[i].h, PyList_GET_ITEM(tids, i), PyList_GET_ITEM(parents, i), -1);
        if (j == -2) {
            why = "crowded";
            goto done;
        }
        link[i].up = j, state[i] = 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) { /* 0: not seen, 1: on the current walk up, 2: leads to a root */
        Py_ssize_t cur = i;
        while (cur >= 0 && state[cur] == 0) state[cur] = 1, cur = link[cur].up;
        if (cur >= 0 && state[cur] == 1) {
            why = "cycle";
            goto done;
        }
        for (cur = i; cur >= 0 && state[cur] == 1; cur = link[cur].up) state[cur] = 2;
    }
    found = Py_NewRef(Py_None);
done:
    PyMem_Free(tk.table);
    PyMem_Free(link);
    PyMem_Free(state);
    if (why != NULL) found = PyUnicode_FromString(why);
    return found;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(data, kind_names) -> None | (groups, validate): an OTLP ExportTraceServiceRequest's spans as "
     "llmops_nb.loaders._otlp_fast maps them (None: map it with upb)."},
    {"scan", scan, METH_VARARGS,
     "scan(a, key_info, classify) -> None | (best, nss, specials, oi, docs_parts, used): _otlp_fast._map's pass "
     "over a span's attributes (None: the span needs the reference mapping)."},
    {"map", (PyCFunction)(void (*)(void))map, METH_FASTCALL,
     "map(a, trace_id, span_id, parent, name, start, end, status, err, otel_kind, resource, scope, source_format) -> "
     "tuple | None | NotImplemented: _otlp_fast._map_py in C (None: the reference maps the span; NotImplemented: "
     "_map_py does)."},
    {"map_spans", map_spans, METH_VARARGS,
     "map_spans(spans, resource, scope, source_format) -> (rows, odd): map() of a decoded group's spans (a row: "
     "tuple, None: the reference maps it, NotImplemented: _map_py does; odd: how many are not tuples)."},
    {"only_text", only_text, METH_O, "only_text(values) -> bool: every item of the list is a str or None."},
    {"int_column", int_column, METH_O,
     "int_column(values) -> None | (values, mask): exact ints and None as int64 and None-mask bytearrays."},
    {"transpose", transpose, METH_VARARGS,
     "transpose(rows, n) -> None | columns: n lists of rows that are all n-tuples (None otherwise)."},
    {"concat", concat, METH_O, "concat(pieces) -> list: the items of every list in pieces, in order, in one list."},
    {"move_into", move_into, METH_VARARGS,
     "move_into(pieces, address, n) -> None: the items of the lists in pieces moved into a fresh numpy object array's n "
     "slots (its data address); lists only pieces holds are left empty."},
    {"span_tree", span_tree, METH_VARARGS,
     "span_tree(trace_ids, span_ids, parents) -> None | str: None when the ids are plain text, the (trace_id, "
     "span_id) keys unique and the parent links free of cycles; else 'ids', 'duplicate' or 'cycle'."},
    {"document", py_document, METH_VARARGS,
     "document(d, oi, helper) -> dict: a retrieval document as otlp._oi_document (oi=1) or otlp._genai_document "
     "(oi=0) builds it; values other than plain text/numbers/None go to helper(d)."},
    {"configure", configure, METH_O, "configure(helpers): the Python helpers and tables map() calls (from _otlp_fast)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_otlp_pb",
                                    "Native decoder of OTLP protobuf trace exports (see _otlp_fast.map_proto).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__otlp_pb(void) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) {
        PyErr_SetString(PyExc_ImportError, "llmops_nb.loaders._otlp_pb reads fixed-width fields as little-endian");
        return NULL;
    }
    S_ERROR = PyUnicode_InternFromString("error");
    S_OK = PyUnicode_InternFromString("ok");
    S_UNSET = PyUnicode_InternFromString("unset");
    S_EMPTY = PyUnicode_New(0, 127);
    if (!S_ERROR || !S_OK || !S_UNSET || !S_EMPTY) return NULL;
    for (int i = 0; i < N_STR; i++)
        if ((S[i] = PyUnicode_InternFromString(STR_TEXT[i])) == NULL) return NULL;
    return PyModule_Create(&module);
}
