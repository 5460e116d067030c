//! `include/lucet.h` is written by hand; this test holds it to the Rust sources.
//!
//! It reads every exported function, type alias, `#[repr(C)]` struct, union and enum,
//! and every `LUCET_*` constant from `src/*.rs` (with `syn`), writes a C file that
//! includes the header and restates all of it (prototypes, typedefs, field types,
//! the repr(C) layout of each struct, constant values) in forms a C compiler rejects
//! when they disagree, and compiles it with `cc` as C11 and as C++. It then checks
//! that the header declares exactly the functions the Rust side exports and that the
//! built shared library exports each of them.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use syn::{Expr, Fields, FnArg, Item, Lit, ReturnType, Type};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `#[repr(C)]` struct or union.
struct Record {
    name: String,
    is_union: bool,
    /// (name, C type), in order.
    fields: Vec<(String, String)>,
}

/// What the Rust sources say the C API is.
#[derive(Default)]
struct RustApi {
    /// name → (return type, parameter types), as C.
    functions: Vec<(String, String, Vec<String>)>,
    /// typedef name → what it stands for: a C integer type, or a function pointer
    /// declaration with `{}` where the name goes.
    aliases: Vec<(String, String)>,
    records: Vec<Record>,
    /// constant name → value.
    constants: Vec<(String, i64)>,
}

fn unraw(ident: &syn::Ident) -> String {
    ident.to_string().trim_start_matches("r#").to_string()
}

/// The C spelling of a Rust type, with `{}` where a declarator goes.
fn c_type(ty: &Type) -> String {
    match ty {
        Type::Ptr(p) => {
            let inner = c_type(&p.elem);
            let inner = if p.const_token.is_some() {
                format!("const {inner}")
            } else {
                inner
            };
            // Pointers to function pointers do not occur in this API.
            format!("{inner} *")
        }
        Type::Path(p) => {
            let seg = p.path.segments.last().expect("a path has a segment");
            let name = seg.ident.to_string();
            match name.as_str() {
                "u8" => "uint8_t".into(),
                "i8" => "int8_t".into(),
                "u16" => "uint16_t".into(),
                "i16" => "int16_t".into(),
                "u32" => "uint32_t".into(),
                "i32" => "int32_t".into(),
                "u64" => "uint64_t".into(),
                "i64" => "int64_t".into(),
                "usize" => "size_t".into(),
                "isize" => "ptrdiff_t".into(),
                "f32" => "float".into(),
                "f64" => "double".into(),
                "bool" => "bool".into(),
                "c_char" => "char".into(),
                "c_void" => "void".into(),
                "Option" => {
                    let syn::PathArguments::AngleBracketed(args) = &seg.arguments else {
                        panic!("Option<..>")
                    };
                    let Some(syn::GenericArgument::Type(Type::BareFn(f))) = args.args.first()
                    else {
                        panic!("only Option<extern fn> is part of the C API")
                    };
                    fn_pointer(f)
                }
                n if n.starts_with("lucet_") => n.to_string(),
                other => panic!("the Rust type `{other}` has no C spelling in this test; add it"),
            }
        }
        Type::Array(a) => {
            let Expr::Lit(syn::ExprLit {
                lit: Lit::Int(n), ..
            }) = &a.len
            else {
                panic!("array length")
            };
            format!("{}[{}]", c_type(&a.elem), n.base10_digits())
        }
        Type::Tuple(t) if t.elems.is_empty() => "void".into(),
        _ => panic!("a type the C API cannot have (a reference, a slice, a trait object...)"),
    }
}

fn fn_pointer(f: &syn::TypeBareFn) -> String {
    let ret = match &f.output {
        ReturnType::Default => "void".to_string(),
        ReturnType::Type(_, t) => c_type(t),
    };
    let params: Vec<String> = f.inputs.iter().map(|a| c_type(&a.ty)).collect();
    format!(
        "{ret} (*{{}})({})",
        if params.is_empty() {
            "void".into()
        } else {
            params.join(", ")
        }
    )
}

