//! `warden-verifier measure`: the launch measurements an image will have, computed from the
//! files the host loads (the library's `measure` module does the work; this reads the files
//! and prints the result).
//!
//! Every refusal exits 2 with `error: <option>: <reason>`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::measure::MeasureError;
use warden_verifier::measure::snp::{self, SnpMeasurementInput, VcpuType, Vmm};
use warden_verifier::measure::tdx::{self, LoadOptionsLayout, PageAddOrder, TdxMeasurementInput};
use warden_wire::in_toto;

#[derive(Args)]
pub(crate) struct MeasureArgs {
    #[command(subcommand)]
    tee: MeasureTee,
}

#[derive(Subcommand)]
enum MeasureTee {
    /// The AMD SEV-SNP launch digest (MEASUREMENT) of an OVMF guest, as AMD's sev-snp-measure
    /// computes it: firmware pages, SEV metadata sections, measured direct boot (kernel, initrd,
    /// command line hashes) and one VMSA per vCPU.
    Snp(Box<SnpArgs>),
    /// Intel TDX: MRTD from the TDVF/OVMF firmware's metadata and, for QEMU direct boot with
    /// OVMF (-kernel, -initrd, -append), RTMR1 and RTMR2 at kernel start.
    Tdx(Box<TdxArgs>),
}

/// What to print.
#[derive(Clone, Copy, ValueEnum)]
enum Output {
    /// The digest in hex (TDX: one `<register> <hex>` line per register).
    Hex,
    /// The digest in standard base64.
    Base64,
    /// The reference value (JSON) `PUT /reference-values/<name>` takes.
    Rv,
    /// An unsigned in-toto Statement v1 with Warden's reference-value predicate, over the
    /// input files: sign it (`warden-agent sign --statement`) and import it.
    Statement,
}

#[derive(Args)]
struct OutputArgs {
    /// What to print.
    #[arg(long, value_enum, default_value = "hex")]
    output: Output,
    /// `rv` and `statement`: the reference value's name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// `statement`: when the values expire (RFC 3339). Required for a statement.
    #[arg(long, value_name = "TIME")]
    expires: Option<String>,
    /// `statement`: a further subject (e.g. the disk image), named by its file name
    /// (repeatable; the measured input files are always subjects).
    #[arg(long = "subject", value_name = "PATH")]
    subjects: Vec<PathBuf>,
}

