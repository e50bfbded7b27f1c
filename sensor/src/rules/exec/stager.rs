//! Decode-and-run stagers: a decoder (`base64 -d`, `xxd -r`, …) and a shell reading its script
//! from stdin, started by the same parent within a short time — the two ends of
//! `echo … | base64 -d | sh`. Either may exec first.

use std::collections::VecDeque;

/// Shells, by program name.
pub const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"];

/// How close together the two ends must start.
const PIPELINE_NS: u64 = 2_000_000_000;

/// One half of a decode-and-run pipeline.
#[derive(Clone, Debug)]
pub struct PipelineStep {
    pub ktime_ns: u64,
    pub ppid: u32,
    pub decoder: bool,
    pub argv: String,
}

/// The pipeline end an exec is, if it is one.
pub fn step(tool: &str, argv: &[&str], ktime_ns: u64, ppid: u32) -> Option<PipelineStep> {
    let decoder = is_decoder(tool, argv);
    let shell = SHELLS.contains(&tool) && reads_stdin(argv);
    (decoder || shell).then(|| PipelineStep {
        ktime_ns,
        ppid,
        decoder,
        argv: argv.join(" "),
    })
}

/// Pairs `this` with a waiting partner end (returned as `(decoder, shell)`), or keeps it waiting
/// (at most `capacity` ends are kept).
pub fn pair(
    waiting: &mut VecDeque<PipelineStep>,
    this: PipelineStep,
    capacity: usize,
) -> Option<(PipelineStep, PipelineStep)> {
    let partner = waiting.iter().position(|step| {
        step.decoder != this.decoder
            && step.ppid == this.ppid
            && this.ktime_ns.abs_diff(step.ktime_ns) <= PIPELINE_NS
    });
    let Some(index) = partner else {
        if waiting.len() >= capacity {
            waiting.pop_front();
        }
        waiting.push_back(this);
        return None;
    };
    let partner = waiting.remove(index)?;
    Some(if this.decoder {
        (this, partner)
    } else {
        (partner, this)
    })
}

/// `base64 -d`, `base32 --decode`, `openssl base64 -d`, `xxd -r`, `uudecode`.
fn is_decoder(tool: &str, argv: &[&str]) -> bool {
    let has = |flag: &str| argv.iter().skip(1).any(|a| *a == flag);
    match tool {
        "base64" | "base32" | "basenc" => has("-d") || has("--decode") || has("-D"),
        "openssl" => argv.iter().any(|a| a.contains("base64")) && has("-d"),
        "xxd" => has("-r"),
        "uudecode" => true,
        _ => false,
    }
}

/// A shell that reads its script from stdin: `sh`, `sh -s`, `bash -`.
fn reads_stdin(argv: &[&str]) -> bool {
    match argv.get(1) {
        None => true,
        Some(arg) => {
            *arg == "-s"
                || *arg == "-"
                || (arg.starts_with('-') && !arg.contains('c') && argv.len() == 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_decoders_and_stdin_shells() {
        assert!(step("base64", &["base64", "-d"], 0, 1).is_some_and(|s| s.decoder));
        assert!(step("openssl", &["openssl", "base64", "-d"], 0, 1).is_some_and(|s| s.decoder));
        assert!(step("sh", &["sh"], 0, 1).is_some_and(|s| !s.decoder));
        assert!(step("bash", &["bash", "-s"], 0, 1).is_some());
        assert!(step("sh", &["sh", "-c", "echo"], 0, 1).is_none());
        assert!(step("sh", &["sh", "/tmp/x.sh"], 0, 1).is_none());
        assert!(step("base64", &["base64", "file"], 0, 1).is_none());
    }

    #[test]
    fn pairs_only_ends_of_the_same_parent_close_in_time() {
        let mut waiting = VecDeque::new();
        let shell = step("sh", &["sh"], 1_000, 7).unwrap();
        assert!(pair(&mut waiting, shell, 4).is_none());
        let other_parent = step("base64", &["base64", "-d"], 1_500, 8).unwrap();
        assert!(pair(&mut waiting, other_parent, 4).is_none());
        let decoder = step("base64", &["base64", "-d"], 2_000, 7).unwrap();
        let (d, s) = pair(&mut waiting, decoder, 4).unwrap();
        assert!(d.decoder && !s.decoder);
        let late = step("sh", &["sh"], 9_000_000_000, 8).unwrap();
        assert!(
            pair(&mut waiting, late, 4).is_none(),
            "seconds later is not a pipeline"
        );
        assert!(waiting.len() <= 4);
    }
}
