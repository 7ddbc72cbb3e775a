//! The one SSH command a poll runs on a node, and the parsing of its `key=value` output.

use std::collections::HashMap;

use crate::config::NodeConfig;

/// How long the slow-changing facts (free disk, the repository's UUID, the agent's
/// version) are reused from the node's `probe-slow.txt`: each costs a process or an HTTP
/// call, and a poll every 2 s must cost the main next to nothing. A sync's own
/// preflight reads the disk afresh (`sync_probe_script`).
pub const SLOW_FACTS_SECS: u64 = 30;

/// The shell script that gathers a node's facts. Credentials for curl arrive on stdin
/// (`curl -K -`), never on a command line. Its cost does not grow with the datastore:
/// the file count is the one the last verify left on the node, never a walk.
pub fn probe_script(node: &NodeConfig) -> String {
    let q = crate::node::quote;
    let ds = q(&node.datastore_path().display().to_string());
    let state = q(&node.state_dir.display().to_string());
    let url = q(&node.http.health_url);
    let uuid_url = q(&repository_uuid_url(&node.http.health_url));
    let status = &node.service.status;
    format!(
        r#"LC_ALL=C; export LC_ALL
CURLCFG=$(cat)
echo "t0=$(date +%s%N)"
now=$(date +%s)
out=$( {{ {status} ; }} 2>&1 ); rc=$?
echo "service_rc=$rc"
echo "service_out=$(printf '%s' "$out" | head -c 160 | tr '\n\r' '  ')"
slow_facts() {{
df -P -B1 {ds} 2>/dev/null | awk 'NR==2 {{print "disk_total="$2; print "disk_free="$4}}'
if command -v curl >/dev/null 2>&1; then
  echo "repo_uuid=$(printf '%s\n' "$CURLCFG" | curl -K - -s --max-time 4 {uuid_url} | head -c 64 | tr -d '\n\r')"
fi
{agent}
}}
slow={state}/probe-slow.txt
age=$(( now - $(stat -c %Y "$slow" 2>/dev/null || echo 0) ))
if [ "$age" -ge 0 ] && [ "$age" -lt {slow_secs} ] && [ -s "$slow" ]; then cat "$slow"
elif {{ slow_facts > "$slow.$$"; }} 2>/dev/null && mv -f "$slow.$$" "$slow"; then cat "$slow"
else rm -f "$slow.$$"; slow_facts; fi
if [ ! -d {ds} ]; then echo "ds_missing=1"; fi
if [ -r {state}/{census} ]; then echo "ds_count=$(tr -d '\n' < {state}/{census})"; fi
if command -v curl >/dev/null 2>&1; then
  echo "http=$(printf '%s\n' "$CURLCFG" | curl -K - -s -o /dev/null -w '%{{http_code}} %{{time_total}}' --max-time 4 {url})"
else
  echo "http=nocurl"
fi
if [ -r {state}/last-sync.json ]; then echo "last_sync=$(tr -d '\n' < {state}/last-sync.json)"; else echo "last_sync="; fi
if [ -r {state}/follow.json ]; then echo "follow=$(tr -d '\n' < {state}/follow.json)"; fi
echo "now=$now"
echo "t1=$(date +%s%N)"
"#,
        agent = crate::node::agent::version_probe(&node.agent_path.display().to_string()),
        census = super::model::CENSUS_FILE,
        slow_secs = SLOW_FACTS_SECS,
    )
}

/// The few facts a sync needs before it plans (free disk, the last-sync record, whether
/// the datastore is there), without the dashboard's service, HTTP and file-count checks:
/// they cost a sync's run more than its own work on a small change set.
pub fn sync_probe_script(node: &NodeConfig) -> String {
    let q = crate::node::quote;
    let ds = q(&node.datastore_path().display().to_string());
    let state = q(&node.state_dir.display().to_string());
    format!(
        r#"LC_ALL=C; export LC_ALL
df -P -B1 {ds} 2>/dev/null | awk 'NR==2 {{print "disk_total="$2; print "disk_free="$4}}'
if [ ! -d {ds} ]; then echo "ds_missing=1"; fi
if [ -r {state}/last-sync.json ]; then echo "last_sync=$(tr -d '
' < {state}/last-sync.json)"; else echo "last_sync="; fi
"#
    )
}

