//! Issue 4, kind 7: kernel module loading from a container. This kernel has no module support
//! (no init_module tracepoints), so the module tools' execs are what is seen; busybox runs them
//! by explicit path so they really exec.

use sensor_e2e::{
    checks::assert_detection, docker, test_image, text, token, Scope, Sensor, Value,
    DETECTION_TIMEOUT,
};

fn expect_module(sensor: &Sensor, name: &str) -> Value {
    let d = sensor.expect(
        &format!("kernel-module-load in {name}"),
        |d| text(d, "rule") == "kernel-module-load" && text(d, "container.name") == name,
        DETECTION_TIMEOUT,
    );
    assert_detection(&d, "kernel-module-load", "high", "T1547.006", name);
    d
}

#[test]
fn module_tools_in_a_container() {
    let scope = Scope::new();
    let sensor = Sensor::start(&[]);
    let image = test_image();

    // Module tools that load nothing come first: once the later detections are out, these
    // were judged too.
    let inspector = scope.name("modlist");
    let module_name = format!("k{}", token(6));
    let script =
        format!("/bin/lsmod; /bin/modprobe -r {module_name}; /bin/rmmod {module_name}; true");
    docker::run_rm(&inspector, &[&image, "sh", "-c", &script]);

    let loader = scope.name("drv");
    let module = format!("/tmp/{}.ko", token(7));
    let script = format!("printf 'x' > {module}; /bin/insmod {module}; true");
    docker::run_rm(&loader, &[&image, "sh", "-c", &script]);

    let prober = scope.name("probe");
    let script = format!("/bin/modprobe {module_name}; true");
    docker::run_rm(&prober, &[&image, "sh", "-c", &script]);

    let d = expect_module(&sensor, &loader);
    assert_eq!(text(&d, "evidence.module"), module, "{d}");
    assert_eq!(text(&d, "evidence.tool"), "insmod", "{d}");
    assert_eq!(text(&d, "process.filename"), "/bin/insmod", "{d}");

    let d = expect_module(&sensor, &prober);
    assert_eq!(text(&d, "evidence.module"), module_name, "{d}");
    assert_eq!(text(&d, "evidence.tool"), "modprobe", "{d}");

    let quiet: Vec<Value> = sensor
        .detections_for_container(&inspector)
        .into_iter()
        .filter(|d| text(d, "rule") == "kernel-module-load")
        .collect();
    assert!(
        quiet.is_empty(),
        "listing or removing modules was called a load: {quiet:?}"
    );
}
