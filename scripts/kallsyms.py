#!/usr/bin/env python3
"""Fill the kernel's .kallsyms section with function names, in place.

The linker reserves a fixed-size .kallsyms section (linker.ld, KALLSYMS_SIZE;
read by kernel/src/console/kallsyms.rs);
this writes the table into the ELF and into the Image at the same place, so
no address moves. Format (little endian):
  b"KSYM", u32 count, count x (u32 offset from _text, u32 size, u32 name offset), names NUL-terminated.
Usage: kallsyms.py NM ELF IMAGE

Both files are replaced atomically (written under a temporary name in the
same directory, then renamed), under the tree's build lock
(target/.build.lock, flock): scripts/build.sh holds it and passes the
descriptor in BUILD_LOCK_FD; run alone, this takes it itself.
"""
import fcntl
import os
import re
import stat
import struct
import subprocess
import sys
import tempfile

LOCK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", ".build.lock")


def build_lock():
    """Hold the build lock: the descriptor build.sh passed (already ours:
    flock on the same open file is a no-op), else the lock file itself."""
    fd = os.environ.get("BUILD_LOCK_FD")
    if fd and fd.isdigit():
        try:
            fcntl.flock(int(fd), fcntl.LOCK_EX)
            return None
        except OSError:
            pass
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    f = open(LOCK, "a")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def replace_file(path, data):
    """Write `data` to `path` by rename, keeping the file's mode."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def file_offset(elf_bytes, addr):
    """File offset of a virtual address, from the ELF64 section headers."""
    e_shoff, = struct.unpack_from("<Q", elf_bytes, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", elf_bytes, 0x3A)
    def sh(i):
        return struct.unpack_from("<IIQQQQIIQQ", elf_bytes, e_shoff + i * e_shentsize)
    for i in range(e_shnum):
        s = sh(i)
        sh_type, sh_addr, sh_offset, sh_size = s[1], s[3], s[4], s[5]
        if sh_type == 1 and sh_addr <= addr < sh_addr + sh_size:  # PROGBITS
            return sh_offset + (addr - sh_addr)
    raise SystemExit(f"kallsyms: {addr:#x} is in no section with file contents")


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.strip())
    nm, elf, image = sys.argv[1:4]
    _lock = build_lock()
    data = bytearray(open(elf, "rb").read())
    out = subprocess.run([nm, "--defined-only", "-n", "-S", "-C", elf], check=True,
                         capture_output=True, text=True).stdout
    marks = {}
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) in (3, 4) and parts[-1] in ("_text", "__kallsyms_start", "__kallsyms_end"):
            marks[parts[-1]] = int(parts[0], 16)
        parts = line.split(None, 3)
        if len(parts) < 4 or parts[2] not in "tT":
            continue
        syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    if len(marks) != 3:
        raise SystemExit(f"kallsyms: missing linker symbols, found {sorted(marks)}")
    text, addr = marks["_text"], marks["__kallsyms_start"]
    size = marks["__kallsyms_end"] - addr
    off = file_offset(data, addr)
    syms = sorted({(a, s, n) for a, s, n in syms if a >= text})
    names = bytearray()
    entries = bytearray()
    for a, s, n in syms:
        entries += struct.pack("<III", a - text, min(s, 0xffffffff), len(names))
        n = re.sub(r"::h[0-9a-f]{16}$", "", n)  # drop the legacy mangling hash
        names += n.encode()[:200] + b"\0"
    blob = b"KSYM" + struct.pack("<I", len(syms)) + entries + names
    if len(blob) > size:
        raise SystemExit(f"kallsyms: table needs {len(blob)} bytes, .kallsyms has {size}: enlarge it")
    blob = blob + bytes(size - len(blob))
    data[off:off + size] = blob
    img = bytearray(open(image, "rb").read())
    ioff = addr - text
    if len(img) < ioff + size:
        raise SystemExit(f"kallsyms: {image} ends before .kallsyms ({len(img)} < {ioff + size} bytes)")
    img[ioff:ioff + size] = blob
    replace_file(elf, data)
    replace_file(image, img)


if __name__ == "__main__":
    main()
