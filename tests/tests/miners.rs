//! Issue 4, kind 8: miners known by name, stratum URLs and pool/wallet arguments in any spelling,
//! and connections to common mining-pool ports. The "miners" are sleeping shell scripts; pool
//! addresses in arguments are documentation addresses that nothing connects to, and the pool
//! connection goes to a listener the test runs on 127.0.0.1.

use std::{
    net::{Ipv4Addr, TcpListener},
    time::Duration,
};

use sensor_e2e::{
    canary,
    checks::{any_contains, assert_detection, strings},
    docker, fake_wallet, field,
    http::free_port,
    random_in, test_image, text, token, Scope, Sensor, Value, DETECTION_TIMEOUT,
};

/// Runs a container that writes a sleeper to `path` and runs it with `args`.
fn drop_and_run(scope: &Scope, label: &str, path: &str, args: &[String]) -> String {
    let name = scope.name(label);
    let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
    let script = format!(
        "mkdir -p {dir} && printf '#!/bin/sh\\nsleep 5\\n' > {path} && chmod +x {path} && \
         {path} {}",
        args.join(" ")
    );
    let image = test_image();
    docker::run_detached(&name, &[&image, "sh", "-c", &script]);
    name
}

fn expect_miner(sensor: &Sensor, name: &str, path: &str) -> Value {
    let d = sensor.expect(
        &format!("cryptominer for {path} in {name}"),
        |d| {
            text(d, "rule") == "cryptominer"
                && text(d, "container.name") == name
                && text(d, "process.filename") == path
        },
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "cryptominer", "critical", "T1496", name);
    assert_eq!(field(&d, "evidence.written_in_container"), true, "{d}");
    d
}

fn pick<'a>(choices: &[&'a str]) -> &'a str {
    choices[random_in(0..choices.len() as u64) as usize]
}

#[test]
fn copy_named_like_a_known_miner() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let (file, known) = [
        ("xmrig", "xmrig"),
        ("xmrig-6.21.0", "xmrig"),
        ("minerd", "minerd"),
        ("cpuminer-opt", "cpuminer"),
    ][random_in(0..4) as usize];
    let path = format!("/opt/{}/{file}", token(5));
    // Nothing in the arguments gives it away: the name does.
    let args = vec!["--config".to_string(), format!("/etc/{}.json", token(4))];
    let name = drop_and_run(&scope, "worker", &path, &args);

    let d = expect_miner(&sensor, &name, &path);
    let indicator = format!("known miner name: {known}");
    assert!(
        any_contains(&d, "evidence.miner_indicators", &indicator),
        "no {indicator:?} among {:?}: {d}",
        strings(&d, "evidence.miner_indicators")
    );
}

#[test]
fn stratum_pool_and_wallet_arguments() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let port = || random_in(1025..65000).to_string();
    let host = format!("192.0.2.{}", random_in(1..255));
    let wallet = fake_wallet();
    let variants: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "ssl",
            vec![
                "-o".into(),
                format!("stratum+ssl://{host}:{}", port()),
                "-k".into(),
            ],
            "stratum URL",
        ),
        (
            "inline",
            vec![
                format!("--url=stratum+tcp://{host}:{}", port()),
                "--tls".into(),
            ],
            "stratum URL",
        ),
        (
            "wallet",
            vec![
                pick(&["-u", "--user", "--wallet"]).into(),
                wallet.clone(),
                "-o".into(),
                format!("{host}:{}", port()),
            ],
            "wallet-like user",
        ),
        (
            "poolpair",
            vec![
                "-o".into(),
                format!("{host}:{}", pick(&["3333", "14444", "5555", "7777"])),
                "-p".into(),
                "x".into(),
            ],
            "pool port",
        ),
        (
            "algo",
            vec![
                pick(&["--algo=rx/0", "--algo=cryptonight"]).into(),
                "-t".into(),
                "2".into(),
            ],
            "mining algorithm",
        ),
    ];
    let mut runs = Vec::new();
    for (label, args, indicator) in &variants {
        // Innocent names in innocent places: only the arguments say "miner".
        let path = format!("/usr/lib/{}/svc-{}", token(4), token(5));
        let name = drop_and_run(&scope, label, &path, args);
        runs.push((name, path, args, indicator));
    }
    for (name, path, args, indicator) in runs {
        let d = expect_miner(&sensor, &name, &path);
        assert!(
            any_contains(&d, "evidence.miner_indicators", indicator),
            "{name}: no {indicator:?} among {:?}: {d}",
            strings(&d, "evidence.miner_indicators")
        );
        let argv = strings(&d, "process.argv");
        for arg in args.iter() {
            assert!(argv.contains(&arg.as_str()), "argv lacks {arg}: {d}");
        }
    }
}

/// A listener on the first free port among common pool ports.
fn pool_listener() -> (TcpListener, u16) {
    const CANDIDATES: &[u16] = &[3333, 14444, 4444, 5555, 7777, 3334];
    for &port in CANDIDATES {
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            return (listener, port);
        }
    }
    panic!("none of the pool ports {CANDIDATES:?} is free on 127.0.0.1");
}

#[test]
fn connection_to_a_mining_pool_port() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let (_listener, port) = pool_listener();
    // Refused at once (nobody listens): an ordinary port for contrast. The pool listener never
    // accepts, so the client is cut off by `timeout`.
    let other = free_port();
    let name = scope.name("netjob");
    let script = format!(
        "echo | timeout 3 nc 127.0.0.1 {other}; echo | timeout 3 nc 127.0.0.1 {port}; true"
    );
    let image = test_image();
    docker::run_detached(&name, &["--network", "host", &image, "sh", "-c", &script]);

    let d = sensor.expect(
        &format!("mining-pool-connection from {name}"),
        |d| text(d, "rule") == "mining-pool-connection" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "mining-pool-connection", "medium", "T1496", &name);
    assert_eq!(text(&d, "evidence.address"), "127.0.0.1", "{d}");
    assert_eq!(field(&d, "evidence.port"), port, "{d}");

    docker::wait_exited(&name, Duration::from_secs(30));
    canary::trigger(&scope, &[]).expect(&sensor, DETECTION_TIMEOUT);
    let pool: Vec<String> = sensor
        .detections_for_container(&name)
        .iter()
        .filter(|d| text(d, "rule") == "mining-pool-connection")
        .map(Value::to_string)
        .collect();
    assert_eq!(
        pool.len(),
        1,
        "only the pool port is a pool connection:\n{}",
        pool.join("\n")
    );
}
