//! Owning handles for kmalloc memory, for Rust callers: [`KBox<T>`] holds
//! one value (Rust's `Box`, on kmalloc), [`KmallocBuf`] holds bytes. Both
//! give the object back with kfree when dropped; `kfree` of a raw pointer
//! stays for the raw API, as an `unsafe fn`.
//!
//! Constructors follow Linux: `new` is kmalloc plus a write of the value,
//! `new_zeroed` and `zalloc` are kzalloc, `*_node` are kmalloc_node (the
//! node is a preference, as in Linux). Memory kmalloc hands out holds
//! whatever was there (poison, an earlier object): it is only ever seen
//! through `MaybeUninit` until written, so no constructor reads it.
//!
//! Alignment: every kmalloc object is 8-byte aligned, and a power-of-two
//! size class is aligned to its size, so a `T` aligned to more than 8 bytes
//! is allocated at `max(size, align)` rounded up to a power of two (as the
//! Rust heap does, `heap::kmalloc_request`). A zero-sized `T` takes one byte.
//!
//! Both types are owners (`Send` and `Sync` as `T` is): any CPU may drop
//! them, as kfree may run on any CPU.

use super::slab::{kfree, kmalloc, kmalloc_node, ksize, kzalloc, kzalloc_node};
use core::fmt;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use mm::Error;
use mm::gfp::Gfp;
use mm::memblock::NodeId;

/// Bytes to ask kmalloc for so that the object fits and is aligned for `T`.
fn request<T>() -> usize {
    let (size, align) = (core::mem::size_of::<T>().max(1), core::mem::align_of::<T>());
    if align <= 8 { size } else { size.max(align).next_power_of_two() }
}

/// One `T` in a kmalloc object, dropped and freed with the handle.
///
/// # Invariants
/// `ptr` is a live kmalloc object of at least `size_of::<T>()` bytes,
/// aligned for `T`, owned by this handle alone, and holds a valid `T`.
pub struct KBox<T> {
    ptr: NonNull<T>,
}

// SAFETY: the handle owns its `T` outright (its invariant), so sending it
// sends the `T`; kfree accepts objects from any CPU.
unsafe impl<T: Send> Send for KBox<T> {}
// SAFETY: `&KBox<T>` only gives `&T`.
unsafe impl<T: Sync> Sync for KBox<T> {}

impl<T> KBox<MaybeUninit<T>> {
    fn from_kmalloc(p: NonNull<u8>) -> Result<Self, Error> {
        if !(p.as_ptr() as usize).is_multiple_of(core::mem::align_of::<T>()) {
            // Not what kmalloc promises; refuse rather than build a misaligned box.
            // SAFETY: p is the live kmalloc object just allocated; nothing else has it.
            unsafe { kfree(p.as_ptr()) };
            return Err(Error::InvalidArgument);
        }
        // The invariant's "valid T" holds: any bytes are a valid MaybeUninit<T>.
        Ok(KBox { ptr: p.cast() })
    }

    /// Store `value` and own it. (An associated function, as `Box::write`,
    /// so that `b.write(v)` still reaches `MaybeUninit::write` through `DerefMut`.)
    pub fn write(this: Self, value: T) -> KBox<T> {
        let this = ManuallyDrop::new(this);
        // SAFETY: the object is ours, aligned and large enough for a T
        // (the invariant); writing a MaybeUninit<T> slot initialises it.
        unsafe { this.ptr.as_ptr().write(MaybeUninit::new(value)) };
        KBox { ptr: this.ptr.cast() }
    }

    /// The `T` the object now holds.
    ///
    /// # Safety
    /// 1. The object holds a valid `T` (written through `DerefMut`, or
    ///    zero bytes from `new_zeroed` where zero is a valid `T`).
    pub unsafe fn assume_init(self) -> KBox<T> {
        let this = ManuallyDrop::new(self);
        KBox { ptr: this.ptr.cast() }
    }
}

impl<T> KBox<T> {
    /// Room for a `T`, not initialised (kmalloc).
    #[track_caller]
    pub fn new_uninit(gfp: Gfp) -> Result<KBox<MaybeUninit<T>>, Error> {
        KBox::<MaybeUninit<T>>::from_kmalloc(kmalloc(request::<T>(), gfp)?)
    }

    /// Room for a `T`, every byte zero (kzalloc). Whether zero bytes are a
    /// valid `T` is for [`assume_init`](KBox::assume_init)'s caller to say.
    #[track_caller]
    pub fn new_zeroed(gfp: Gfp) -> Result<KBox<MaybeUninit<T>>, Error> {
        KBox::<MaybeUninit<T>>::from_kmalloc(kzalloc(request::<T>(), gfp)?)
    }

