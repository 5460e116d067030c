/* The guest of the C host example (host.c): a WASI command whose `main` prints a
 * greeting, plus exports the host calls after `_start` has run:
 *   add(a, b)       a + b
 *   greeting()      the guest address of a NUL-terminated string
 *   call_host(x)    logs a message through the host, then returns host_scale(x) + 1
 * The two `host` imports are the host functions host.c defines with a linker. */
#include <stdint.h>
#include <stdio.h>

__attribute__((import_module("host"), import_name("log"))) void host_log(const char *msg, uint32_t len);
__attribute__((import_module("host"), import_name("scale"))) int32_t host_scale(int32_t x);

__attribute__((export_name("add"))) int32_t add(int32_t a, int32_t b) {
    return a + b;
}

static const char GREETING[] = "Hello from guest memory";

__attribute__((export_name("greeting"))) const char *greeting(void) {
    return GREETING;
}

__attribute__((export_name("call_host"))) int32_t call_host(int32_t x) {
    static const char msg[] = "the guest calls the host";
    host_log(msg, sizeof msg - 1);
    return host_scale(x) + 1;
}

int main(void) {
    printf("Hello, world from the C host's guest!\n");
    return 0;
}
