//! What happened earlier in a container that explains a file: downloads (`wget`, `curl`, …
//! with their URL and output file) and `chmod +x`.

use serde_json::{json, Value};

use super::basename;

/// Programs that fetch files.
const DOWNLOADERS: &[&str] = &[
    "wget",
    "curl",
    "ftpget",
    "tftp",
    "aria2c",
    "fetch",
    "lwp-download",
];

/// Something earlier in the container that explains a file.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub ktime_ns: u64,
    pub tool: String,
    pub url: Option<String>,
    /// The output file as the command named it (absolute, relative, or just a name).
    pub output: Option<String>,
    pub made_executable: bool,
}

/// The transfer an exec of `tool` with `argv` performs, if it is one.
pub fn parse(tool: &str, argv: &[&str]) -> Option<Transfer> {
    if DOWNLOADERS.contains(&tool) {
        download(tool, argv)
    } else if tool == "chmod" {
        chmod(argv)
    } else {
        None
    }
}

/// Whether this transfer is about the file at `path`.
pub fn explains(transfer: &Transfer, path: &str) -> bool {
    let name = basename(path);
    let by_output = transfer
        .output
        .as_deref()
        .is_some_and(|o| o == path || (!o.starts_with('/') && basename(o) == name));
    let by_url = transfer.output.is_none()
        && transfer
            .url
            .as_deref()
            .is_some_and(|u| basename(u.split(['?', '#']).next().unwrap_or(u)) == name);
    by_output || by_url
}

/// A history entry for the evidence. `made_executable` appears on the `chmod` that did it only:
/// on a download it would read as "the file was not executable", which the download cannot
/// tell (busybox's shell runs `chmod` in-process, without an exec to see; the file's `mode` in
/// the evidence is the answer).
pub fn to_json(t: &Transfer) -> Value {
    let mut entry = json!({
        "tool": t.tool,
        "url": t.url,
        "output": t.output,
        "ktime_ns": t.ktime_ns,
    });
    if t.made_executable {
        entry["made_executable"] = Value::Bool(true);
    }
    entry
}

/// `wget [-O file] URL`, `curl [-o file | -O] URL`.
fn download(tool: &str, argv: &[&str]) -> Option<Transfer> {
    let url = argv
        .iter()
        .skip(1)
        .find(|a| a.contains("://"))
        .map(|a| a.to_string());
    let mut output = None;
    let mut remote_name = false;
    let mut args = argv.iter().skip(1).peekable();
    while let Some(arg) = args.next() {
        let value = |long: &str| arg.strip_prefix(long).and_then(|v| v.strip_prefix('='));
        match *arg {
            "-O" if tool == "wget" => output = args.next().map(|s| s.to_string()),
            "-o" | "--output" if tool != "wget" => output = args.next().map(|s| s.to_string()),
            "--output-document" => output = args.next().map(|s| s.to_string()),
            "-O" | "--remote-name" => remote_name = true,
            "-l" if tool == "tftp" => output = args.next().map(|s| s.to_string()),
            _ => {
                if let Some(v) = value("--output-document").or_else(|| value("--output")) {
                    output = Some(v.to_string());
                } else if let Some(v) = arg
                    .strip_prefix("-O")
                    .filter(|v| !v.is_empty() && tool == "wget")
                {
                    output = Some(v.to_string());
                }
            }
        }
    }
    if url.is_none() && output.is_none() {
        return None;
    }
    if output.is_none() && (remote_name || tool == "wget") {
        output = url
            .as_deref()
            .map(|u| basename(u.split(['?', '#']).next().unwrap_or(u)).to_string());
    }
    Some(Transfer {
        ktime_ns: 0,
        tool: tool.to_string(),
        url,
        output,
        made_executable: false,
    })
}

/// `chmod +x f`, `chmod 755 f`, `chmod u+x,g+x f`.
fn chmod(argv: &[&str]) -> Option<Transfer> {
    let mut args = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-') || a.contains('x'));
    let mode = *args.next()?;
    let executable = mode.contains('x')
        || (mode.len() >= 3
            && mode.bytes().all(|b| (b'0'..=b'7').contains(&b))
            && mode.bytes().any(|b| (b - b'0') & 1 == 1));
    if !executable {
        return None;
    }
    let file = args.next()?;
    Some(Transfer {
        ktime_ns: 0,
        tool: "chmod".into(),
        url: None,
        output: Some(file.to_string()),
        made_executable: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_download_and_chmod_commands() {
        let t = download("wget", &["wget", "http://h/p/xmrig?x=1"]).unwrap();
        assert_eq!(t.output.as_deref(), Some("xmrig"));
        let t = download("curl", &["curl", "-sSL", "-o", "/tmp/a", "http://h/a"]).unwrap();
        assert_eq!(t.output.as_deref(), Some("/tmp/a"));
        let t = download("curl", &["curl", "--output=/x", "http://h/a"]).unwrap();
        assert_eq!(t.output.as_deref(), Some("/x"));
        let t = download("wget", &["wget", "-O/tmp/b", "http://h/b"]).unwrap();
        assert_eq!(t.output.as_deref(), Some("/tmp/b"));
        assert!(download("curl", &["curl", "--version"]).is_none());

        assert_eq!(
            chmod(&["chmod", "+x", "/tmp/m"]).unwrap().output.as_deref(),
            Some("/tmp/m")
        );
        assert_eq!(
            chmod(&["chmod", "0755", "m"]).unwrap().output.as_deref(),
            Some("m")
        );
        assert!(chmod(&["chmod", "644", "m"]).is_none());
        assert!(chmod(&["chmod", "-R", "g-w", "d"]).is_none());
    }
}
