/*
 * lucet.h: the C API of the Lucet runtime (lucet-runtime and lucet-wasi).
 *
 * Link with liblucet_runtime_c.so (-llucet_runtime_c) or liblucet_runtime_c.a (then
 * also -lpthread -ldl -lm). See lucet-runtime-c/README.md.
 *
 * Conventions:
 *   - Every function returns a lucet_error_t. On failure, lucet_error_message() gives
 *     a message naming the function, the problem and what to do about it.
 *   - Objects are opaque handles, each freed by its own lucet_*_free function. A
 *     handle is checked on every call: NULL, a freed handle (double free, use after
 *     free) or a handle of another kind returns LUCET_ERR_INVALID_HANDLE. Handles are
 *     not addresses; never dereference them.
 *   - Pointers to buffers, strings and out-parameters cannot be checked beyond NULL:
 *     they must be valid for what each function says.
 *   - Strings are NUL-terminated UTF-8.
 *
 * This header is compared with the library's Rust sources by a test
 * (lucet-runtime-c/tests/header.rs): prototypes, types, struct layouts and constants.
 */
#ifndef LUCET_H
#define LUCET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ---------------------------------------------------------------- */

typedef enum lucet_error {
    LUCET_OK = 0,
    /* A NULL pointer, a string that is not UTF-8, a value of the wrong type. */
    LUCET_ERR_INVALID_ARGUMENT = 1,
    /* A handle that is NULL, was already freed, or is of another kind. */
    LUCET_ERR_INVALID_HANDLE = 2,
    /* The handle is in use by a call that has not returned (a run of the instance). */
    LUCET_ERR_BUSY = 3,
    /* Not a module compiled by lucetc, or it cannot be read or loaded. */
    LUCET_ERR_INVALID_MODULE = 4,
    /* Compiled for another format version or for CPU features this host lacks. */
    LUCET_ERR_INCOMPATIBLE_MODULE = 5,
    /* The module's signature is missing or does not match the key. */
    LUCET_ERR_SIGNATURE = 6,
    /* An import the module needs is provided by nothing. */
    LUCET_ERR_UNRESOLVED_IMPORT = 7,
    /* No exported function of that name. */
    LUCET_ERR_SYMBOL_NOT_FOUND = 8,
    /* The region could not be created, or it has no free slot. */
    LUCET_ERR_REGION = 9,
    /* The module or request does not fit the region's limits. */
    LUCET_ERR_LIMITS_EXCEEDED = 10,
    /* The guest trapped; lucet_run_result_t.trap_code says why. */
    LUCET_ERR_RUNTIME_FAULT = 11,
    /* The run was stopped by a kill switch, a failing host function or a WebAssembly
     * exception nothing caught (the message names its tag). */
    LUCET_ERR_RUNTIME_TERMINATED = 12,
    /* Instantiation trapped (a segment out of bounds, a trap in the start function). */
    LUCET_ERR_INSTANTIATION_TRAP = 13,
    /* The instance yielded: resume or reset it first. */
    LUCET_ERR_INSTANCE_NOT_RETURNED = 14,
    /* Resume of an instance that is not yielded. */
    LUCET_ERR_INSTANCE_NOT_YIELDED = 15,
    /* The instance was terminated or exited and must be reset first. */
    LUCET_ERR_INSTANCE_NEEDS_RESET = 16,
    /* A kill switch found no run to stop. */
    LUCET_ERR_NOT_RUNNING = 17,
    /* A guest memory range outside the guest's memory. */
    LUCET_ERR_OUT_OF_BOUNDS = 18,
    /* A buffer given by the caller is too small for the result. */
    LUCET_ERR_BUFFER_TOO_SMALL = 19,
    /* A WASI setting that cannot be used. */
    LUCET_ERR_WASI = 20,
    /* A system call failed. */
    LUCET_ERR_IO = 21,
    /* A bug in the runtime: please report it with the message. */
    LUCET_ERR_INTERNAL = 22
} lucet_error_t;

/* The message of the most recent call on this thread that failed ("" if none). Valid
 * until the next failing call on this thread. */
const char *lucet_error_message(void);

/* The name of an error code ("LUCET_ERR_INVALID_HANDLE"); static. */
const char *lucet_error_name(int32_t code);

/* ---- values ---------------------------------------------------------------- */

typedef enum lucet_val_type {
    LUCET_VAL_I32 = 0,
    LUCET_VAL_I64 = 1,
    LUCET_VAL_F32 = 2,
    LUCET_VAL_F64 = 3,
    LUCET_VAL_V128 = 4,
    LUCET_VAL_FUNCREF = 5,
    LUCET_VAL_EXTERNREF = 6,
    /* An exception reference; the host can pass only null. */
    LUCET_VAL_EXNREF = 7
} lucet_val_type_t;

