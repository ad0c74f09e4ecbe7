//! Link the user programs statically at a Linux-like base (user/user.ld).
fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("user/");
    let script = dir.join("user.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=--no-pie");
        println!("cargo:rustc-link-arg-bins=-static");
    }
}
