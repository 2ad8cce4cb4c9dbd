// trade-check: a WASI command in C (no SDK) that checks a trade and enriches
// it, built by ./build with Debian's clang for wasm32-wasi and wasi-libc.
//
// The command ABI (README, "Any wasm32-wasi program"): stdin is the input
// event as one CloudEvents JSON object, the trade in its `data`; each stdout
// line is an output event; exit 65 (EX_DATAERR) refuses the trade (422
// invalid, the last stderr line is the message), exit 78 (EX_CONFIG) is a
// configuration error (500 failed, retried); every stderr line is a log
// record. Settings arrive as the environment.
//
// A trade is a JSON object with `id` (a non-empty string), `px` (a positive
// number), `qty` (a positive integer) and optionally `side` ("buy" or
// "sell", in any case). The output, `trade.checked`, keeps every member of the trade and
// adds `notional` (px × qty) and `desk`, keyed (`partitionkey`) by the id.
// Settings: `desk` (required), `max_notional` (optional: a trade over it is
// refused).
//
// The JSON reader is hand-written: Debian packages no JSON library for
// wasm32-wasi, and validating spans of the input is all this needs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { EX_DATAERR = 65, EX_CONFIG = 78 };
// Nesting deeper than this is refused rather than recursed into.
enum { MAX_DEPTH = 64 };

enum kind { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

// A JSON value: its kind and its text in the input (a string's text keeps
// its quotes and escapes, so it can be written out again as it came).
struct value {
    enum kind kind;
    const char *at;
    size_t len;
};

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The end of the JSON string starting at `p` (a quote), or NULL.
static const char *scan_string(const char *p) {
    for (p++; *p != '"'; p++) {
        if ((unsigned char)*p < 0x20) return NULL;  // also the final NUL
        if (*p != '\\') continue;
        p++;
        if (*p == 'u') {
            for (int i = 1; i <= 4; i++)
                if (!is_hex(p[i])) return NULL;
            p += 4;
        } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
            return NULL;
        }
    }
    return p + 1;
}

// The end of the JSON number starting at `p`, or NULL (RFC 8259 grammar).
static const char *scan_number(const char *p) {
    if (*p == '-') p++;
    if (*p == '0') {
        p++;
    } else if (is_digit(*p)) {
        while (is_digit(*p)) p++;
    } else {
        return NULL;
    }
    if (*p == '.') {
        if (!is_digit(*++p)) return NULL;
        while (is_digit(*p)) p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!is_digit(*p)) return NULL;
        while (is_digit(*p)) p++;
    }
    return p;
}

// Reads the value at `p` (after white space) into `v`; returns the end of
// it, or NULL when the text is not JSON.
static const char *scan_value(const char *p, struct value *v, int depth) {
    p = skip_space(p);
    const char *start = p;
    if (depth > MAX_DEPTH) return NULL;
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        v->kind = *p == '{' ? J_OBJECT : J_ARRAY;
        p = skip_space(p + 1);
        if (*p != close) {
            for (;;) {
                struct value item;
                if (close == '}') {
                    if (*p != '"' || !(p = scan_string(p))) return NULL;
                    p = skip_space(p);
                    if (*p++ != ':') return NULL;
                }
                if (!(p = scan_value(p, &item, depth + 1))) return NULL;
                p = skip_space(p);
                if (*p == close) break;
                if (*p++ != ',') return NULL;
                p = skip_space(p);
            }
        }
        p++;
    } else if (*p == '"') {
        v->kind = J_STRING;
        if (!(p = scan_string(p))) return NULL;
    } else if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4)) {
        v->kind = *p == 't' ? J_BOOL : J_NULL;
        p += 4;
    } else if (!strncmp(p, "false", 5)) {
        v->kind = J_BOOL;
        p += 5;
    } else {
        v->kind = J_NUMBER;
        if (!(p = scan_number(p))) return NULL;
    }
    v->at = start;
    v->len = (size_t)(p - start);
    return p;
}

// Calls `each(key, value, context)` for every member of the (already
// scanned) object `object`, in order; `key` is the quoted key text.
static void each_member(struct value object,
                        void (*each)(struct value key, struct value value, void *context),
                        void *context) {
    const char *p = skip_space(object.at + 1);
    while (*p == '"') {
        struct value key = {J_STRING, p, 0}, value;
        p = scan_string(p);
        key.len = (size_t)(p - key.at);
        p = scan_value(skip_space(p) + 1, &value, 0);
        each(key, value, context);
        p = skip_space(p);
        if (*p == ',') p = skip_space(p + 1);
    }
}

struct lookup {
    const char *name;
    struct value found;
    int present;
};

// Keys are compared as written (a key spelled with \u escapes is another key).
static int key_is(struct value key, const char *name) {
    size_t n = strlen(name);
    return key.len == n + 2 && !strncmp(key.at + 1, name, n);
}

static void find_one(struct value key, struct value value, void *context) {
    struct lookup *lookup = context;
    if (!lookup->present && key_is(key, lookup->name)) {
        lookup->found = value;
        lookup->present = 1;
    }
}