typedef union lucet_val_of {
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
    uint8_t v128[16]; /* little-endian, lane 0 first */
    uintptr_t ref;    /* a function or extern reference; 0 is null */
} lucet_val_of_t;

typedef struct lucet_val {
    lucet_val_type_t type;
    lucet_val_of_t of;
} lucet_val_t;

static inline lucet_val_t lucet_val_i32(int32_t v) {
    lucet_val_t r;
    r.type = LUCET_VAL_I32;
    r.of.i64 = 0;
    r.of.i32 = v;
    return r;
}

static inline lucet_val_t lucet_val_i64(int64_t v) {
    lucet_val_t r;
    r.type = LUCET_VAL_I64;
    r.of.i64 = v;
    return r;
}

static inline lucet_val_t lucet_val_f32(float v) {
    lucet_val_t r;
    r.type = LUCET_VAL_F32;
    r.of.i64 = 0;
    r.of.f32 = v;
    return r;
}

static inline lucet_val_t lucet_val_f64(double v) {
    lucet_val_t r;
    r.type = LUCET_VAL_F64;
    r.of.f64 = v;
    return r;
}

/* ---- modules --------------------------------------------------------------- */

typedef struct lucet_module lucet_module_t;

/* Loads a module compiled by lucetc. Every function it imports must be a registered
 * hostcall (the WASI functions are); for imports defined with a linker, use
 * lucet_module_load_unresolved. The file is checked before it is loaded: one with
 * initialisers, or anything else lucetc never writes, is refused and none of its code
 * runs. To know who made the file, use lucet_module_load_verified. */
lucet_error_t lucet_module_load(const char *path, lucet_module_t **out);

/* Like lucet_module_load, but function imports that are not registered hostcalls are
 * left to the linker given to lucet_region_new_instance. */
lucet_error_t lucet_module_load_unresolved(const char *path, lucet_module_t **out);

/* Like lucet_module_load, but only if PATH.minisig is a valid minisign signature of the
 * file by the public key in the file public_key_path (as `minisign -G` writes it). A
 * missing, malformed or foreign signature, a file changed after signing, or an
 * unreadable key is LUCET_ERR_SIGNATURE, and nothing from the file is mapped executable. */
lucet_error_t lucet_module_load_verified(const char *path, const char *public_key_path,
                                         lucet_module_t **out);

/* lucet_module_load_verified with the imports of lucet_module_load_unresolved. */
lucet_error_t lucet_module_load_verified_unresolved(const char *path, const char *public_key_path,
                                                    lucet_module_t **out);

/* Instances made from the module keep it loaded until they are freed. */
lucet_error_t lucet_module_free(lucet_module_t *module);

/* ---- regions --------------------------------------------------------------- */

typedef struct lucet_region lucet_region_t;

/* What each instance of a region may use, in bytes (rounded up to pages). */
typedef struct lucet_limits {
    size_t heap_memory_size;        /* most linear memory, initial plus grown */
    size_t heap_address_space_size; /* reserved per heap, guard included */
    size_t stack_size;
    size_t globals_size;
    size_t signal_stack_size;
    size_t hostcall_reservation; /* part of the stack kept for host functions */
} lucet_limits_t;

/* The defaults: heap up to 4 GiB in an 8 GiB reservation, 2 MiB stack. */
lucet_error_t lucet_limits_default(lucet_limits_t *out);

/* Reserves address space for `slots` instances; `limits` may be NULL (defaults). */
lucet_error_t lucet_region_create(size_t slots, const lucet_limits_t *limits, lucet_region_t **out);

lucet_error_t lucet_region_free_slots(const lucet_region_t *region, size_t *out);

/* The address space is released once the region's instances are freed too. */
lucet_error_t lucet_region_free(lucet_region_t *region);

/* ---- host functions ---------------------------------------------------------- */

typedef struct lucet_linker lucet_linker_t;

/* The instance calling a host function; valid only during that call, on that thread. */
typedef struct lucet_vmctx lucet_vmctx_t;

/* A host function. Reads `nargs` arguments, writes the payloads of `nresults`
 * results (their types are preset), and returns 0, or anything else to end the run
 * with LUCET_ERR_RUNTIME_TERMINATED. It must not longjmp or throw out of the call. */
typedef int32_t (*lucet_host_func_t)(void *user_data, lucet_vmctx_t *vmctx, const lucet_val_t *args, size_t nargs,
                                     lucet_val_t *results, size_t nresults);

