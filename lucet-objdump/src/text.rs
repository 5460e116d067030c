//! The plain-text form of the report.

use crate::report::Report;

/// `1 GiB`, `64 KiB`, or the exact count of bytes when it is no whole unit.
fn size(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

fn max(m: Option<u64>) -> String {
    m.map_or_else(|| "none".to_string(), |m| m.to_string())
}

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line(format!("{}: {} bytes", r.file, r.file_size));
    if let Some(name) = &r.name {
        line(format!("  name:            {name}"));
    }
    line(format!("  format version:  {} (lucetc {})", r.format_version, r.compiler_version));
    line(format!("  target:          {}", r.codegen.target));
    line(format!("  CPU features:    {}", r.codegen.cpu_features.join(", ")));
    line(format!("  opt level:       {}", r.codegen.opt_level));
    line(format!("  Spectre guards:  {}", if r.codegen.spectre_guards { "on" } else { "off" }));
    line(format!("  signature:       {}", r.signature));

    line(format!("\nmemories: {}", r.memories.len()));
    for m in &r.memories {
        line(format!(
            "  {}{}: {} pages, max {}, {}-bit; reservation {}, guard {}; bounds checks: {}",
            m.index,
            if m.imported { " (imported)" } else { "" },
            m.min_pages,
            max(m.max_pages),
            if m.memory64 { 64 } else { 32 },
            size(m.reserved_bytes),
            size(m.guard_bytes),
            m.bounds_checks
        ));
    }
    line(format!("\ntables: {}", r.tables.len()));
    for t in &r.tables {
        line(format!(
            "  {}{}: {}, {} elements, max {}",
            t.index,
            if t.imported { " (imported)" } else { "" },
            t.element,
            t.min,
            max(t.max)
        ));
    }
    line(format!("\nglobals: {}", r.globals.len()));
    for g in &r.globals {
        let init = g.init.as_ref().map(|i| format!(" = {i}")).unwrap_or_default();
        line(format!(
            "  {}{}: {}{}{}",
            g.index,
            if g.imported { " (imported)" } else { "" },
            if g.mutable { "mut " } else { "" },
            g.ty,
            init
        ));
    }
    let d = &r.data_segments;
    line(format!(
        "\ndata segments: {} ({} active, {} passive), {} bytes",
        d.count, d.active, d.passive, d.size
    ));
    let e = &r.element_segments;
    line(format!(
        "element segments: {} ({} active, {} passive, {} declared), {} items",
        e.count, e.active, e.passive, e.declared, e.size
    ));

    line(format!("\nimports: {}", r.imports.len()));
    for i in &r.imports {
        line(format!("  {}.{}: {} {}", i.module, i.field, i.kind, i.ty));
    }
    line(format!("\nexports: {}", r.exports.len()));
    for x in &r.exports {
        let ty = x.ty.as_ref().map(|t| format!(" {t}")).unwrap_or_default();
        line(format!("  {}: {} {}{}", x.name, x.kind, x.index, ty));
    }
    if let Some(start) = r.start {
        line(format!("start function: {start}"));
    }

    let code: u64 = r.functions.iter().map(|f| u64::from(f.code_size)).sum();
    let traps: usize = r.functions.iter().map(|f| f.trap_sites).sum();
    line(format!(
        "\nfunctions: {} defined, {} bytes of code, {} trap sites",
        r.functions.len(),
        code,
        traps
    ));
    line(format!("  {:>6}  {:>9}  {:>5}  {}", "index", "code size", "traps", "name and type"));
    for f in &r.functions {
        line(format!(
            "  {:>6}  {:>9}  {:>5}  {} {}",
            f.index,
            f.code_size,
            f.trap_sites,
            f.name.as_deref().unwrap_or("-"),
            f.ty
        ));
    }
    o
}
