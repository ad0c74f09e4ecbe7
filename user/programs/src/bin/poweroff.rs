//! poweroff: `reboot(LINUX_REBOOT_CMD_POWER_OFF)`. The run ends with exit
//! code 0; if the call returns, it prints why and exits 1.
#![no_std]
#![no_main]

use ulib::{eprintln, sys};

ulib::entry!(main);

fn main(_args: &ulib::Args) -> i32 {
    match sys::reboot(sys::reboot_cmd::POWER_OFF) {
        Ok(()) => eprintln!("poweroff: reboot(POWER_OFF) returned 0"),
        Err(e) => eprintln!("poweroff: reboot(POWER_OFF): {}", e),
    }
    1
}
