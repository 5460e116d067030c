/* A calculator plugin written in C: `calc` multiplies its operands.
 *
 * Built as a reactor with no entry point: the host calls the exported functions
 * directly. Strings are heap copies so that `release_string` has something to
 * free, as a plugin that computes its strings would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("calc")
uint32_t calc(uint32_t a, uint32_t b) {
    return a * b;
}

EXPORT("name")
char *name(void) {
    return strdup("mul");
}

EXPORT("operator")
char *operator(void) {
    return strdup("*");
}

EXPORT("release_string")
void release_string(char *s) {
    free(s);
}
