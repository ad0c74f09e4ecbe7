//! Boot tests: build the kernel once, boot it in QEMU, read what it says.
//!
//! A test describes a machine with the [`Qemu`] builder, boots it with
//! [`Qemu::run`], and checks the [`Outcome`]: the exit code the kernel handed
//! to QEMU through semihosting, and everything it printed.
//!
//! ```text
//!   exit code   0  all self-tests passed        3  panic
//!               1  self-test failures           4  oops (unexpected exception)
//!               2  fatal boot error             5  the command line named a
//!               -  timed out: killed by us         self-test, bench or crash
//!                                                  that does not exist
//! ```
//!
//! A failed check's message names the boot's ending and its failed
//! self-tests (the `<suite>: <name> ... FAILED: <reason>` lines, see
//! [`console`]) before the console's last lines.
//!
//! # How the kernel gets into the machine
//!
//! ```text
//!   Boot::Image         -kernel Image       QEMU's loader: RAM base + 2 MiB, x0 = its DTB
//!   Boot::Elf           -kernel kernel      the ELF at its link address, x0 = 0
//!   Boot::Stub{..}      -bios <stub>        40 bytes of ours: x0 = a DTB, jump to the
//!                                           Image placed at any base by -device loader
//!   Boot::UBoot{..}     -bios u-boot.bin    U-Boot's booti, typed on its console
//! ```
//!
//! With `-bios` on `virt`, QEMU copies its generated DTB to the start of RAM
//! ([`VIRT_DTB_ADDR`]) for the firmware, and keeps the secondary CPUs powered
//! off behind its PSCI emulation, as with `-kernel`. `-append` needs
//! `-kernel`, so stub and U-Boot boots run with an empty command line.
//!
//! # Console
//!
//! The PL011 and the semihosting console share one chardev on QEMU's stdout,
//! so a kernel that has no UART yet (no device tree) can still be heard, and
//! the log reads in order. QEMU's own messages arrive on stderr. The chardev
//! is a mux, so input on stdin (U-Boot commands, the kernel's `shell`)
//! goes to the PL011 (with [`Qemu::second_serial`], the second UART). The
//! [`Qemu::expect_send`] steps type on it; [`Qemu::eof_after_script`]
//! closes QEMU's stdin after the last one, as a piped script ends.
//! [`Qemu::second_serial`] puts the chardev on QEMU's second serial port
//! instead (raspi4b's mini UART), and [`Qemu::no_semihosting`] leaves
//! semihosting off, as on hardware: the run then ends only when the kernel
//! powers the machine off (QEMU exits 0), and the verdict is the log's.
//!
//! # Build, parallelism, environment
//!
//! The first boot in a test process runs `scripts/build.sh` (once, under a
//! `OnceLock`); if it fails, every boot fails with its output. Cargo runs tests
//! on parallel threads; a counting semaphore lets only a few QEMUs run at
//! once, and a boot's timeout starts when it gets its slot. After two boots
//! have timed out, the rest get a short timeout ([`HANGING_TIMEOUT`]).
//!
//! - `BOOT_TESTS_JOBS=N`: QEMUs at once (default 2, or fewer host CPUs).
//! - `BOOT_TESTS_NO_BUILD=1`: boot what `target/` holds; do not build.
//! - `BOOT_TESTS_VERBOSE=1`: print every boot's log, not only failures'
//!   (cargo shows it with `-- --nocapture`).
//! - `BOOT_TESTS_PROGRESS=1`: a line per test on stderr as it finishes, and
//!   a failing test's summary (see [`progress`]); `scripts/test.sh` sets it.
//! - `BOOT_TESTS_PROFILE=dev`: boot the debug build (`scripts/build.sh
//!   --debug`, `target/.../debug/`) instead of the release one.

pub mod console;
pub mod format;
pub mod progress;

pub use console::{SelftestResult, exit_code_meaning};

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The kernel's target triple.
pub const TARGET: &str = "aarch64-unknown-none-softfloat";
/// The QEMU we drive.
pub const QEMU: &str = "qemu-system-aarch64";
/// Debian's (u-boot-qemu) U-Boot for `-M virt`.
pub const UBOOT_BIN: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";

/// The self-test suites that take milliseconds: every suite `selftest=all`
/// runs but irq (its spurious-interrupt test takes half a second), vmalloc,
/// sched, cma and compaction (seconds of migration). For boots whose subject
/// is not the memory manager, such as deliberate crashes: they still see the
/// kernel up and self-tests pass first, and the boot tests run every suite.
pub const QUICK_SUITES: &str = "fdt,memblock,mmu,exceptions,timer,smp,zones,pages,slub,heap,percpu,asid,debug_pagealloc,uaccess,migrate,programs,stack";

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
/// Where RAM starts on `-M virt`.
pub const VIRT_RAM_BASE: u64 = 0x4000_0000;
/// Where QEMU puts its DTB for `-bios` firmware on `-M virt` (1 MiB blob).
pub const VIRT_DTB_ADDR: u64 = VIRT_RAM_BASE;
/// Alignment of an arm64 Image's load address (Documentation/arch/arm64/booting.rst).
pub const IMAGE_ALIGN: u64 = 2 * MIB;
/// How long a boot may take before we kill QEMU and fail the test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Once [`HANGS_BEFORE_CUT`] boots in this process have timed out, the kernel
/// is taken to hang and later boots get at most this long, so that a hanging
/// kernel fails the run in minutes rather than most of an hour.
pub const HANGING_TIMEOUT: Duration = Duration::from_secs(15);
pub const HANGS_BEFORE_CUT: u32 = 2;

