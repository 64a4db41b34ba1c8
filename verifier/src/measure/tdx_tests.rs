//! TDX known answers (`docs/design/measure.md` §4.6, §4.7), the RTMR acceptance test (predicted
//! events written as a CCEL, parsed and replayed by `warden-wire`), every TDX refusal of §5.3,
//! the `tdx` reference value, and a no-panic property over mutated firmware and kernels.

use sha2::{Digest, Sha256, Sha384};

use super::MeasureError;
use super::craft::{
    BZIMAGE_LEN, CRAFTED_TDVF_SECTIONS, TdvfSection, crafted_a, crafted_bzimage, crafted_tdvf,
    tdvf_descriptor, tdvf_firmware_with, test_initrd, test_kernel,
};
use super::linux::{check_bzimage, qemu_patch};
use super::pe::authenticode_sha384;
use super::tdx::{
    LoadOptionsLayout, MR_INDEX_RTMR1, MR_INDEX_RTMR2, PageAddOrder, TdvfMetadata, TdvfSectionType,
    TdxEvent, TdxMeasurementInput, load_options, mr_td, parse_kernel_authenticode, predict,
    reference_value, replay, rtmr1_events, rtmr2_events,
};
use super::tests::Rng;

const APPEND: &str = "console=ttyS0 root=/dev/vda rw";

fn hex48(d: [u8; 48]) -> String {
    hex::encode(d)
}

fn sha384(data: &[u8]) -> [u8; 48] {
    Sha384::digest(data).into()
}

fn direct<'a>(fw: &'a [u8], kernel: &'a [u8]) -> TdxMeasurementInput<'a> {
    TdxMeasurementInput {
        firmware: fw,
        kernel: Some(kernel),
        append: Some(APPEND),
        load_options: Some(LoadOptionsLayout::Suffix),
        ..Default::default()
    }
}

#[test]
fn crafted_tdvf_matches_the_note() {
    assert_eq!(
        hex::encode(Sha256::digest(crafted_tdvf())),
        "996f92205cf5f6eb69fb541cf38147c17e55dd96185a228b650ba903d4efe39b"
    );
}

#[test]
fn parses_crafted_tdvf() {
    let m = TdvfMetadata::parse(&crafted_tdvf()).unwrap();
    let kinds: Vec<_> = m.sections.iter().map(|s| (s.kind, s.mr_extend)).collect();
    assert_eq!(
        kinds,
        [
            (TdvfSectionType::Bfv, true),
            (TdvfSectionType::TempMem, false),
            (TdvfSectionType::TdHob, false)
        ]
    );
    assert_eq!(m.pages(), 16 + 2 + 2);
}

#[test]
fn mr_td_known_answers() {
    let fw = crafted_tdvf();
    assert_eq!(
        hex48(mr_td(&fw, PageAddOrder::SinglePass).unwrap()),
        "9df2f15a6f90aeab96b1c4bc6cbbd9888ad4b001d33459b194302387e081b9f45380695cbd2e96eac752f2ba14959dbc"
    );
    assert_eq!(
        hex48(mr_td(&fw, PageAddOrder::TwoPass).unwrap()),
        "008a7b4a17cca33d0105518604c880d36753513a081e8f4845002f3f79e8aee41a0526c5f1252bf862ed5df89e95f05c"
    );
    // The default is single pass; names parse.
    assert_eq!(PageAddOrder::default(), PageAddOrder::SinglePass);
    assert_eq!(
        PageAddOrder::from_name("two-pass").unwrap(),
        PageAddOrder::TwoPass
    );
    assert_eq!(
        PageAddOrder::from_name("single").unwrap(),
        PageAddOrder::SinglePass
    );
}

#[test]
fn fixed_event_digests() {
    let events = rtmr1_events([0; 48], 0);
    let digests: Vec<String> = events[1..].iter().map(|e| hex48(e.digest)).collect();
    assert_eq!(
        digests,
        [
            "77a0dab2312b4e1e57a84d865a21e5b2ee8d677a21012ada819d0a98988078d3d740f6346bfe0abaa938ca20439a8d71",
            "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f1289f0",
            "214b0bef1379756011344877743fdc2a5382bac6e70362d624ccf3f654407c1b4badf7d8f9295dd3dabdef65b27677e0",
            "0a2e01c85deae718a530ad8c6d20a84009babe6c8989269e950d8cf440c6e997695e64d455c4174a652cd080f6230b74",
        ]
    );
    assert!(events.iter().all(|e| e.mr_index == MR_INDEX_RTMR1));
}

