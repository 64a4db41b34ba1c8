//! Untrusted kernels for the TDX RTMR1 prediction: the PE/COFF Authenticode digest, the bzImage
//! checks and QEMU's setup-header patch.
//!
//! Input: the kernel image. The initrd size and guest memory for the patch come from the first
//! bytes (so mutations vary them too).
//!
//! Property: every function returns an error or a value, never panics; a kernel that passes the
//! bzImage checks is patched without error when there is no initrd, keeps its length, and
//! changes only in the setup header's bytes 0x210..0x22C; with an initrd the patch either
//! refuses or writes the initrd size at 0x21C.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_verifier::measure::linux::{check_bzimage, qemu_patch};
use warden_verifier::measure::pe::authenticode_sha384;

fuzz_target!(|data: &[u8]| {
    if data.len() > 4 << 20 {
        return;
    }
    let _ = authenticode_sha384(data);
    if check_bzimage(data).is_err() {
        assert!(qemu_patch(data, None, 0).is_err());
        return;
    }
    let patched = qemu_patch(data, None, 0).expect("a checked bzImage patches");
    assert_eq!(patched.len(), data.len());
    assert!((0..data.len()).all(|i| data[i] == patched[i] || (0x210..0x22C).contains(&i)));
    let _ = authenticode_sha384(&patched);
    let initrd = usize::from(u16::from_le_bytes([data[0x40], data[0x41]])) << 6;
    let memory = u64::from(data[0x42]) << 26;
    if let Ok(with_initrd) = qemu_patch(data, Some(initrd), memory) {
        assert_eq!(with_initrd[0x21C..0x220], (initrd as u32).to_le_bytes());
        let _ = authenticode_sha384(&with_initrd);
    }
});