    /// Room for a `T` on node `nid` if it can be, not initialised (kmalloc_node).
    #[track_caller]
    pub fn new_uninit_node(gfp: Gfp, nid: NodeId) -> Result<KBox<MaybeUninit<T>>, Error> {
        KBox::<MaybeUninit<T>>::from_kmalloc(kmalloc_node(request::<T>(), gfp, nid)?)
    }

    /// `value` in a new kmalloc object (Linux's kmalloc plus a store).
    #[track_caller]
    pub fn new(value: T, gfp: Gfp) -> Result<Self, Error> {
        Ok(KBox::write(Self::new_uninit(gfp)?, value))
    }

    /// `value` in a new kmalloc object on node `nid` if it can be.
    #[track_caller]
    pub fn new_node(value: T, gfp: Gfp, nid: NodeId) -> Result<Self, Error> {
        Ok(KBox::write(Self::new_uninit_node(gfp, nid)?, value))
    }

    /// The object's usable size (Linux's ksize): at least `size_of::<T>()`.
    pub fn ksize(this: &Self) -> usize {
        ksize(this.ptr.as_ptr().cast())
    }

    /// Give up ownership: the raw object, for `from_raw` or `kfree`.
    pub fn into_raw(this: Self) -> NonNull<T> {
        ManuallyDrop::new(this).ptr
    }

    /// Take back ownership of an object from `into_raw`.
    ///
    /// # Safety
    /// 1. `ptr` came from `KBox::<T>::into_raw` and is not owned by anything else.
    pub unsafe fn from_raw(ptr: NonNull<T>) -> Self {
        KBox { ptr }
    }
}

impl<T> Deref for KBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a valid T that the handle owns (the invariant); shared
        // borrows of the handle give shared borrows of it.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for KBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; `&mut self` makes this the only borrow.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for KBox<T> {
    fn drop(&mut self) {
        // SAFETY: the handle owns a valid T in a live kmalloc object (the
        // invariant); it is dropped once, then the object is freed once and
        // never used again.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            kfree(self.ptr.as_ptr().cast());
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for KBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// `len` bytes in a kmalloc object, freed with the handle.
///
/// # Invariants
/// `ptr` is a live kmalloc object of at least `len` bytes, every one of
/// them initialised, owned by this handle alone.
pub struct KmallocBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the handle owns its bytes outright; kfree accepts objects from any CPU.
unsafe impl Send for KmallocBuf {}
// SAFETY: `&KmallocBuf` only gives `&[u8]`.
unsafe impl Sync for KmallocBuf {}

impl KmallocBuf {
    /// `len` zero bytes (Linux's kzalloc).
    #[track_caller]
    pub fn zalloc(len: usize, gfp: Gfp) -> Result<Self, Error> {
        Ok(KmallocBuf { ptr: kzalloc(len, gfp)?, len })
    }

    /// `len` zero bytes on node `nid` if they can be (kzalloc_node).
    #[track_caller]
    pub fn zalloc_node(len: usize, gfp: Gfp, nid: NodeId) -> Result<Self, Error> {
        Ok(KmallocBuf { ptr: kzalloc_node(len, gfp, nid)?, len })
    }

    /// A kmalloc'd copy of `bytes` (Linux's kmemdup).
    #[track_caller]
    pub fn copy_from(bytes: &[u8], gfp: Gfp) -> Result<Self, Error> {
        let ptr = kmalloc(bytes.len(), gfp)?;
        // SAFETY: the fresh object has room for `bytes.len()` bytes and is
        // no part of `bytes`; after the copy every byte is initialised.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len()) };
        Ok(KmallocBuf { ptr, len: bytes.len() })
    }

    /// The object's usable size (Linux's ksize): at least `len`.
    pub fn ksize(&self) -> usize {
        ksize(self.ptr.as_ptr())
    }

    /// Give up ownership: the raw object and its length, for `from_raw` or `kfree`.
    pub fn into_raw(self) -> (NonNull<u8>, usize) {
        let this = ManuallyDrop::new(self);
        (this.ptr, this.len)
    }

    /// Take back ownership of bytes from `into_raw`.
    ///
    /// # Safety
    /// 1. `(ptr, len)` came from `KmallocBuf::into_raw` and is not owned by anything else.
    pub unsafe fn from_raw(ptr: NonNull<u8>, len: usize) -> Self {
        KmallocBuf { ptr, len }
    }
}

impl Deref for KmallocBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes the handle owns (the invariant).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for KmallocBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref; `&mut self` makes this the only borrow.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for KmallocBuf {
    fn drop(&mut self) {
        // SAFETY: a live kmalloc object the handle owns, freed once.
        unsafe { kfree(self.ptr.as_ptr()) };
    }
}

impl fmt::Debug for KmallocBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KmallocBuf({} bytes at {:p})", self.len, self.ptr)
    }
}
