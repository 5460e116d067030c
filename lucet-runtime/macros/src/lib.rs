//! The `#[lucet_hostcall]` attribute, re-exported by `lucet-runtime` as
//! `lucet_runtime::lucet_hostcall`; use it from there.
//!
//! Applied to a function whose first parameter is the calling instance's `&Vmctx`, it
//! turns the function into a hostcall that compiled WebAssembly can import, with no
//! linker flags: the function becomes `extern "C"`, its body runs so that a panic ends
//! the guest's run instead of unwinding through guest frames, and a registration entry
//! is generated that adds it to the runtime's hostcall table when the program starts.
//!
//! ```ignore
//! use lucet_runtime::{lucet_hostcall, Vmctx};
//!
//! #[lucet_hostcall(module = "ffi")]
//! pub fn print(vmctx: &Vmctx, ptr: u32, len: u32) {
//!     let text = vmctx.read_guest_str_len(ptr, len).unwrap_or_default();
//!     println!("{text}");
//! }
//! ```
//!
//! Arguments: `module = "..."` (default `"env"`) and `name = "..."` (default: the Rust
//! function's name) give the `(module, field)` pair the guest imports.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Error, FnArg, ItemFn, LitStr, ReturnType, Type};

#[proc_macro_attribute]
pub fn lucet_hostcall(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut module = LitStr::new("env", Span::call_site());
    let mut name: Option<LitStr> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("module") {
            module = meta.value()?.parse()?;
            Ok(())
        } else if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error("unknown lucet_hostcall argument; expected `module = \"...\"` or `name = \"...\"`"))
        }
    });
    parse_macro_input!(attr with parser);
    let func = parse_macro_input!(item as ItemFn);
    match expand(module, name, func) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(module: LitStr, name: Option<LitStr>, func: ItemFn) -> Result<TokenStream2, Error> {
    let sig = &func.sig;
    if sig.asyncness.is_some() {
        return Err(Error::new(sig.asyncness.span(), "a hostcall cannot be async"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new(sig.generics.span(), "a hostcall cannot be generic: the guest calls one fixed signature"));
    }
    if let Some(v) = &sig.variadic {
        return Err(Error::new(v.span(), "a hostcall cannot be variadic"));
    }
    if let Some(abi) = &sig.abi {
        let ok = match &abi.name {
            None => true,
            Some(n) => n.value() == "C",
        };
        if !ok {
            return Err(Error::new(abi.span(), "a hostcall uses the C ABI: write `extern \"C\"` or no ABI at all"));
        }
    }
    let mut inputs = sig.inputs.iter();
    let vmctx_ty = match inputs.next() {
        Some(FnArg::Typed(p)) if matches!(*p.ty, Type::Reference(_)) => p.ty.clone(),
        Some(other) => {
            return Err(Error::new(other.span(), "the first parameter of a hostcall must be `vmctx: &Vmctx`"));
        }
        None => {
            return Err(Error::new(sig.span(), "a hostcall takes the calling instance first: add `vmctx: &Vmctx`"));
        }
    };
    let mut param_tys = Vec::new();
    for arg in inputs {
        match arg {
            FnArg::Typed(p) => param_tys.push(p.ty.clone()),
            FnArg::Receiver(r) => return Err(Error::new(r.span(), "a hostcall cannot take `self`")),
        }
    }
    let ret_ty: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, t) => (**t).clone(),
    };

    let vis = &func.vis;
    let attrs = &func.attrs;
    let ident = &sig.ident;
    let unsafety = &sig.unsafety;
    let field = name.unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
    let output = &sig.output;
    let arg_names: Vec<_> = (0..param_tys.len()).map(|i| format_ident!("__lucet_arg{i}")).collect();

    // The original function, unchanged except for its ABI, becomes an inner function so
    // that its parameter patterns and body keep their meaning.
    let mut inner = func.clone();
    inner.sig.ident = format_ident!("__lucet_hostcall_body");
    inner.sig.abi = None;
    inner.vis = syn::Visibility::Inherited;
    // Only lint levels carry over: documentation, `inline`, `no_mangle` and the like
    // belong to the exported function.
    inner.attrs.retain(|a| ["allow", "warn", "deny", "expect"].iter().any(|l| a.path().is_ident(l)));
    let inner_ident = &inner.sig.ident;
    let call_inner = if unsafety.is_some() {
        // SAFETY comment is emitted in the generated code below.
        quote!(unsafe { #inner_ident(__lucet_vmctx, #(#arg_names),*) })
    } else {
        quote!(#inner_ident(__lucet_vmctx, #(#arg_names),*))
    };

    let statics = format_ident!("__LUCET_HOSTCALL_{}", ident.to_string().to_uppercase());
    Ok(quote! {
        #(#attrs)*
        #vis #unsafety extern "C" fn #ident(__lucet_vmctx: #vmctx_ty, #(#arg_names: #param_tys),*) #output {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            #inner
            // SAFETY: compiled code calls hostcalls on the guest stack inside a run, which
            // is what `run_hostcall` requires; the body's own safety contract is the
            // hostcall's, as declared.
            #[allow(unused_unsafe)]
            let __lucet_result = unsafe { ::lucet_runtime::__hostcall_support::run_hostcall(|| #call_inner) };
            __lucet_result
        }

        #[doc(hidden)]
        #[allow(non_upper_case_globals, non_snake_case)]
        const _: () = {
            static #statics: [::lucet_runtime::HostcallDef; 1] = [::lucet_runtime::HostcallDef {
                module: #module,
                name: #field,
                params: &[#(<#param_tys as ::lucet_runtime::__hostcall_support::WasmTy>::VAL_TYPE),*],
                results: <#ret_ty as ::lucet_runtime::__hostcall_support::HostcallResult>::RESULTS,
                func: #ident as *const u8,
            }];
            extern "C" fn __lucet_register() {
                ::lucet_runtime::__hostcall_support::register_at_load(&#statics);
            }
            // Runs before `main` (and when a shared library is loaded), so the hostcall
            // is in the table before any module that imports it is loaded.
            #[used]
            #[link_section = ".init_array"]
            static __LUCET_REGISTER: extern "C" fn() = __lucet_register;
        };
    })
}