/// curl's config on stdin: the Basic auth user and password, quoted for curl.
pub fn curl_config(user: &str, password: &str) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("user = \"{}:{}\"\n", esc(user), esc(password))
}

/// The repository UUID call next to the health call (same REST base).
pub fn repository_uuid_url(health_url: &str) -> String {
    match health_url.rfind("/repository/") {
        Some(i) => format!("{}/repository/getRepositoryUuid", &health_url[..i]),
        None => format!(
            "{}/OpenKM/services/rest/repository/getRepositoryUuid",
            health_url.trim_end_matches('/')
        ),
    }
}

/// What the script printed, as typed facts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RemoteFacts {
    pub service_running: Option<bool>,
    pub service_output: String,
    pub disk_total: Option<u64>,
    pub disk_free: Option<u64>,
    /// The datastore's files and bytes at the last verify, and when that was (Unix s).
    pub datastore_files: Option<u64>,
    pub datastore_bytes: Option<u64>,
    pub datastore_counted_at: Option<u64>,
    pub datastore_missing: bool,
    /// HTTP status (0: no answer) and latency in ms; `None` without curl.
    pub http: Option<(u16, f64)>,
    pub repository_uuid: Option<String>,
    pub last_sync_json: Option<String>,
    /// The record `okmirror follow` keeps on the node, if any.
    pub follow_json: Option<String>,
    /// The node's clock (Unix seconds), to tell whether that record is fresh.
    pub node_now: Option<u64>,
    /// The okmirror agent's version on the node; `None` when none is installed.
    pub agent_version: Option<String>,
    /// Time the script itself took, to subtract from the SSH round trip.
    pub script_micros: Option<u64>,
}

