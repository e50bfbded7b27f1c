//! Cryptominer indicators in a command line: known miner names, stratum URLs, pool and wallet
//! arguments, and the ports mining pools listen on.
//!
//! One strong indicator (a stratum URL, a known miner name, a miner-only flag such as
//! `--donate-level`, a wallet-shaped user name) is enough; weak ones (a pool-looking URL or port,
//! `-p x`) only count in pairs, so an ordinary program with `-o out.txt` is not a miner.

/// Executable names of common miners and of malware families that are miners.
const MINER_NAMES: &[&str] = &[
    "xmrig",
    "xmr-stak",
    "xmrstak",
    "minerd",
    "cpuminer",
    "ccminer",
    "cgminer",
    "bfgminer",
    "ethminer",
    "nbminer",
    "t-rex",
    "phoenixminer",
    "lolminer",
    "nanominer",
    "teamredminer",
    "srbminer",
    "gminer",
    "kdevtmpfsi",
    "kinsing",
    "miner",
    "xmr",
    "moneroocean",
];

/// Flags only miners use.
const MINER_FLAGS: &[&str] = &[
    "--donate-level",
    "--cpu-max-threads-hint",
    "--max-cpu-usage",
    "--randomx",
    "--nicehash",
    "--rig-id",
    "--coin",
    "--cpu-priority",
    "--donate-over-proxy",
];

/// Mining algorithm names seen after `-a` / `--algo`.
const ALGORITHMS: &[&str] = &[
    "rx/0",
    "rx",
    "randomx",
    "rx/wow",
    "rx/arq",
    "rx/graft",
    "cn/r",
    "cn/0",
    "cn/half",
    "cn-heavy/0",
    "cn-heavy/xhv",
    "cn-pico",
    "cryptonight",
    "ethash",
    "etchash",
    "kawpow",
    "argon2",
    "argon2/chukwa",
    "yescrypt",
    "ghostrider",
    "gr",
    "astrobwt",
    "autolykos2",
    "kheavyhash",
];

/// Ports that mining pools commonly serve stratum on.
pub const POOL_PORTS: &[u16] = &[
    3333, 3334, 3335, 3336, 3357, 4444, 5555, 5556, 6666, 7777, 8008, 9999, 10128, 10343, 14433,
    14444, 20580, 45560, 45700,
];

/// Host name fragments of well-known pools.
const POOL_HOSTS: &[&str] = &[
    "pool",
    "xmr",
    "monero",
    "nanopool",
    "minexmr",
    "supportxmr",
    "hashvault",
    "2miners",
    "nicehash",
    "f2pool",
    "moneroocean",
    "herominers",
];

/// What made a command line look like a miner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indicators {
    pub strong: Vec<String>,
    pub weak: Vec<String>,
}

impl Indicators {
    /// Enough to call it a miner.
    pub fn is_miner(&self) -> bool {
        !self.strong.is_empty() || self.weak.len() >= 2
    }

    /// All indicators, strong first.
    pub fn all(&self) -> Vec<String> {
        self.strong.iter().chain(&self.weak).cloned().collect()
    }
}

/// Looks for miner indicators in the executed file name, its arguments, and any other names the
/// file went by (e.g. the URL it was downloaded from).
///
/// Runs for every exec in a container, so nothing is allocated unless an indicator is found.
pub fn indicators(filename: &str, args: &[&str], other_names: &[&str]) -> Indicators {
    let mut found = Indicators::default();
    for name in std::iter::once(filename).chain(other_names.iter().copied()) {
        if let Some(known) = known_name(name) {
            push(
                &mut found.strong,
                format!("known miner name: {known} ({name})"),
            );
        }
    }
    if let Some(argv0) = args.first() {
        if let Some(known) = known_name(argv0) {
            push(
                &mut found.strong,
                format!("known miner name: {known} ({argv0})"),
            );
        }
    }
    for (i, arg) in args.iter().enumerate() {
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => (flag, value),
            _ => (*arg, args.get(i + 1).copied().unwrap_or("")),
        };
        let is_flag = |names: &[&str]| names.iter().any(|n| flag.eq_ignore_ascii_case(n));

        if contains_ignore_case(arg, "stratum+")
            || contains_ignore_case(arg, "stratum2+")
            || starts_with_ignore_case(arg, "stratum://")
        {
            push(&mut found.strong, format!("stratum URL: {arg}"));
        }
        if is_flag(MINER_FLAGS) || abbreviates_miner_flag(flag) {
            push(
                &mut found.strong,
                format!("miner option: {}", flag.to_ascii_lowercase()),
            );
        }
        if is_flag(&["-a", "--algo"]) && ALGORITHMS.iter().any(|a| value.eq_ignore_ascii_case(a)) {
            push(&mut found.strong, format!("mining algorithm: {value}"));
        }
        if is_flag(&["-u", "--user", "--wallet"]) && is_wallet(value) {
            push(&mut found.strong, format!("wallet-like user: {value}"));
        }
        if is_flag(&["-o", "--url", "--pool"]) {
            if let Some(port) = url_port(value).filter(|p| POOL_PORTS.contains(p)) {
                push(&mut found.weak, format!("pool port {port} in {value}"));
            }
            if let Some(fragment) = POOL_HOSTS.iter().find(|h| contains_ignore_case(value, h)) {
                push(
                    &mut found.weak,
                    format!("pool-like host ({fragment}) in {value}"),
                );
            }
        }
        if flag == "-p" && value == "x" {
            push(&mut found.weak, "pool password 'x'".to_string());
        }
    }
    found
}