fn is_exported(f: &syn::ItemFn) -> bool {
    f.attrs.iter().any(|a| a.path().is_ident("no_mangle")) && f.sig.abi.is_some()
}

fn int_value(e: &Expr) -> i64 {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(n), ..
        }) => n.base10_parse().expect("an integer"),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => -int_value(expr),
        _ => panic!("constants of the C API are integer literals"),
    }
}

fn read_rust_api() -> RustApi {
    let mut api = RustApi::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(crate_dir().join("src"))
        .expect("src/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for item in ast.items {
            match item {
                Item::Fn(f) if is_exported(&f) => {
                    let ret = match &f.sig.output {
                        ReturnType::Default => "void".to_string(),
                        ReturnType::Type(_, t) => c_type(t),
                    };
                    let params = f
                        .sig
                        .inputs
                        .iter()
                        .map(|a| match a {
                            FnArg::Typed(t) => c_type(&t.ty),
                            FnArg::Receiver(_) => panic!("no methods are exported"),
                        })
                        .collect();
                    api.functions.push((f.sig.ident.to_string(), ret, params));
                }
                Item::Type(t) if t.ident.to_string().starts_with("lucet_") => {
                    api.aliases.push((t.ident.to_string(), c_type(&t.ty)));
                }
                Item::Const(c) if c.ident.to_string().starts_with("LUCET_") => {
                    api.constants
                        .push((c.ident.to_string(), int_value(&c.expr)));
                }
                Item::Struct(s) if s.ident.to_string().starts_with("lucet_") => {
                    let Fields::Named(fields) = &s.fields else {
                        panic!("{}: named fields", s.ident)
                    };
                    let fields: Vec<(String, String)> = fields
                        .named
                        .iter()
                        .map(|f| (unraw(f.ident.as_ref().expect("named")), c_type(&f.ty)))
                        .collect();
                    // Opaque handle types have only a private zero-sized marker.
                    if fields.iter().any(|(n, _)| n == "_opaque") {
                        continue;
                    }
                    api.records.push(Record {
                        name: s.ident.to_string(),
                        is_union: false,
                        fields,
                    });
                }
                Item::Union(u) if u.ident.to_string().starts_with("lucet_") => {
                    let fields = u
                        .fields
                        .named
                        .iter()
                        .map(|f| (unraw(f.ident.as_ref().expect("named")), c_type(&f.ty)))
                        .collect();
                    api.records.push(Record {
                        name: u.ident.to_string(),
                        is_union: true,
                        fields,
                    });
                }
                Item::Enum(e) if e.ident.to_string().starts_with("lucet_") => {
                    for v in &e.variants {
                        let (_, d) = v.discriminant.as_ref().expect("C enums give every value");
                        api.constants.push((v.ident.to_string(), int_value(d)));
                    }
                }
                _ => {}
            }
        }
    }
    api
}

/// `T` with `name` as its declarator (`int32_t (*name)(void)`, `uint8_t name[16]`).
fn declare(ty: &str, name: &str) -> String {
    if ty.contains("{}") {
        ty.replace("{}", name)
    } else if let Some((elem, rest)) = ty.split_once('[') {
        format!("{elem} {name}[{rest}")
    } else {
        format!("{ty} {name}")
    }
}

/// A type name usable inside `__builtin_types_compatible_p` / `std::is_same`.
fn abstract_type(ty: &str) -> String {
    declare(ty, "").replace(" [", "[").trim().to_string()
}