#[test]
fn rtmr_known_answers() {
    let initrd = test_initrd();
    let suffix = load_options(APPEND, true, LoadOptionsLayout::Suffix).unwrap();
    assert_eq!(
        hex48(sha384(&suffix)),
        "526ff1287c265257b5606c33f1dbd31e7b34dbae3c44e6f5cb886523c6de5f67d75b2a886862b270eef8c1674ed229ef"
    );
    assert_eq!(
        hex48(replay(
            &rtmr2_events(APPEND, Some(&initrd), LoadOptionsLayout::Suffix),
            MR_INDEX_RTMR2
        )),
        "9ffd571c1ce27fd4d0bab72cbd7cd7a0fb36667ecc21866321fcb89b2301fc0bfc7c805e0cdd39bea04008b4c20fd8e1"
    );
    let prefix = load_options(APPEND, true, LoadOptionsLayout::Prefix).unwrap();
    assert_eq!(
        hex48(sha384(&prefix)),
        "40e0a559d0ff491e525aa4ab6cd60ac719ba902d7770c4348e23c67492ccd45753ecf7a377abb2d52b8ab3d7bf698eeb"
    );
    assert_eq!(
        hex48(replay(
            &rtmr2_events(APPEND, Some(&initrd), LoadOptionsLayout::Prefix),
            MR_INDEX_RTMR2
        )),
        "2c1e0159a71b9fa344500a18ddac687500c7e711f82034eae56b53ea17950f745057edac48ae0ee5c76dec0ba32d45dc"
    );
    for layout in [LoadOptionsLayout::Suffix, LoadOptionsLayout::Prefix] {
        assert_eq!(
            hex48(replay(&rtmr2_events(APPEND, None, layout), MR_INDEX_RTMR2)),
            "45bb81a920bdf240f02e044f3ab0cb0bdc5b3e80abef89c8467155840860ebcd067142aeff3731a6ed012cfce8d1e8e9"
        );
    }
    // No command line and no initrd: OVMF passes no LoadOptions, the stub logs nothing.
    assert!(rtmr2_events("", None, LoadOptionsLayout::Suffix).is_empty());
    // Only an initrd: the layouts differ by where the space goes.
    assert_eq!(
        load_options("", true, LoadOptionsLayout::Suffix).unwrap(),
        utf16z(" initrd=initrd")
    );
    assert_eq!(
        load_options("", true, LoadOptionsLayout::Prefix).unwrap(),
        utf16z("initrd=initrd ")
    );
    // RTMR1 chaining with the SHA-384("") placeholder kernel digest.
    assert_eq!(
        hex48(replay(&rtmr1_events(sha384(b""), 0), MR_INDEX_RTMR1)),
        "0a14f0de346db9c03064cb89b0417581405b4cd5e4e5cb26e64758d2bea442ac2f86466b5fa79e6e9a5080e8782cfc36"
    );
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The Authenticode digest of the crafted bzImage, computed here from the byte ranges edk2
/// hashes for this layout (written out by hand, not by the parser).
fn crafted_authenticode(image: &[u8]) -> [u8; 48] {
    let checksum = 0x58 + 64;
    let security = 0x58 + 112 + 4 * 8;
    Sha384::new()
        .chain_update(&image[..checksum])
        .chain_update(&image[checksum + 4..security])
        .chain_update(&image[security + 8..0x200])
        .chain_update(&image[0x200..0xA00])
        .chain_update(&image[0xA00..BZIMAGE_LEN])
        .finalize()
        .into()
}

#[test]
fn authenticode_of_crafted_bzimage() {
    let k = crafted_bzimage();
    assert_eq!(authenticode_sha384(&k).unwrap(), crafted_authenticode(&k));
    // The checksum and the certificate-table entry are not hashed; everything else is.
    let mut other = k.clone();
    other[0x58 + 64] ^= 0xFF;
    assert_eq!(
        authenticode_sha384(&other).unwrap(),
        crafted_authenticode(&k)
    );
    let mut other = k.clone();
    other[0x1000] ^= 1;
    assert_ne!(
        authenticode_sha384(&other).unwrap(),
        crafted_authenticode(&k)
    );
    // Signing (a certificate table appended at the end) does not change the digest.
    let mut signed = k.clone();
    signed.extend_from_slice(&[0x5A; 0x100]);
    let security = 0x58 + 112 + 4 * 8;
    signed[security..security + 4].copy_from_slice(&(BZIMAGE_LEN as u32).to_le_bytes());
    signed[security + 4..security + 8].copy_from_slice(&0x100u32.to_le_bytes());
    assert_eq!(
        authenticode_sha384(&signed).unwrap(),
        crafted_authenticode(&k)
    );
    // A signed image may have data between its sections and the certificate table.
    let mut trailing = k.clone();
    trailing[0x170 + 16..0x170 + 20].copy_from_slice(&0x1400u32.to_le_bytes());
    trailing.extend_from_slice(&[0x5A; 0x100]);
    trailing[security..security + 4].copy_from_slice(&(BZIMAGE_LEN as u32).to_le_bytes());
    trailing[security + 4..security + 8].copy_from_slice(&0x100u32.to_le_bytes());
    let expected: [u8; 48] = Sha384::new()
        .chain_update(&trailing[..0x58 + 64])
        .chain_update(&trailing[0x58 + 68..security])
        .chain_update(&trailing[security + 8..0x200])
        .chain_update(&trailing[0x200..0xA00])
        .chain_update(&trailing[0xA00..0x1E00])
        .chain_update(&trailing[0x1E00..BZIMAGE_LEN])
        .finalize()
        .into();
    assert_eq!(authenticode_sha384(&trailing).unwrap(), expected);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn qemu_setup_header_patch() {
    let k = crafted_bzimage();
    let header = check_bzimage(&k).unwrap();
    assert_eq!((header.protocol, header.setup_size), (0x020F, 0xA00));
    let p = qemu_patch(&k, None, 0).unwrap();
    assert_eq!(p[0x210], 0xB0);
    assert_eq!(p[0x211], 0x81);
    assert_eq!(&p[0x224..0x228], &[0x00, 0xFE, 0, 0]);
    assert_eq!(u32_at(&p, 0x228), 0x20000);
    assert_eq!(u32_at(&p, 0x218), 0);
    // Only those bytes change.
    let changed: Vec<usize> = (0..k.len()).filter(|&i| k[i] != p[i]).collect();
    assert_eq!(changed, [0x210, 0x211, 0x225, 0x22A]);
    // An initrd goes just below the ACPI data at the top of low memory (≤ 2 GiB on q35 once
    // RAM reaches 2.75 GiB), page-aligned.
    for (mib, address) in [
        (2048, 0x7FFC_F000),
        (4096, 0x7FFC_F000),
        (2815, 0xAFEC_F000),
        (1024, 0x3FFC_F000),
    ] {
        let p = qemu_patch(&k, Some(32768), mib << 20).unwrap();
        assert_eq!((mib, u32_at(&p, 0x218)), (mib, address));
        assert_eq!(u32_at(&p, 0x21C), 32768);
    }
    // Without XLF_CAN_BE_LOADED_ABOVE_4G the header's initrd_addr_max applies.
    let mut low = k.clone();
    low[0x236] = 0x01;
    low[0x22C..0x230].copy_from_slice(&0x37FF_FFFFu32.to_le_bytes());
    let p = qemu_patch(&low, Some(32768), 4096 << 20).unwrap();
    assert_eq!(u32_at(&p, 0x218), 0x37FF_7000);
}

/// Writes `events` as a CCEL: the Spec ID header (SHA-384 only) and TCG_PCR_EVENT2 records
/// with the MR index in PCRIndex, then TDVF's 0xFF padding.
fn ccel(events: &[TdxEvent]) -> Vec<u8> {
    let mut spec = b"Spec ID Event03\0".to_vec();
    spec.extend_from_slice(&0u32.to_le_bytes()); // platform class
    spec.extend_from_slice(&[0, 2, 0, 2]); // version 2.0 errata 0, uintn size 2 (64-bit)
    spec.extend_from_slice(&1u32.to_le_bytes());
    spec.extend_from_slice(&0x000Cu16.to_le_bytes());
    spec.extend_from_slice(&48u16.to_le_bytes());
    spec.push(0); // no vendor info
    let mut log = Vec::new();
    log.extend_from_slice(&0u32.to_le_bytes());
    log.extend_from_slice(&3u32.to_le_bytes()); // EV_NO_ACTION
    log.extend_from_slice(&[0; 20]);
    log.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    log.extend_from_slice(&spec);
    for e in events {
        log.extend_from_slice(&e.mr_index.to_le_bytes());
        log.extend_from_slice(&e.event_type.to_le_bytes());
        log.extend_from_slice(&1u32.to_le_bytes());
        log.extend_from_slice(&0x000Cu16.to_le_bytes());
        log.extend_from_slice(&e.digest);
        log.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        log.extend_from_slice(&e.data);
    }
    log.resize(log.len() + 256, 0xFF);
    log
}

/// The acceptance test: RTMR predictions equal the RTMRs replayed, by warden-wire's parser,
/// from an event log holding the predicted events.
#[test]
fn rtmr_predictions_equal_the_replayed_event_log() {
    let fw = crafted_tdvf();
    let kernel = crafted_bzimage();
    let initrd = test_initrd();
    let digest = sha384(b"a kernel's Authenticode digest");
    let mut cases = Vec::new();
    for layout in [LoadOptionsLayout::Suffix, LoadOptionsLayout::Prefix] {
        let mut with_initrd = direct(&fw, &kernel);
        with_initrd.load_options = Some(layout);
        with_initrd.initrd = Some(&initrd);
        with_initrd.memory_mib = Some(2048);
        cases.push(with_initrd);
        let mut given = with_initrd;
        given.kernel = None;
        given.kernel_authenticode = Some(digest);
        given.memory_mib = None;
        cases.push(given);
    }
    cases.push(direct(&fw, &kernel));
    let mut bare = direct(&fw, &kernel);
    bare.append = None;
    cases.push(bare);
    for input in cases {
        let p = predict(&input).unwrap();
        let log = warden_wire::eventlog::parse(&ccel(&p.events)).unwrap();
        assert_eq!(log.events.len(), p.events.len());
        let rtmrs = log.replay_rtmrs().unwrap();
        assert_eq!(Some(rtmrs[1]), p.rtmr1);
        assert_eq!(Some(rtmrs[2]), p.rtmr2);
        assert_eq!(rtmrs[0], [0; 48]);
        assert_eq!(rtmrs[3], [0; 48]);
        // The kernel is the one boot application, with the loader's `kernel` file path.
        let components = log.boot_components();
        assert_eq!(components.boot_applications.len(), 1);
        let app = &components.boot_applications[0];
        assert_eq!(app.rtmr, 1);
        assert_eq!(app.path.as_deref(), Some("kernel"));
        assert_eq!(app.sha384, hex48(p.events[0].digest));
        if input.kernel_authenticode.is_some() {
            assert_eq!(p.events[0].digest, digest);
        } else if input.initrd.is_none() {
            let patched = qemu_patch(&kernel, None, 0).unwrap();
            assert_eq!(p.events[0].digest, crafted_authenticode(&patched));
        }
        assert_eq!(p.mr_td, mr_td(&fw, PageAddOrder::SinglePass).unwrap());
    }
    // Firmware only: MRTD, no RTMRs, no events.
    let p = predict(&TdxMeasurementInput {
        firmware: &fw,
        page_add_order: PageAddOrder::TwoPass,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(p.mr_td, mr_td(&fw, PageAddOrder::TwoPass).unwrap());
    assert_eq!((p.rtmr1, p.rtmr2, p.events.len()), (None, None, 0));
}

#[test]
fn reference_value_fits_the_tdx_schema() {
    let fw = crafted_tdvf();
    let kernel = crafted_bzimage();
    let full = predict(&direct(&fw, &kernel)).unwrap();
    let value = reference_value(&full);
    crate::reference::validate("tdx", &value).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "mr_td": [hex48(full.mr_td)],
            "rtmr1": [hex48(full.rtmr1.unwrap())],
            "rtmr2": [hex48(full.rtmr2.unwrap())],
        })
    );
    crate::reference::NamedReferenceValue::new("tdx", value, None).unwrap();
    let only = predict(&TdxMeasurementInput {
        firmware: &fw,
        ..Default::default()
    })
    .unwrap();
    let value = reference_value(&only);
    crate::reference::validate("tdx", &value).unwrap();
    assert_eq!(value, serde_json::json!({ "mr_td": [hex48(only.mr_td)] }));
}

fn tdvf_with(sections: &[TdvfSection]) -> Vec<u8> {
    tdvf_firmware_with(&tdvf_descriptor(sections))
}

fn with_section(index: usize, s: TdvfSection) -> Vec<u8> {
    let mut sections = CRAFTED_TDVF_SECTIONS;
    sections[index] = s;
    tdvf_with(&sections)
}

fn set_u32(fw: &mut [u8], at: usize, v: u32) {
    fw[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn firmware_refusals() {
    use MeasureError as E;
    let base = crafted_tdvf();
    let descriptor = 0x8000;
    let mut cases: Vec<(Vec<u8>, MeasureError)> = Vec::new();
    cases.push((base[..100].to_vec(), E::FirmwareLength(100)));
    cases.push((Vec::new(), E::FirmwareLength(0)));
    let mut no_footer = base.clone();
    no_footer[0x10000 - 48] ^= 1;
    cases.push((no_footer, E::NoFooterTable));
    // An SEV-only image (and Debian's OVMF_CODE_4M.fd, in the integration test).
    cases.push((crafted_a(), E::NoTdxMetadata));
    let mut far = base.clone();
    set_u32(&mut far, 0x10000 - 32 - 40, 0x2_0000);
    cases.push((far, E::TdvfOffset(0x2_0000)));
    let mut tail = base.clone();
    set_u32(&mut tail, 0x10000 - 32 - 40, 8);
    cases.push((tail, E::TdvfOffset(8)));
    let mut sig = base.clone();
    sig[descriptor] = b'X';
    cases.push((sig, E::TdvfSignature));
    let mut version = base.clone();
    set_u32(&mut version, descriptor + 8, 2);
    cases.push((version, E::TdvfVersion(2)));
    let mut length = base.clone();
    set_u32(&mut length, descriptor + 4, 113);
    cases.push((
        length,
        E::TdvfLength {
            length: 113,
            sections: 3,
        },
    ));
    cases.push((
        tdvf_with(&CRAFTED_TDVF_SECTIONS[..1]),
        E::TdvfLength {
            length: 48,
            sections: 1,
        },
    ));
    let mut many = base.clone();
    set_u32(&mut many, descriptor + 4, 16 + 32 * 65);
    set_u32(&mut many, descriptor + 12, 65);
    cases.push((
        many,
        E::TdvfLength {
            length: 16 + 32 * 65,
            sections: 65,
        },
    ));
    // Sections running past the end of the file.
    let mut past = base.clone();
    set_u32(&mut past, descriptor + 4, 16 + 32 * 1000);
    set_u32(&mut past, descriptor + 12, 1000);
    cases.push((
        past,
        E::TdvfLength {
            length: 16 + 32 * 1000,
            sections: 1000,
        },
    ));
    for t in [4, 5, 8, 0xFFFF_FFFF] {
        cases.push((
            with_section(1, (0, 0, 0x80_0000, 0x2000, t, 0)),
            E::TdvfSectionType {
                index: 1,
                section_type: t,
            },
        ));
    }
    cases.push((
        with_section(0, (0, 0x10000, 0xFFFF_0000, 0x10000, 0, 3)),
        E::TdvfSectionAttributes {
            index: 0,
            attributes: 3,
        },
    ));
    cases.push((
        with_section(2, (0, 0, 0x80_9000, 0x2000, 2, 1)),
        E::TdvfSectionAttributes {
            index: 2,
            attributes: 1,
        },
    ));
    for (address, size) in [
        (0x80_0800, 0x2000),
        (0x80_0000, 0x1800),
        (0x80_0000, 0),
        ((1 << 52) - 0x1000, 0x2000),
        (u64::MAX - 0xFFF, 0x2000),
    ] {
        cases.push((
            with_section(1, (0, 0, address, size, 3, 0)),
            E::TdvfSectionExtent {
                index: 1,
                address,
                size,
            },
        ));
    }
    // BFV data outside the file, of the wrong size; TEMP_MEM with file data.
    cases.push((
        with_section(0, (0x1000, 0x10000, 0xFFFF_0000, 0x10000, 0, 1)),
        E::TdvfSectionData {
            index: 0,
            offset: 0x1000,
            raw: 0x10000,
            memory: 0x10000,
        },
    ));
    cases.push((
        with_section(0, (0, 0x8000, 0xFFFF_0000, 0x10000, 0, 1)),
        E::TdvfSectionData {
            index: 0,
            offset: 0,
            raw: 0x8000,
            memory: 0x10000,
        },
    ));
    cases.push((
        with_section(0, (0, 0, 0xFFFF_0000, 0x10000, 1, 0)),
        E::TdvfSectionData {
            index: 0,
            offset: 0,
            raw: 0,
            memory: 0x10000,
        },
    ));
    cases.push((
        with_section(1, (0, 0x1000, 0x80_0000, 0x2000, 3, 0)),
        E::TdvfSectionData {
            index: 1,
            offset: 0,
            raw: 0x1000,
            memory: 0x2000,
        },
    ));
    cases.push((
        with_section(2, (0, 0, 0x80_1000, 0x2000, 2, 0)),
        E::TdvfSectionOverlap {
            first: 1,
            second: 2,
        },
    ));
    cases.push((
        with_section(2, (0, 0, 0xFFFF_F000, 0x1000, 3, 0)),
        E::TdvfSectionOverlap {
            first: 0,
            second: 2,
        },
    ));
    cases.push((
        with_section(1, (0, 0, 0x1_0000_0000, 0x1000 << 22, 3, 0)),
        E::TdvfTooManyPages(16 + (1 << 22)),
    ));
    for (fw, expected) in cases {
        for order in [PageAddOrder::SinglePass, PageAddOrder::TwoPass] {
            let got = mr_td(&fw, order).unwrap_err();
            assert_eq!(got, expected);
            assert_eq!(got.field(), "--firmware", "{got}");
            assert!(got.to_string().starts_with("--firmware: "), "{got}");
        }
    }
    // A descriptor that is valid with the sections in another order gives another MRTD.
    let swapped = tdvf_with(&[
        CRAFTED_TDVF_SECTIONS[1],
        CRAFTED_TDVF_SECTIONS[0],
        CRAFTED_TDVF_SECTIONS[2],
    ]);
    assert_ne!(
        mr_td(&swapped, PageAddOrder::SinglePass).unwrap(),
        mr_td(&base, PageAddOrder::SinglePass).unwrap()
    );
}

fn set(k: &mut [u8], at: usize, bytes: &[u8]) {
    k[at..at + bytes.len()].copy_from_slice(bytes);
}

#[test]
fn kernel_refusals() {
    let fw = crafted_tdvf();
    let good = crafted_bzimage();
    let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
    // The SEV-SNP test kernel is no bzImage; neither is a PE without the setup header.
    cases.push((test_kernel(), "not a bzImage"));
    let mut no_hdrs = good.clone();
    set(&mut no_hdrs, 0x202, b"HdrX");
    cases.push((no_hdrs, "not a bzImage"));
    let mut old = good.clone();
    set(&mut old, 0x206, &0x020Bu16.to_le_bytes());
    cases.push((old, "older than 2.12"));
    let mut low = good.clone();
    low[0x211] = 0;
    cases.push((low, "LOADED_HIGH"));
    let mut ext = good.clone();
    ext[0x227] = 1;
    cases.push((ext, "ext_loader"));
    let mut setup = good.clone();
    setup[0x1F1] = 0x40;
    cases.push((setup, "does not fit"));
    let mut no_mz = good.clone();
    no_mz[0] = b'X';
    cases.push((no_mz, "no MZ"));
    let mut no_pe = good.clone();
    no_pe[0x41] = b'X';
    cases.push((no_pe, "no PE signature"));
    let mut arm = good.clone();
    set(&mut arm, 0x44, &0xAA64u16.to_le_bytes());
    cases.push((arm, "not x86-64"));
    let mut pe32 = good.clone();
    set(&mut pe32, 0x58, &0x10Bu16.to_le_bytes());
    cases.push((pe32, "not PE32+"));
    let mut dirs = good.clone();
    set(&mut dirs, 0x58 + 108, &17u32.to_le_bytes());
    cases.push((dirs, "data directories"));
    let mut headers = good.clone();
    set(&mut headers, 0x58 + 60, &0x100u32.to_le_bytes());
    cases.push((headers, "SizeOfHeaders"));
    let mut outside = good.clone();
    set(&mut outside, 0x170 + 16, &0x1700u32.to_le_bytes());
    cases.push((outside, "outside the file"));
    let mut into_headers = good.clone();
    set(&mut into_headers, 0x148 + 20, &0x100u32.to_le_bytes());
    cases.push((into_headers, "overlaps the headers"));
    let mut overlap = good.clone();
    set(&mut overlap, 0x148 + 16, &0x900u32.to_le_bytes());
    cases.push((overlap, "overlap"));
    let mut cert = good.clone();
    set(&mut cert, 0x58 + 144, &0x1000u32.to_le_bytes());
    set(&mut cert, 0x58 + 148, &0x100u32.to_le_bytes());
    cases.push((cert, "not at the end"));
    // The unsettled Authenticode rules: length not a multiple of 8, unsigned trailing data.
    let mut odd = good.clone();
    odd.extend_from_slice(&[0; 4]);
    cases.push((odd, "multiple of 8"));
    let mut trailing = good.clone();
    set(&mut trailing, 0x170 + 16, &0x1400u32.to_le_bytes());
    cases.push((trailing, "after the last section"));
    for (kernel, reason) in cases {
        let err = predict(&direct(&fw, &kernel)).unwrap_err();
        assert_eq!(err.field(), "--kernel", "{err}");
        assert!(err.to_string().contains(reason), "{reason}: {err}");
    }
}

#[test]
fn input_refusals() {
    use MeasureError as E;
    let fw = crafted_tdvf();
    let kernel = crafted_bzimage();
    let initrd = test_initrd();
    let check = |input: TdxMeasurementInput<'_>, expected: MeasureError, field: &str| {
        let err = predict(&input).unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.field(), field);
        assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
    };
    let firmware_only = TdxMeasurementInput {
        firmware: &fw,
        ..Default::default()
    };
    check(
        TdxMeasurementInput {
            initrd: Some(&initrd),
            ..firmware_only
        },
        E::NeedsKernel("--initrd"),
        "--initrd",
    );
    check(
        TdxMeasurementInput {
            append: Some(APPEND),
            ..firmware_only
        },
        E::NeedsKernel("--append"),
        "--append",
    );
    check(
        TdxMeasurementInput {
            load_options: Some(LoadOptionsLayout::Prefix),
            ..firmware_only
        },
        E::NeedsKernel("--load-options"),
        "--load-options",
    );
    check(
        TdxMeasurementInput {
            memory_mib: Some(2048),
            ..firmware_only
        },
        E::NeedsKernel("--memory-mib"),
        "--memory-mib",
    );
    let mut both = direct(&fw, &kernel);
    both.kernel_authenticode = Some([0; 48]);
    check(both, E::KernelAndAuthenticode, "--kernel-authenticode");
    let mut no_layout = direct(&fw, &kernel);
    no_layout.load_options = None;
    check(no_layout, E::Required("--load-options"), "--load-options");
    let mut no_memory = direct(&fw, &kernel);
    no_memory.initrd = Some(&initrd);
    check(no_memory, E::Required("--memory-mib"), "--memory-mib");
    for mib in [0, (1 << 24) + 1] {
        let mut memory = direct(&fw, &kernel);
        memory.initrd = Some(&initrd);
        memory.memory_mib = Some(mib);
        check(memory, E::MemoryMib(mib), "--memory-mib");
    }
    // A 1 MiB initrd does not fit below 1 MiB of memory less the ACPI data.
    let big = vec![0xA5; 1 << 20];
    let mut tiny = direct(&fw, &kernel);
    tiny.initrd = Some(&big);
    tiny.memory_mib = Some(1);
    assert_eq!(predict(&tiny).unwrap_err().field(), "--initrd");
    let mut empty = direct(&fw, &kernel);
    empty.initrd = Some(&[]);
    empty.memory_mib = Some(2048);
    assert_eq!(predict(&empty).unwrap_err().field(), "--initrd");
    // An initrd above the kernel's initrd_addr_max.
    let mut capped = kernel.clone();
    capped[0x236] = 0x01;
    set(&mut capped, 0x22C, &0x4000u32.to_le_bytes());
    let mut large = direct(&fw, &capped);
    large.initrd = Some(&initrd);
    large.memory_mib = Some(2048);
    let err = predict(&large).unwrap_err();
    assert_eq!(err.field(), "--initrd");
    assert!(err.to_string().contains("do not fit"), "{err}");
    for bad in ["console=ttyS0 vga=791", "caf\u{e9}=1", "a\0b"] {
        let mut append = direct(&fw, &kernel);
        append.append = Some(bad);
        assert_eq!(predict(&append).unwrap_err().field(), "--append", "{bad:?}");
    }
    // vga= is only a problem when the kernel is patched here.
    let mut vga = direct(&fw, &kernel);
    vga.kernel = None;
    vga.kernel_authenticode = Some([7; 48]);
    vga.append = Some("vga=791");
    assert!(predict(&vga).is_ok());
    assert_eq!(
        PageAddOrder::from_name("double").unwrap_err().field(),
        "--page-add-order"
    );
    assert_eq!(
        LoadOptionsLayout::from_name("middle").unwrap_err().field(),
        "--load-options"
    );
    let digest = sha384(b"k");
    assert_eq!(
        parse_kernel_authenticode(&hex48(digest).to_uppercase()).unwrap(),
        digest
    );
    for bad in ["", "00", &"0".repeat(95), &"g".repeat(96), &"00".repeat(49)] {
        let err = parse_kernel_authenticode(bad).unwrap_err();
        assert_eq!(err.field(), "--kernel-authenticode", "{bad:?}");
    }
    // Firmware errors come first and name the firmware.
    let mut bad_fw = direct(&fw[..4096], &kernel);
    bad_fw.load_options = None;
    assert_eq!(predict(&bad_fw).unwrap_err().field(), "--firmware");
}

fn mutate(rng: &mut Rng, buf: &mut [u8], hot: &[std::ops::Range<usize>]) {
    for _ in 0..1 + rng.below(4) {
        let at = match rng.below(hot.len() + 1) {
            0 => rng.below(buf.len()),
            i => {
                let r = &hot[i - 1];
                r.start + rng.below(r.end - r.start)
            }
        };
        buf[at] = match rng.below(3) {
            0 => rng.next() as u8,
            1 => buf[at] ^ (1 << rng.below(8)),
            _ => [0, 0xFF, 1, 2, 3, 4, 0x10, 0x20][rng.below(8)],
        };
    }
}

/// Mutated and random firmware and kernels never panic the TDVF parser, MRTD, the PE and
/// bzImage code or the prediction; parsed sections stay inside the file.
#[test]
fn no_input_panics() {
    let fw = crafted_tdvf();
    let kernel = crafted_bzimage();
    let initrd = test_initrd();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut parsed = 0;
    for round in 0..3000 {
        let mut f = fw.clone();
        mutate(&mut rng, &mut f, &[0x8000..0x8070, 0xFF80..0x10000]);
        if rng.below(16) == 0 {
            f.truncate(rng.below(f.len() + 1));
        }
        if let Ok(m) = TdvfMetadata::parse(&f) {
            parsed += 1;
            for s in &m.sections {
                if s.raw_size > 0 {
                    assert!(s.data_offset as usize + s.raw_size as usize <= f.len());
                }
            }
            // Hashing 64 KiB is the slow part in debug builds: a sample.
            if round % 16 == 0 {
                let _ = mr_td(&f, PageAddOrder::SinglePass);
                let _ = mr_td(&f, PageAddOrder::TwoPass);
            }
        }
        let mut k = kernel.clone();
        mutate(&mut rng, &mut k, &[0..0x200, 0x1F0..0x270]);
        if rng.below(16) == 0 {
            k.truncate(rng.below(k.len() + 1));
        }
        let _ = authenticode_sha384(&k);
        let _ = check_bzimage(&k);
        let _ = qemu_patch(
            &k,
            Some(rng.below(1 << 20)),
            (rng.next() % (1 << 34)) & !0xFFFFF,
        );
        if round % 16 == 0 {
            let mut input = direct(&fw, &k);
            input.initrd = Some(&initrd);
            input.memory_mib = Some(1 + rng.below(8192) as u64);
            let _ = predict(&input);
        }
    }
    assert!(parsed > 0);
    for _ in 0..300 {
        let n = 4096 * (1 + rng.below(2));
        let f: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let _ = TdvfMetadata::parse(&f);
        let _ = mr_td(&f, PageAddOrder::TwoPass);
        let _ = authenticode_sha384(&f);
        let _ = check_bzimage(&f);
    }
}
