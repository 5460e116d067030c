//! The folded text form of the legacy exception instructions,
//! `(try bt (do instr*) (catch x instr*)* (catch_all instr*)?)` and
//! `(try bt (do instr*) (delegate l))`, which the spec's `legacy/` scripts use but the
//! `wast` parser no longer reads. [`unfold_legacy_try`] rewrites each such form into
//! the flat form (`try bt instr* catch x instr* ... end`, or `... delegate l`), which
//! encodes to the same binary.

/// Rewrites every folded legacy `try` in `text`; other text is kept as it is.
pub fn unfold_legacy_try(text: &str) -> String {
    if !text.contains("(do") {
        return text.to_string();
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(end) = skip_atom(b, i) {
            out.push_str(&text[i..end]);
            i = end;
            continue;
        }
        if b[i] == b'(' && keyword_at(b, i + 1) == Some("try") {
            if let Some((rewritten, end)) = rewrite_try(text, i) {
                out.push_str(&rewritten);
                i = end;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// If a string or a comment starts at `i`, where it ends.
fn skip_atom(b: &[u8], i: usize) -> Option<usize> {
    match b[i] {
        b'"' => {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            Some(b.len())
        }
        b';' if b.get(i + 1) == Some(&b';') => {
            let mut j = i;
            while j < b.len() && b[j] != b'\n' {
                j += 1;
            }
            Some(j)
        }
        b'(' if b.get(i + 1) == Some(&b';') => {
            let mut depth = 0;
            let mut j = i;
            while j + 1 < b.len() {
                if b[j] == b'(' && b[j + 1] == b';' {
                    depth += 1;
                    j += 2;
                } else if b[j] == b';' && b[j + 1] == b')' {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        return Some(j);
                    }
                } else {
                    j += 1;
                }
            }
            Some(b.len())
        }
        _ => None,
    }
}

fn is_idchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-./:<=>?@\\^_`|~".contains(&c)
}

/// The keyword that starts at `i` (after optional whitespace), if any.
fn keyword_at(b: &[u8], mut i: usize) -> Option<&str> {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    while i < b.len() && is_idchar(b[i]) {
        i += 1;
    }
    std::str::from_utf8(&b[start..i]).ok().filter(|s| !s.is_empty())
}

/// The end (one past the `)`) of the parenthesised form that starts at `i`.
fn form_end(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        if let Some(end) = skip_atom(b, j) {
            j = end;
            continue;
        }
        match b[j] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// Rewrites the folded `try` starting at `start`; returns the text and where it ended.
fn rewrite_try(text: &str, start: usize) -> Option<(String, usize)> {
    let b = text.as_bytes();
    let end = form_end(b, start)?;
    // Inside the parentheses, after the keyword.
    let mut i = start + 1;
    while b[i].is_ascii_whitespace() {
        i += 1;
    }
    i += 3;
    let inner_end = end - 1;
    let mut header = String::new();
    let mut clauses: Vec<String> = Vec::new();
    let mut seen_do = false;
    while i < inner_end {
        if let Some(e) = skip_atom(b, i) {
            header.push_str(&text[i..e]);
            i = e;
            continue;
        }
        if b[i] == b'(' {
            let e = form_end(b, i)?;
            match keyword_at(b, i + 1) {
                Some(k @ ("do" | "catch" | "catch_all" | "delegate")) => {
                    let kw_at = text[i + 1..].find(k)? + i + 1;
                    let body = unfold_legacy_try(&text[kw_at + k.len()..e - 1]);
                    if k == "do" {
                        seen_do = true;
                        clauses.push(body);
                    } else {
                        clauses.push(format!("{k} {body}"));
                    }
                }
                _ if !seen_do => header.push_str(&text[i..e]),
                _ => return None,
            }
            i = e;
            continue;
        }
        if !seen_do {
            header.push(b[i] as char);
        } else if b[i] == b'\n' {
            // Keeps the lines of what follows where they were, for messages.
            clauses.last_mut()?.push('\n');
        }
        i += 1;
    }
    if !seen_do {
        return None;
    }
    let delegates = clauses.last().is_some_and(|c| c.starts_with("delegate"));
    let mut out = format!("try {header} ");
    for c in &clauses {
        out.push_str(c);
        out.push(' ');
    }
    if !delegates {
        out.push_str("end");
    }
    Some((out, end))
}

#[cfg(test)]
mod tests {
    use super::unfold_legacy_try;

    fn words(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn rewrites_catch_and_delegate() {
        let t = "(func (try $l (result i32) (do (call $f)) (catch $e (i32.const 1)) (catch_all (i32.const 2))))";
        assert_eq!(
            words(&unfold_legacy_try(t)),
            "(func try $l (result i32) (call $f) catch $e (i32.const 1) catch_all (i32.const 2) end)"
        );
        let t = "(try (do (try (do) (delegate 0))) (catch_all))";
        assert_eq!(words(&unfold_legacy_try(t)), "try try delegate 0 catch_all end");
    }

    #[test]
    fn leaves_try_table_and_strings() {
        let t = "(try_table (do)) \"(try (do))\"";
        assert_eq!(unfold_legacy_try(t), t);
    }
}
