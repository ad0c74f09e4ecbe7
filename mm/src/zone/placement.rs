//! Zone placement (filled in below).
