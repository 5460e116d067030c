//! 128-bit vectors (SIMD and relaxed SIMD).

use crate::error::Error;
use crate::translate::func::Translator;
use wasmparser::Operator;

pub fn translate(_t: &mut Translator, _op: &Operator<'_>) -> Result<bool, Error> {
    Ok(false)
}