// Member `name` of `object` into `out`; 0 when it has none.
static int member(struct value object, const char *name, struct value *out) {
    struct lookup lookup = {name, {J_NULL, NULL, 0}, 0};
    each_member(object, find_one, &lookup);
    *out = lookup.found;
    return lookup.present;
}

// Whether the string `v` is `text`, in any case (as written: no escapes).
static int string_is(struct value v, const char *text) {
    size_t n = strlen(text);
    return v.len == n + 2 && !strncasecmp(v.at + 1, text, n);
}

// The number `v` as a double (its text is a valid JSON number).
static double number(struct value v) { return strtod(v.at, NULL); }

// Writes `s` as a JSON string, quotes included.
static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

// Writes a finite `x` as the shortest JSON number that reads back as `x`
// (an integer below 10^15 without an exponent: 10, not 1e+01).
static void print_number(double x) {
    char text[32];
    if (floor(x) == x && fabs(x) < 1e15) {
        printf("%.0f", x);
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, x);
        if (strtod(text, NULL) == x) break;
    }
    fputs(text, stdout);
}

// The whole of stdin, NUL-terminated.
static char *read_stdin(void) {
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += got;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    if (!buf) {
        fputs("trade-check: out of memory reading the event\n", stderr);
        exit(1);
    }
    buf[n] = 0;
    return buf;
}

// Refuses the trade: the message is the last stderr line, so the 422's.
static _Noreturn void refuse(struct value id, const char *why) {
    if (id.at)
        fprintf(stderr, "trade %.*s: %s\n", (int)id.len, id.at, why);
    else
        fprintf(stderr, "%s\n", why);
    exit(EX_DATAERR);
}

// Copies a member of the trade to the output, but for the ones it adds.
static void copy_member(struct value key, struct value value, void *context) {
    int *first = context;
    if (key_is(key, "notional") || key_is(key, "desk")) return;
    printf("%s%.*s:%.*s", *first ? "" : ",", (int)key.len, key.at, (int)value.len, value.at);
    *first = 0;
}

int main(void) {
    const char *desk = getenv("desk");
    if (!desk || !*desk) {
        fputs("setting `desk` is not configured\n", stderr);
        return EX_CONFIG;
    }
    double max_notional = INFINITY;
    const char *limit = getenv("max_notional");
    if (limit) {
        char *end;
        max_notional = strtod(limit, &end);
        if (end == limit || *end || !(max_notional > 0)) {
            fputs("setting `max_notional` must be a positive number\n", stderr);
            return EX_CONFIG;
        }
    }

    struct value event, trade, id = {J_NULL, NULL, 0}, px, qty, side;
    char *input = read_stdin();
    if (!scan_value(input, &event, 0) || event.kind != J_OBJECT) {
        fputs("the input is not a CloudEvents JSON object\n", stderr);
        return 1;  // the host's own input: not the trade's fault
    }
    if (!member(event, "data", &trade))
        refuse(id, "the event has no JSON data (send the trade as application/json)");
    if (trade.kind != J_OBJECT) refuse(id, "the trade must be a JSON object");
    if (!member(trade, "id", &id) || id.kind != J_STRING || id.len < 3) {
        id.at = NULL;
        refuse(id, "the trade has no `id` (a non-empty string)");
    }
    if (!member(trade, "px", &px) || px.kind != J_NUMBER || !(number(px) > 0))
        refuse(id, "`px` must be a positive number");
    double quantity = 0;
    if (member(trade, "qty", &qty) && qty.kind == J_NUMBER) quantity = number(qty);
    if (!(quantity >= 1 && quantity <= 9007199254740992.0 && floor(quantity) == quantity))
        refuse(id, "`qty` must be a positive integer");
    if (member(trade, "side", &side) &&
        !(side.kind == J_STRING && (string_is(side, "buy") || string_is(side, "sell"))))
        refuse(id, "`side` must be \"buy\" or \"sell\" (in any case)");
    double notional = number(px) * quantity;
    if (!isfinite(notional)) refuse(id, "the notional (px x qty) is out of range");
    if (notional > max_notional) {
        char why[128];
        snprintf(why, sizeof why, "notional %.15g is over the limit of %.15g (setting max_notional)",
                 notional, max_notional);
        refuse(id, why);
    }

    printf("{\"type\":\"trade.checked\",\"source\":\"wasmfn/trade-check\",\"subject\":%.*s,"
           "\"partitionkey\":%.*s,\"data\":{",
           (int)id.len, id.at, (int)id.len, id.at);
    int first = 1;
    each_member(trade, copy_member, &first);
    printf("%s\"notional\":", first ? "" : ",");
    print_number(notional);
    fputs(",\"desk\":", stdout);
    print_json_string(desk);
    puts("}}");
    fprintf(stderr, "trade %.*s checked: notional %.15g\n", (int)id.len, id.at, notional);
    return 0;
}
