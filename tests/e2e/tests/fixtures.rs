//! The checked-in guest `.wasm` files keep the shape the hosts and the
//! documentation rely on, whatever toolchain `scripts/build-guests.sh` last ran
//! with: the right exports, and no imports beyond WASI.

use lucet_e2e_tests::repo_path;
use wasmparser::{ExternalKind, Parser, Payload, TypeRef, ValType};

struct Shape {
    imports: Vec<(String, String)>,
    /// Exported functions with their parameter and result types.
    funcs: Vec<(String, Vec<ValType>, Vec<ValType>)>,
    exports_memory: bool,
}

fn shape(rel: &str) -> Shape {
    let bytes = std::fs::read(repo_path(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
    let mut types = Vec::new();
    let mut func_types = Vec::new();
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.unwrap_or_else(|e| panic!("{rel} is not valid wasm: {e}")) {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    types.push(ty.expect("function type"));
                }
            }
            Payload::ImportSection(r) => {
                for import in r {
                    let import = import.expect("import");
                    if let TypeRef::Func(t) = import.ty {
                        func_types.push(t);
                    }
                    imports.push((import.module.to_owned(), import.name.to_owned()));
                }
            }
            Payload::FunctionSection(r) => func_types.extend(r.into_iter().map(|t| t.expect("function"))),
            Payload::ExportSection(r) => {
                for export in r {
                    let export = export.expect("export");
                    exports.push((export.name.to_owned(), export.kind, export.index));
                }
            }
            _ => {}
        }
    }
    let mut funcs = Vec::new();
    let mut exports_memory = false;
    for (name, kind, index) in exports {
        match kind {
            ExternalKind::Func => {
                let ty = &types[func_types[index as usize] as usize];
                funcs.push((name, ty.params().to_vec(), ty.results().to_vec()));
            }
            ExternalKind::Memory => exports_memory = true,
            _ => {}
        }
    }
    Shape { imports, funcs, exports_memory }
}

#[track_caller]
fn assert_func(shape: &Shape, name: &str, params: &[ValType], results: &[ValType]) {
    let found = shape.funcs.iter().find(|(n, ..)| n == name);
    match found {
        Some((_, p, r)) => assert!(p == params && r == results, "`{name}` has type {p:?} -> {r:?}"),
        None => panic!("`{name}` is not exported; exports: {:?}", shape.funcs.iter().map(|f| &f.0).collect::<Vec<_>>()),
    }
}

#[track_caller]
fn assert_only_wasi_imports(shape: &Shape) {
    let foreign: Vec<_> = shape.imports.iter().filter(|(m, _)| m != "wasi_snapshot_preview1").collect();
    assert!(foreign.is_empty(), "imports from outside WASI: {foreign:?}");
}

#[test]
fn hello_rust_is_a_command_that_exports_add() {
    let s = shape("examples/hello-rust/hello-rust.wasm");
    assert_only_wasi_imports(&s);
    assert_func(&s, "_start", &[], &[]);
    assert_func(&s, "add", &[ValType::I32, ValType::I32], &[ValType::I32]);
    assert!(s.exports_memory);
}

#[test]
fn hello_c_is_a_command() {
    let s = shape("examples/hello-c/hello-c.wasm");
    assert_only_wasi_imports(&s);
    assert_func(&s, "_start", &[], &[]);
    assert!(s.imports.iter().any(|(_, n)| n == "proc_exit"), "the exit status travels through proc_exit");
}

#[test]
fn calculator_plugins_export_the_plugin_interface() {
    for plugin in ["examples/calculator/plugins/add-rust/add.wasm", "examples/calculator/plugins/mul-c/mul.wasm"] {
        let s = shape(plugin);
        assert_only_wasi_imports(&s);
        assert_func(&s, "calc", &[ValType::I32, ValType::I32], &[ValType::I32]);
        assert_func(&s, "name", &[], &[ValType::I32]);
        assert_func(&s, "operator", &[], &[ValType::I32]);
        assert_func(&s, "release_string", &[ValType::I32], &[]);
        assert!(s.exports_memory, "{plugin}: the host reads the strings out of the exported memory");
    }
}

#[test]
fn the_c_host_guest_imports_exactly_the_two_host_functions() {
    let s = shape("examples/c-host/guest.wasm");
    let foreign: Vec<_> = s.imports.iter().filter(|(m, _)| m != "wasi_snapshot_preview1").cloned().collect();
    assert_eq!(foreign, [("host".to_string(), "log".to_string()), ("host".to_string(), "scale".to_string())]);
    assert_func(&s, "_start", &[], &[]);
    assert_func(&s, "add", &[ValType::I32, ValType::I32], &[ValType::I32]);
    assert_func(&s, "greeting", &[], &[ValType::I32]);
    assert_func(&s, "call_host", &[ValType::I32], &[ValType::I32]);
}

#[test]
fn the_lucet_style_guests_hand_out_and_take_back_strings() {
    for guest in [
        "tests/out-of-tree-host/guests/rust/lucet-style-guest.wasm",
        "tests/out-of-tree-host/guests/c/lucet-style-guest.wasm",
    ] {
        let s = shape(guest);
        assert_only_wasi_imports(&s);
        assert_func(&s, "hello", &[], &[]);
        assert_func(&s, "alloc_string", &[], &[ValType::I32]);
        assert_func(&s, "release_string", &[ValType::I32], &[]);
        assert_func(&s, "live_strings", &[], &[ValType::I32]);
        assert!(s.exports_memory, "{guest}: the host reads the strings out of the exported memory");
    }
}