/// Parses the script's output.
pub fn parse_facts(out: &str) -> RemoteFacts {
    let kv: HashMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    let num = |k: &str| kv.get(k).and_then(|v| v.trim().parse::<u64>().ok());
    let http = kv.get("http").and_then(|v| {
        if *v == "nocurl" {
            return None;
        }
        let (code, secs) = v.split_once(' ')?;
        let ms = secs
            .trim()
            .parse::<f64>()
            .map_or(0.0, |s| (s * 10_000.0).round() / 10.0);
        Some((code.trim().parse().unwrap_or(0), ms))
    });
    let uuid = kv
        .get("repo_uuid")
        .map(|s| s.trim())
        .filter(|s| s.len() == 36 && s.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-'))
        .map(str::to_string);
    let census = kv
        .get("ds_count")
        .and_then(|v| serde_json::from_str::<super::model::Census>(v.trim()).ok());
    let script_micros = match (num("t0"), num("t1")) {
        (Some(a), Some(b)) if b >= a => Some((b - a) / 1000),
        _ => None,
    };
    RemoteFacts {
        service_running: num("service_rc").map(|rc| rc == 0),
        service_output: kv
            .get("service_out")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        disk_total: num("disk_total"),
        disk_free: num("disk_free"),
        datastore_files: census.map(|c| c.files),
        datastore_bytes: census.and_then(|c| c.bytes),
        datastore_counted_at: census.map(|c| c.at),
        datastore_missing: kv.contains_key("ds_missing"),
        http,
        repository_uuid: uuid,
        last_sync_json: kv
            .get("last_sync")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        follow_json: kv
            .get("follow")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        node_now: num("now"),
        agent_version: kv
            .get("agent")
            .and_then(|v| crate::node::agent::parse_version(v)),
        script_micros,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_without_sizes_has_no_bytes_rather_than_zero() {
        let c: super::super::model::Census =
            serde_json::from_str(r#"{"files":2001,"at":1699990000}"#).unwrap();
        assert_eq!((c.files, c.bytes), (2001, None));
        let written = serde_json::to_string(&c).unwrap();
        assert!(!written.contains("bytes"), "{written}");
    }

    #[test]
    fn parses_a_full_probe() {
        let out = "t0=1700000000000000000\nservice_rc=0\nservice_out=OpenKM is running (pid 42)\n\
                   disk_total=1000\ndisk_free=250\n\
                   ds_count={\"files\":2001,\"bytes\":4098048,\"at\":1699990000}\n\
                   http=200 0.004512\nrepo_uuid=ba98f2ae-ebb0-11f1-b7e9-02fc00000001\n\
                   last_sync={\"at\":\"x\"}\nt1=1700000000012000000\n";
        let f = parse_facts(out);
        assert_eq!(f.service_running, Some(true));
        assert_eq!(f.service_output, "OpenKM is running (pid 42)");
        assert_eq!((f.disk_total, f.disk_free), (Some(1000), Some(250)));
        assert_eq!(
            (f.datastore_files, f.datastore_bytes, f.datastore_counted_at),
            (Some(2001), Some(4098048), Some(1699990000))
        );
        assert_eq!(f.http, Some((200, 4.5)));
        assert_eq!(
            f.repository_uuid.as_deref(),
            Some("ba98f2ae-ebb0-11f1-b7e9-02fc00000001")
        );
        assert_eq!(f.last_sync_json.as_deref(), Some("{\"at\":\"x\"}"));
        assert_eq!(f.script_micros, Some(12000));
    }

    /// Issue #13: a poll must not cost more on a million-file datastore than on an empty
    /// one, so it never walks the datastore.
    #[test]
    fn the_poll_never_walks_the_datastore() {
        let cfg =
            crate::config::parse_str(crate::config::EXAMPLE, std::path::Path::new("x")).unwrap();
        let script = probe_script(&cfg.nodes[0]);
        for walker in ["find ", "du ", "ls -R", "sha256sum"] {
            assert!(!script.contains(walker), "{walker} in:\n{script}");
        }
        assert!(script.contains("datastore-count.json"));
    }

    /// Runs the probe script here, against folders of a temporary "node".
    fn probe_here(node: &NodeConfig) -> RemoteFacts {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe_script(node))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"").unwrap();
        let out = child.wait_with_output().unwrap();
        parse_facts(&String::from_utf8_lossy(&out.stdout))
    }

    #[test]
    fn slow_facts_are_reused_for_a_while_and_then_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg =
            crate::config::parse_str(crate::config::EXAMPLE, std::path::Path::new("x")).unwrap();
        let node = &mut cfg.nodes[0];
        node.openkm_home = dir.path().join("tomcat");
        node.datastore = Some(dir.path().join("datastore"));
        node.state_dir = dir.path().join("state");
        node.service.status = "true".into();
        node.http.health_url = "http://127.0.0.1:9/OpenKM/services/rest/repository/x".into();
        std::fs::create_dir_all(dir.path().join("datastore")).unwrap();
        std::fs::create_dir_all(&node.state_dir).unwrap();
        let first = probe_here(node);
        assert!(first.disk_total.is_some(), "{first:?}");
        assert_eq!(first.service_running, Some(true));
        // The datastore's folder goes: its disk figure is reused within the window, but
        // the folder check is live.
        std::fs::remove_dir(dir.path().join("datastore")).unwrap();
        let second = probe_here(node);
        assert_eq!(second.disk_total, first.disk_total);
        assert!(second.datastore_missing, "{second:?}");
        // Once the window has passed, the disk is read again (and is gone with the folder).
        let slow = node.state_dir.join("probe-slow.txt");
        let old =
            std::time::SystemTime::now() - std::time::Duration::from_secs(SLOW_FACTS_SECS + 5);
        std::fs::File::options()
            .write(true)
            .open(&slow)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let third = probe_here(node);
        assert_eq!(third.disk_total, None, "{third:?}");
        // Without a writable state folder, the facts are read each time.
        std::fs::create_dir_all(dir.path().join("datastore")).unwrap();
        node.state_dir = dir.path().join("no/such/state");
        assert!(probe_here(node).disk_total.is_some());
    }

    #[test]
    fn a_down_service_and_no_http_answer() {
        let f = parse_facts("service_rc=3\nhttp=000 0.000\nrepo_uuid=\nlast_sync=\n");
        assert_eq!(f.service_running, Some(false));
        assert_eq!(f.http, Some((0, 0.0)));
        assert_eq!(f.repository_uuid, None);
        assert_eq!(f.last_sync_json, None);
    }

    #[test]
    fn urls_and_curl_config() {
        assert_eq!(
            repository_uuid_url("http://h:8080/OpenKM/services/rest/repository/getAppVersion"),
            "http://h:8080/OpenKM/services/rest/repository/getRepositoryUuid"
        );
        assert_eq!(
            curl_config("okmAdmin", "a\"b\\c"),
            "user = \"okmAdmin:a\\\"b\\\\c\"\n"
        );
    }
}
