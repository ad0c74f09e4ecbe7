//! exit-status [N]: exits with status N (default 42), to check that the
//! first program's exit status becomes the run's exit code.
#![no_std]
#![no_main]

use ulib::eprintln;

ulib::entry!(main);

fn main(args: &ulib::Args) -> i32 {
    let Some(arg) = args.arg_str(1) else { return 42 };
    match arg.parse::<u8>() {
        Ok(n) => n as i32,
        Err(_) => {
            eprintln!("exit-status: '{}' is not a number 0-255", arg);
            64
        }
    }
}
