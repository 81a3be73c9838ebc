//! The binaries' command lines: each `--help` lists only the settings that binary uses,
//! and every binary that takes a resource name checks it against its service's rule
//! before anything is called (issue 8, "settings once"). No emulator is needed.

mod common;

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::exe(bin))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap_or_else(|e| panic!("{bin} runs: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const ALL: [&str; 10] = [
    "--project",
    "--pubsub-emulator-host",
    "--bigquery-emulator-host",
    "--bigquery-storage-emulator-host",
    "--storage-emulator-host",
    "--dataset",
    "--bucket",
    "--topic",
    "--subscription",
    "--time-zone",
];

#[test]
fn each_help_lists_only_the_settings_its_binary_uses() {
    let uses: [(&str, &[&str]); 8] = [
        ("provision", &ALL),
        ("publisher", &["--project", "--pubsub-emulator-host", "--topic"]),
        (
            "stream-worker",
            &[
                "--project",
                "--pubsub-emulator-host",
                "--bigquery-emulator-host",
                "--bigquery-storage-emulator-host",
                "--storage-emulator-host",
                "--dataset",
                "--bucket",
                "--subscription",
            ],
        ),
        (
            "batch-loader",
            &[
                "--project",
                "--bigquery-emulator-host",
                "--bigquery-storage-emulator-host",
                "--storage-emulator-host",
                "--dataset",
                "--bucket",
            ],
        ),
        ("datagen", &["--time-zone"]),
        (
            "replay",
            &[
                "--project",
                "--pubsub-emulator-host",
                "--bigquery-emulator-host",
                "--bigquery-storage-emulator-host",
                "--dataset",
                "--topic",
            ],
        ),
        (
            "dashboard",
            &[
                "--project",
                "--bigquery-emulator-host",
                "--bigquery-storage-emulator-host",
                "--dataset",
                "--time-zone",
            ],
        ),
        (
            "refresh",
            &[
                "--project",
                "--bigquery-emulator-host",
                "--bigquery-storage-emulator-host",
                "--dataset",
                "--time-zone",
            ],
        ),
    ];
    for (bin, used) in uses {
        let (ok, help, _) = run(bin, &["--help"]);
        assert!(ok, "{bin} --help");
        let listed: Vec<&str> = ALL
            .iter()
            .copied()
            .filter(|flag| help.contains(&format!("{flag} <")))
            .collect();
        assert_eq!(listed, used, "{bin} --help lists exactly what it uses");
        assert!(help.contains("--log-format"), "{bin}: --log-format");
    }
}

#[test]
fn a_bad_name_is_refused_with_its_rule_by_every_binary_that_takes_it() {
    let cases: [(&str, &[&str], &str); 9] = [
        (
            "publisher",
            &["--topic", "9orders", "--dry-run"],
            "starts with a letter",
        ),
        (
            "stream-worker",
            &["--subscription", "has space"],
            "Pub/Sub subscription id",
        ),
        (
            "stream-worker",
            &["--dataset", "data-ecommerce"],
            "letters, digits and underscores",
        ),
        (
            "batch-loader",
            &["--source", "x", "--bucket", "Upper_Case"],
            "lowercase letters",
        ),
        (
            "batch-loader",
            &["--source", "x", "--dataset", "a.b"],
            "BigQuery dataset id",
        ),
        ("provision", &["--topic", "goog-orders"], "not with \"goog\""),
        (
            "provision",
            &["--time-zone", "america/santiago"],
            "is not a time zone: use an IANA name",
        ),
        (
            "datagen",
            &["--time-zone", "UTC-3"],
            "is not a time zone: use an IANA name",
        ),
        (
            "replay",
            &["--kind", "bad_mood"],
            "not an error kind; one of: payload_too_large",
        ),
    ];
    for (bin, args, rule) in cases {
        let (ok, _, err) = run(bin, args);
        assert!(!ok, "{bin} {args:?} is refused");
        assert!(err.contains(rule), "{bin} {args:?}: {err}");
    }
}

#[test]
fn logs_carry_no_colour_codes_when_written_to_a_pipe_and_json_has_a_severity() {
    // datagen needs no emulator and logs a final progress line.
    let (ok, _, err) = run("datagen", &["--out", &tmp("plain"), "--orders", "10"]);
    assert!(ok, "{err}");
    assert!(!err.contains('\u{1b}'), "no ANSI escape in piped logs: {err:?}");
    assert!(err.contains("progress"), "a plain progress line: {err}");
    let (ok, _, err) = run(
        "datagen",
        &["--out", &tmp("json"), "--orders", "10", "--log-format", "json"],
    );
    assert!(ok, "{err}");
    let line = err.lines().find(|l| l.contains("progress")).expect("a progress line");
    let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
    assert_eq!(v["severity"], "INFO", "{v}");
}

fn tmp(name: &str) -> String {
    std::env::temp_dir()
        .join(format!("cli-{name}-{}", uuid::Uuid::new_v4().simple()))
        .display()
        .to_string()
}

#[test]
fn the_dashboard_prints_the_looker_link_and_refuses_a_definition_naming_a_missing_view() {
    let (ok, out, err) = run(
        "dashboard",
        &[
            "--looker-url",
            "--project",
            "p1",
            "--dataset",
            "d1",
            "--looker-template",
            "t-1",
        ],
    );
    assert!(ok, "{err}");
    let link = out.trim();
    assert!(
        link.starts_with("https://lookerstudio.google.com/reporting/create?"),
        "{link}"
    );
    for part in [
        "c.reportId=t-1",
        "ds.sales_facts.projectId=p1",
        "ds.sales_facts.datasetId=d1",
    ] {
        assert!(link.contains(part), "{part}: {link}");
    }
    let bad = tmp("report-bad.json");
    let text = std::fs::read_to_string(common::model_dir().join("../looker/report.json"))
        .unwrap()
        .replacen("\"view\": \"v_cohorts\"", "\"view\": \"v_cohortz\"", 1);
    std::fs::write(&bad, text).unwrap();
    let (ok, _, err) = run("dashboard", &["--looker-url", "--report", &bad]);
    assert!(!ok, "a definition naming a missing view is refused");
    assert!(
        err.contains("report-bad.json") && err.contains("page instashop, chart cohort_retention: reads view v_cohortz"),
        "{err}"
    );
    let _ = std::fs::remove_file(bad);
}

/// The image holds what it says: the Dockerfile copies exactly the binaries of
/// `src/bin/`, and the report definition the dashboard reads.
#[test]
fn the_dockerfile_copies_every_binary_and_the_report() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let docker = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let copied: std::collections::BTreeSet<String> = docker
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("target/release/"))
        .map(str::to_string)
        .collect();
    let binaries: std::collections::BTreeSet<String> = std::fs::read_dir(root.join("src/bin"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(copied, binaries, "the Dockerfile's binaries against src/bin/");
    assert!(
        docker.contains("COPY looker /app/looker"),
        "the dashboard reads looker/report.json"
    );
}
