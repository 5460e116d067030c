//! Where each function starts within its 64-byte line, chosen from its innermost loop.
//!
//! Cranelift does not align loop headers, so where a hot loop lies within a cache line
//! is the function's start plus the loop's offset in the function. On the AMD Zen 5
//! machine the benchmarks run on, the same loop runs up to 1.5 times slower at some
//! offsets within its line than at others (docs/benchmarks.md, "Where a loop lies").
//! lucetc cannot move a loop inside its function, but it can move the whole function:
//! it starts the function `pad` bytes past a line so that the header of the loop most
//! likely to be hot lands where it was measured fastest.

/// A 64-byte cache line, the unit functions are placed in.
pub const LINE: u64 = 64;

/// Where the chosen loop's header is put within its line.
///
/// Why the start of a line: `shootout-sieve`'s six-instruction inner loop (28 bytes)
/// measured 1.00 and 1.02 of Wasmtime there, against 1.30–1.59 at 4 mod 8; a loop that
/// starts a line has all its bytes in that line's first half and needs one line fetch
/// per iteration as long as it is shorter than 64 bytes.
const HEADER_OFFSET: u64 = 0;

/// The longest loop placed, in bytes: one line.
///
/// Why: a loop that fits in a line needs one line an iteration when it starts one, two
/// when it straddles a boundary; a longer loop straddles boundaries wherever it starts,
/// and moving one measured worse as often as better (`hex-simd`'s 151-byte loop gained,
/// `libsodium-auth`'s 72-byte zeroing loop lost; docs/benchmarks.md, "Where a loop
/// lies").
const LONGEST_PLACED: u32 = 64;

/// A loop of a compiled function: the offsets of its header and of the end of its last
/// block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loop {
    pub header: u32,
    pub end: u32,
}

/// The loop whose header decides where the function starts: of the loops (a header and
/// every block that branches back to it, which Cranelift lays out after the header)
/// that make no call and fit in a line ([`LONGEST_PLACED`]), the most deeply nested,
/// then the first.
///
/// Why that one: without profiles, the innermost loop is the best guess at where the
/// time goes. Of several at the same depth the first is taken because a vectorised or
/// unrolled loop comes before the loop that finishes its remainder (`hex_encode_simd128`
/// in `hex-simd` has a SIMD loop, then a scalar one for the last bytes). A
/// loop that calls spends its time in calls and returns, where the function's own
/// entry matters more than the loop: `shootout-ackermann`'s recursive function, whose
/// loop calls it, measured fastest with the function on a line boundary.
///
/// `code` is the function's machine code, `bb_starts` the offsets of its blocks in
/// layout order and `bb_edges` the `(from, to)` block offsets of its control-flow edges
/// (Cranelift's `machine_code_cfg_info`), `returns` the return addresses of its calls.
///
/// Why the branches are read from the code: Cranelift 0.135 records each edge's `from`
/// as the start of the block at that position in layout order rather than of the
/// block the edge leaves, so once cold blocks have been moved to the end the sources
/// are wrong (`hex_encode_simd128` in `hex-simd` showed a loop around its return). The
/// block starts and the edges' targets are right. Cranelift's x64 branches are all
/// `jmp rel32` (5 bytes) or `jcc rel32` (6 bytes) at the end of their block, a `jcc`
/// possibly followed by a `jmp`; a branch is taken as one only if it lands on a block
/// start that some edge targets.
pub fn innermost_loop(code: &[u8], bb_starts: &[u32], bb_edges: &[(u32, u32)], returns: &[u32]) -> Option<Loop> {
    let targets: std::collections::HashSet<u32> = bb_edges.iter().map(|&(_, to)| to).collect();
    // The target of a rel32 branch whose displacement ends at `end`, if it is a block start.
    let target = |end: usize| -> Option<u32> {
        let disp = i32::from_le_bytes(code.get(end.checked_sub(4)?..end)?.try_into().ok()?);
        let to = u32::try_from(end as i64 + i64::from(disp)).ok()?;
        targets.contains(&to).then_some(to)
    };
    let jmp = |end: usize| (end >= 5 && code[end - 5] == 0xe9).then(|| target(end)).flatten();
    let jcc = |end: usize| {
        (end >= 6 && code[end - 6] == 0x0f && code[end - 5] & 0xf0 == 0x80).then(|| target(end)).flatten()
    };
    // A back edge goes to a block at or before its source; a header may have several.
    // Everything below is linear in the blocks, or n log n, whatever the function.
    let mut ends: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    for (i, &from) in bb_starts.iter().enumerate() {
        // The last block's end is not known (constants may follow it); it is a cold one
        // whenever the function has any.
        let Some(&end) = bb_starts.get(i + 1) else { break };
        let end_u = end as usize;
        let (first, second) = match jmp(end_u) {
            Some(to) => (Some(to), jcc(end_u - 5)),
            None => (jcc(end_u), None),
        };
        for to in [first, second].into_iter().flatten().filter(|&to| to <= from) {
            let e = ends.entry(to).or_insert(end);
            *e = (*e).max(end);
        }
    }
    // `returns` is sorted: the calls in code order.
    let calls = |l: &Loop| {
        let i = returns.partition_point(|&r| r <= l.header);
        returns.get(i).is_some_and(|&r| r <= l.end)
    };
    let mut loops: Vec<Loop> = ends
        .into_iter()
        .map(|(header, end)| Loop { header, end })
        .filter(|l| !calls(l) && l.end - l.header <= LONGEST_PLACED)
        .collect();
    // Outer loops before the loops they hold; the depth of each is how many of the loops
    // on the stack hold it.
    loops.sort_by_key(|l| (l.header, std::cmp::Reverse(l.end)));
    let mut stack: Vec<Loop> = Vec::new();
    let mut best: Option<(usize, Loop)> = None;
    for l in loops {
        while stack.last().is_some_and(|m| !(m.header <= l.header && l.end <= m.end)) {
            stack.pop();
        }
        let depth = stack.len();
        // Deepest first, then first in the code (the loops come in code order).
        if best.map_or(true, |(d, _)| depth > d) {
            best = Some((depth, l));
        }
        stack.push(l);
    }
    best.map(|(_, l)| l)
}