/// xmrig accepts any unique prefix of a long option: `--donate-l=1` is `--donate-level=1`.
/// Prefixes of at least `--` and six letters are long enough not to be another tool's option.
fn abbreviates_miner_flag(flag: &str) -> bool {
    flag.len() >= 8
        && flag.starts_with("--")
        && MINER_FLAGS
            .iter()
            .any(|full| starts_with_ignore_case(full, flag))
}

/// `haystack` contains `needle` (lower-case ASCII), ignoring ASCII case.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.len() >= needle.len()
        && haystack
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn starts_with_ignore_case(haystack: &str, prefix: &str) -> bool {
    haystack
        .as_bytes()
        .get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn push(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The known miner name a path or URL ends in, if any: the last path component, without query
/// or extension, compared whole or as a `<name>-…` / `<name>_…` / `<name>.…` prefix.
fn known_name(path: &str) -> Option<&'static str> {
    let last = path.rsplit('/').next().unwrap_or(path);
    let last = last.split(['?', '#']).next().unwrap_or(last);
    MINER_NAMES.iter().copied().find(|name| {
        let Some(head) = last.get(..name.len()) else {
            return false;
        };
        if !head.eq_ignore_ascii_case(name) {
            return false;
        }
        let rest = &last[name.len()..];
        rest.is_empty()
            || rest.starts_with(['-', '_', '.'])
            || rest.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Monero addresses are 95 (or 106, integrated) base58 characters starting with 4 or 8; other
/// coins' wallets are long hex or base58 strings. A `wallet.worker` suffix is allowed.
fn is_wallet(value: &str) -> bool {
    let address = value.split(['.', '/', '+']).next().unwrap_or(value);
    let base58 = address
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() && !b"0OIl".contains(&b));
    let monero =
        (address.len() == 95 || address.len() == 106) && address.starts_with(['4', '8']) && base58;
    let generic = address.len() >= 40 && address.bytes().all(|b| b.is_ascii_alphanumeric());
    monero || generic
}

/// The port of `scheme://host:port/...` or `host:port`.
fn url_port(value: &str) -> Option<u16> {
    let rest = value.split_once("://").map_or(value, |(_, rest)| rest);
    let authority = rest.split('/').next()?;
    let (_, port) = authority.rsplit_once(':')?;
    port.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALLET: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    #[test]
    fn stratum_url_is_enough() {
        let found = indicators(
            "/tmp/kworkerd",
            &["kworkerd", "-o", "stratum+tcp://192.0.2.1:3333"],
            &[],
        );
        assert!(found.is_miner());
        assert!(found.strong[0].contains("stratum URL"));
        assert!(found.weak.iter().any(|w| w.contains("pool port 3333")));
    }

    #[test]
    fn renamed_miner_with_typical_arguments() {
        let args = [
            "/tmp/.cache/sys",
            "-o",
            "192.0.2.9:14444",
            "-u",
            WALLET,
            "-p",
            "x",
            "--donate-level",
            "1",
        ];
        let found = indicators("/tmp/.cache/sys", &args, &[]);
        assert!(found.is_miner());
        let all = found.all().join(";");
        assert!(
            all.contains("wallet-like user") && all.contains("--donate-level"),
            "{all}"
        );
    }

    #[test]
    fn known_names_match_whole_names_only() {
        assert!(indicators("/opt/xmrig-6.21/xmrig", &["xmrig"], &[]).is_miner());
        assert!(indicators("/tmp/m", &["/tmp/m"], &["http://127.0.0.1:8080/miner"]).is_miner());
        assert!(indicators(
            "/tmp/m",
            &["/tmp/m"],
            &["http://127.0.0.1:8080/xmrig.tar.gz"]
        )
        .is_miner());
        for benign in [
            "/usr/bin/determiner",
            "/usr/sbin/minerva",
            "/bin/xmrigger-docs",
        ] {
            assert!(!indicators(benign, &[benign], &[]).is_miner(), "{benign}");
        }
    }

    #[test]
    fn ordinary_commands_are_not_miners() {
        for args in [
            vec!["gcc", "-o", "out", "main.c"],
            vec!["curl", "-o", "/tmp/x", "http://example.invalid:8080/file"],
            vec![
                "ssh",
                "-p",
                "2222",
                "-o",
                "StrictHostKeyChecking=no",
                "host",
            ],
            vec!["psql", "-U", "postgres", "-p", "5432"],
            vec!["app", "--user", "alice"],
        ] {
            let found = indicators(args[0], &args, &[]);
            assert!(!found.is_miner(), "{args:?}: {found:?}");
        }
    }

    #[test]
    fn weak_indicators_count_in_pairs() {
        let one = indicators("/tmp/a", &["a", "-o", "192.0.2.1:3333"], &[]);
        assert!(!one.is_miner());
        let two = indicators("/tmp/a", &["a", "-o", "192.0.2.1:3333", "-p", "x"], &[]);
        assert!(two.is_miner());
    }

    #[test]
    fn inline_flag_values_and_algorithms() {
        assert!(indicators("/x", &["x", "--algo=rx/0"], &[]).is_miner());
        assert!(indicators("/x", &["x", "-a", "cryptonight"], &[]).is_miner());
        assert!(indicators("/x", &["x", "-a", "gr"], &[]).is_miner());
        assert!(indicators("/x", &["x", "--donate-l=1"], &[]).is_miner());
        assert!(indicators("/x", &["x", "--donate"], &[]).is_miner());
        assert!(
            !indicators("/x", &["x", "--don"], &[]).is_miner(),
            "too short to tell"
        );
        assert!(indicators("/x", &["x", "--url=stratum+ssl://pool.example:443"], &[]).is_miner());
    }
}