#[derive(Args)]
struct SnpArgs {
    /// The OVMF image the VMM maps below 4 GiB (an SEV-capable build; AmdSev builds carry the
    /// kernel-hashes section measured direct boot needs).
    #[arg(long, value_name = "PATH")]
    firmware: PathBuf,
    /// The digest of the firmware pages alone (96 hex digits, sev-snp-measure's
    /// `--ovmf-hash`), to skip hashing them; the firmware is still read for its metadata.
    #[arg(long, value_name = "HEX")]
    firmware_hash: Option<String>,
    /// Print only the digest of the firmware pages (for `--firmware-hash`).
    #[arg(long, conflicts_with_all = ["firmware_hash", "kernel", "vcpus"])]
    firmware_hash_only: bool,
    /// Number of vCPUs (one VMSA page each), 1..=1024.
    #[arg(long, value_name = "N", required_unless_present = "firmware_hash_only")]
    vcpus: Option<u32>,
    /// The QEMU CPU model (e.g. EPYC-v4, EPYC-Milan, EPYC-Genoa), for its CPUID signature.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["vcpu_sig", "vcpu_family"])]
    vcpu_type: Option<String>,
    /// The CPUID Fn0000_0001_EAX signature itself (e.g. 0xa10f11).
    #[arg(long, value_name = "SIG", conflicts_with = "vcpu_family")]
    vcpu_sig: Option<String>,
    /// The vCPU's family (with --vcpu-model and --vcpu-stepping).
    #[arg(long, value_name = "N", requires_all = ["vcpu_model", "vcpu_stepping"])]
    vcpu_family: Option<u32>,
    /// The vCPU's model.
    #[arg(long, value_name = "N", requires = "vcpu_family")]
    vcpu_model: Option<u32>,
    /// The vCPU's stepping.
    #[arg(long, value_name = "N", requires = "vcpu_family")]
    vcpu_stepping: Option<u32>,
    /// The VMM launching the guest: QEMU, ec2 or gce (they set the initial registers
    /// differently; only QEMU takes a vCPU type).
    #[arg(long, value_name = "NAME", default_value = "QEMU")]
    vmm: String,
    /// The SEV features in every VMSA (bit 0, SNPActive, must be set).
    #[arg(long, value_name = "BITS", default_value = "0x1")]
    guest_features: String,
    /// Measured direct boot: the kernel QEMU loads (-kernel).
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
    /// Measured direct boot: the initrd (-initrd).
    #[arg(long, value_name = "PATH")]
    initrd: Option<PathBuf>,
    /// Measured direct boot: the kernel command line (-append).
    #[arg(long, value_name = "TEXT")]
    append: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct TdxArgs {
    /// The OVMF/TDVF image QEMU gets with -bios (the unified image: its TDX metadata places the
    /// code and variable volumes).
    #[arg(long, value_name = "PATH")]
    firmware: PathBuf,
    /// How the host adds firmware pages: `single` (per page, add then measure: upstream KVM)
    /// or `two-pass` (per section, all adds then all measurements: QEMU 8.x TDX stacks).
    #[arg(long, value_name = "ORDER", default_value = "single")]
    page_add_order: String,
    /// Direct boot: the bzImage QEMU loads (-kernel); OVMF measures its Authenticode digest
    /// after QEMU patched its setup header.
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
    /// Direct boot: the kernel's Authenticode SHA-384 as OVMF measured it (96 hex digits),
    /// instead of --kernel.
    #[arg(long, value_name = "HEX")]
    kernel_authenticode: Option<String>,
    /// Direct boot: the initrd (-initrd).
    #[arg(long, value_name = "PATH")]
    initrd: Option<PathBuf>,
    /// Direct boot: the kernel command line (-append).
    #[arg(long, value_name = "TEXT")]
    append: Option<String>,
    /// Direct boot: where the firmware's edk2 puts `initrd=initrd` in the command line it
    /// passes: `suffix` (edk2 ≤ stable202505, Debian bookworm and trixie) or `prefix` (edk2 ≥
    /// stable202508). Not readable from the image, so never guessed.
    #[arg(long, value_name = "LAYOUT")]
    load_options: Option<String>,
    /// Direct boot with an initrd: guest memory in MiB (-m), which decides where QEMU places
    /// the initrd, written into the measured kernel.
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<u64>,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) fn measure(args: &MeasureArgs) -> Result<ExitCode, String> {
    match &args.tee {
        MeasureTee::Snp(args) => measure_snp(args),
        MeasureTee::Tdx(args) => measure_tdx(args),
    }
}

/// A measured input file: its bytes, and its name as a statement subject.
struct InputFile {
    name: String,
    bytes: Vec<u8>,
}

fn read_input(option: &str, path: &Path) -> Result<InputFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{option}: {}: {e}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(InputFile { name, bytes })
}

fn read_optional(option: &str, path: Option<&PathBuf>) -> Result<Option<InputFile>, String> {
    path.map(|path| read_input(option, path)).transpose()
}

/// An unsigned integer written in decimal or as 0x-prefixed hex.
fn parse_number(option: &str, text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(digits) => u64::from_str_radix(digits, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{option}: {text:?} is not a number (decimal or 0x-hex)"))
}

fn parse_digest(option: &str, text: &str) -> Result<[u8; 48], String> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 48]>::try_from(bytes).ok())
        .ok_or_else(|| format!("{option}: not 96 hex digits (a SHA-384 digest)"))
}