fn check_source(api: &RustApi) -> String {
    let mut c = String::new();
    c.push_str("#include \"lucet.h\"\n#include <stddef.h>\n\n");
    c.push_str(
        "#ifdef __cplusplus\n#include <type_traits>\n#define SAME(a, b) (std::is_same<a, b>::value)\n\
         #define STATIC_ASSERT static_assert\n#define TYPEOF(x) std::remove_reference<decltype(x)>::type\n\
         #define ALIGNOF alignof\n#else\n#define SAME(a, b) __builtin_types_compatible_p(a, b)\n\
         #define STATIC_ASSERT _Static_assert\n#define TYPEOF(x) __typeof__(x)\n#define ALIGNOF _Alignof\n#endif\n\
         #define ALIGN_UP(n, a) (((n) + (a) - 1) / (a) * (a))\n\n",
    );
    c.push_str("/* Each prototype again, from the Rust signature: a difference is a conflicting declaration. */\n");
    for (name, ret, params) in &api.functions {
        let params = if params.is_empty() {
            "void".to_string()
        } else {
            params.join(", ")
        };
        writeln!(c, "{};", declare(ret, &format!("{name}({params})"))).unwrap();
    }
    c.push_str("\n/* Type aliases: function pointers are redeclared, integers must be of the same type. */\n");
    for (name, ty) in &api.aliases {
        if ty.contains("{}") {
            writeln!(c, "typedef {};", declare(ty, name)).unwrap();
        } else {
            // The header spells these as enums; an enum is of its underlying type's
            // size and signedness, which is what C code and the Rust side share.
            // (C++ gives such enums a signed underlying type; the bits passed are the same.)
            writeln!(
                c,
                "STATIC_ASSERT(sizeof({name}) == sizeof({ty}) && ALIGNOF({name}) == ALIGNOF({ty}), \
                 \"{name} is {ty} in Rust\");\n#ifndef __cplusplus\n\
                 STATIC_ASSERT(SAME({name}, {ty}), \"{name} is {ty} in Rust\");\n#endif"
            )
            .unwrap();
        }
    }
    c.push_str("\n/* Struct and union fields: names, types, and the repr(C) layout of the Rust order. */\n");
    for Record {
        name,
        is_union,
        fields,
    } in &api.records
    {
        for (i, (field, ty)) in fields.iter().enumerate() {
            writeln!(
                c,
                "STATIC_ASSERT(SAME(TYPEOF((({name} *)0)->{field}), {}), \"{name}.{field} is {ty} in Rust\");",
                abstract_type(ty)
            )
            .unwrap();
            let expected = if *is_union || i == 0 {
                "0".to_string()
            } else {
                let prev = &fields[i - 1].0;
                format!(
                    "ALIGN_UP(offsetof({name}, {prev}) + sizeof((({name} *)0)->{prev}), ALIGNOF(TYPEOF((({name} *)0)->{field})))"
                )
            };
            writeln!(c, "STATIC_ASSERT(offsetof({name}, {field}) == {expected}, \"{name}.{field} is field {i} in Rust\");")
                .unwrap();
        }
        let end = if *is_union {
            fields
                .iter()
                .map(|(f, _)| format!("sizeof((({name} *)0)->{f})"))
                .reduce(|a, b| format!("(({a}) > ({b}) ? ({a}) : ({b}))"))
                .unwrap_or_else(|| "0".into())
        } else {
            let (last, _) = fields.last().expect("records have fields");
            format!("offsetof({name}, {last}) + sizeof((({name} *)0)->{last})")
        };
        writeln!(c, "STATIC_ASSERT(sizeof({name}) == ALIGN_UP({end}, ALIGNOF({name})), \"{name} has no other fields\");")
            .unwrap();
    }
    c.push_str("\n/* Constants. */\n");
    for (name, value) in &api.constants {
        writeln!(
            c,
            "STATIC_ASSERT({name} == {value}, \"{name} is {value} in Rust\");"
        )
        .unwrap();
    }
    c
}

