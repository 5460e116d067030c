//! Which trap codes satisfy the spec's trap messages.
//!
//! The scripts name traps by the reference interpreter's message text; the runtime
//! reports a [`TrapCode`]. The spec only requires that *a* trap happens, but checking
//! the kind catches real bugs (a bounds check reported as a bad signature, say), so
//! each message maps to the codes that mean the same thing.

use lucet_module::TrapCode;

/// The trap codes acceptable for `message`, or `None` if the message is unknown.
pub fn acceptable_codes(message: &str) -> Option<&'static [TrapCode]> {
    use TrapCode::*;
    // Ordered so that longer, more specific phrases are tried first.
    const TABLE: &[(&str, &[TrapCode])] = &[
        ("out of bounds memory access", &[HeapOutOfBounds]),
        ("out of bounds table access", &[TableOutOfBounds]),
        ("undefined element", &[TableOutOfBounds]),
        ("uninitialized element", &[IndirectCallToNull]),
        ("indirect call type mismatch", &[BadSignature]),
        ("integer divide by zero", &[IntegerDivByZero]),
        ("integer overflow", &[IntegerOverflow]),
        ("invalid conversion to integer", &[BadConversionToInteger]),
        ("unreachable", &[Unreachable]),
        ("call stack exhausted", &[StackOverflow]),
        (
            "null function reference",
            &[IndirectCallToNull, NullReference],
        ),
        ("null reference", &[NullReference, IndirectCallToNull]),
        ("unaligned atomic", &[HeapMisaligned]),
        // Older phrasings that some proposal repositories still use.
        ("data segment dropped", &[HeapOutOfBounds]),
        ("elements segment dropped", &[TableOutOfBounds]),
        ("memory access out of bounds", &[HeapOutOfBounds]),
    ];
    TABLE
        .iter()
        .find(|(phrase, _)| message.contains(phrase))
        .map(|(_, codes)| *codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_messages_map() {
        assert_eq!(
            acceptable_codes("out of bounds memory access"),
            Some(&[TrapCode::HeapOutOfBounds][..])
        );
        assert_eq!(
            acceptable_codes("undefined element"),
            Some(&[TrapCode::TableOutOfBounds][..])
        );
        assert_eq!(
            acceptable_codes("uninitialized element 2"),
            Some(&[TrapCode::IndirectCallToNull][..])
        );
        assert_eq!(
            acceptable_codes("unreachable executed"),
            Some(&[TrapCode::Unreachable][..])
        );
        assert!(acceptable_codes("something new").is_none());
    }
}
