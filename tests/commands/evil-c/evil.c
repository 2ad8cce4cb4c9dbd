// evil-c: a test-only WASI command (no SDK) that behaves as the input
// event's `type` asks, so end-to-end tests can check the command ABI: stdin,
// stdout lines, exit codes, stderr lines, environment, and the limits.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

// The whole of stdin (one CloudEvents JSON object and a newline).
static char *read_stdin(size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += got;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    buf[n] = 0;
    *len = n;
    return buf;
}

// The value of the input's "type" attribute (the host writes compact JSON).
static void event_type(const char *input, char *out, size_t size) {
    const char *at = strstr(input, "\"type\":\"");
    out[0] = 0;
    if (!at) return;
    at += 8;
    size_t i = 0;
    while (at[i] && at[i] != '"' && i + 1 < size) { out[i] = at[i]; i++; }
    out[i] = 0;
}

// Writes `s` as the body of a JSON string.
static void json_text(const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
}

int main(int argc, char **argv) {
    (void)argv;
    size_t len;
    char *input = read_stdin(&len);
    char type[64];
    event_type(input, type, sizeof type);
    fprintf(stderr, "evil-c got a %s event of %zu bytes\n", type, len);

    if (!strcmp(type, "ok")) {
        const char *desk = getenv("desk");
        printf("{\"type\":\"evil-c.ok\",\"source\":\"wasmfn/evil-c\",\"subject\":\"");
        json_text(desk ? desk : "unset");
        printf("\",\"partitionkey\":\"k\",\"data\":%s}\n", input);
        return 0;
    }
    if (!strcmp(type, "two")) {
        puts("{\"type\":\"a\",\"source\":\"wasmfn/evil-c\"}");
        puts("{\"type\":\"b\",\"source\":\"wasmfn/evil-c\",\"datacontenttype\":\"text/plain\",\"data_base64\":\"aGk=\"}");
        return 0;
    }
    if (!strcmp(type, "none")) return 0;
    if (!strcmp(type, "env")) {
        // Every environment entry and the argument count, as the subject.
        printf("{\"type\":\"env\",\"source\":\"wasmfn/evil-c\",\"subject\":\"argc=%d", argc);
        for (char **e = environ; *e; e++) { printf(";"); json_text(*e); }
        printf("\"}\n");
        return 0;
    }
    if (!strcmp(type, "open-file")) {
        FILE *f = fopen("/etc/passwd", "r");
        printf("{\"type\":\"denied\",\"source\":\"wasmfn/evil-c\",\"subject\":\"%s\"}\n",
               f ? "opened" : strerror(errno));
        return 0;
    }
    if (!strcmp(type, "invalid")) {
        fprintf(stderr, "looking at the trade\n");
        fprintf(stderr, "the trade has no id\n");
        return 65;
    }
    if (!strcmp(type, "fail")) {
        fprintf(stderr, "the database is down\n");
        return 3;
    }
    if (!strcmp(type, "trap")) __builtin_trap();
    if (!strcmp(type, "loop")) {
        volatile unsigned long n = 0;
        for (;;) n++;
    }
    if (!strcmp(type, "alloc")) {
        for (;;) {
            // Kept (so not optimised away) but untouched: only the limit,
            // not page faults, stops it.
            static char *volatile last;
            last = malloc(1 << 20);
            if (!last) abort();  // the memory limit refused to grow memory
        }
    }
    if (!strcmp(type, "flood")) {
        for (;;)
            if (fputs("{\"type\":\"spam\",\"source\":\"wasmfn/evil-c\"}\n", stdout) == EOF || ferror(stdout)) return 0;
    }
    if (!strcmp(type, "bad-output")) {
        puts("this is not JSON");
        return 0;
    }
    fprintf(stderr, "unknown evil-c request %s\n", type);
    return 65;
}
