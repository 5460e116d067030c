/* The C guest of the Lucet-style host (src/bin/lucet-style.rs): the same exports as
 * the Rust guest. A reactor: the host runs `_initialize`, then calls the exports.
 * `alloc_string` returns the guest address of a heap copy; the host reads it out of
 * guest memory and hands the address back to `release_string`, which frees it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))

static uint32_t live;

EXPORT("hello")
void hello(void) {
    printf("Hello from the C guest\n");
    fflush(stdout);
}

EXPORT("alloc_string")
char *alloc_string(void) {
    live++;
    return strdup("a string the C guest allocated");
}

EXPORT("release_string")
void release_string(char *s) {
    free(s);
    live--;
}

EXPORT("live_strings")
uint32_t live_strings(void) {
    return live;
}