/// U-Boot's `$kernel_addr_r` on qemu_arm64: where [`Boot::UBoot`] puts the Image.
pub const UBOOT_KERNEL_ADDR: u64 = 0x4040_0000;

// ---------------------------------------------------------------------------
// The build

/// The build products a boot needs.
#[derive(Debug)]
pub struct Kernel {
    /// The ELF, with symbols.
    pub elf: PathBuf,
    /// The flat arm64 Image.
    pub image: PathBuf,
    /// Device trees compiled from `dts/`.
    pub dtb_dir: PathBuf,
}

impl Kernel {
    /// `target/dtb/<name>.dtb`.
    pub fn dtb(&self, name: &str) -> PathBuf {
        self.dtb_dir.join(format!("{name}.dtb"))
    }

    /// The Image header's `image_size`: bytes from the load address that the
    /// kernel needs (text, data, bss, early stacks), or the file size if the
    /// header leaves it 0.
    pub fn image_size(&self) -> u64 {
        let bytes = std::fs::read(&self.image).unwrap_or_else(|e| panic!("cannot read {}: {e}", self.image.display()));
        let field = bytes.get(16..24).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).unwrap_or(0);
        if field == 0 { bytes.len() as u64 } else { field }
    }
}

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The build products, building them first if this process has not yet.
///
/// Panics (fails the test) with build.sh's output if the build fails.
pub fn kernel() -> &'static Kernel {
    static KERNEL: OnceLock<Result<Kernel, String>> = OnceLock::new();
    match KERNEL.get_or_init(build) {
        Ok(kernel) => kernel,
        Err(why) => panic!("{why}"),
    }
}

pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `BOOT_TESTS_PROFILE`: `release` (the default) or `dev`.
fn profile() -> Result<(&'static str, &'static str), String> {
    match std::env::var("BOOT_TESTS_PROFILE").as_deref() {
        Err(_) | Ok("" | "release") => Ok(("release", "release")),
        Ok("dev" | "debug") => Ok(("dev", "debug")),
        Ok(other) => Err(format!("BOOT_TESTS_PROFILE={other}: expected release or dev")),
    }
}

