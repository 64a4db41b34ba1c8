//! The Linux bzImage checks and the setup-header patch QEMU applies before it hands the kernel
//! to OVMF through fw_cfg (`docs/design/measure.md` §4.3). OVMF measures the *patched* image,
//! so RTMR1 depends on it.
//!
//! The patch follows QEMU's `x86_load_linux` (`hw/i386/x86-common.c`, read for this; the q35
//! memory split and ACPI size as dstack-mr models them): `type_of_loader`, `CAN_USE_HEAP`,
//! 16-bit `heap_end_ptr`, `cmd_line_ptr`, and with an initrd `ramdisk_image`/`ramdisk_size`.
//! Only what that covers is accepted: boot protocol ≥ 2.12 with `LOADED_HIGH`, no `vga=` on the
//! command line (QEMU then writes `vid_mode`), no `-dtb` (QEMU then appends `setup_data`), and
//! the two bytes after `heap_end_ptr` zero (QEMU writes 16 bits there, dstack-mr 32, so the
//! two agree only then). Where dstack-mr departs from QEMU's source, QEMU's source wins: the
//! "initrd may go above 4 GiB" test is `xloadflags` bit 1 (`XLF_CAN_BE_LOADED_ABOVE_4G`), not
//! bit 6, and without it the limit is the header's `initrd_addr_max`.

use super::MeasureError;
use super::ovmf::{u16_at, u32_at};

/// The lowest boot protocol accepted: 2.12, the first with `xloadflags` (and what every EFI-stub
/// kernel has).
pub const MIN_BOOT_PROTOCOL: u16 = 0x020C;
/// The ACPI data QEMU reserves at the top of low memory (q35, current machine types).
pub const ACPI_DATA_SIZE: u64 = 0x28000;
/// QEMU's real-mode and command-line addresses for a `LOADED_HIGH` kernel.
const REAL_ADDR: u32 = 0x10000;
const CMDLINE_ADDR: u32 = 0x20000;
/// `xloadflags` bit 1: the kernel and initrd may be loaded above 4 GiB.
const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;

fn refuse(reason: impl Into<String>) -> MeasureError {
    MeasureError::Kernel(reason.into())
}

/// What Warden reads from a bzImage's setup header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BzImage {
    /// Boot protocol version (`0x020F` = 2.15).
    pub protocol: u16,
    /// Bytes of the real-mode setup, `(setup_sects + 1) × 512`.
    pub setup_size: usize,
}

/// Checks that `kernel` is a bzImage Warden can model: boot flag `0xAA55`, `HdrS`, boot
/// protocol ≥ 2.12, `LOADED_HIGH`, setup inside the file, the bytes QEMU and dstack-mr patch
/// differently zero. (The PE header is checked by [`super::pe::authenticode_sha384`].)
pub fn check_bzimage(kernel: &[u8]) -> Result<BzImage, MeasureError> {
    if u16_at(kernel, 0x1FE) != Some(0xAA55) || kernel.get(0x202..0x206) != Some(b"HdrS") {
        return Err(refuse(
            "not a bzImage (no boot flag 0xAA55 and \"HdrS\" header)",
        ));
    }
    let protocol = u16_at(kernel, 0x206).ok_or_else(|| refuse("truncated setup header"))?;
    if protocol < MIN_BOOT_PROTOCOL {
        return Err(refuse(format!(
            "boot protocol {}.{} is older than 2.12",
            protocol >> 8,
            protocol & 0xFF
        )));
    }
    let setup_sects = match kernel.get(0x1F1).copied() {
        Some(0) => 4,
        Some(n) => usize::from(n),
        None => return Err(refuse("truncated setup header")),
    };
    let setup_size = (setup_sects + 1) * 512;
    // Protocol 2.12 headers reach 0x268.
    if setup_size < 0x268 || setup_size > kernel.len() {
        return Err(refuse(format!(
            "setup of {setup_size} bytes does not fit the {} byte file",
            kernel.len()
        )));
    }
    if kernel.get(0x211).is_none_or(|flags| flags & 1 == 0) {
        return Err(refuse("LOADED_HIGH is clear: not a bzImage"));
    }
    if kernel.get(0x226..0x228) != Some(&[0, 0][..]) {
        return Err(refuse(
            "ext_loader_ver/ext_loader_type are set: QEMU's patch of that word is not modelled; give --kernel-authenticode",
        ));
    }
    Ok(BzImage {
        protocol,
        setup_size,
    })
}

/// The kernel as QEMU exposes it to OVMF: `kernel` with its setup header patched for an
/// initrd of `initrd_len` bytes (if any) in a guest of `memory` bytes.
pub fn qemu_patch(
    kernel: &[u8],
    initrd_len: Option<usize>,
    memory: u64,
) -> Result<Vec<u8>, MeasureError> {
    check_bzimage(kernel)?;
    let mut patched = kernel.to_vec();
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(slot) = patched.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    };
    // type_of_loader: "QEMU" (0xB0); CAN_USE_HEAP with the heap ending below the command line;
    // cmd_line_ptr. `check_bzimage` proved the setup covers these offsets.
    put(0x210, &[0xB0]);
    let loadflags = kernel.get(0x211).copied().unwrap_or(0) | 0x80;
    put(0x211, &[loadflags]);
    put(
        0x224,
        &((CMDLINE_ADDR - REAL_ADDR - 0x200) as u16).to_le_bytes(),
    );
    put(0x228, &CMDLINE_ADDR.to_le_bytes());
    if let Some(size) = initrd_len {
        let size = u32::try_from(size)
            .map_err(|_| MeasureError::Initrd(format!("{size} bytes do not fit in 32 bits")))?;
        let xloadflags = u16_at(kernel, 0x236).unwrap_or(0);
        let mut initrd_max = if xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G != 0 {
            u64::from(u32::MAX)
        } else {
            u64::from(u32_at(kernel, 0x22C).unwrap_or(0))
        };
        // q35: RAM above 2.75 GiB is split at 2 GiB, the rest of it goes above 4 GiB.
        let lowmem = if memory >= 0xB000_0000 {
            0x8000_0000
        } else {
            0xB000_0000
        };
        let below_4g = memory.min(lowmem);
        let top = below_4g
            .checked_sub(ACPI_DATA_SIZE + 1)
            .ok_or(MeasureError::MemoryMib(memory >> 20))?;
        if initrd_max > top {
            initrd_max = top;
        }
        if u64::from(size) >= initrd_max {
            return Err(MeasureError::Initrd(format!(
                "{size} bytes do not fit below {initrd_max:#x} (raise --memory-mib)"
            )));
        }
        let address = (initrd_max - u64::from(size)) & !0xFFF;
        // Below 4 GiB by construction.
        put(0x218, &(address as u32).to_le_bytes());
        put(0x21C, &size.to_le_bytes());
    }
    Ok(patched)
}
