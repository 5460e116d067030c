/* A host program in C for modules compiled by lucetc, using include/lucet.h.
 *
 *     c-host GUEST.so
 *
 * With guest.wasm (next to this file) compiled by lucetc, it runs the WASI hello
 * world in `_start`, calls `add`, reads a string out of guest memory, and serves two
 * host functions the guest imports (one reads the guest's memory, one carries user
 * data). Every call's error is checked; on failure it prints lucet_error_message()
 * and exits with status 1. */
#include <lucet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(lucet_error_t err, const char *what) {
    if (err != LUCET_OK) {
        fprintf(stderr, "c-host: %s failed: %s (%s)\n", what, lucet_error_message(), lucet_error_name(err));
        exit(1);
    }
}

/* host.log(ptr, len): prints a message the guest passes by address and length. The
 * user data is a prefix string. */
static int32_t host_log(void *user_data, lucet_vmctx_t *vmctx, const lucet_val_t *args, size_t nargs,
                        lucet_val_t *results, size_t nresults) {
    (void)nargs;
    (void)results;
    (void)nresults;
    char msg[256];
    uint32_t ptr = (uint32_t)args[0].of.i32;
    uint32_t len = (uint32_t)args[1].of.i32;
    if (len >= sizeof msg) {
        return 1; /* ends the run with LUCET_ERR_RUNTIME_TERMINATED */
    }
    /* Bounds-checked: a bad pointer from the guest is an error, not a host crash. */
    if (lucet_vmctx_read_memory(vmctx, ptr, (uint8_t *)msg, len) != LUCET_OK) {
        fprintf(stderr, "host.log: %s\n", lucet_error_message());
        return 1;
    }
    msg[len] = '\0';
    printf("%s%s\n", (const char *)user_data, msg);
    return 0;
}

/* host.scale(x) = x * factor, where the factor is the user data. */
static int32_t host_scale(void *user_data, lucet_vmctx_t *vmctx, const lucet_val_t *args, size_t nargs,
                          lucet_val_t *results, size_t nresults) {
    (void)vmctx;
    (void)nargs;
    (void)nresults;
    results[0].of.i32 = args[0].of.i32 * *(const int32_t *)user_data;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: c-host GUEST.so\n");
        return 2;
    }
    /* The guest's output and ours go to the same stdout, in order. */
    setvbuf(stdout, NULL, _IONBF, 0);

    lucet_module_t *module;
    /* "unresolved": the `host` imports come from the linker below. */
    check(lucet_module_load_unresolved(argv[1], &module), "lucet_module_load_unresolved");

    lucet_limits_t limits;
    check(lucet_limits_default(&limits), "lucet_limits_default");
    limits.heap_memory_size = 64u << 20; /* this guest needs far less than 4 GiB */
    lucet_region_t *region;
    check(lucet_region_create(1, &limits, &region), "lucet_region_create");

    static const char prefix[] = "host.log: ";
    static const int32_t factor = 6;
    lucet_linker_t *linker;
    check(lucet_linker_create(&linker), "lucet_linker_create");
    const lucet_val_type_t log_params[] = {LUCET_VAL_I32, LUCET_VAL_I32};
    check(lucet_linker_define_func(linker, "host", "log", log_params, 2, NULL, 0, host_log, (void *)prefix, NULL),
          "define host.log");
    const lucet_val_type_t scale_types[] = {LUCET_VAL_I32};
    check(lucet_linker_define_func(linker, "host", "scale", scale_types, 1, scale_types, 1, host_scale,
                                   (void *)&factor, NULL),
          "define host.scale");

    lucet_instance_t *instance;
    check(lucet_region_new_instance(region, module, linker, &instance), "lucet_region_new_instance");

    lucet_wasi_ctx_t *wasi;
    check(lucet_wasi_ctx_create(&wasi), "lucet_wasi_ctx_create");
    check(lucet_wasi_ctx_arg(wasi, "guest"), "lucet_wasi_ctx_arg");
    check(lucet_wasi_ctx_inherit_stdio(wasi), "lucet_wasi_ctx_inherit_stdio");
    check(lucet_instance_set_wasi_ctx(instance, wasi), "lucet_instance_set_wasi_ctx");

    /* The WASI hello world. A guest that calls proc_exit reports LUCET_RUN_EXITED. */
    lucet_run_result_t run;
    check(lucet_instance_run(instance, "_start", NULL, 0, NULL, 0, &run), "run _start");
    if (run.state == LUCET_RUN_EXITED && run.exit_code != 0) {
        fprintf(stderr, "c-host: the guest exited with %u\n", run.exit_code);
        return 1;
    }

    lucet_val_t args[2] = {lucet_val_i32(5), lucet_val_i32(3)};
    lucet_val_t result;
    check(lucet_instance_run(instance, "add", args, 2, &result, 1, &run), "run add");
    printf("add(5, 3) = %d\n", result.of.i32);

    /* A string in guest memory: the export returns its address. */
    check(lucet_instance_run(instance, "greeting", NULL, 0, &result, 1, &run), "run greeting");
    char greeting[64];
    size_t len;
    check(lucet_instance_read_string(instance, (uint32_t)result.of.i32, greeting, sizeof greeting, &len),
          "lucet_instance_read_string");
    printf("greeting() = \"%s\" (%zu bytes at guest address %#x)\n", greeting, len, (unsigned)result.of.i32);

    lucet_val_t x = lucet_val_i32(7);
    check(lucet_instance_run(instance, "call_host", &x, 1, &result, 1, &run), "run call_host");
    printf("call_host(7) = %d\n", result.of.i32);

    /* Mistakes are errors with a message, not crashes. */
    lucet_error_t err = lucet_instance_run(instance, "no_such_export", NULL, 0, NULL, 0, &run);
    printf("run no_such_export: %s\n", lucet_error_name(err));

    check(lucet_wasi_ctx_free(wasi), "lucet_wasi_ctx_free");
    check(lucet_instance_free(instance), "lucet_instance_free");
    err = lucet_instance_free(instance);
    printf("second lucet_instance_free: %s\n", lucet_error_name(err));
    check(lucet_linker_free(linker), "lucet_linker_free");
    check(lucet_region_free(region), "lucet_region_free");
    check(lucet_module_free(module), "lucet_module_free");
    return 0;
}
