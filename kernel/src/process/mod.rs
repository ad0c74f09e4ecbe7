//! User processes. So far: the programs embedded in the image.

pub mod programs;
