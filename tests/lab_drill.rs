//! `okmirror drill` on the lab: a switchover to bravo and back with the probe writing
//! through HAProxy the whole time; nothing acknowledged is lost, the RTO is measured,
//! the report is saved, and alpha is the main again.

mod common;

use std::path::Path;

/// okmirror with the lab's config and its own data dir; (code, stdout, stderr).
fn okm(lab: &common::Lab, data: &Path, args: &[&str]) -> (i32, String, String) {
    common::okm_at(&lab.config_path, data, args)
}

#[test]
fn a_drill_switches_over_and_back_measures_the_rto_and_loses_nothing() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "drill",
            "--yes",
            "--confirm-node",
            "alpha",
            "--confirm-node",
            "bravo",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["ok"], true, "{out}");
    assert_eq!(r["rpo_documents"], 0, "{out}");
    assert!(r["lost"].as_array().unwrap().is_empty(), "{out}");
    let acked = r["acknowledged"].as_u64().unwrap();
    assert!(acked >= 20, "only {acked} documents acknowledged: {err}");
    let rto = r["rto"]["secs"].as_f64().unwrap();
    assert!(rto > 0.0 && rto.is_finite() && rto < 60.0, "RTO {rto} s");
    assert_eq!(r["rto"]["recovered"], true, "{out}");
    assert_eq!(r["main_before"], "alpha");
    assert_eq!(r["main_after"], "alpha");

    let legs = r["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2, "{out}");
    for (leg, (from, to)) in legs.iter().zip([("alpha", "bravo"), ("bravo", "alpha")]) {
        assert_eq!(
            (leg["from"].as_str(), leg["to"].as_str()),
            (Some(from), Some(to))
        );
        assert_eq!(leg["flow"]["outcome"], "completed", "{out}");
        assert!(leg["rto"]["ms"].as_u64().unwrap() > 0, "{out}");
        // Step timings come from the flow's own journal, which is kept.
        let journal = leg["flow"]["journal"].as_str().unwrap();
        assert!(Path::new(journal).starts_with(tmp.path().join("flows")));
        assert!(Path::new(journal).is_file(), "{journal}");
        for s in leg["flow"]["steps"].as_array().unwrap() {
            assert_eq!(s["state"], "done", "{s}");
            assert!(s["ended_ms"].as_u64() >= s["started_ms"].as_u64(), "{s}");
        }
    }

    // Both renderings are saved in the data dir, and the JSON is what was printed.
    let drills = tmp.path().join("drills");
    let md = Path::new(r["markdown_file"].as_str().unwrap());
    let json = Path::new(r["json_file"].as_str().unwrap());
    assert_eq!(md.parent(), Some(drills.as_path()));
    assert_eq!(json.parent(), Some(drills.as_path()));
    let text = std::fs::read_to_string(md).unwrap();
    assert!(text.contains("**PASSED**"), "{text}");
    assert!(text.contains("## Switchover 2: bravo -> alpha"), "{text}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(saved, r);

    // The probe's credentials never reached a command line: the report and the output
    // hold no password.
    let password = std::fs::read_to_string(lab.dir.join("secrets/okm_password")).unwrap();
    assert!(!out.contains(password.trim()) && !err.contains(password.trim()));

    // alpha is the main again, bravo its read-only mirror.
    assert_eq!(lab.sql("alpha", "SELECT @@read_only"), "0");
    assert_eq!(lab.sql("bravo", "SELECT @@read_only"), "1");
    // And every acknowledged document is really there (the lab's own check).
    let paths: Vec<String> = r["probe"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["acked"] == true)
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len() as u64, acked);
    for p in &paths {
        let n = lab.sql(
            "alpha",
            &format!("SELECT COUNT(*) FROM okmdb.OKM_NODE_DOCUMENT_VERSION WHERE NDV_PATH = '{p}'"),
        );
        assert_eq!(n, "1", "{p} on alpha");
    }
}
