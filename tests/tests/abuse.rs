//! Abuse: the real `warden-kbs` and `warden-verifier` binaries on loopback, attacked as an
//! unauthenticated client would, from many 127.x.y.z source addresses (all of 127/8 reaches
//! loopback on Linux). After each attack a legitimate client from a fresh address must still
//! complete a full round (auth, attest, resource, decrypt), and what the attacker made the
//! server hold must stay bounded. Figures are printed (`abuse: ...`) for the closing notes;
//! nothing here asserts a duration.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use warden_kbs::admin::{ADMIN_AUDIENCE, sign_token};
use warden_tests::verifier_service::{MtlsPki, VerifierProcess};
use warden_tests::{Kbs, KbsOptions, RawClient};

const SECRET: &[u8] = b"warden-abuse-secret-41c7";
const RESOURCE: &str = "abuse/key/one";

fn address(a: u8, b: u8, c: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, a, b, c))
}

/// A full round from `source`: challenge, sample attestation, the secret decrypted.
async fn legitimate_round(kbs: &Kbs, source: IpAddr) {
    let client = RawClient::from_address(kbs, source);
    client.attest().await;
    let (status, envelope) = client
        .get(&format!("/kbs/v0/resource/{RESOURCE}"), None)
        .await;
    assert_eq!(status, 200, "legitimate client from {source}: {envelope}");
    assert_eq!(client.decrypt(&envelope), SECRET);
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn socket_address(url: &str) -> SocketAddr {
    url.trim_start_matches("https://").parse().unwrap()
}

/// A TCP connection to `to` from `source` that never sends a byte.
async fn silent_connection(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(to).await
}

/// Whether the server closes `stream` within `wait`: reads (of anything it sends first)
/// end in EOF or a reset.
async fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buffer = [0u8; 512];
    let reads = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(wait, reads).await.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_auth_flood_from_100_addresses_costs_no_memory_and_no_log() {
    // No rate limit: what is measured is what an unauthenticated /auth costs when admitted.
    let kbs = Kbs::start(KbsOptions {
        log_filter: "info",
        remote_verifier: false,
        ..KbsOptions::default()
    });
    kbs.provision_sample(RESOURCE, SECRET, "abuse/");
    legitimate_round(&kbs, address(2, 0, 1)).await;
    let (rss_before, _) = kbs.rss_kib();
    let log_before = kbs.log().len();

    // 100 addresses x 1,000 requests; every 10th names a 16 KiB TEE, which is refused.
    let long_tee = "x".repeat(16 * 1024);
    let mut attackers = Vec::new();
    for n in 0..100u8 {
        let http = kbs.http_from(address(1, 0, n + 1));
        let url = format!("{}/kbs/v0/auth", kbs.url);
        let long_tee = long_tee.clone();
        attackers.push(tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            for i in 0..1000 {
                let tee = if i % 10 == 0 {
                    long_tee.as_str()
                } else {
                    "sample"
                };
                let response = http
                    .post(&url)
                    .json(&json!({"version": "0.4.0", "tee": tee, "extra-params": {}}))
                    .send()
                    .await
                    .unwrap();
                *statuses.entry(response.status().as_u16()).or_default() += 1;
                let _ = response.bytes().await;
            }
            statuses
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for attacker in attackers {
        for (status, count) in attacker.await.unwrap() {
            *statuses.entry(status).or_default() += count;
        }
    }
    let (rss_after, peak) = kbs.rss_kib();
    let log_growth = kbs.log().len() - log_before;
    println!(
        "abuse: 100000 unauthenticated /auth from 100 addresses: statuses {statuses:?}; KBS RSS before {:.1} MiB, after {:.1} MiB, peak {:.1} MiB; log grew {log_growth} bytes",
        mib(rss_before),
        mib(rss_after),
        mib(peak)
    );
    assert_eq!(statuses.get(&200), Some(&90_000), "{statuses:?}");
    assert_eq!(
        statuses.get(&400).copied().unwrap_or(0) + statuses.get(&413).copied().unwrap_or(0),
        10_000,
        "oversized TEE names are refused: {statuses:?}"
    );
    assert!(peak < 100 * 1024, "KBS peaked at {:.1} MiB", mib(peak));
    // Unauthenticated calls log nothing at info: the flood cannot fill the disk.
    assert!(log_growth < 64 * 1024, "log grew {log_growth} bytes");
    legitimate_round(&kbs, address(2, 0, 2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attested_sessions_and_rate_limits_cannot_lock_others_out() {
    let kbs = Kbs::start(KbsOptions {
        max_sessions: Some(4),
        auth_per_second: 1.0,
        auth_burst: 3.0,
        remote_verifier: false,
        ..KbsOptions::default()
    });
    kbs.provision_sample(RESOURCE, SECRET, "abuse/");
    // Ten addresses each hold an attested session (the sample TEE lets anyone attest), more
    // than the table's four...
    let mut held = Vec::new();
    for n in 0..10u8 {
        let client = RawClient::from_address(&kbs, address(3, 0, n + 1));
        client.attest().await;
        held.push(client);
    }
    // ...and then spend their whole /auth budget (with a second client: a new challenge
    // replaces the cookie of the attested one).
    for n in 0..10u8 {
        let spender = RawClient::from_address(&kbs, address(3, 0, n + 1));
        let mut refused = false;
        for _ in 0..5 {
            refused |= spender.auth().await.0 == 429;
        }
        assert!(refused, "the per-address budget is enforced");
    }
    // The oldest sessions made room in memory instead of the newcomers being refused; the
    // store still holds them, so every one is served (read back, its token verified again).
    for client in [&held[0], &held[9]] {
        let (status, body) = client
            .get(&format!("/kbs/v0/resource/{RESOURCE}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let metrics = kbs.http().get(format!("{}/metrics", kbs.url)).send().await;
    let metrics = metrics.unwrap().text().await.unwrap();
    let sessions: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("warden_kbs_sessions "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sessions gauge in\n{metrics}"));
    println!("abuse: 10 attested attackers, max_sessions 4: sessions held {sessions}");
    assert!(sessions <= 4.0);
    legitimate_round(&kbs, address(3, 1, 1)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_connections_are_bounded_per_client_and_closed_when_idle() {
    let kbs = Kbs::start(KbsOptions {
        extra_config: "[server]\nmax_connections_per_client = 16\nheader_timeout = \"2s\"\nidle_timeout = \"3s\"\n".into(),
        remote_verifier: false,
        ..KbsOptions::default()
    });
    kbs.provision_sample(RESOURCE, SECRET, "abuse/");
    let target = socket_address(&kbs.url);
    let fds_before = kbs.open_fds();
    // Two addresses open 500 connections each and send nothing.
    let mut silent = Vec::new();
    for n in 0..1000u32 {
        let source = address(4, 0, 1 + (n % 2) as u8);
        if let Ok(stream) = silent_connection(source, target).await {
            silent.push(stream);
        }
    }
    // Wait until the server has decided about each, then look at what it holds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fds_during = kbs.open_fds();
    println!(
        "abuse: 1000 silent connections from 2 addresses: KBS descriptors {fds_before} before, {fds_during} during"
    );
    assert!(
        fds_during <= fds_before + 2 * 16 + 8,
        "each address holds at most 16 connections: {fds_during} descriptors"
    );
    let health = kbs
        .http_from(address(4, 1, 1))
        .get(format!("{}/healthz", kbs.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    legitimate_round(&kbs, address(4, 1, 2)).await;
    // The admitted silent ones are closed once the handshake and idle timeouts pass.
    let mut still_open = 0;
    for stream in &mut silent {
        if !closed_by_server(stream, Duration::from_secs(10)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "silent connections outlived the timeouts");
    legitimate_round(&kbs, address(4, 1, 3)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_verifier_service_closes_silent_connections_and_the_kbs_never_hangs_on_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = MtlsPki::generate(&dir.path().join("pki"));
    let service = VerifierProcess::start(
        &pki,
        &dir.path().join("verifier"),
        &[
            "--idle-timeout".into(),
            "2s".into(),
            "--max-connections-per-client".into(),
            "8".into(),
        ],
    );
    let service_address = socket_address(&service.url);
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(
            silent_connection(address(5, 0, 1), service_address)
                .await
                .unwrap(),
        );
    }
    let mut closed = 0;
    for stream in &mut silent {
        closed += usize::from(closed_by_server(stream, Duration::from_secs(10)).await);
    }
    println!("abuse: 50 silent connections to the verifier service: {closed} closed by it");
    assert_eq!(
        closed, 50,
        "beyond 8 at once, and after 2 s idle, each is closed"
    );
    // A client without a certificate is refused, and the service says so.
    let anonymous = warden_tests::client_trusting(&pki.file("ca.pem"), true)
        .build()
        .unwrap();
    let refused = anonymous
        .post(format!(
            "{}/warden.verifier.v1.Verifier/Health",
            service.url
        ))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client without a certificate got an answer"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = service.log();
    assert!(
        log.lines().any(|line| line.contains("tls accept error")),
        "the refused handshake is logged:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "the service log carries no colour codes"
    );

    // A KBS whose verifier accepts TCP and then says nothing: /attest fails, it does not hang.
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole = black_hole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = black_hole.accept().await {
            held.push(stream);
        }
    });
    let kbs = Kbs::start(KbsOptions {
        allow_sample: false,
        remote_verifier: false,
        extra_config: format!(
            "[verifier]\nurl = \"https://{hole}\"\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\ntimeout = \"2s\"\n",
            pki.file("ca.pem").display(),
            pki.file("client.pem").display(),
            pki.file("client.key").display()
        ),
        ..KbsOptions::default()
    });
    let client = RawClient::from_address(&kbs, address(5, 1, 1));
    let (status, challenge) = client.auth().await;
    assert_eq!(status, 200, "{challenge}");
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    // Liveness bound only: without the call deadline this waited over 150 s.
    let attest = client.post("/kbs/v0/attest", client.attestation(&nonce, &nonce));
    let (status, body) = tokio::time::timeout(Duration::from_secs(60), attest)
        .await
        .expect("/attest answered");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["type"], "https://github.com/confidential-containers/kbs/errors/VerifierUnavailable",
        "{body}"
    );
    let ready = kbs.http().get(format!("{}/readyz", kbs.url)).send().await;
    assert_eq!(
        ready.unwrap().status(),
        503,
        "not ready while the verifier is not"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_text_cannot_forge_a_log_line() {
    let kbs = Kbs::start(KbsOptions {
        remote_verifier: false,
        ..KbsOptions::default()
    });
    let forged = "\n2026-12-03T00:00:00.000000Z  INFO warden_kbs::service: resource released tee=snp resource=FORGED\u{1b}[2K";
    let client = RawClient::from_address(&kbs, address(6, 0, 1));
    // A TEE name is refused before anything could log it.
    let (status, body) = client.auth_as(&format!("sample{forged}")).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.to_string().contains("FORGED"), "not echoed: {body}");
    // Field names of rejected evidence reach the log through the verifier's error.
    let (status, challenge) = client.auth().await;
    assert_eq!(status, 200);
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    let mut attestation = client.attestation(&nonce, &nonce);
    attestation["tee-evidence"]["primary_evidence"][format!("svn{forged}")] = json!("1");
    let (status, body) = client.post("/kbs/v0/attest", attestation).await;
    assert_eq!(status, 401, "{body}");

    // An admin token's subject is logged with every change it makes.
    let key = std::fs::read(kbs.home().join("keys/admin.key")).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"sub": format!("ops{forged}"), "aud": ADMIN_AUDIENCE, "iat": now, "exp": now + 60, "jti": "forger", "roles": ["admin"]});
    let token = sign_token("admin", &key, &claims).unwrap();
    let (status, body) = kbs
        .put_as(&token, "/kbs/v0/admin/resources/a/b/c", "x")
        .await;
    assert_eq!(status, 204, "{body}");

    let log = kbs.log();
    assert!(
        log.lines()
            .any(|line| line.contains("resource stored") && line.contains("ops\\n2026")),
        "the subject is logged, escaped:\n{log}"
    );
    let rejected: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("attestation rejected"))
        .collect();
    assert!(
        rejected
            .iter()
            .any(|line| line.contains("FORGED") && line.contains("\\n")),
        "the rejection is logged with the untrusted text escaped:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no terminal escape reached the log"
    );
    for line in log.lines() {
        assert!(
            line.starts_with("20") && !line.starts_with("2026-12-03T00:00:00.000000Z"),
            "a line not written by the logger: {line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn weakening_options_are_loud_and_discovery_names_the_public_url() {
    let kbs = Kbs::start(KbsOptions {
        remote_verifier: false,
        extra_config: "[tpm]\nallow_sha1 = true\n[tdx]\nallow_missing_crl = true\n".into(),
        ..KbsOptions::default()
    });
    let log = kbs.log();
    for option in ["allow_sha1", "allow_missing_crl"] {
        assert!(
            log.lines().any(|line| line.contains("WARN")
                && line.contains("WEAKENED")
                && line.contains(option)),
            "no start-up warning for {option}:\n{log}"
        );
    }
    drop(kbs);

    // Without public_url a wildcard listener cannot name its URL: discovery refuses.
    let wildcard = Kbs::start(KbsOptions {
        remote_verifier: false,
        listen: "0.0.0.0:0",
        ..KbsOptions::default()
    });
    let response = wildcard
        .http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            wildcard.url.replace("0.0.0.0", "127.0.0.1")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    drop(wildcard);

    let public = Kbs::start(KbsOptions {
        remote_verifier: false,
        top_config: "public_url = \"https://kbs.example.com\"".into(),
        ..KbsOptions::default()
    });
    let discovery: Value = public
        .http()
        .get(format!("{}/.well-known/openid-configuration", public.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["jwks_uri"],
        "https://kbs.example.com/.well-known/jwks.json"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_high_s_twin_of_a_valid_token_is_refused() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let kbs = Kbs::start(KbsOptions {
        remote_verifier: false,
        ..KbsOptions::default()
    });
    kbs.provision_sample(RESOURCE, SECRET, "abuse/");
    let client = RawClient::from_address(&kbs, address(7, 0, 1));
    let token = client.attest().await;
    let path = format!("/kbs/v0/resource/{RESOURCE}");
    assert_eq!(client.get(&path, Some(&token)).await.0, 200);
    // s -> n - s: the same signature in its other, malleated form.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let n =
        hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").unwrap();
    let mut twin = signature.clone();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let difference = i16::from(n[i]) - i16::from(signature[32 + i]) - borrow;
        twin[32 + i] = difference.rem_euclid(256) as u8;
        borrow = i16::from(difference < 0);
    }
    let twin = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(twin));
    let fresh = RawClient::from_address(&kbs, address(7, 0, 2));
    let (status, body) = fresh.get(&path, Some(&twin)).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("high-S"),
        "{body}"
    );
}

/// `PUT` of a policy through the admin API: status and body.
async fn put_policy(kbs: &Kbs, path_and_query: &str, source: String) -> (u16, Value) {
    let path = format!("/kbs/v0/admin/policies/{path_and_query}");
    kbs.put_as(&kbs.admin_token("admin"), &path, source).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_built_to_hang_the_compiler_is_refused_and_sigterm_still_ends_the_kbs() {
    let mut kbs = Kbs::start(KbsOptions {
        remote_verifier: false,
        ..KbsOptions::default()
    });
    kbs.provision_sample(RESOURCE, SECRET, "abuse/");
    let listed = |kbs: &Kbs| kbs.admin(&["policy", "list"]).stdout;
    let before = listed(&kbs);
    // 250 nested brackets: this aborted the process (stack overflow); 100 spun for 38 CPU-minutes.
    let nested = |package: &str, rule: &str, depth: usize| {
        format!(
            "package {package}\n{rule} if {{ x := {}1{} }}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    for depth in [250, 100, 18] {
        let (status, body) = put_policy(
            &kbs,
            "release?prefix=abuse/",
            nested("warden.release", "allow", depth),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["type"].as_str().unwrap().ends_with("PolicyInvalid"),
            "{body}"
        );
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                // The rule body's braces are one more level.
                .contains(&format!("nests brackets {} deep", depth + 1)),
            "{body}"
        );
        let (status, body) = put_policy(
            &kbs,
            "appraisal",
            nested("warden.appraisal", "trust_vector", depth),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(listed(&kbs), before, "nothing was stored");
    legitimate_round(&kbs, address(8, 0, 1)).await;
    // Release-policy prefixes match whole segments, and prefixes that can never match are
    // refused.
    let allow = std::fs::read_to_string(
        warden_tests::repo_root().join("policies/allow-insecure-sample.rego"),
    )
    .unwrap();
    for prefix in ["..", "/", "a//b", "a/b/c/d"] {
        let (status, body) =
            put_policy(&kbs, &format!("release?prefix={prefix}"), allow.clone()).await;
        assert_eq!(status, 400, "prefix {prefix:?}: {body}");
    }
    let (status, body) = put_policy(&kbs, "release?prefix=abu", allow).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = put_policy(
        &kbs,
        "release?prefix=abuse/",
        "package warden.release\nallow := false\n".into(),
    )
    .await;
    assert_eq!(status, 200);
    let client = RawClient::from_address(&kbs, address(8, 0, 2));
    client.attest().await;
    let (status, body) = client
        .get(&format!("/kbs/v0/resource/{RESOURCE}"), None)
        .await;
    assert_eq!(status, 403, "prefix abu does not cover abuse/...: {body}");
    // An operator's SIGTERM ends the process.
    let status = kbs.terminate(Duration::from_secs(30));
    assert!(status.is_some(), "the KBS ignored SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_trickled_byte_by_byte_is_cut_off_by_the_head_timeout() {
    // Plain HTTP to reach the HTTP layer with a raw socket; TLS adds its own handshake timeout.
    let kbs = Kbs::start(KbsOptions {
        remote_verifier: false,
        top_config: "insecure_http = true".into(),
        extra_config: "[server]\nheader_timeout = \"2s\"\nidle_timeout = \"30s\"\n".into(),
        ..KbsOptions::default()
    });
    let target = socket_address(&kbs.url);
    let mut slow = silent_connection(address(9, 0, 1), target).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: kbs\r\n")
        .await
        .unwrap();
    // A byte a second keeps the connection far from idle but never completes the head.
    let mut seconds = 0;
    let mut closed = false;
    while seconds < 20 && !closed {
        closed = slow.write_all(b"X").await.is_err()
            || closed_by_server(&mut slow, Duration::from_secs(1)).await;
        seconds += 1;
    }
    println!(
        "abuse: a head trickled at one byte per second was cut off after about {seconds} s (head timeout 2 s, idle timeout 30 s)"
    );
    assert!(
        closed,
        "the trickled head outlived the 2 s head timeout by 20 s"
    );
    let health = kbs
        .http()
        .get(format!("http://{target}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_policy_past_the_limits_stops_start_up_and_the_named_command_removes_it() {
    let mut kbs = Kbs::start(KbsOptions {
        remote_verifier: false,
        ..KbsOptions::default()
    });
    assert!(kbs.terminate(Duration::from_secs(30)).is_some());
    // Stored by an earlier build that had no limits: written to the store directly.
    let store = kbs.open_store().await;
    let nested = format!(
        "package warden.release\nallow if {{ x := {}1{} }}\n",
        "[".repeat(250),
        "]".repeat(250)
    );
    store
        .put_policy(warden_store::PolicyKind::Release, "b/", &nested)
        .await
        .unwrap();
    drop(store);
    let config = kbs.home().join("kbs.toml");
    let mut serve = std::process::Command::new(warden_tests::binary("warden-kbs"));
    serve.arg("serve").arg("--config").arg(&config);
    let refused = warden_tests::run_until_exit(serve);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nests brackets 251 deep")
            && stderr.contains(
                "warden-kbs remove-stored-policy --config <kbs.toml> --kind release --name \"b/\""
            ),
        "{stderr}"
    );
    let removed = warden_tests::run_ok(
        std::process::Command::new(warden_tests::binary("warden-kbs"))
            .args([
                "remove-stored-policy",
                "--kind",
                "release",
                "--name",
                "b/",
                "--config",
            ])
            .arg(&config),
    );
    assert_eq!(String::from_utf8_lossy(&removed.stdout).trim(), "removed");
    kbs.crash_and_restart();
    let health = kbs
        .http()
        .get(format!("{}/healthz", kbs.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_megabyte_attestations_hold_bounded_memory() {
    let kbs = Kbs::start(KbsOptions {
        log_filter: "info",
        remote_verifier: false,
        ..KbsOptions::default()
    });
    kbs.provision_sample(RESOURCE, SECRET, "abuse/");
    let (rss_before, _) = kbs.rss_kib();
    // 8 addresses, each with a valid (free) ticket, send 16 attestations at once, 6 rounds:
    // each nearly the 1 MiB body limit, evidence the verifier must parse and refuse.
    let filler = "A".repeat(1000 * 1024);
    let mut attackers = Vec::new();
    for n in 0..8u8 {
        let client = RawClient::from_address(&kbs, address(10, 0, n + 1));
        let filler = filler.clone();
        attackers.push(tokio::spawn(async move {
            let (status, challenge) = client.auth().await;
            assert_eq!(status, 200);
            let nonce = challenge["nonce"].as_str().unwrap().to_owned();
            let mut body = client.attestation(&nonce, &nonce);
            body["tee-evidence"]["primary_evidence"]["svn"] = json!(filler);
            let client = std::sync::Arc::new(client);
            let mut statuses = Vec::new();
            for _ in 0..6 {
                let sends: Vec<_> = (0..16)
                    .map(|_| {
                        let (client, body) = (client.clone(), body.clone());
                        tokio::spawn(async move {
                            let url = format!("{}/kbs/v0/attest", client.url);
                            match client.http.post(url).json(&body).send().await {
                                Ok(response) => response.status().as_u16(),
                                // A connection the server closed: counted, not fatal.
                                Err(_) => 0,
                            }
                        })
                    })
                    .collect();
                for send in sends {
                    statuses.push(send.await.unwrap());
                }
            }
            statuses
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for attacker in attackers {
        for status in attacker.await.unwrap() {
            *statuses.entry(status).or_default() += 1;
        }
    }
    let (rss_after, peak) = kbs.rss_kib();
    println!(
        "abuse: 768 attestations of ~1 MiB, 128 at a time from 8 addresses: statuses {statuses:?}; KBS RSS before {:.1} MiB, after {:.1} MiB, peak {:.1} MiB",
        mib(rss_before),
        mib(rss_after),
        mib(peak)
    );
    assert!(!statuses.contains_key(&200), "{statuses:?}");
    assert!(peak < 200 * 1024, "KBS peaked at {:.1} MiB", mib(peak));
    legitimate_round(&kbs, address(10, 1, 1)).await;
}