fn build() -> Result<Kernel, String> {
    let root = repo_root();
    let (profile, dir) = profile()?;
    if !env_flag("BOOT_TESTS_NO_BUILD") {
        let out = Command::new("bash")
            .arg(root.join("scripts/build.sh"))
            .env("BUILD_PROFILE", profile)
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run scripts/build.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/build.sh failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let out = root.join("target").join(TARGET).join(dir);
    let kernel = Kernel { elf: out.join("kernel"), image: out.join("Image"), dtb_dir: root.join("target/dtb") };
    for path in [&kernel.elf, &kernel.image] {
        if !path.is_file() {
            return Err(format!("{} is missing: run scripts/build.sh", path.display()));
        }
    }
    Ok(kernel)
}

// ---------------------------------------------------------------------------
// Scratch files

/// A file under `target/boot-tests/`, removed on drop.
#[derive(Debug)]
pub struct ScratchFile {
    path: PathBuf,
}

impl ScratchFile {
    /// A fresh path (nothing written yet) whose name ends in `suffix`.
    pub fn new(suffix: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = repo_root().join("target/boot-tests");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{}-{n}-{suffix}", std::process::id()));
        Self { path }
    }

    /// A fresh file holding `bytes`.
    pub fn with_bytes(suffix: &str, bytes: &[u8]) -> Self {
        let file = Self::new(suffix);
        std::fs::write(&file.path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", file.path.display()));
        file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------
// The boot stub

/// Firmware for `-bios` on `virt`: enters the Image at `image_addr` the way
/// Documentation/arch/arm64/booting.rst asks, x0 = `dtb_addr`, x1..x3 = 0.
///
/// ```text
///   0x00  580000c0  ldr x0, 0x18
///   0x04  580000e4  ldr x4, 0x20
///   0x08  aa1f03e1  mov x1, xzr
///   0x0c  aa1f03e2  mov x2, xzr
///   0x10  aa1f03e3  mov x3, xzr
///   0x14  d61f0080  br  x4
///   0x18  dtb_addr   (u64, little-endian)
///   0x20  image_addr (u64, little-endian)
/// ```
pub fn boot_stub(dtb_addr: u64, image_addr: u64) -> Vec<u8> {
    const CODE: [u32; 6] = [0x5800_00c0, 0x5800_00e4, 0xaa1f_03e1, 0xaa1f_03e2, 0xaa1f_03e3, 0xd61f_0080];
    let mut stub = Vec::with_capacity(40);
    for insn in CODE {
        stub.extend_from_slice(&insn.to_le_bytes());
    }
    stub.extend_from_slice(&dtb_addr.to_le_bytes());
    stub.extend_from_slice(&image_addr.to_le_bytes());
    stub
}

// ---------------------------------------------------------------------------
// Device tree blobs

/// Header fields of a flattened device tree (big-endian u32s), by offset.
pub mod fdt_header {
    pub const MAGIC: usize = 0;
    pub const TOTALSIZE: usize = 4;
    pub const OFF_DT_STRUCT: usize = 8;
    pub const OFF_DT_STRINGS: usize = 12;
    pub const OFF_MEM_RSVMAP: usize = 16;
    pub const VERSION: usize = 20;
    pub const SIZE_DT_STRUCT: usize = 36;
    pub const FDT_MAGIC: u32 = 0xd00d_feed;
}

/// Reads the big-endian u32 at `offset` of a DTB.
pub fn fdt_get(blob: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes(blob[offset..offset + 4].try_into().expect("4 bytes"))
}

/// Writes the big-endian u32 at `offset` of a DTB.
pub fn fdt_set(blob: &mut [u8], offset: usize, value: u32) {
    blob[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
}

fn run_tool(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (run scripts/setup.sh): {e}"));
    if !out.status.success() {
        panic!("{program} {} failed ({}):\n{}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
    }
    out.stdout
}

/// Deletes every root node named `memory` or `memory@...` from a DTB
/// (with `fdtget`/`fdtput` from dtc).
pub fn fdt_without_memory(blob: &[u8]) -> Vec<u8> {
    let file = ScratchFile::with_bytes("nomem.dtb", blob);
    let path = file.path().to_str().expect("UTF-8 scratch path");
    let nodes = String::from_utf8(run_tool("fdtget", &["-l", path, "/"])).expect("UTF-8");
    let mut removed = 0;
    for node in nodes.lines().map(str::trim) {
        if node == "memory" || node.starts_with("memory@") {
            run_tool("fdtput", &["-r", path, &format!("/{node}")]);
            removed += 1;
        }
    }
    assert!(removed > 0, "no memory node to remove in {path}");
    std::fs::read(file.path()).expect("read back the DTB")
}

/// `blob` after running `fdtput` (or `fdtget`, if an edit starts with
/// "fdtget") once per edit, with `%` in an edit's arguments standing for the
/// blob's file; each edit is that tool's argument list.
pub fn fdt_edit(blob: &[u8], edits: &[Vec<String>]) -> Vec<u8> {
    let file = ScratchFile::with_bytes("edit.dtb", blob);
    let path = file.path().to_str().expect("UTF-8 scratch path");
    for edit in edits {
        let args: Vec<&str> = edit.iter().map(|a| if a == "%" { path } else { a.as_str() }).collect();
        run_tool("fdtput", &args);
    }
    std::fs::read(file.path()).expect("read back the DTB")
}

/// `blob` with one more PSCI CPU in /cpus, MPIDR `mpidr`: a CPU the machine
/// does not have, so CPU_ON fails for it.
pub fn fdt_with_extra_cpu(blob: &[u8], mpidr: u32) -> Vec<u8> {
    let file = ScratchFile::with_bytes("extracpu.dtb", blob);
    let path = file.path().to_str().expect("UTF-8 scratch path");
    let node = format!("/cpus/cpu@{mpidr:x}");
    run_tool("fdtput", &["-c", path, &node]);
    run_tool("fdtput", &["-t", "s", path, &node, "device_type", "cpu"]);
    run_tool("fdtput", &["-t", "s", path, &node, "compatible", "arm,cortex-a72"]);
    run_tool("fdtput", &["-t", "x", path, &node, "reg", &format!("{mpidr:x}")]);
    run_tool("fdtput", &["-t", "s", path, &node, "enable-method", "psci"]);
    std::fs::read(file.path()).expect("read back the DTB")
}

/// `blob` with /distance-map replaced by exactly these (from, to, distance)
/// entries (created if missing).
pub fn fdt_with_distance_map(blob: &[u8], entries: &[(u32, u32, u32)]) -> Vec<u8> {
    let file = ScratchFile::with_bytes("distmap.dtb", blob);
    let path = file.path().to_str().expect("UTF-8 scratch path");
    let nodes = String::from_utf8(run_tool("fdtget", &["-l", path, "/"])).expect("UTF-8");
    if !nodes.lines().any(|n| n.trim() == "distance-map") {
        run_tool("fdtput", &["-c", path, "/distance-map"]);
        run_tool("fdtput", &["-t", "s", path, "/distance-map", "compatible", "numa-distance-map-v1"]);
    }
    let mut args: Vec<String> =
        ["-t", "u", path, "/distance-map", "distance-matrix"].iter().map(|s| s.to_string()).collect();
    for &(a, b, d) in entries {
        args.extend([a.to_string(), b.to_string(), d.to_string()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_tool("fdtput", &refs);
    std::fs::read(file.path()).expect("read back the DTB")
}

// ---------------------------------------------------------------------------
// Sizes

/// Parses a QEMU `-m` size (`512`, `128M`, `4G`, `1T`; no suffix means MiB)
/// into MiB.
pub fn parse_size_mib(size: &str) -> Option<u64> {
    let size = size.trim();
    let (digits, shift) = match size.char_indices().last()? {
        (i, 'M' | 'm') => (&size[..i], 0),
        (i, 'G' | 'g') => (&size[..i], 10),
        (i, 'T' | 't') => (&size[..i], 20),
        _ => (size, 0),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1 << shift).filter(|&mib| mib > 0)
}

// ---------------------------------------------------------------------------
// The QEMU builder

/// The board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `-M virt`: GICv2, PL011 at 0x0900_0000, RAM from 0x4000_0000, PSCI.
    Virt,
    /// `-M raspi4b`: 4 x Cortex-A72, 2 GiB, spin-table; needs `-dtb`.
    Raspi4b,
}

/// How the kernel is loaded and entered. See the crate docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// `-kernel Image`.
    Image,
    /// `-kernel kernel` (the ELF): entered with x0 = 0.
    Elf,
    /// `-bios` [`boot_stub`]; the Image at `base`, x0 = `dtb`.
    Stub { base: u64, dtb: u64 },
    /// `-bios` U-Boot, the Image at `base`; [`Qemu::run`] stops autoboot
    /// and types `setenv bootargs` (for [`Qemu::append`]) and
    /// `booti base - ${fdtcontroladdr}`.
    UBoot { base: u64 },
}

/// A QEMU invocation, built up and then [`run`](Qemu::run).
#[derive(Clone, Debug)]
pub struct Qemu {
    machine: Machine,
    cpu: Option<String>,
    smp: Option<u32>,
    mem: Option<String>,
    el2: bool,
    numa: Option<u32>,
    append: Option<String>,
    dtb: Option<PathBuf>,
    boot: Boot,
    blobs: Vec<(Vec<u8>, u64)>,
    extra: Vec<String>,
    script: Vec<(String, String)>,
    eof_after_script: bool,
    timeout: Duration,
    second_serial: bool,
    semihosting: bool,
    image: Option<PathBuf>,
    initrd: Option<Vec<u8>>,
}

impl Qemu {
    /// `-M virt`, Cortex-A72, 4 CPUs, 1 GiB, `-kernel Image`.
    pub fn virt() -> Self {
        Self {
            machine: Machine::Virt,
            cpu: Some("cortex-a72".into()),
            smp: Some(4),
            mem: Some("1G".into()),
            el2: false,
            numa: None,
            append: None,
            dtb: None,
            boot: Boot::Image,
            blobs: Vec::new(),
            extra: Vec::new(),
            script: Vec::new(),
            eof_after_script: false,
            timeout: DEFAULT_TIMEOUT,
            second_serial: false,
            semihosting: true,
            image: None,
            initrd: None,
        }
    }

    /// `-M raspi4b -dtb target/dtb/raspi4b.dtb -kernel Image`; CPUs and RAM
    /// are the board's.
    pub fn raspi4b() -> Self {
        Self {
            machine: Machine::Raspi4b,
            cpu: None,
            smp: None,
            mem: None,
            dtb: Some(kernel().dtb("raspi4b")),
            ..Self::virt()
        }
    }

    pub fn cpu(mut self, cpu: &str) -> Self {
        self.cpu = Some(cpu.into());
        self
    }

    pub fn smp(mut self, cpus: u32) -> Self {
        self.smp = Some(cpus);
        self
    }

    /// RAM size as QEMU's `-m` takes it: `128M`, `4G`.
    pub fn mem(mut self, size: &str) -> Self {
        self.mem = Some(size.into());
        self
    }

    /// Enter the kernel at EL2 (`-M virt,virtualization=on`).
    pub fn el2(mut self) -> Self {
        self.el2 = true;
        self
    }

    /// `nodes` NUMA nodes of equal size, CPUs shared out in order.
    pub fn numa(mut self, nodes: u32) -> Self {
        self.numa = Some(nodes);
        self
    }

    /// The kernel command line (`-append`; only with `-kernel`).
    pub fn append(mut self, cmdline: &str) -> Self {
        self.append = Some(cmdline.into());
        self
    }

    /// `-initrd` with these bytes: QEMU places them in RAM and names them
    /// in /chosen (`linux,initrd-start`/`-end`). `-kernel` boots only.
    pub fn initrd(mut self, bytes: Vec<u8>) -> Self {
        self.initrd = Some(bytes);
        self
    }

    /// `-dtb file` instead of the board's generated tree.
    pub fn dtb(mut self, path: impl Into<PathBuf>) -> Self {
        self.dtb = Some(path.into());
        self
    }

    pub fn boot(mut self, boot: Boot) -> Self {
        self.boot = boot;
        self
    }

    /// Boots through [`boot_stub`] with the Image at `base` and x0 = QEMU's
    /// own DTB.
    pub fn stub(self, base: u64) -> Self {
        self.boot(Boot::Stub { base, dtb: VIRT_DTB_ADDR })
    }

    /// Places `bytes` at physical `addr` (`-device loader,force-raw=on`).
    pub fn load_blob(mut self, bytes: Vec<u8>, addr: u64) -> Self {
        self.blobs.push((bytes, addr));
        self
    }

    /// Boots through [`boot_stub`] with the Image at `image_base` and x0 =
    /// `dtb`, a blob of our own placed at `dtb_addr`.
    pub fn stub_with_dtb(self, image_base: u64, dtb: Vec<u8>, dtb_addr: u64) -> Self {
        self.load_blob(dtb, dtb_addr).boot(Boot::Stub { base: image_base, dtb: dtb_addr })
    }

    /// Extra QEMU arguments, appended last.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra.extend(args.into_iter().map(Into::into));
        self
    }

    /// Once the console output (after the previous step's match) contains
    /// `wait_for`, type `send` on the console.
    pub fn expect_send(mut self, wait_for: &str, send: &str) -> Self {
        self.script.push((wait_for.into(), send.into()));
        self
    }

    /// Close QEMU's stdin once every [`expect_send`](Qemu::expect_send)
    /// step has been typed: the console's input ends there.
    pub fn eof_after_script(mut self) -> Self {
        self.eof_after_script = true;
        self
    }

    /// The console chardev on QEMU's second serial port (`-serial null
    /// -serial chardev:con`): on `raspi4b` the mini UART, not the PL011.
    pub fn second_serial(mut self) -> Self {
        self.second_serial = true;
        self
    }

    /// Boot this Image file instead of the build's (`-kernel` or the
    /// stub's loader), e.g. a `kernel8.img` taken out of an SD card image.
    pub fn image_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.image = Some(path.into());
        self
    }

    /// No semihosting, as on hardware: the kernel cannot hand QEMU its exit
    /// code, and the run ends only if the kernel powers the machine off.
    pub fn no_semihosting(mut self) -> Self {
        self.semihosting = false;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// RAM size in bytes, if known (virt's QEMU default is 128 MiB).
    pub fn mem_bytes(&self) -> Option<u64> {
        match (&self.mem, self.machine) {
            (Some(size), _) => parse_size_mib(size).map(|mib| mib * MIB),
            (None, Machine::Virt) => Some(128 * MIB),
            (None, Machine::Raspi4b) => None,
        }
    }

    fn machine_arg(&self, extra_props: &str) -> String {
        let mut arg = String::from(match self.machine {
            Machine::Virt => "virt",
            Machine::Raspi4b => "raspi4b",
        });
        if self.el2 {
            arg.push_str(",virtualization=on");
        }
        arg.push_str(extra_props);
        arg
    }

    /// Everything but the console and the boot source.
    fn board_args(&self, machine_props: &str) -> Vec<String> {
        let mut args = vec!["-M".to_string(), self.machine_arg(machine_props)];
        if let Some(cpu) = &self.cpu {
            args.extend(["-cpu".into(), cpu.clone()]);
        }
        match (self.smp, self.numa) {
            (Some(smp), None) => args.extend(["-smp".into(), smp.to_string()]),
            // One socket per CPU, or QEMU warns about clusters split between nodes.
            (Some(smp), Some(_)) => {
                args.extend(["-smp".into(), format!("{smp},sockets={smp},cores=1")]);
            }
            (None, _) => {}
        }
        if let Some(mem) = &self.mem {
            args.extend(["-m".into(), mem.clone()]);
        }
        if let Some(nodes) = self.numa {
            let mem_mib = self.mem_bytes().expect("--numa needs a RAM size") / MIB;
            args.extend(numa_args(nodes, self.smp.unwrap_or(1), mem_mib));
        }
        if let Some(dtb) = &self.dtb {
            args.extend(["-dtb".into(), path_arg(dtb)]);
        }
        args
    }

    /// The QEMU arguments; files they name are kept alive in `scratch`.
    fn qemu_args(&self, kernel: &Kernel, scratch: &mut Vec<ScratchFile>) -> Vec<String> {
        let mut args = vec![
            "-nodefaults".to_string(),
            "-display".into(),
            "none".into(),
            "-chardev".into(),
            "stdio,id=con,mux=on".into(),
        ];
        if self.second_serial {
            args.extend(["-serial".into(), "null".into()]);
        }
        args.extend(["-serial".into(), "chardev:con".into()]);
        if self.semihosting {
            args.extend(["-semihosting-config".into(), "enable=on,target=native,chardev=con".into()]);
        }
        args.extend(self.board_args(""));
        let load = |args: &mut Vec<String>, file: &Path, addr: u64| {
            args.extend(["-device".into(), format!("loader,file={},addr={addr:#x},force-raw=on", path_arg(file))]);
        };
        match self.boot {
            Boot::Image => args.extend(["-kernel".into(), path_arg(self.image.as_ref().unwrap_or(&kernel.image))]),
            Boot::Elf => args.extend(["-kernel".into(), path_arg(&kernel.elf)]),
            Boot::Stub { base, dtb } => {
                let stub = ScratchFile::with_bytes("stub.bin", &boot_stub(dtb, base));
                args.extend(["-bios".into(), path_arg(stub.path())]);
                load(&mut args, self.image.as_ref().unwrap_or(&kernel.image), base);
                scratch.push(stub);
            }
            Boot::UBoot { base } => {
                args.extend(["-bios".into(), UBOOT_BIN.into()]);
                load(&mut args, &kernel.image, base);
            }
        }
        for (bytes, addr) in &self.blobs {
            let blob = ScratchFile::with_bytes("blob.bin", bytes);
            load(&mut args, blob.path(), *addr);
            scratch.push(blob);
        }
        if let Some(cmdline) = &self.append {
            match self.boot {
                Boot::Image | Boot::Elf => args.extend(["-append".into(), cmdline.clone()]),
                // Typed at U-Boot's prompt instead; see console_script.
                Boot::UBoot { .. } => {}
                Boot::Stub { .. } => panic!("-append needs -kernel: no command line with the stub"),
            }
        }
        if let Some(bytes) = &self.initrd {
            assert!(matches!(self.boot, Boot::Image | Boot::Elf), "-initrd needs -kernel");
            let file = ScratchFile::with_bytes("initrd.img", bytes);
            args.extend(["-initrd".into(), path_arg(file.path())]);
            scratch.push(file);
        }
        args.extend(self.extra.iter().cloned());
        args
    }

    /// What to type on the console and when: the [`expect_send`](Qemu::expect_send)
    /// steps, else for [`Boot::UBoot`] the commands that boot the Image.
    fn console_script(&self) -> Vec<(String, String)> {
        let Boot::UBoot { base } = self.boot else {
            return self.script.clone();
        };
        if !self.script.is_empty() {
            return self.script.clone();
        }
        let prompt = "=> ".to_string();
        let mut script = vec![("Hit any key to stop autoboot".to_string(), "\n".to_string())];
        if let Some(cmdline) = &self.append {
            // Single quotes: U-Boot's shell takes what is inside as it is.
            assert!(!cmdline.contains('\''), "U-Boot bootargs cannot hold a ' here");
            script.push((prompt.clone(), format!("setenv bootargs '{cmdline}'\n")));
        }
        script.push((prompt, format!("booti {base:#x} - ${{fdtcontroladdr}}\n")));
        script
    }

    /// The device tree QEMU generates for this machine (`dumpdtb`); `virt` only.
    pub fn dump_dtb(&self) -> Vec<u8> {
        let file = ScratchFile::new("dump.dtb");
        let props = format!(",dumpdtb={}", path_arg(file.path()));
        let mut args = vec!["-nodefaults".to_string(), "-display".into(), "none".into()];
        args.extend(self.board_args(&props));
        run_tool(QEMU, &args.iter().map(String::as_str).collect::<Vec<_>>());
        std::fs::read(file.path()).unwrap_or_else(|e| panic!("QEMU wrote no DTB to {}: {e}", file.path().display()))
    }

    /// The command line [`run`](Qemu::run) would use, shell-quoted (scratch
    /// file names are placeholders).
    pub fn command_line(&self) -> String {
        let mut scratch = Vec::new();
        shell_line(QEMU, &self.qemu_args(kernel(), &mut scratch))
    }

    /// Builds the kernel if needed, waits for a QEMU slot, boots, and returns
    /// when QEMU exits or the timeout kills it.
    pub fn run(&self) -> Outcome {
        let kernel = kernel();
        let mut scratch = Vec::new();
        let args = self.qemu_args(kernel, &mut scratch);
        let command = shell_line(QEMU, &args);
        let steps = self.console_script();

        let _slot = Slot::acquire();
        let hangs = HANGS.load(Ordering::Relaxed);
        let timeout = if hangs >= HANGS_BEFORE_CUT { self.timeout.min(HANGING_TIMEOUT) } else { self.timeout };
        let start = Instant::now();
        let child = Command::new(QEMU)
            .args(&args)
            .stdin(if steps.is_empty() { Stdio::null() } else { Stdio::piped() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {QEMU} (run scripts/setup.sh): {e}"));
        let mut child = KillOnDrop(child);
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            drain(child.0.stdout.take().expect("piped"), Arc::clone(&log)),
            drain(child.0.stderr.take().expect("piped"), Arc::clone(&err)),
        ];
        let mut stdin = child.0.stdin.take();
        let mut script = Script::new(&steps);

        let mut timed_out = false;
        let mut cpu_time = None;
        let status: Option<ExitStatus> = loop {
            if let Some(stdin) = stdin.as_mut() {
                script.feed(&log.lock().expect("log lock"), stdin);
            }
            if self.eof_after_script && script.done() {
                stdin = None;
            }
            cpu_time = process_cpu_time(child.0.id()).or(cpu_time);
            match child.0.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) => {}
                Err(e) => panic!("waiting for {QEMU}: {e}"),
            }
            if start.elapsed() >= timeout {
                timed_out = true;
                HANGS.fetch_add(1, Ordering::Relaxed);
                let _ = child.0.kill();
                let _ = child.0.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(10));
        };
        let elapsed = start.elapsed();
        drop(stdin);
        for reader in readers {
            let _ = reader.join();
        }
        let text =
            |buf: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&buf.lock().expect("output lock")).replace('\r', "");
        let tracked = progress::enabled();
        if tracked {
            progress::boot_started(elapsed);
        }
        let outcome = Outcome {
            command,
            exit_code: status.and_then(|s| s.code()),
            timed_out,
            timeout_cut: (timeout < self.timeout).then_some(hangs),
            elapsed,
            log: text(&log),
            stderr: text(&err),
            cpu_time,
            why: Mutex::new(None),
            tracked,
        };
        if env_flag("BOOT_TESTS_VERBOSE") {
            println!("{}\n{}", outcome.command, outcome.log);
        }
        outcome
    }
}

/// `-object memory-backend-ram` and `-numa node` arguments for `nodes` equal
/// nodes over `mem_mib` MiB and `cpus` CPUs: CPU c goes to node
/// `c * nodes / cpus` (contiguous runs, the first nodes first when CPUs are
/// scarce; such nodes beyond the CPU count are memory-only), and the last
/// node takes any remainder of RAM.
pub fn numa_args(nodes: u32, cpus: u32, mem_mib: u64) -> Vec<String> {
    let nodes = nodes.max(1);
    let per_node = mem_mib / u64::from(nodes);
    let mut args = Vec::new();
    for i in 0..nodes {
        let size = if i + 1 == nodes { mem_mib - per_node * u64::from(nodes - 1) } else { per_node };
        args.extend(["-object".to_string(), format!("memory-backend-ram,id=m{i},size={size}M")]);
        let mine: Vec<u32> = (0..cpus).filter(|c| c * nodes / cpus == i).collect();
        let mut node = format!("node,nodeid={i}");
        match mine.as_slice() {
            [] => {}
            [only] => {
                let _ = write!(node, ",cpus={only}");
            }
            [first, .., last] => {
                let _ = write!(node, ",cpus={first}-{last}");
            }
        }
        let _ = write!(node, ",memdev=m{i}");
        args.extend(["-numa".to_string(), node]);
    }
    args
}

fn path_arg(path: &Path) -> String {
    path.to_str().unwrap_or_else(|| panic!("{} is not UTF-8", path.display())).to_string()
}

fn shell_line(program: &str, args: &[String]) -> String {
    let mut line = program.to_string();
    for arg in args {
        let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_=,.:/@+".contains(c));
        if plain {
            let _ = write!(line, " {arg}");
        } else {
            let _ = write!(line, " '{}'", arg.replace('\'', r"'\''"));
        }
    }
    line
}

/// Boots in this process that timed out.
static HANGS: AtomicU32 = AtomicU32::new(0);

/// The CPU time (user + system) process `pid` has used so far, from
/// /proc/PID/stat (Linux; `None` elsewhere or once it is gone). The stat
/// counts in USER_HZ ticks, 100 a second on every Linux architecture.
fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold blanks).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Kills and reaps QEMU if the test panics while it runs.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().expect("output lock").extend_from_slice(&buf[..n]),
            }
        }
    })
}

