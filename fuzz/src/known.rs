//! Failures that match a finding already on record and not yet fixed on this branch.
//!
//! A long run should not stop at, or drown in, the same known finding thousands of
//! times. A failure whose message contains one of these markers is counted under the
//! finding's label instead of listed as new. When the fix lands, its entry goes, and
//! the next run shows 0 for it. Keep each marker narrow: a marker that is too broad
//! hides new bugs.

/// (label, marker): the label names the finding (issue 12's numbering).
const KNOWN: &[(&str, &str)] = &[
    // `MemoryImage::build` panics when an empty active data segment lies outside the
    // page range of the non-empty ones.
    ("issue12-5 memory image panic", "region/image.rs"),
    // The loader hands files to `dlopen` after checking little more than the
    // descriptor's magic and version: damaged relocations, dynamic entries or
    // descriptor pointers crash the process (issue 12, findings 4 and 6, and the
    // validation before load). These messages come only from the load target's
    // child processes.
    (
        "issue12-4/6 unvalidated file crashes the loader",
        "the process died of signal",
    ),
    (
        "issue12-4/6 unvalidated file crashes the loader",
        "without a verdict",
    ),
];

/// The label of the known finding `message` matches, if any.
pub fn classify(message: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(_, marker)| message.contains(marker))
        .map(|(label, _)| *label)
}
