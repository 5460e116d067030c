/* The C guest of the examples: wasi-libc's printf, and a non-zero exit status
 * (3) so that tests can see it propagate from `return` in main through
 * proc_exit to the host's exit status. */
#include <stdio.h>

int main(void) {
    printf("Hello, world from C!\n");
    return 3;
}
