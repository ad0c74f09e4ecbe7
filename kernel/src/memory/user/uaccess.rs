//! Safe access to user memory for system calls (Linux's
//! include/linux/uaccess.h): every pointer a task passes is a [`UserPtr`],
//! checked against the user address limit (`access_ok`) and reached only
//! through arch's unprivileged copy routines, whose faults the fault
//! handler resolves (demand paging, COW) or turns into `-EFAULT`.

use mm::mmap::Errno;

/// One past the highest user address: 48-bit user virtual addresses, as
/// Linux arm64 with 4 KiB pages and four levels (TASK_SIZE_64).
pub const TASK_SIZE: u64 = 1 << 48;

/// An address in the current task's user address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserPtr(pub u64);

impl UserPtr {
    /// `self + bytes`, if that stays a valid pointer value.
    pub fn add(self, bytes: u64) -> Option<UserPtr> {
        self.0.checked_add(bytes).map(UserPtr)
    }
}

/// Linux's access_ok: the whole range lies below [`TASK_SIZE`].
pub fn access_ok(ptr: UserPtr, len: u64) -> bool {
    ptr.0.checked_add(len).is_some_and(|end| end <= TASK_SIZE)
}

/// Fill `dst` from user memory at `src`.
pub fn copy_from_user(dst: &mut [u8], src: UserPtr) -> Result<(), Errno> {
    if !access_ok(src, dst.len() as u64) {
        return Err(Errno::EFAULT);
    }
    // SAFETY: the range is below TASK_SIZE (checked), and the kernel's trap
    // handler resolves or fixes up faults in the copy routines.
    match unsafe { arch::uaccess::copy_from_user(dst, src.0) } {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Copy `src` to user memory at `dst`.
pub fn copy_to_user(dst: UserPtr, src: &[u8]) -> Result<(), Errno> {
    if !access_ok(dst, src.len() as u64) {
        return Err(Errno::EFAULT);
    }
    // SAFETY: as in copy_from_user.
    match unsafe { arch::uaccess::copy_to_user(dst.0, src) } {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Zero `n` bytes of user memory at `dst`.
pub fn clear_user(dst: UserPtr, n: u64) -> Result<(), Errno> {
    if !access_ok(dst, n) {
        return Err(Errno::EFAULT);
    }
    // SAFETY: as in copy_from_user.
    match unsafe { arch::uaccess::clear_user(dst.0, n as usize) } {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Copy a NUL-terminated user string into `dst`: its length, or
/// `ENAMETOOLONG` if it does not fit, `EFAULT` on a bad pointer.
pub fn strncpy_from_user(dst: &mut [u8], src: UserPtr) -> Result<usize, Errno> {
    // Never read past TASK_SIZE, even for a string that would end before.
    let room = TASK_SIZE.saturating_sub(src.0).min(dst.len() as u64) as usize;
    if room == 0 {
        return Err(Errno::EFAULT);
    }
    // SAFETY: [src, src + room) is below TASK_SIZE; faults as above.
    match unsafe { arch::uaccess::strncpy_from_user(&mut dst[..room], src.0) } {
        Some(n) if n < dst.len() => Ok(n),
        Some(_) => Err(Errno::ENAMETOOLONG),
        None => Err(Errno::EFAULT),
    }
}

/// Write an `i32` to user memory (put_user).
pub fn put_user_i32(dst: UserPtr, v: i32) -> Result<(), Errno> {
    copy_to_user(dst, &v.to_le_bytes())
}