/* Called once with the user data when nothing can call the function any more. */
typedef void (*lucet_finalizer_t)(void *user_data);

lucet_error_t lucet_linker_create(lucet_linker_t **out);

/* Defines the import `module`.`name` with the given signature. `callback` and
 * `user_data` must be usable from every thread that runs instances made with the
 * linker. `finalizer` may be NULL. */
lucet_error_t lucet_linker_define_func(lucet_linker_t *linker, const char *module, const char *name,
                                       const lucet_val_type_t *params, size_t nparams,
                                       const lucet_val_type_t *results, size_t nresults,
                                       lucet_host_func_t callback, void *user_data, lucet_finalizer_t finalizer);

/* Instances made with the linker keep its functions. */
lucet_error_t lucet_linker_free(lucet_linker_t *linker);

/* The calling instance's memory; the size holds only during the call. */
lucet_error_t lucet_vmctx_heap(lucet_vmctx_t *vmctx, uint8_t **base, size_t *len);

/* Bounds-checked copies from and to the calling instance's memory. */
lucet_error_t lucet_vmctx_read_memory(lucet_vmctx_t *vmctx, uint32_t offset, uint8_t *buf, size_t len);
lucet_error_t lucet_vmctx_write_memory(lucet_vmctx_t *vmctx, uint32_t offset, const uint8_t *buf, size_t len);

/* Suspends the run, which returns LUCET_RUN_YIELDED with `value`. Returns, possibly on
 * another thread, when the host calls lucet_instance_resume, with the value it passed
 * in *resumed_with (may be NULL). If the instance is reset or freed instead, it never
 * returns: hold nothing across it that only its return would release. */
lucet_error_t lucet_vmctx_yield(lucet_vmctx_t *vmctx, uint64_t value, uint64_t *resumed_with);

/* ---- WASI ------------------------------------------------------------------ */

/* WASI settings. By default the guest sees nothing of the host: no arguments, no
 * environment, no directories; stdin reads nothing, output is discarded. */
typedef struct lucet_wasi_ctx lucet_wasi_ctx_t;

lucet_error_t lucet_wasi_ctx_create(lucet_wasi_ctx_t **out);
lucet_error_t lucet_wasi_ctx_arg(lucet_wasi_ctx_t *wasi, const char *arg);
lucet_error_t lucet_wasi_ctx_env(lucet_wasi_ctx_t *wasi, const char *key, const char *value);
lucet_error_t lucet_wasi_ctx_inherit_env(lucet_wasi_ctx_t *wasi);
/* The guest reaches only what lies beneath `host_path`, named `guest_path`. */
lucet_error_t lucet_wasi_ctx_preopen_dir(lucet_wasi_ctx_t *wasi, const char *host_path, const char *guest_path);
lucet_error_t lucet_wasi_ctx_inherit_stdio(lucet_wasi_ctx_t *wasi);
/* The descriptor is duplicated: close yours whenever you like. */
lucet_error_t lucet_wasi_ctx_set_stdin(lucet_wasi_ctx_t *wasi, int32_t fd);
lucet_error_t lucet_wasi_ctx_set_stdout(lucet_wasi_ctx_t *wasi, int32_t fd);
lucet_error_t lucet_wasi_ctx_set_stderr(lucet_wasi_ctx_t *wasi, int32_t fd);
lucet_error_t lucet_wasi_ctx_free(lucet_wasi_ctx_t *wasi);

/* ---- instances ------------------------------------------------------------- */

typedef struct lucet_instance lucet_instance_t;
typedef struct lucet_kill_switch lucet_kill_switch_t;

typedef enum lucet_run_state {
    LUCET_RUN_RETURNED = 0,   /* nresults values were written */
    LUCET_RUN_YIELDED = 1,    /* yielded_value; resume or reset */
    LUCET_RUN_EXITED = 2,     /* WASI proc_exit(exit_code); reset before running again */
    LUCET_RUN_FAULTED = 3,    /* trap_code; LUCET_ERR_RUNTIME_FAULT */
    LUCET_RUN_TERMINATED = 4, /* LUCET_ERR_RUNTIME_TERMINATED; reset before running again */
    LUCET_RUN_NOT_STARTED = 5 /* see the returned code */
} lucet_run_state_t;