/// Names of the functions the header declares, and of its `LUCET_*` constants.
fn header_names(header: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    // Comments out, then statements; `static inline` helpers are definitions, not
    // part of the library.
    let mut text = String::new();
    let mut rest = header;
    while let Some(i) = rest.find("/*") {
        text.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find("*/").expect("closed comment") + 2..];
    }
    text.push_str(rest);
    // Preprocessor lines go, and so does what `#ifdef __cplusplus` guards (the
    // `extern "C" {` wrapper).
    let mut in_cplusplus = false;
    let mut kept = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("#ifdef __cplusplus") {
            in_cplusplus = true;
        } else if in_cplusplus && l.starts_with("#endif") {
            in_cplusplus = false;
        } else if !in_cplusplus && !l.starts_with('#') {
            kept.push(line);
        }
    }
    let text = kept.join("\n");
    let mut functions = BTreeSet::new();
    let mut constants = BTreeSet::new();
    let ident = |s: &str| -> Option<String> {
        let s = s.trim_end();
        let start = s
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(|i| i + 1)
            .unwrap_or(0);
        Some(s[start..].to_string()).filter(|n| !n.is_empty())
    };
    let mut depth = 0usize;
    let mut stmt = String::new();
    for ch in text.chars() {
        match ch {
            '{' => {
                depth += 1;
                stmt.push(ch);
            }
            '}' => {
                depth = depth.saturating_sub(1);
                stmt.push(ch);
                if depth == 0 && stmt.trim_start().starts_with("static inline") {
                    stmt.clear();
                }
            }
            ';' if depth == 0 => {
                let s = stmt.trim();
                if s.starts_with("typedef enum") {
                    for part in s.split(['{', ',', '}']) {
                        if let Some((name, _)) = part.split_once('=') {
                            constants.insert(name.trim().to_string());
                        }
                    }
                } else if !s.starts_with("typedef") && !s.is_empty() && !s.starts_with("extern") {
                    let open = s.find('(').expect("a prototype");
                    functions.insert(ident(&s[..open]).expect("a function name"));
                }
                stmt.clear();
            }
            _ => stmt.push(ch),
        }
    }
    (functions, constants)
}

fn compile(compiler: &str, source: &Path, args: &[&str]) {
    let out = Command::new(compiler)
        .args(args)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .args(["-fsyntax-only", "-Wall", "-Wextra", "-Werror"])
        .arg(source)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {compiler} (the C compiler Rust itself links with): {e}")
        });
    assert!(
        out.status.success(),
        "include/lucet.h disagrees with the Rust sources ({compiler}):\n{}\nthe generated check is {}",
        String::from_utf8_lossy(&out.stderr),
        source.display()
    );
}

#[test]
fn header_matches_the_rust_side() {
    let api = read_rust_api();
    assert!(
        api.functions.len() > 30,
        "found only {} exported functions",
        api.functions.len()
    );
    let dir = tempfile::tempdir().expect("a scratch directory");
    let source = dir.path().join("check.c");
    std::fs::write(&source, check_source(&api)).expect("write the check");
    compile("cc", &source, &["-std=c11", "-x", "c"]);
    compile("c++", &source, &["-std=c++11", "-x", "c++"]);

    let header =
        std::fs::read_to_string(crate_dir().join("include/lucet.h")).expect("read lucet.h");
    let (declared, constants) = header_names(&header);
    let exported: BTreeSet<String> = api.functions.iter().map(|f| f.0.clone()).collect();
    assert_eq!(
        declared.difference(&exported).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "declared in lucet.h, not exported by the Rust side"
    );
    assert_eq!(
        exported.difference(&declared).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "exported by the Rust side, missing from lucet.h"
    );
    let rust_constants: BTreeSet<String> = api.constants.iter().map(|c| c.0.clone()).collect();
    assert_eq!(
        constants.difference(&rust_constants).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "constants in lucet.h that the Rust side does not define"
    );
}

#[test]
fn the_shared_library_exports_every_function() {
    let api = read_rust_api();
    let lib = common::library_dir().join("liblucet_runtime_c.so");
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("run nm");
    assert!(
        out.status.success(),
        "nm {}: {}",
        lib.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let symbols: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(String::from))
        .collect();
    for (name, _, _) in &api.functions {
        assert!(
            symbols.contains(name),
            "{} does not export {name}",
            lib.display()
        );
    }
}

mod common;
