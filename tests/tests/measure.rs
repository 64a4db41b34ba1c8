//! Calculator → reference value → appraisal, with the real binaries: `warden-verifier measure
//! snp` computes an image's launch digest as a reference value; a sim-snp guest launched from
//! that image (its measurement is what AMD's sev-snp-measure says the secure processor
//! reports) gets its secret, and the same image launched with another vCPU count does not.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use warden_tests::measure::SnpImage;
use warden_tests::{Kbs, KbsOptions, binary, sim_snp_chain};
use warden_verifier::measure::craft;

const SECRET: &[u8] = b"secret of the measured image";

fn measure(image: &SnpImage, vcpus: u32, extra: &[&str]) -> Output {
    measure_firmware(image, "OVMF.fd", vcpus, extra)
}

fn measure_firmware(image: &SnpImage, firmware: &str, vcpus: u32, extra: &[&str]) -> Output {
    Command::new(binary("warden-verifier"))
        .args(["measure", "snp", "--firmware"])
        .arg(image.path(firmware))
        .args(image.measure_args(vcpus))
        .args(extra)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_measured_reference_value_releases_to_the_image_launched_as_measured_and_only_to_it() {
    let image = SnpImage::default();
    let reference = stdout(&measure(&image, 4, &["--output", "rv"]));
    let launched = image.amd_launch_digest(4);
    assert_eq!(reference, format!(r#"{{"measurements":["{launched}"]}}"#));
    assert_eq!(stdout(&measure(&image, 4, &[])), launched);

    let (_chain, chain_dir, _) = sim_snp_chain();
    let kbs = Kbs::start(KbsOptions {
        allow_sample: false,
        serve_args: vec!["--insecure-dev-roots".into(), chain_dir.clone()],
        ..Default::default()
    });
    kbs.provision("image/key/one", SECRET, "image/", "snp", &reference);
    let guest = |measurement: &str, args: &[&str]| {
        let tee = [
            "--tee",
            "sim-snp",
            "--insecure-sim-snp-dir",
            &chain_dir,
            "--insecure-sim-snp-launch-measurement",
            measurement,
        ];
        kbs.agent_as(&tee, args)
    };
    let output = guest(&launched, &["get-resource", "image/key/one"]);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        kbs.log()
    );
    assert_eq!(output.stdout, SECRET);

    // The same files on two vCPUs measure differently: not affirming, no secret.
    let two_vcpus = image.amd_launch_digest(2);
    assert_ne!(two_vcpus, launched);
    let output = guest(&two_vcpus, &["get-resource", "image/key/one"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let output = guest(&two_vcpus, &["attest"]);
    let token = String::from_utf8_lossy(&output.stdout);
    let claims = warden_test_support::token::claims(token.trim());
    let submod = &claims["submods"]["cpu0"];
    assert_eq!(
        submod["ear.veraison.annotated-evidence"]["snp"]["measurement"],
        two_vcpus
    );
    assert_ne!(submod["ear.status"], "affirming");
}

#[test]
fn the_measured_statement_is_the_one_the_agent_writes_for_the_same_values() {
    let image = SnpImage::default();
    let disk = image.path("OVMF.fd");
    let expires = "2099-01-01T00:00:00Z";
    let statement = stdout(&measure(
        &image,
        4,
        &["--output", "statement", "--expires", expires],
    ));
    let values = image.path("values.json");
    let reference = stdout(&measure(&image, 4, &["--output", "rv"]));
    std::fs::write(&values, format!(r#"{{"snp": {reference}}}"#)).unwrap();
    let mut agent = Command::new(binary("warden-agent"));
    agent.arg("statement");
    for file in [&disk, &image.path("vmlinuz"), &image.path("initrd.img")] {
        agent.arg("--artifact").arg(file);
    }
    agent
        .arg("--reference-values")
        .arg(&values)
        .args(["--expires", expires]);
    let by_agent: serde_json::Value =
        serde_json::from_str(&stdout(&agent.output().unwrap())).unwrap();
    let measured: serde_json::Value = serde_json::from_str(&statement).unwrap();
    assert_eq!(measured, by_agent);
    assert_eq!(measured["subject"].as_array().unwrap().len(), 3);

    // Bad input exits 2 and names the option (the library's tests cover every reason).
    let crafted = craft::crafted_a();
    let mut overlapping = craft::CRAFTED_A_SECTIONS;
    overlapping[1].0 = 0x804000;
    for (name, bytes) in [
        ("truncated.fd", crafted[..crafted.len() - 100].to_vec()),
        ("half.fd", crafted[..crafted.len() / 2].to_vec()),
        ("no-metadata.fd", vec![0; 0x10000]),
        (
            "overlapping.fd",
            craft::sev_firmware(0x10000, &overlapping, craft::CRAFTED_A_HASH_TABLE),
        ),
    ] {
        std::fs::write(image.path(name), bytes).unwrap();
        let output = measure_firmware(&image, name, 4, &[]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: --firmware: "),
            "{name}: {stderr}"
        );
    }
    for (args, option) in [
        (
            &[
                "--vcpus",
                "4",
                "--vcpu-type",
                "EPYC",
                "--output",
                "statement",
            ][..],
            "--expires",
        ),
        (
            &[
                "--vcpus",
                "4",
                "--vcpu-type",
                "EPYC",
                "--output",
                "rv",
                "--name",
                "a b",
            ][..],
            "--name",
        ),
        (
            &["--vcpus", "4", "--vcpu-type", "EPYC", "--vmm", "krun"][..],
            "--vmm",
        ),
        (
            &["--vcpus", "4", "--vcpu-type", "EPYC-Zen9"][..],
            "--vcpu-type",
        ),
        (&["--vcpus", "4"][..], "--vcpu-type"),
        (&["--vcpus", "0", "--vcpu-type", "EPYC"][..], "--vcpus"),
        (
            &[
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC",
                "--guest-features",
                "0x2",
            ][..],
            "--guest-features",
        ),
        (
            &[
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC",
                "--firmware-hash",
                "00",
            ][..],
            "--firmware-hash",
        ),
        (
            &["--vcpus", "1", "--vmm", "ec2", "--vcpu-type", "EPYC"][..],
            "--vcpu-type",
        ),
        (
            &["--vcpus", "1", "--vcpu-type", "EPYC", "--append", "quiet"][..],
            "--append",
        ),
    ] {
        let output = Command::new(binary("warden-verifier"))
            .args(["measure", "snp", "--firmware"])
            .arg(image.path("OVMF.fd"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("error: {option}:")),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn measure_tdx_prints_what_the_library_predicts_and_refuses_what_it_cannot_model() {
    use warden_verifier::measure::tdx::{
        LoadOptionsLayout, PageAddOrder, TdxMeasurementInput, predict,
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let firmware = write("OVMF.tdx.fd", craft::crafted_tdvf());
    let kernel = write("bzImage", craft::crafted_bzimage());
    let initrd = write("initrd.img", craft::test_initrd());
    let tdx = |args: &[&str]| {
        Command::new(binary("warden-verifier"))
            .args(["measure", "tdx", "--firmware", &firmware])
            .args(args)
            .output()
            .unwrap()
    };
    let boot = [
        "--kernel",
        &kernel,
        "--initrd",
        &initrd,
        "--memory-mib",
        "2048",
        "--append",
        "console=hvc0",
        "--load-options",
        "prefix",
    ];
    let expected = predict(&TdxMeasurementInput {
        firmware: &craft::crafted_tdvf(),
        page_add_order: PageAddOrder::SinglePass,
        kernel: Some(&craft::crafted_bzimage()),
        kernel_authenticode: None,
        initrd: Some(&craft::test_initrd()),
        append: Some("console=hvc0"),
        load_options: Some(LoadOptionsLayout::Prefix),
        memory_mib: Some(2048),
    })
    .unwrap();
    let lines = stdout(&tdx(&boot));
    assert_eq!(
        lines,
        format!(
            "mr_td {}\nrtmr1 {}\nrtmr2 {}",
            hex::encode(expected.mr_td),
            hex::encode(expected.rtmr1.unwrap()),
            hex::encode(expected.rtmr2.unwrap())
        )
    );
    let rv: serde_json::Value =
        serde_json::from_str(&stdout(&tdx(&[&boot[..], &["--output", "rv"]].concat()))).unwrap();
    assert_eq!(rv["rtmr2"][0], hex::encode(expected.rtmr2.unwrap()));
    let statement = [
        &boot[..],
        &["--output", "statement", "--expires", "2099-01-01T00:00:00Z"],
    ]
    .concat();
    let statement: serde_json::Value = serde_json::from_str(&stdout(&tdx(&statement))).unwrap();
    assert_eq!(statement["predicate"]["reference_values"]["tdx"], rv);
    let names: Vec<&str> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["OVMF.tdx.fd", "bzImage", "initrd.img"]);
    // MRTD alone, in the other page-add order.
    assert_eq!(
        stdout(&tdx(&["--page-add-order", "two-pass"])),
        "mr_td 008a7b4a17cca33d0105518604c880d36753513a081e8f4845002f3f79e8aee41a0526c5f1252bf862ed5df89e95f05c"
    );

    let snp_only = write("OVMF.snp.fd", craft::crafted_a());
    let output = Command::new(binary("warden-verifier"))
        .args(["measure", "tdx", "--firmware", &snp_only])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "error: --firmware: no TDX metadata (not a TDVF build)"
    );
    let not_a_kernel = write("vmlinux", craft::test_kernel());
    for (args, option) in [
        (vec!["--page-add-order", "sideways"], "--page-add-order"),
        (vec!["--kernel", &kernel], "--load-options"),
        (
            vec!["--kernel", &kernel, "--load-options", "middle"],
            "--load-options",
        ),
        (
            vec![
                "--kernel",
                &kernel,
                "--initrd",
                &initrd,
                "--load-options",
                "suffix",
            ],
            "--memory-mib",
        ),
        (
            vec!["--kernel", &not_a_kernel, "--load-options", "suffix"],
            "--kernel",
        ),
        (vec!["--append", "quiet"], "--append"),
        (
            vec!["--kernel-authenticode", "abcd", "--load-options", "suffix"],
            "--kernel-authenticode",
        ),
        (vec!["--output", "base64"], "--output"),
    ] {
        let output = tdx(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("error: {option}:")),
            "{args:?}: {stderr}"
        );
    }
}
