/* Native helpers of the OTLP mapping (llmops_nb/loaders/_otlp_fast.py): decode() and scan() below.
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
static PyObject *kc[KC_SIZE];

static int cached_text(const uint8_t *s, Py_ssize_t n, PyObject **out) {
    if (n == 0 || n > KC_MAXLEN) return text(s, n, out);
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    PyObject **slot = &kc[(h ^ (h >> 16)) & (KC_SIZE - 1)];
    PyObject *o = *slot;
    if (o != NULL && PyUnicode_IS_ASCII(o) && PyUnicode_GET_LENGTH(o) == n && memcmp(PyUnicode_1BYTE_DATA(o), s, n) == 0) {
        *out = Py_NewRef(o);
        return OK;
    }
    int r = text(s, n, &o);
    if (r) return r;
    if (PyUnicode_IS_ASCII(o)) { /* only ASCII keys are cached: their bytes are the str's own */
        if (PyObject_Hash(o) == -1) {
            Py_DECREF(o);
            return ERR;
        }
        Py_XSETREF(*slot, Py_NewRef(o));
    }
    *out = o;
    return OK;
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
    return hex(s, n);
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
                r = text(s, n, &v);
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
            if (!(r = text(s, n, &t))) Py_XSETREF(name, t);
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

static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *a, *key_info, *classify;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O:scan", &PyDict_Type, &a, &PyDict_Type, &key_info, &classify)) return NULL;
    PyObject *best = PyDict_New(), *used = PySet_New(NULL), *specials = NULL, *oi = NULL, *docs = NULL;
    long nss = 0;
    int r = best && used ? OK : ERR;
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
        r = info ? scan_one(k, v, info, &nss, best, used, &specials, &oi, &docs) : ERR;
        Py_XDECREF(info), Py_DECREF(k), Py_DECREF(v);
    }
    Py_DECREF(a);
    PyObject *out = NULL;
    if (!r)
        out = Py_BuildValue("(OlOOOO)", best, nss, specials ? specials : Py_None, oi ? oi : Py_None,
                            docs ? docs : Py_None, used);
    else if (r == BAIL)
        out = Py_NewRef(Py_None);
    Py_XDECREF(best), Py_XDECREF(used), Py_XDECREF(specials), Py_XDECREF(oi), Py_XDECREF(docs);
    return out;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(data, kind_names) -> None | (groups, validate): an OTLP ExportTraceServiceRequest's spans as "
     "llmops_nb.loaders._otlp_fast maps them (None: map it with upb)."},
    {"scan", scan, METH_VARARGS,
     "scan(a, key_info, classify) -> None | (best, nss, specials, oi, docs_parts, used): _otlp_fast._map's pass "
     "over a span's attributes (None: the span needs the reference mapping)."},
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
    return PyModule_Create(&module);
}