fn vcpu_signature(args: &SnpArgs) -> Result<Option<u32>, String> {
    if let Some(name) = &args.vcpu_type {
        return Ok(Some(
            VcpuType::from_name(name)
                .map_err(|e| e.to_string())?
                .signature(),
        ));
    }
    if let Some(text) = &args.vcpu_sig {
        let signature = parse_number("--vcpu-sig", text)?;
        return u32::try_from(signature)
            .map(Some)
            .map_err(|_| format!("--vcpu-sig: {text} does not fit 32 bits"));
    }
    match (args.vcpu_family, args.vcpu_model, args.vcpu_stepping) {
        (Some(family), Some(model), Some(stepping)) => snp::cpu_signature(family, model, stepping)
            .map(Some)
            .map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}

fn measure_snp(args: &SnpArgs) -> Result<ExitCode, String> {
    let firmware = read_input("--firmware", &args.firmware)?;
    if args.firmware_hash_only {
        let digest = snp::firmware_hash(&firmware.bytes).map_err(|e| e.to_string())?;
        println!("{}", hex::encode(digest));
        return Ok(ExitCode::SUCCESS);
    }
    let kernel = read_optional("--kernel", args.kernel.as_ref())?;
    let initrd = read_optional("--initrd", args.initrd.as_ref())?;
    let firmware_hash = args
        .firmware_hash
        .as_deref()
        .map(|text| parse_digest("--firmware-hash", text))
        .transpose()?;
    let input = SnpMeasurementInput {
        firmware: &firmware.bytes,
        firmware_hash,
        // Present unless --firmware-hash-only, which returned above (clap enforces it).
        vcpus: args.vcpus.unwrap_or(0),
        vcpu_signature: vcpu_signature(args)?,
        vmm: Vmm::from_name(&args.vmm).map_err(|e| e.to_string())?,
        guest_features: parse_number("--guest-features", &args.guest_features)?,
        kernel: kernel.as_ref().map(|file| file.bytes.as_slice()),
        initrd: initrd.as_ref().map(|file| file.bytes.as_slice()),
        append: args.append.as_deref(),
    };
    let digest = snp::launch_digest(&input).map_err(|e| e.to_string())?;
    let inputs = [Some(&firmware), kernel.as_ref(), initrd.as_ref()];
    emit(
        &args.output,
        "snp",
        Printed {
            hex: hex::encode(digest),
            base64: Some(base64::engine::general_purpose::STANDARD.encode(digest)),
            reference_value: snp::reference_value(&digest),
        },
        inputs.into_iter().flatten(),
    )
}

fn measure_tdx(args: &TdxArgs) -> Result<ExitCode, String> {
    let firmware = read_input("--firmware", &args.firmware)?;
    let kernel = read_optional("--kernel", args.kernel.as_ref())?;
    let initrd = read_optional("--initrd", args.initrd.as_ref())?;
    let error = |e: MeasureError| e.to_string();
    let input = TdxMeasurementInput {
        firmware: &firmware.bytes,
        page_add_order: PageAddOrder::from_name(&args.page_add_order).map_err(error)?,
        kernel: kernel.as_ref().map(|file| file.bytes.as_slice()),
        kernel_authenticode: args
            .kernel_authenticode
            .as_deref()
            .map(tdx::parse_kernel_authenticode)
            .transpose()
            .map_err(error)?,
        initrd: initrd.as_ref().map(|file| file.bytes.as_slice()),
        append: args.append.as_deref(),
        load_options: args
            .load_options
            .as_deref()
            .map(LoadOptionsLayout::from_name)
            .transpose()
            .map_err(error)?,
        memory_mib: args.memory_mib,
    };
    let prediction = tdx::predict(&input).map_err(error)?;
    let registers = [
        ("mr_td", Some(prediction.mr_td)),
        ("rtmr1", prediction.rtmr1),
        ("rtmr2", prediction.rtmr2),
    ];
    let hex_lines: Vec<String> = registers
        .iter()
        .filter_map(|(name, value)| value.map(|value| format!("{name} {}", hex::encode(value))))
        .collect();
    let inputs = [Some(&firmware), kernel.as_ref(), initrd.as_ref()];
    emit(
        &args.output,
        "tdx",
        Printed {
            hex: hex_lines.join("\n"),
            base64: None,
            reference_value: tdx::reference_value(&prediction),
        },
        inputs.into_iter().flatten(),
    )
}

/// A measurement in each form `--output` can ask for.
struct Printed {
    /// What `--output hex` prints (a digest, or one `register hex` line per register).
    hex: String,
    /// What `--output base64` prints, where one digest is the answer.
    base64: Option<String>,
    /// The reference value of the TEE's schema.
    reference_value: Value,
}

fn emit<'a>(
    output: &OutputArgs,
    default_name: &str,
    printed: Printed,
    inputs: impl Iterator<Item = &'a InputFile>,
) -> Result<ExitCode, String> {
    let name = output.name.as_deref().unwrap_or(default_name);
    // What the KBS would refuse (a bad name, a value outside the schema) is refused here.
    warden_verifier::reference::NamedReferenceValue::new(
        name,
        printed.reference_value.clone(),
        None,
    )
    .map_err(|e| format!("--name: {e}"))?;
    let text = match output.output {
        Output::Hex => printed.hex,
        Output::Base64 => printed
            .base64
            .ok_or("--output: base64 prints one digest; this TEE has several registers")?,
        Output::Rv => printed.reference_value.to_string(),
        Output::Statement => {
            let expires = output
                .expires
                .as_deref()
                .ok_or("--expires: required with --output statement")?;
            OffsetDateTime::parse(expires, &Rfc3339).map_err(|e| format!("--expires: {e}"))?;
            let mut subjects: Vec<Value> = inputs
                .map(|file| in_toto::subject(&file.name, &file.bytes))
                .collect();
            for path in &output.subjects {
                let file = read_input("--subject", path)?;
                subjects.push(in_toto::subject(&file.name, &file.bytes));
            }
            in_toto::reference_values_statement(
                subjects,
                json!({ name: printed.reference_value }),
                expires,
            )
            .to_string()
        }
    };
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}
