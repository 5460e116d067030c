/* Reads the file named by its first argument with fopen/fread, copies it into
 * out/, and tries to read outside its directory; exits with status 5. Built for
 * wasm32-wasi by ../build.sh into ../fs-c.wasm. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "input.txt";
    char buf[256];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    printf("read %zu bytes: %s", n, buf);
    FILE *o = fopen("out/copy.txt", "w");
    if (!o || fwrite(buf, 1, n, o) != n || fclose(o) != 0) {
        fprintf(stderr, "cannot write out/copy.txt\n");
        return 1;
    }
    FILE *e = fopen("../escape.txt", "r");
    printf("escape: %s\n", e ? "escaped!" : (errno == ENOENT ? "not found" : "refused"));
    return 5;
}