/// How many bytes past a line boundary a function starts: 0 for a function without a
/// loop, otherwise what puts `lp`'s header at [`HEADER_OFFSET`] within its line, rounded
/// down to a multiple of `alignment` (what the function's constants need).
///
/// Why 0 without a loop: `shootout-ackermann`'s recursive function measured 0.98–1.02
/// of Wasmtime at 0 or 8 bytes past a line and 1.13–1.50 at 16–56.
pub fn line_offset(lp: Option<Loop>, alignment: u64) -> u64 {
    let Some(lp) = lp else { return 0 };
    let alignment = alignment.clamp(1, LINE);
    let pad = (LINE + HEADER_OFFSET - u64::from(lp.header) % LINE) % LINE;
    pad - pad % alignment
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code of blocks of the given lengths, each ending in the given branches (`jcc`
    /// then `jmp`, by target block), filled with `nop`; returns the code, the block
    /// starts and the edges.
    fn blocks(spec: &[(u32, Option<usize>, Option<usize>)]) -> (Vec<u8>, Vec<u32>, Vec<(u32, u32)>) {
        let starts: Vec<u32> = spec.iter().scan(0, |at, &(len, ..)| Some(std::mem::replace(at, *at + len))).collect();
        let mut code = Vec::new();
        let mut edges = Vec::new();
        for (i, &(len, jcc, jmp)) in spec.iter().enumerate() {
            let end = starts[i] + len;
            let branch_len = 6 * u32::from(jcc.is_some()) + 5 * u32::from(jmp.is_some());
            code.resize((end - branch_len) as usize, 0x90);
            if let Some(t) = jcc {
                let next = code.len() as u32 + 6;
                code.extend([0x0f, 0x85]);
                code.extend((starts[t] as i32 - next as i32).to_le_bytes());
                edges.push((starts[i], starts[t]));
            }
            if let Some(t) = jmp {
                let next = code.len() as u32 + 5;
                code.push(0xe9);
                code.extend((starts[t] as i32 - next as i32).to_le_bytes());
                edges.push((starts[i], starts[t]));
            }
            if i + 1 < spec.len() && jmp.is_none() {
                edges.push((starts[i], starts[i + 1]));
            }
        }
        (code, starts, edges)
    }

    #[test]
    fn no_back_edge_no_loop() {
        let (code, starts, edges) = blocks(&[(10, Some(2), None), (10, None, Some(2)), (10, None, None)]);
        assert_eq!(innermost_loop(&code, &starts, &edges, &[]), None);
        assert_eq!(line_offset(None, 16), 0);
    }

    #[test]
    fn the_inner_loop_of_a_nest_is_chosen() {
        // 0: entry, 10: outer header, 20: inner header, 30: inner latch, 40: outer latch.
        let (code, starts, edges) = blocks(&[
            (10, None, None),
            (10, None, None),
            (10, None, None),
            (10, Some(2), None),
            (10, Some(1), None),
            (10, None, None),
        ]);
        assert_eq!(innermost_loop(&code, &starts, &edges, &[]), Some(Loop { header: 20, end: 40 }));
        // A call in the inner loop leaves none: the outer loop holds the call too.
        assert_eq!(innermost_loop(&code, &starts, &edges, &[25]), None);
        // A call in the outer loop only leaves the inner one.
        assert_eq!(innermost_loop(&code, &starts, &edges, &[45]), Some(Loop { header: 20, end: 40 }));
        assert_eq!(innermost_loop(&code, &starts, &edges, &[15]), Some(Loop { header: 20, end: 40 }));
    }

    #[test]
    fn a_self_loop_and_a_jump_after_a_conditional_branch_count() {
        let (code, starts, edges) = blocks(&[(8, None, None), (16, Some(1), None), (8, None, None)]);
        assert_eq!(innermost_loop(&code, &starts, &edges, &[]), Some(Loop { header: 8, end: 24 }));
        let (code, starts, edges) = blocks(&[(8, None, None), (16, Some(2), Some(1)), (8, None, None)]);
        assert_eq!(innermost_loop(&code, &starts, &edges, &[]), Some(Loop { header: 8, end: 24 }));
    }

    #[test]
    fn a_wrong_edge_source_or_a_lookalike_is_no_loop() {
        let (code, starts, mut edges) = blocks(&[(10, None, None), (10, None, None), (10, None, None), (10, None, None)]);
        // An edge whose recorded source lies after its target, with no branch there.
        edges.push((30, 10));
        assert_eq!(innermost_loop(&code, &starts, &edges, &[]), None);
    }

    #[test]
    fn of_two_loops_at_one_depth_the_first() {
        let (code, starts, edges) =
            blocks(&[(10, None, None), (40, Some(1), None), (10, Some(2), None), (10, None, None)]);
        assert_eq!(innermost_loop(&code, &starts, &edges, &[]), Some(Loop { header: 10, end: 50 }));
    }

    #[test]
    fn a_loop_longer_than_a_line_is_not_placed() {
        let (code, starts, edges) = blocks(&[(10, None, None), (80, Some(1), None), (10, None, None)]);
        assert_eq!(innermost_loop(&code, &starts, &edges, &[]), None);
        // A nest whose inner loop fits and whose outer one does not: the inner one.
        let (code, starts, edges) =
            blocks(&[(10, None, None), (10, None, None), (40, Some(2), None), (40, Some(1), None), (10, None, None)]);
        assert_eq!(innermost_loop(&code, &starts, &edges, &[]), Some(Loop { header: 20, end: 60 }));
    }

    #[test]
    fn the_header_goes_to_the_start_of_a_line() {
        let at = |header| Some(Loop { header, end: header + 20 });
        assert_eq!(line_offset(at(0x3c), 1), 4);
        assert_eq!(line_offset(at(0x40), 1), 0);
        assert_eq!(line_offset(at(0x85), 1), 0x3b);
        // Constants needing 16-byte alignment keep the start on a multiple of 16.
        assert_eq!(line_offset(at(0x85), 16), 0x30);
    }
}