typedef enum lucet_trap_code {
    LUCET_TRAP_NONE = 0,
    LUCET_TRAP_HEAP_OUT_OF_BOUNDS = 1,
    LUCET_TRAP_STACK_OVERFLOW = 2,
    LUCET_TRAP_INTEGER_DIV_BY_ZERO = 3,
    LUCET_TRAP_INTEGER_OVERFLOW = 4,
    LUCET_TRAP_BAD_CONVERSION_TO_INTEGER = 5,
    LUCET_TRAP_UNREACHABLE = 6,
    LUCET_TRAP_INDIRECT_CALL_TO_NULL = 7,
    LUCET_TRAP_BAD_SIGNATURE = 8,
    LUCET_TRAP_TABLE_OUT_OF_BOUNDS = 9,
    LUCET_TRAP_NULL_REFERENCE = 10,
    LUCET_TRAP_HEAP_MISALIGNED = 11,
    LUCET_TRAP_UNKNOWN = 12
} lucet_trap_code_t;

typedef struct lucet_run_result {
    lucet_run_state_t state;
    uint32_t exit_code;     /* LUCET_RUN_EXITED */
    uint64_t yielded_value; /* LUCET_RUN_YIELDED */
    lucet_trap_code_t trap_code; /* LUCET_RUN_FAULTED */
    size_t nresults;        /* LUCET_RUN_RETURNED */
} lucet_run_result_t;

/* Makes an instance of `module` in a free slot. Imports come from `linker` (may be
 * NULL) first, then from the registered hostcalls. */
lucet_error_t lucet_region_new_instance(const lucet_region_t *region, const lucet_module_t *module,
                                        const lucet_linker_t *linker, lucet_instance_t **out);

/* Frees the instance and returns its slot to the region. */
lucet_error_t lucet_instance_free(lucet_instance_t *instance);

/* Runs the exported function `entrypoint`. Results go to `results` (room for
 * `results_len`, checked before the run); `out` (may be NULL) tells how it ended. An
 * integer argument may be given for any integer parameter it fits, a float for any
 * float parameter. WASI proc_exit returns LUCET_OK with LUCET_RUN_EXITED. */
lucet_error_t lucet_instance_run(lucet_instance_t *instance, const char *entrypoint, const lucet_val_t *args,
                                 size_t nargs, lucet_val_t *results, size_t results_len, lucet_run_result_t *out);

/* Continues a yielded run; the host function's lucet_vmctx_yield returns `value`. */
lucet_error_t lucet_instance_resume(lucet_instance_t *instance, uint64_t value, lucet_val_t *results,
                                    size_t results_len, lucet_run_result_t *out);

/* Back to the freshly made state; abandons a yielded run. The WASI context stays. */
lucet_error_t lucet_instance_reset(lucet_instance_t *instance);

/* Linear memory: the address stays for the instance's life, the size may grow during
 * runs. Access it only between runs. */
lucet_error_t lucet_instance_heap(lucet_instance_t *instance, uint8_t **base, size_t *len);

/* Bounds-checked copies from and to linear memory. */
lucet_error_t lucet_instance_read_memory(lucet_instance_t *instance, uint32_t offset, uint8_t *buf, size_t len);
lucet_error_t lucet_instance_write_memory(lucet_instance_t *instance, uint32_t offset, const uint8_t *buf,
                                          size_t len);

/* Copies the NUL-terminated string at `offset`, NUL included, into `buf` (`cap` bytes)
 * and its length without the NUL into *len (may be NULL). Too small a buffer returns
 * LUCET_ERR_BUFFER_TOO_SMALL with *len set. */
lucet_error_t lucet_instance_read_string(lucet_instance_t *instance, uint32_t offset, char *buf, size_t cap,
                                         size_t *len);

/* Grows linear memory by `pages` 64 KiB pages; *previous_pages (may be NULL) gets the
 * old size. */
lucet_error_t lucet_instance_grow_memory(lucet_instance_t *instance, uint32_t pages, uint32_t *previous_pages);

/* Gives the instance a fresh WASI context made from `wasi`, replacing any earlier one. */
lucet_error_t lucet_instance_set_wasi_ctx(lucet_instance_t *instance, const lucet_wasi_ctx_t *wasi);

/* A switch that stops the instance's current run from any thread. */
lucet_error_t lucet_instance_kill_switch(lucet_instance_t *instance, lucet_kill_switch_t **out);

/* Stops the current run, which returns LUCET_ERR_RUNTIME_TERMINATED; returns
 * LUCET_ERR_NOT_RUNNING when there is none (a yielded instance is not running). */
lucet_error_t lucet_kill_switch_terminate(const lucet_kill_switch_t *kill_switch);

lucet_error_t lucet_kill_switch_free(lucet_kill_switch_t *kill_switch);

#ifdef __cplusplus
}
#endif

#endif /* LUCET_H */
