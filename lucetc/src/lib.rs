//! lucetc
