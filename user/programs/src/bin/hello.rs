//! hello: prints a greeting, its pid and its arguments, and exits 0.
#![no_std]
#![no_main]

use ulib::{println, sys};

ulib::entry!(main);

fn main(args: &ulib::Args) -> i32 {
    println!("hello from user space: pid {}", sys::getpid());
    for i in 0..args.argc() {
        println!("  argv[{}] = {}", i, args.arg_str(i).unwrap_or("<not UTF-8>"));
    }
    0
}
