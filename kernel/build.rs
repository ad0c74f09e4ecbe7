//! Link the kernel with the workspace's linker script.
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let script = root.join("linker.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=--no-pie");
        // arch::exception::STACK_SHIFT is 15 with debug assertions.
        if std::env::var("CARGO_CFG_DEBUG_ASSERTIONS").is_ok() {
            println!("cargo:rustc-link-arg-bins=--defsym=DEBUG_STACK_SIZE=0x8000");
        }
    }
}