/// Progress through [`Qemu::expect_send`] steps.
struct Script<'a> {
    steps: &'a [(String, String)],
    next: usize,
    search_from: usize,
}

impl<'a> Script<'a> {
    fn new(steps: &'a [(String, String)]) -> Self {
        Self { steps, next: 0, search_from: 0 }
    }

    /// Whether every step has been typed.
    fn done(&self) -> bool {
        self.next == self.steps.len()
    }

    fn feed(&mut self, log: &[u8], stdin: &mut ChildStdin) {
        while let Some((wait_for, send)) = self.steps.get(self.next) {
            let seen = &log[self.search_from.min(log.len())..];
            let Some(at) = find(seen, wait_for.as_bytes()) else {
                return;
            };
            self.search_from += at + wait_for.len();
            self.next += 1;
            // QEMU may be gone already; try_wait in the caller will see that.
            let _ = stdin.write_all(send.as_bytes()).and_then(|()| stdin.flush());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// At most `jobs()` QEMUs at once

struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| Slots { free: Mutex::new(jobs()), freed: Condvar::new() })
}

/// `BOOT_TESTS_JOBS`, else 2 or the host's CPU count if smaller.
fn jobs() -> usize {
    if let Some(n) = std::env::var("BOOT_TESTS_JOBS").ok().and_then(|v| v.parse().ok()) {
        return usize::max(n, 1);
    }
    thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// One running QEMU's share of the host.
struct Slot;

impl Slot {
    fn acquire() -> Self {
        let slots = slots();
        // A test that panicked holding the lock cannot have left the count
        // wrong (it is only changed under the lock), so poisoning is ignored.
        let mut free = slots.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = slots.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let slots = slots();
        *slots.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        slots.freed.notify_one();
    }
}

// ---------------------------------------------------------------------------
// Outcome

/// What a boot did.
#[derive(Debug)]
pub struct Outcome {
    /// The QEMU command line, shell-quoted.
    pub command: String,
    /// QEMU's exit code: the kernel's, through semihosting. `None` if killed.
    pub exit_code: Option<i32>,
    /// We killed QEMU at the timeout.
    pub timed_out: bool,
    /// The timeout was cut to [`HANGING_TIMEOUT`] because this many earlier
    /// boots had timed out.
    pub timeout_cut: Option<u32>,
    /// From start to exit (or to the kill).
    pub elapsed: Duration,
    /// Serial and semihosting console, `\r` removed.
    pub log: String,
    /// QEMU's own messages.
    pub stderr: String,
    /// The CPU time QEMU had used when last seen (within 10 ms of its end
    /// or of the kill), where the host tells (Linux's /proc).
    pub cpu_time: Option<Duration>,
    /// The message of the check that failed ([`Outcome::fail`]).
    why: Mutex<Option<String>>,
    /// Counted for [`progress`] (a clone is not).
    tracked: bool,
}

impl Clone for Outcome {
    fn clone(&self) -> Self {
        Self {
            command: self.command.clone(),
            exit_code: self.exit_code,
            timed_out: self.timed_out,
            timeout_cut: self.timeout_cut,
            elapsed: self.elapsed,
            log: self.log.clone(),
            stderr: self.stderr.clone(),
            cpu_time: self.cpu_time,
            why: Mutex::new(self.failure_reason()),
            tracked: false,
        }
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if self.tracked {
            progress::boot_dropped(thread::panicking().then(|| self.boot_failure()));
        }
    }
}

/// Lines of log shown when a check fails.
const TAIL_LINES: usize = 40;

impl Outcome {
    pub fn contains(&self, text: &str) -> bool {
        self.log.contains(text)
    }

    /// The first log line containing `text`.
    pub fn line_with(&self, text: &str) -> Option<&str> {
        self.log.lines().find(|line| line.contains(text))
    }

    /// `(passed, failed)` from the last `selftest: N passed, M failed` line
    /// (alone on its line, or after a `[    0.123456]` timestamp).
    pub fn selftest(&self) -> Option<(u32, u32)> {
        self.log.lines().rev().find_map(console::parse_selftest_line)
    }

    /// The self-tests that reported `... FAILED: <reason>`, in log order.
    pub fn failed_selftests(&self) -> Vec<SelftestResult<'_>> {
        self.log.lines().filter_map(console::parse_selftest_result).filter(|r| r.failure.is_some()).collect()
    }

    /// A finished boot with this log, for the harness's own tests.
    #[cfg(test)]
    pub(crate) fn sample(log: &str, exit_code: Option<i32>, elapsed: Duration) -> Self {
        Self {
            command: "qemu-system-aarch64 -M virt".into(),
            exit_code,
            timed_out: exit_code.is_none(),
            timeout_cut: None,
            elapsed,
            log: log.into(),
            stderr: String::new(),
            cpu_time: None,
            why: Mutex::new(None),
            tracked: false,
        }
    }

    /// How the boot ended: `exit code 4 (oops: ...) after 1.2s`, `TIMED OUT
    /// after 60.0s, killed`, ...
    pub fn ending(&self) -> String {
        let after = progress::secs(self.elapsed);
        match (self.timed_out, self.exit_code) {
            (true, _) => match self.timeout_cut {
                Some(hangs) => format!(
                    "TIMED OUT after {after}, killed (timeout cut to {}: {hangs} earlier boots timed out)",
                    progress::secs(HANGING_TIMEOUT)
                ),
                None => format!("TIMED OUT after {after}, killed"),
            },
            // QEMU's own errors exit 1 too: the kernel's 1 comes with its verdict.
            (false, Some(1)) if !matches!(self.selftest(), Some((_, failed)) if failed > 0) => {
                format!("exit code 1 (QEMU's own error: the kernel printed no failing selftest line) after {after}")
            }
            (false, Some(code)) => format!("exit code {code} ({}) after {after}", exit_code_meaning(code)),
            (false, None) => format!("QEMU killed by a signal after {after}"),
        }
    }

    /// What a failing test's summary says about this boot.
    pub fn boot_failure(&self) -> progress::BootFailure {
        progress::BootFailure {
            why: self.failure_reason(),
            ended: self.ending(),
            failed_selftests: self.failed_selftests().iter().map(|r| r.text.to_string()).collect(),
        }
    }

    /// The message [`fail`](Outcome::fail) was given, if it was called.
    pub fn failure_reason(&self) -> Option<String> {
        self.why.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The last `lines` lines of the log.
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// A description of the boot for a failure message: command line, how it
    /// ended (the exit code and what it means), the failed self-tests, the
    /// log's tail and QEMU's stderr.
    pub fn report(&self) -> String {
        let ended = self.ending();
        let mut report = format!("  command: {}\n  {ended}\n", self.command);
        let failed = self.failed_selftests();
        if !failed.is_empty() {
            let _ = writeln!(report, "--- failed self-tests ({}) ---", failed.len());
            for t in &failed {
                let _ = writeln!(report, "{}", t.text);
            }
        }
        let total = self.log.lines().count();
        let shown = total.min(TAIL_LINES);
        let _ = writeln!(report, "--- console, last {shown} of {total} lines ---");
        let _ = writeln!(report, "{}", self.tail(TAIL_LINES));
        if !self.stderr.trim().is_empty() {
            let _ = writeln!(report, "--- qemu stderr ---\n{}", self.stderr.trim_end());
        }
        report
    }

    /// Fails the test with `why` and the [`report`](Outcome::report).
    #[track_caller]
    pub fn fail(&self, why: &str) -> ! {
        *self.why.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_string());
        panic!("{why}\n{}", self.report())
    }

    #[track_caller]
    pub fn assert_not_timed_out(&self) {
        if self.timed_out {
            self.fail("the kernel did not finish");
        }
    }

    /// Exit code `code` (not a timeout).
    #[track_caller]
    pub fn assert_exit(&self, code: i32) {
        self.assert_not_timed_out();
        if self.exit_code != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
    }

    /// A `selftest: N passed, 0 failed` line with N > 0, whatever the exit
    /// code. Returns N.
    #[track_caller]
    pub fn assert_selftests_passed(&self) -> u32 {
        let Some((passed, failed)) = self.selftest() else {
            self.fail("no `selftest: N passed, M failed` line");
        };
        if failed != 0 {
            self.fail(&format!("{failed} self-test(s) failed"));
        }
        if passed == 0 {
            self.fail("no self-test ran");
        }
        passed
    }

    /// Exit 0 and `selftest: N passed, 0 failed` with N > 0. Returns N.
    #[track_caller]
    pub fn assert_passed(&self) -> u32 {
        self.assert_not_timed_out();
        let passed = self.assert_selftests_passed();
        self.assert_exit(0);
        passed
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) {
        if !self.contains(text) {
            self.fail(&format!("the log does not contain {text:?}"));
        }
    }

    #[track_caller]
    pub fn assert_not_contains(&self, text: &str) {
        if let Some(line) = self.line_with(text) {
            self.fail(&format!("the log contains {text:?}: {line:?}"));
        }
    }

    /// Some line contains `marker` and every word of `words`.
    #[track_caller]
    pub fn assert_line_contains(&self, marker: &str, words: &[&str]) {
        let Some(line) = self.line_with(marker) else {
            self.fail(&format!("no line contains {marker:?}"));
        };
        for word in words {
            if !line.contains(word) {
                self.fail(&format!("{line:?} does not name {word:?}"));
            }
        }
    }

    /// Finished (not killed) within `limit`.
    #[track_caller]
    pub fn assert_finished_within(&self, limit: Duration) {
        self.assert_not_timed_out();
        if self.elapsed > limit {
            self.fail(&format!("took {:.1?}, more than {limit:?}", self.elapsed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_stub_encodes_the_literals() {
        let stub = boot_stub(0x4000_0000, 0x1_8000_0000);
        let u64_at = |at: usize| u64::from_le_bytes(stub[at..at + 8].try_into().unwrap());
        assert_eq!(stub.len(), 40);
        assert_eq!(&stub[0..4], &0x5800_00c0u32.to_le_bytes());
        assert_eq!(u64_at(0x18), 0x4000_0000);
        assert_eq!(u64_at(0x20), 0x1_8000_0000);
    }

    #[test]
    fn sizes_are_mib() {
        assert_eq!(parse_size_mib("128M"), Some(128));
        assert_eq!(parse_size_mib("4G"), Some(4096));
        assert_eq!(parse_size_mib("512"), Some(512));
        assert_eq!(parse_size_mib("0"), None);
        assert_eq!(parse_size_mib("G"), None);
    }

    #[test]
    fn numa_nodes_share_cpus_and_ram() {
        let args = numa_args(2, 4, 1024).join(" ");
        assert_eq!(
            args,
            "-object memory-backend-ram,id=m0,size=512M -numa node,nodeid=0,cpus=0-1,memdev=m0 \
             -object memory-backend-ram,id=m1,size=512M -numa node,nodeid=1,cpus=2-3,memdev=m1"
        );
        let args = numa_args(3, 1, 1000).join(" ");
        assert!(args.contains("size=333M -numa node,nodeid=0,cpus=0,memdev=m0"), "{args}");
        assert!(args.contains("size=334M -numa node,nodeid=2,memdev=m2"), "{args}");
        let args = numa_args(2, 3, 1024).join(" ");
        assert!(args.contains("nodeid=0,cpus=0-1,") && args.contains("nodeid=1,cpus=2,"), "{args}");
    }

    #[test]
    fn shell_line_quotes_what_needs_it() {
        let args = vec!["-append".to_string(), "a b's".into(), "x=1,y".into()];
        assert_eq!(shell_line("q", &args), r"q -append 'a b'\''s' x=1,y");
    }
}
