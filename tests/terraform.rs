//! Static checks of terraform/ (the Google provider cannot be downloaded here, so
//! `terraform validate` cannot run): every .tf parses; Terraform reads every file of
//! bigquery/; its defaults are provision's; no IAM grant uses a primitive role; every
//! variable set on a container is one its binary reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression};
use instashop::model::provision;
use instashop::platform::settings;

fn tf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform")
}

fn tf_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(tf_files(&p));
        } else if p.extension().is_some_and(|x| x == "tf") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The module's own files (not examples/), parsed.
fn module() -> Vec<(PathBuf, String, Body)> {
    let mut out = Vec::new();
    for p in tf_files(&tf_dir()) {
        if p.components().any(|c| c.as_os_str() == "examples") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let body: Body = hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        out.push((p, text, body));
    }
    out
}

fn blocks<'a>(body: &'a Body, out: &mut Vec<&'a Block>) {
    for b in body.blocks() {
        out.push(b);
        blocks(&b.body, out);
    }
}

#[test]
fn every_terraform_file_parses() {
    let files = tf_files(&tf_dir());
    assert!(files.len() >= 8, "{files:?}");
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap();
        hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

/// `*` in a pattern matches any characters but `/`.
fn glob(pattern: &str, path: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == path,
        Some((head, tail)) => {
            let Some(rest) = path.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .take_while(|&i| !rest[..i].contains('/'))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

#[test]
fn terraform_reads_every_file_of_the_bigquery_folder() {
    let mut patterns = Vec::new();
    let string = regex_lite_strings();
    for (path, text, body) in module() {
        // The model folder is named once, relative to the module.
        for b in body.blocks().filter(|b| b.identifier() == "locals") {
            if let Some(a) = b.body.attributes().find(|a| a.key() == "model_dir") {
                assert_eq!(
                    a.expr().to_string(),
                    "\"${path.module}/../bigquery\"",
                    "{}",
                    path.display()
                );
            }
        }
        let norm = |s: &str| -> String {
            let s = s
                .replace("${local.model_dir}", "../bigquery")
                .replace("${path.module}/", "");
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("${") {
                out.push_str(&rest[..i]);
                out.push('*');
                rest = rest[i..].find('}').map_or("", |j| &rest[i + j + 1..]);
            }
            out + rest
        };
        for (a, b) in fileset_calls(&text) {
            patterns.push(format!("{}/{}", norm(&a), b));
        }
        for s in string(&text) {
            let n = norm(&s);
            if n.starts_with("../bigquery/") {
                patterns.push(n);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut unread = Vec::new();
    let mut stack = vec![root.join("bigquery")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = format!("../{}", p.strip_prefix(root).unwrap().display());
            if !patterns.iter().any(|pat| glob(pat, &rel)) {
                unread.push(rel);
            }
        }
    }
    assert!(
        unread.is_empty(),
        "files of bigquery/ that Terraform does not read: {unread:?} (patterns: {patterns:?})"
    );
}

/// Quoted strings of a .tf text (no escaped quotes inside in this module).
fn regex_lite_strings() -> impl Fn(&str) -> Vec<String> {
    |text: &str| {
        let mut out = Vec::new();
        let mut parts = text.split('"');
        parts.next();
        while let Some(s) = parts.next() {
            out.push(s.to_string());
            parts.next();
        }
        out
    }
}

/// `fileset("a", "b")` calls: (a, b).
fn fileset_calls(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("fileset(") {
        let args: Vec<&str> = text[i + 8..]
            .split(')')
            .next()
            .unwrap()
            .split(',')
            .map(|a| a.trim().trim_matches('"'))
            .collect();
        out.push((args[0].to_string(), args[1].to_string()));
    }
    out
}

fn defaults() -> BTreeMap<String, Expression> {
    let mut out = BTreeMap::new();
    for (_, _, body) in module() {
        for b in body.blocks().filter(|b| b.identifier() == "variable") {
            let name = b.labels()[0].as_str().to_string();
            if let Some(a) = b.body.attributes().find(|a| a.key() == "default") {
                out.insert(name, a.expr().clone());
            }
        }
    }
    out
}

#[test]
fn terraform_defaults_are_provisions() {
    let d = defaults();
    let s = |k: &str| match &d[k] {
        Expression::String(s) => s.clone(),
        other => panic!("{k} default is not a string: {other:?}"),
    };
    let n = |k: &str| match &d[k] {
        Expression::Number(n) => n.as_i64().unwrap(),
        other => panic!("{k} default is not a number: {other:?}"),
    };
    assert_eq!(s("dataset_id"), settings::DEFAULT_DATASET);
    assert_eq!(s("bucket_name"), settings::DEFAULT_BUCKET);
    assert_eq!(s("topic"), settings::DEFAULT_TOPIC);
    assert_eq!(s("subscription"), settings::DEFAULT_SUBSCRIPTION);
    assert_eq!(s("location"), settings::DEFAULT_LOCATION);
    assert_eq!(n("ack_deadline_seconds"), provision::ACK_DEADLINE_SECONDS as i64);
    assert_eq!(n("max_delivery_attempts"), provision::MAX_DELIVERY_ATTEMPTS as i64);
    assert_eq!(n("min_backoff_seconds"), provision::MIN_BACKOFF_SECONDS);
    assert_eq!(n("max_backoff_seconds"), provision::MAX_BACKOFF_SECONDS);
    assert_eq!(n("message_retention_seconds"), provision::RETENTION_SECONDS);
    // The alert views' thresholds: Terraform's defaults are the alerts binary's.
    let Expression::Object(thresholds) = &d["alert_thresholds"] else {
        panic!("alert_thresholds default is not an object")
    };
    let tf: BTreeMap<String, String> = thresholds.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let rust: BTreeMap<String, String> = instashop::model::Thresholds::default()
        .values()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(tf, rust, "alert_thresholds default");
    // The reporting time zone: the same default, and Terraform's check lets through every
    // IANA name provision accepts, and none with a quote or a space.
    assert_eq!(s("time_zone"), settings::DEFAULT_TIME_ZONE);
    let variables = std::fs::read_to_string(tf_dir().join("variables.tf")).unwrap();
    let rule = regex::Regex::new(r#"regex\("([^"]+)", var\.time_zone\)"#)
        .unwrap()
        .captures(&variables)
        .expect("time_zone has a regex validation")[1]
        .replace("\\\\", "\\");
    let rule = regex::Regex::new(&rule).unwrap();
    for tz in chrono_tz::TZ_VARIANTS {
        assert!(rule.is_match(tz.name()), "Terraform refuses {}", tz.name());
        assert!(tz.name().parse::<settings::TimeZone>().is_ok());
    }
    for bad in ["UTC' OR 1=1 --", "America/Santiago ", "a\"b", "Europe/../etc"] {
        assert!(!rule.is_match(bad), "Terraform accepts {bad:?}");
        assert!(bad.parse::<settings::TimeZone>().is_err(), "{bad:?}");
    }
    // Derived names and folders, as provision derives them.
    let locals: String = module().iter().map(|(_, t, _)| t.clone()).collect();
    assert!(
        locals.contains(&format!("\"${{var.topic}}{}\"", settings::ALERTS_SUFFIX)),
        "alerts topic name"
    );
    assert!(
        locals.contains(&format!("\"${{var.topic}}{}\"", settings::DEAD_LETTER_SUFFIX)),
        "dead-letter topic name"
    );
    assert!(
        locals.contains(&format!(
            "\"${{var.topic}}{}{}\"",
            settings::DEAD_LETTER_SUFFIX,
            settings::KEEP_SUFFIX
        )),
        "dead-letter subscription name"
    );
    let folders = format!(
        "[{}]",
        provision::BUCKET_FOLDERS
            .iter()
            .map(|f| format!("\"{f}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        locals.contains(&format!("bucket_folders = {folders}")),
        "bucket folders {folders}"
    );
}

#[test]
fn no_iam_grant_uses_a_primitive_role_and_no_key_is_made() {
    let mut roles = 0;
    for (path, _, body) in module() {
        let mut all = Vec::new();
        blocks(&body, &mut all);
        for b in all {
            if b.identifier() == "resource" {
                let kind = b.labels()[0].as_str();
                assert_ne!(
                    kind,
                    "google_service_account_key",
                    "{}: no service-account keys",
                    path.display()
                );
                assert!(
                    !kind.ends_with("_iam_policy") && !kind.ends_with("_iam_binding"),
                    "{}: {kind} is authoritative; use _iam_member",
                    path.display()
                );
            }
            if b.identifier() == "resource" && b.labels()[0].as_str() == "google_project_iam_custom_role" {
                // A custom role lists what it allows: never IAM itself, never a wildcard.
                let permissions = b
                    .body
                    .attributes()
                    .find(|a| a.key() == "permissions")
                    .map(|a| a.expr().to_string())
                    .unwrap_or_else(|| panic!("{}: a custom role lists its permissions", path.display()));
                assert!(
                    !permissions.contains("IamPolicy") && !permissions.contains('*'),
                    "{}: custom role permissions {permissions}",
                    path.display()
                );
            }
            for a in b.body.attributes().filter(|a| a.key() == "role") {
                roles += 1;
                let role = match a.expr() {
                    Expression::String(role) => role.clone(),
                    // A custom role of this module, checked above.
                    e if e.to_string().starts_with("google_project_iam_custom_role.") => continue,
                    _ => panic!(
                        "{}: role must be a literal or a custom role of the module",
                        path.display()
                    ),
                };
                assert!(
                    !["roles/owner", "roles/editor", "roles/viewer"].contains(&role.as_str()),
                    "{}: primitive role {role}",
                    path.display()
                );
                assert!(role.starts_with("roles/"), "{role}");
            }
        }
    }
    assert!(roles >= 10, "the module grants each job its roles ({roles} found)");
}

#[test]
fn the_glob_helper_matches_like_fileset() {
    assert!(glob("../bigquery/views/*", "../bigquery/views/v.sql"));
    assert!(glob("../bigquery/views/*.sql", "../bigquery/views/v.sql"));
    assert!(!glob("../bigquery/views/*.sql", "../bigquery/views/sub/v.sql"));
    assert!(!glob("../bigquery/schemas/*.json", "../bigquery/tables.json"));
}

/// Issue 9: views.tf is what the model generates (one resource per view, a `moved`
/// block from its old tier address), so a view never changes address when what it reads
/// changes. `UPDATE_TERRAFORM=1` rewrites the file instead of failing.
#[test]
fn views_tf_is_generated_from_the_bigquery_views() {
    let model = instashop::model::DataModel::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery")).unwrap();
    let want = model.terraform_views();
    let path = tf_dir().join("views.tf");
    if std::env::var_os("UPDATE_TERRAFORM").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "terraform/views.tf is not generated from bigquery/views: run `UPDATE_TERRAFORM=1 cargo test --test terraform`"
    );
    // Every view has its resource, each after the views it reads.
    let body: Body = hcl::parse(&have).unwrap();
    let resources: Vec<&Block> = body.blocks().filter(|b| b.identifier() == "resource").collect();
    assert_eq!(resources.len(), model.views.len());
    for v in &model.views {
        let r = resources
            .iter()
            .find(|b| b.labels()[1].as_str() == v.name)
            .unwrap_or_else(|| panic!("no resource for {}", v.name));
        let deps = r
            .body
            .attributes()
            .find(|a| a.key() == "depends_on")
            .unwrap()
            .expr()
            .to_string();
        for read in v.reads.iter().filter(|r| model.view(r).is_some()) {
            assert!(
                deps.contains(&format!("google_bigquery_table.{read}")),
                "{}: {deps}",
                v.name
            );
        }
    }
}

/// The Google provider's schema as `scripts/provider_schema.py` extracts it from the
/// prebuilt CDK bindings (`scripts/test.sh` downloads them and sets `PROVIDER_SCHEMA`).
fn provider_schema() -> serde_json::Value {
    let path = std::env::var("PROVIDER_SCHEMA")
        .expect("PROVIDER_SCHEMA is not set: run scripts/test.sh, which extracts the Google provider's schema first");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// Arguments and blocks every resource and data source takes from Terraform itself.
const META: [&str; 5] = ["count", "for_each", "depends_on", "provider", "lifecycle"];

/// Every argument and nested block of `body` against `schema` (the arguments of one
/// resource or block): unknown names and missing required arguments.
fn check_body(at: &str, body: &Body, schema: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<String>) {
    let mut present = std::collections::BTreeSet::new();
    for a in body.attributes() {
        present.insert(a.key().to_string());
        match schema.get(a.key()) {
            _ if META.contains(&a.key()) => {}
            None => out.push(format!("{at}: unknown argument `{}`", a.key())),
            Some(s) if s.get("block").is_some() && !s["block"].as_object().unwrap().is_empty() => {
                out.push(format!("{at}: `{}` is a block, not an argument", a.key()))
            }
            Some(_) => {}
        }
    }
    for b in body.blocks() {
        let (name, inner) = match b.identifier() {
            "lifecycle" => continue,
            "dynamic" => {
                let name = b.labels()[0].as_str().to_string();
                let content = b.body.blocks().find(|c| c.identifier() == "content");
                (name, content.map(|c| &c.body))
            }
            other => (other.to_string(), Some(&b.body)),
        };
        present.insert(name.clone());
        match schema
            .get(&name)
            .and_then(|s| s.get("block"))
            .and_then(|s| s.as_object())
        {
            None => out.push(format!("{at}: unknown block `{name}`")),
            Some(nested) => {
                if let Some(inner) = inner {
                    check_body(&format!("{at}.{name}"), inner, nested, out);
                }
            }
        }
    }
    for (name, s) in schema {
        if s["required"] == true && !present.contains(name) {
            out.push(format!("{at}: required argument `{name}` is missing"));
        }
    }
}

/// Every resource and data source of `files` against the provider's schema.
fn provider_errors(files: &[(String, Body)], schema: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for (file, body) in files {
        for b in body.blocks() {
            let kind = match b.identifier() {
                "resource" => "resource",
                "data" => "data",
                _ => continue,
            };
            let ty = b.labels()[0].as_str();
            let at = format!(
                "{file}: {}{ty}.{}",
                if kind == "data" { "data." } else { "" },
                b.labels()[1].as_str()
            );
            if !ty.starts_with("google_") {
                out.push(format!("{at}: not a Google provider {kind}"));
                continue;
            }
            match schema[kind].get(ty).and_then(|s| s.as_object()) {
                None => out.push(format!("{at}: the Google provider has no {kind} `{ty}`")),
                Some(args) => check_body(&at, &b.body, args, &mut out),
            }
        }
    }
    out
}

fn module_and_examples() -> Vec<(String, Body)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    tf_files(&tf_dir())
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.strip_prefix(root).unwrap().display().to_string(),
                hcl::parse(&text).unwrap(),
            )
        })
        .collect()
}

/// Issue 9: `terraform validate` cannot download the provider here, so the module is
/// checked against the provider's schema offline: every resource type, data source,
/// argument and nested block exists in the pinned provider version, and no required
/// argument is missing; `versions.tf` pins the version the check used.
#[test]
fn every_resource_and_argument_exists_in_the_pinned_google_provider() {
    let schema = provider_schema();
    let files = module_and_examples();
    let errors = provider_errors(&files, &schema);
    assert!(
        errors.is_empty(),
        "terraform/ against the Google provider:\n{}",
        errors.join("\n")
    );
    let resources: usize = files
        .iter()
        .map(|(_, b)| b.blocks().filter(|b| b.identifier() == "resource").count())
        .sum();
    assert!(resources >= 15, "the check saw the module's resources: {resources}");

    let version = schema["provider_version"].as_str().unwrap();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    let versions = std::fs::read_to_string(tf_dir().join("versions.tf")).unwrap();
    let pin = format!("version = \">= {major}.{minor}, < {}.0\"", major + 1);
    assert!(
        versions.contains(&pin),
        "versions.tf pins the checked provider {version}: {pin}"
    );
}

/// The check catches a misspelled argument, a misspelled block, a missing required
/// argument and an unknown resource type, in a scratch copy of the module's text.
#[test]
fn the_provider_check_catches_a_broken_argument_in_a_scratch_copy() {
    let schema = provider_schema();
    let pubsub = std::fs::read_to_string(tf_dir().join("pubsub.tf")).unwrap();
    for (from, to, want) in [
        (
            "ack_deadline_seconds",
            "ack_deadline_secs",
            "unknown argument `ack_deadline_secs`",
        ),
        ("retry_policy {", "retry_policies {", "unknown block `retry_policies`"),
        (
            "  topic                        = google_pubsub_topic.orders.id\n",
            "",
            "required argument `topic` is missing",
        ),
        (
            "resource \"google_pubsub_topic\" \"orders\"",
            "resource \"google_pubsub_topics\" \"orders\"",
            "has no resource `google_pubsub_topics`",
        ),
    ] {
        assert!(pubsub.contains(from), "the scratch edit applies: {from}");
        let broken = pubsub.replacen(from, to, 1);
        let errors = provider_errors(&[("pubsub.tf".into(), hcl::parse(&broken).unwrap())], &schema);
        assert!(errors.iter().any(|e| e.contains(want)), "{want}: {errors:?}");
    }
    let clean = provider_errors(&[("pubsub.tf".into(), hcl::parse(&pubsub).unwrap())], &schema);
    assert!(clean.is_empty(), "{clean:?}");
}

/// Dotted names (`var.x`, `local.x`, `google_t.n`, `data.google_t.n`, `module.m.o`) in
/// a .tf text, comments left out, and the `from` of `moved` blocks (an address that no
/// longer exists, by design).
fn references(text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim_start().starts_with("from "))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut word = String::new();
    for c in code.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            word.push(c);
            continue;
        }
        let parts: Vec<String> = word.split('.').map(str::to_string).collect();
        word.clear();
        let head = parts[0].as_str();
        if parts.len() >= 2 && (matches!(head, "var" | "local" | "data" | "module") || head.starts_with("google_")) {
            out.push(parts);
        }
    }
    out
}

/// Every reference resolves: each `var.x` is declared, each `local.x` defined, each
/// `google_t.n` and `data.t.n` a block of the same module, each `module.m.o` an output
/// of the module `m` calls. Catches a renamed resource still named elsewhere (an
/// output that lists removed resources, say), which `terraform validate` would.
#[test]
fn every_reference_in_the_module_and_examples_resolves() {
    let mut dirs = vec![tf_dir()];
    dirs.extend(
        std::fs::read_dir(tf_dir().join("examples"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    let module_outputs: Vec<String> = module()
        .iter()
        .flat_map(|(_, _, b)| {
            b.blocks()
                .filter(|b| b.identifier() == "output")
                .map(|b| b.labels()[0].as_str().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut errors = Vec::new();
    let mut seen = 0;
    for dir in dirs {
        let files: Vec<(PathBuf, String, Body)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                let body = hcl::parse(&text).unwrap();
                (p, text, body)
            })
            .collect();
        let mut declared = std::collections::BTreeSet::new();
        for (_, _, body) in &files {
            for b in body.blocks() {
                let labels: Vec<&str> = b.labels().iter().map(|l| l.as_str()).collect();
                match (b.identifier(), labels.as_slice()) {
                    ("variable", [name]) => declared.insert(format!("var.{name}")),
                    ("resource", [t, n]) => declared.insert(format!("{t}.{n}")),
                    ("data", [t, n]) => declared.insert(format!("data.{t}.{n}")),
                    ("module", [m]) => declared.insert(format!("module.{m}")),
                    ("locals", []) => {
                        for a in b.body.attributes() {
                            declared.insert(format!("local.{}", a.key()));
                        }
                        true
                    }
                    _ => false,
                };
            }
        }
        for (path, text, _) in &files {
            for r in references(text) {
                seen += 1;
                let key = match r[0].as_str() {
                    "var" | "local" => format!("{}.{}", r[0], r[1]),
                    "data" | "module" if r.len() >= 3 => format!("{}.{}.{}", r[0], r[1], r[2]),
                    _ => format!("{}.{}", r[0], r[1]),
                };
                let ok = if r[0] == "module" {
                    declared.contains(&format!("module.{}", r[1])) && module_outputs.contains(&r[2])
                } else {
                    declared.contains(&key)
                };
                if !ok {
                    errors.push(format!("{}: `{}` is not declared", path.display(), r.join(".")));
                }
            }
        }
    }
    assert!(seen > 100, "references were found: {seen}");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

mod tf_functions {
    //! The few Terraform functions the Looker Studio link uses, for hcl-rs's evaluator.
    use hcl::Value;
    use hcl::eval::{FuncArgs, FuncDef, ParamType};

    fn s(v: &Value) -> Result<&str, String> {
        v.as_str().ok_or_else(|| format!("not a string: {v:?}"))
    }

    fn file(a: FuncArgs) -> Result<Value, String> {
        std::fs::read_to_string(s(&a[0])?)
            .map(Value::from)
            .map_err(|e| e.to_string())
    }
    fn jsondecode(a: FuncArgs) -> Result<Value, String> {
        let v: serde_json::Value = serde_json::from_str(s(&a[0])?).map_err(|e| e.to_string())?;
        hcl::to_value(v).map_err(|e| e.to_string())
    }
    fn flatten(a: FuncArgs) -> Result<Value, String> {
        fn go(v: &Value, out: &mut Vec<Value>) {
            match v {
                Value::Array(items) => items.iter().for_each(|i| go(i, out)),
                other => out.push(other.clone()),
            }
        }
        let mut out = Vec::new();
        go(&a[0], &mut out);
        Ok(Value::Array(out))
    }
    fn distinct(a: FuncArgs) -> Result<Value, String> {
        let mut out: Vec<Value> = Vec::new();
        for v in a[0].as_array().ok_or("not a list")? {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        Ok(Value::Array(out))
    }
    fn sort(a: FuncArgs) -> Result<Value, String> {
        let mut items: Vec<String> = a[0]
            .as_array()
            .ok_or("not a list")?
            .iter()
            .map(|v| s(v).map(str::to_string))
            .collect::<Result<_, _>>()?;
        items.sort();
        Ok(Value::Array(items.into_iter().map(Value::from).collect()))
    }
    fn concat(a: FuncArgs) -> Result<Value, String> {
        let mut out = Vec::new();
        for list in a.iter() {
            out.extend(list.as_array().ok_or("not a list")?.iter().cloned());
        }
        Ok(Value::Array(out))
    }
    fn join(a: FuncArgs) -> Result<Value, String> {
        let parts: Vec<&str> = a[1]
            .as_array()
            .ok_or("not a list")?
            .iter()
            .map(s)
            .collect::<Result<_, _>>()?;
        Ok(Value::from(parts.join(s(&a[0])?)))
    }
    fn trimprefix(a: FuncArgs) -> Result<Value, String> {
        let (text, prefix) = (s(&a[0])?, s(&a[1])?);
        Ok(Value::from(text.strip_prefix(prefix).unwrap_or(text)))
    }
    /// Go's `url.QueryEscape`, which Terraform's `urlencode` is.
    fn urlencode(a: FuncArgs) -> Result<Value, String> {
        let mut out = String::new();
        for b in s(&a[0])?.bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b' ' => out.push('+'),
                other => out.push_str(&format!("%{other:02X}")),
            }
        }
        Ok(Value::from(out))
    }

    pub fn declare(ctx: &mut hcl::eval::Context) {
        let one = |f| FuncDef::builder().param(ParamType::Any).build(f);
        let two = |f| FuncDef::builder().param(ParamType::Any).param(ParamType::Any).build(f);
        ctx.declare_func("file", one(file));
        ctx.declare_func("jsondecode", one(jsondecode));
        ctx.declare_func("flatten", one(flatten));
        ctx.declare_func("distinct", one(distinct));
        ctx.declare_func("sort", one(sort));
        ctx.declare_func("urlencode", one(urlencode));
        ctx.declare_func("trimprefix", two(trimprefix));
        ctx.declare_func("join", two(join));
        ctx.declare_func(
            "concat",
            FuncDef::builder().variadic_param(ParamType::Any).build(concat),
        );
    }
}

/// Issue 10: Terraform's `looker_studio_url` output is the link `dashboard --looker-url`
/// prints: the output's expression is evaluated here with the module's locals and the
/// definition file, and compared with the report's own link, character for character.
#[test]
fn terraform_looker_studio_url_is_the_dashboards_link() {
    use hcl::eval::{Context, Evaluate};
    let mut ctx = Context::new();
    tf_functions::declare(&mut ctx);
    let mut path = hcl::Map::new();
    path.insert("module".into(), hcl::Value::from(tf_dir().display().to_string()));
    ctx.declare_var("path", hcl::Value::Object(path));
    let mut vars = hcl::Map::new();
    vars.insert("project_id".into(), hcl::Value::from("my-project"));
    ctx.declare_var("var", hcl::Value::Object(vars));
    let mut dataset = hcl::Map::new();
    let mut main = hcl::Map::new();
    main.insert("dataset_id".into(), hcl::Value::from("data_ecommerce_demo"));
    dataset.insert("main".into(), hcl::Value::Object(main));
    ctx.declare_var("google_bigquery_dataset", hcl::Value::Object(dataset));

    let files = module();
    let locals: Vec<(String, Expression)> = files
        .iter()
        .flat_map(|(_, _, b)| b.blocks().filter(|b| b.identifier() == "locals").collect::<Vec<_>>())
        .flat_map(|b| {
            b.body
                .attributes()
                .map(|a| (a.key().to_string(), a.expr().clone()))
                .collect::<Vec<_>>()
        })
        .filter(|(k, _)| k == "report" || k == "looker_views")
        .collect();
    let mut local = hcl::Map::new();
    for (k, e) in &locals {
        ctx.declare_var("local", hcl::Value::Object(local.clone()));
        local.insert(
            k.clone(),
            e.evaluate(&ctx).unwrap_or_else(|err| panic!("local.{k}: {err}")),
        );
    }
    ctx.declare_var("local", hcl::Value::Object(local));
    let output = files
        .iter()
        .flat_map(|(_, _, b)| b.blocks().filter(|b| b.identifier() == "output").collect::<Vec<_>>())
        .find(|b| b.labels()[0].as_str() == "looker_studio_url")
        .expect("a looker_studio_url output");
    let value = output.body.attributes().find(|a| a.key() == "value").unwrap().expr();
    let terraform = value
        .evaluate(&ctx)
        .unwrap_or_else(|e| panic!("looker_studio_url: {e}"));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = instashop::model::DataModel::load(&root.join("bigquery")).unwrap();
    let report = instashop::dashboard::report::Report::load(&root.join("looker/report.json"), &model).unwrap();
    let ours = report.looker_url("my-project", "data_ecommerce_demo", None);
    assert_eq!(terraform.as_str(), Some(ours.as_str()));
    assert!(ours.contains("ds.sales_facts.tableId=sales_facts"), "{ours}");
}

/// Issue 9: every resource the customer-managed key encrypts waits for the key's grants
/// to the Storage, BigQuery and Pub/Sub service agents (without them, creating it fails).
#[test]
fn every_resource_encrypted_with_the_key_waits_for_the_service_agents_grants() {
    let files = module();
    let mut grants = None;
    let mut encrypted = Vec::new();
    for (_, text, body) in &files {
        for b in body.blocks().filter(|b| b.identifier() == "resource") {
            let (ty, name) = (b.labels()[0].as_str(), b.labels()[1].as_str());
            if ty == "google_kms_crypto_key_iam_member" {
                grants = Some(b.body.clone());
                continue;
            }
            let start = text.find(&format!("resource \"{ty}\" \"{name}\"")).unwrap();
            let end = text[start..].find("\n}\n").map_or(text.len(), |e| start + e);
            if text[start..end].contains("var.kms_key_name") {
                let deps = b
                    .body
                    .attributes()
                    .find(|a| a.key() == "depends_on")
                    .map(|a| a.expr().to_string())
                    .unwrap_or_default();
                encrypted.push((format!("{ty}.{name}"), deps));
            }
        }
    }
    let grants = grants.expect("a google_kms_crypto_key_iam_member grants the key");
    let role = grants
        .attributes()
        .find(|a| a.key() == "role")
        .unwrap()
        .expr()
        .to_string();
    assert_eq!(role, "\"roles/cloudkms.cryptoKeyEncrypterDecrypter\"");
    let kms = std::fs::read_to_string(tf_dir().join("kms.tf")).unwrap();
    for agent in [
        "google_storage_project_service_account",
        "google_bigquery_default_service_account",
        "local.pubsub_service_agent",
    ] {
        assert!(kms.contains(agent), "the key is granted to {agent}");
    }
    let names: Vec<&str> = encrypted.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "google_storage_bucket.data",
        "google_bigquery_dataset.main",
        "google_bigquery_table.tables",
        "google_pubsub_topic.orders",
        "google_pubsub_topic.dead_letter",
    ] {
        assert!(names.contains(&want), "{want} uses the key: {names:?}");
    }
    for (name, deps) in &encrypted {
        assert!(
            deps.contains("google_kms_crypto_key_iam_member.service_agents"),
            "{name} waits for the key's grants: depends_on = {deps}"
        );
    }
}

/// Issue 9: a stale views.tf fails the plan (a precondition), not a warning (a `check`).
#[test]
fn a_stale_views_tf_fails_the_plan() {
    for (path, _, body) in module() {
        assert!(
            body.blocks().all(|b| b.identifier() != "check"),
            "{}: a check block only warns",
            path.display()
        );
    }
    let bigquery = std::fs::read_to_string(tf_dir().join("bigquery.tf")).unwrap();
    let body: Body = hcl::parse(&bigquery).unwrap();
    let dataset = body
        .blocks()
        .find(|b| b.identifier() == "resource" && b.labels()[1].as_str() == "main")
        .unwrap();
    let lifecycle = dataset
        .body
        .blocks()
        .find(|b| b.identifier() == "lifecycle")
        .expect("a lifecycle");
    let pre = lifecycle
        .body
        .blocks()
        .find(|b| b.identifier() == "precondition")
        .expect("a precondition");
    let condition = pre
        .body
        .attributes()
        .find(|a| a.key() == "condition")
        .unwrap()
        .expr()
        .to_string();
    assert!(
        condition.contains("local.view_names") && condition.contains("local.generated_views"),
        "{condition}"
    );
}

/// Every environment variable Terraform sets on a container is one its binary reads
/// (`[env: NAME]` in its `--help`): a misspelt one would be ignored silently, and the job
/// would run on its defaults (the local dataset name, UTC days).
#[test]
fn every_container_variable_is_one_its_binary_reads() {
    let binaries = [
        ("worker_env", env!("CARGO_BIN_EXE_stream-worker")),
        ("forecast_job_env", env!("CARGO_BIN_EXE_forecast")),
        ("alerts_job_env", env!("CARGO_BIN_EXE_alerts")),
    ];
    let mut checked = 0;
    for (local, exe) in binaries {
        let help = help_of(exe);
        let Expression::Object(vars) = local_value(local) else {
            panic!("{local} is a map")
        };
        for key in vars.keys() {
            let name = key.to_string().trim_matches('"').to_string();
            if name == "RUST_LOG" {
                continue; // the log filter, read by the tracing subscriber
            }
            assert!(
                help.contains(&format!("[env: {name}=")),
                "{local}.{name}: {exe} reads no such variable"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} variables checked");
}

/// The alerts job passes every alert threshold of `var.alert_thresholds`, each as the
/// flag of the alerts binary that sets it (one its `--help` lists), and runs it once.
#[test]
fn the_alerts_job_passes_every_threshold_as_a_flag_the_binary_takes() {
    let help = help_of(env!("CARGO_BIN_EXE_alerts"));
    let Expression::Array(args) = local_value("alerts_job_args") else {
        panic!("alerts_job_args is a list")
    };
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    assert!(args.iter().any(|a| a.contains("--once")), "{args:?}");
    let d = defaults();
    let Expression::Object(thresholds) = &d["alert_thresholds"] else {
        panic!("alert_thresholds default is not an object")
    };
    assert_eq!(args.len(), thresholds.len() + 1, "{args:?}");
    for key in thresholds.keys() {
        let key = key.to_string().trim_matches('"').to_string();
        let flag = format!("--{}", key.trim_start_matches("alert_").replace('_', "-"));
        let arg = args
            .iter()
            .find(|a| a.contains(&format!("{flag}=")))
            .unwrap_or_else(|| panic!("{key} is not passed as {flag}: {args:?}"));
        assert!(arg.contains(&format!("var.alert_thresholds.{key}")), "{arg}");
        assert!(help.contains(&format!("{flag} <")), "alerts takes no {flag}");
    }
}

/// The expression of `locals { name = ... }` in the module.
fn local_value(name: &str) -> Expression {
    module()
        .into_iter()
        .flat_map(|(_, _, body)| {
            body.into_blocks()
                .filter(|b| b.identifier() == "locals")
                .collect::<Vec<_>>()
        })
        .flat_map(|b| b.body.into_attributes())
        .find(|a| a.key() == name)
        .unwrap_or_else(|| panic!("locals {{ {name} }} is in the module"))
        .expr()
        .clone()
}

/// A binary's `--help` text.
fn help_of(exe: &str) -> String {
    let out = std::process::Command::new(exe).arg("--help").output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Every IAM grant of the module, as (account, role, what on): the account without
/// `google_service_account.` and `[0]`; what on as `table:NAME`, `dataset:RESOURCE`,
/// `subscription:RESOURCE`, `topic:RESOURCE`, `bucket:RESOURCE`, `job:RESOURCE` or `project` (a grant over
/// a `for_each` of table names, one per name).
fn grants() -> BTreeSet<(String, String, String)> {
    let quoted = regex_lite_strings();
    let resource = |expr: &str, kind: &str| -> String {
        let rest = expr.trim_start_matches(&format!("google_{kind}.")).to_string();
        rest.split(['.', '[']).next().unwrap_or_default().to_string()
    };
    let files = module();
    // A for_each over `local.NAME`: that local's text.
    let local = |name: &str| local_value(name).to_string();
    let mut out = BTreeSet::new();
    for (_, _, body) in &files {
        for b in body.blocks().filter(|b| b.identifier() == "resource") {
            if !b.labels()[0].as_str().ends_with("_iam_member") {
                continue;
            }
            let attr = |k: &str| b.body.attributes().find(|a| a.key() == k).map(|a| a.expr().to_string());
            let (Some(member), Some(role)) = (attr("member"), attr("role")) else {
                continue;
            };
            if !member.starts_with("google_service_account.") {
                continue; // a service agent's grant
            }
            let account = resource(&member, "service_account");
            let role = role.trim_matches('"').to_string();
            let on: Vec<String> = if let Some(t) = attr("table_id") {
                let names = match attr("for_each") {
                    Some(f) if t.contains("each.key") => match f.strip_prefix("local.") {
                        Some(name) => quoted(&local(name)),
                        None => quoted(&f),
                    },
                    _ => quoted(&t),
                };
                names.into_iter().map(|n| format!("table:{n}")).collect()
            } else if let Some(s) = attr("subscription") {
                vec![format!("subscription:{}", resource(&s, "pubsub_subscription"))]
            } else if let Some(t) = attr("topic") {
                vec![format!("topic:{}", resource(&t, "pubsub_topic"))]
            } else if let Some(d) = attr("dataset_id") {
                vec![format!("dataset:{}", resource(&d, "bigquery_dataset"))]
            } else if let Some(b) = attr("bucket") {
                vec![format!("bucket:{}", resource(&b, "storage_bucket"))]
            } else if let Some(n) = attr("name") {
                vec![format!("job:{}", resource(&n, "cloud_run_v2_job"))]
            } else {
                vec!["project".to_string()]
            };
            for o in on {
                out.insert((account.clone(), role.clone(), o));
            }
        }
    }
    out
}

/// The permissions of the roles the module grants (from Google's role reference; only
/// those the calls below use, so "the role holds more" is judged on what matters here).
const ROLES: [(&str, &[&str]); 13] = [
    (
        "roles/pubsub.viewer",
        &["pubsub.topics.get", "pubsub.subscriptions.get"],
    ),
    ("roles/pubsub.publisher", &["pubsub.topics.publish"]),
    ("roles/pubsub.subscriber", &["pubsub.subscriptions.consume"]),
    ("roles/bigquery.jobUser", &["bigquery.jobs.create"]),
    (
        "roles/bigquery.dataViewer",
        &["bigquery.tables.get", "bigquery.tables.getData"],
    ),
    (
        "roles/bigquery.dataEditor",
        &[
            "bigquery.tables.get",
            "bigquery.tables.getData",
            "bigquery.tables.updateData",
            "bigquery.tables.create",
            "bigquery.tables.delete",
        ],
    ),
    ("roles/storage.objectCreator", &["storage.objects.create"]),
    (
        "roles/storage.objectViewer",
        &["storage.objects.get", "storage.objects.list"],
    ),
    (
        "roles/storage.objectUser",
        &[
            "storage.objects.create",
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.delete",
        ],
    ),
    ("roles/run.invoker", &["run.jobs.run"]),
    ("roles/monitoring.viewer", &["monitoring.timeSeries.list"]),
    (
        "roles/run.developer",
        &["run.workerPools.get", "run.workerPools.update"],
    ),
    (
        "google_project_iam_custom_role.forecast_models[0].name",
        &[
            "bigquery.models.create",
            "bigquery.models.getData",
            "bigquery.models.updateData",
        ],
    ),
];

/// What each account's binary or job calls, as (account, permission, resource): the
/// permission BigQuery, Pub/Sub, Cloud Storage or Cloud Run checks for the call, on the
/// resource the module names it by. A read of a view needs the view and what it reads:
/// a view over the whole model is a read of `dataset:main`.
const CALLS: &[(&str, &str, &str)] = &[
    // publisher::open checks the topic, then publishes.
    ("publisher", "pubsub.topics.get", "topic:orders"),
    ("publisher", "pubsub.topics.publish", "topic:orders"),
    // Source::open gets the subscription; pull, acknowledge, modifyAckDeadline consume it.
    ("stream_worker", "pubsub.subscriptions.get", "subscription:worker"),
    ("stream_worker", "pubsub.subscriptions.consume", "subscription:worker"),
    // The sink checks both tables exist, then insertAll / AppendRows into them.
    ("stream_worker", "bigquery.tables.get", "table:fact_sales_streaming"),
    (
        "stream_worker",
        "bigquery.tables.updateData",
        "table:fact_sales_streaming",
    ),
    ("stream_worker", "bigquery.tables.get", "table:fact_sales_deadletter"),
    (
        "stream_worker",
        "bigquery.tables.updateData",
        "table:fact_sales_deadletter",
    ),
    // An oversized dead letter's payload, written only if absent.
    ("stream_worker", "storage.objects.create", "bucket:data"),
    // batch-loader: reads gs:// sources (list, get), uploads the checked files, loads
    // each table (reading its keys first), and stages an append in the staging dataset.
    ("batch_loader", "storage.objects.list", "bucket:data"),
    ("batch_loader", "storage.objects.get", "bucket:data"),
    ("batch_loader", "storage.objects.create", "bucket:data"),
    ("batch_loader", "bigquery.jobs.create", "project"),
    ("batch_loader", "bigquery.tables.updateData", "table:customers"),
    ("batch_loader", "bigquery.tables.updateData", "table:products"),
    ("batch_loader", "bigquery.tables.updateData", "table:orders"),
    ("batch_loader", "bigquery.tables.updateData", "table:order_items"),
    ("batch_loader", "bigquery.tables.updateData", "table:inventory"),
    ("batch_loader", "bigquery.tables.create", "dataset:staging"),
    ("batch_loader", "bigquery.tables.delete", "dataset:staging"),
    // replay: the dead letters (table and view), its record, republishing, and
    // --from-topic's pulls from the keep-subscription.
    ("replay", "bigquery.jobs.create", "project"),
    ("replay", "bigquery.tables.getData", "table:fact_sales_deadletter"),
    ("replay", "bigquery.tables.getData", "table:v_dead_letters"),
    ("replay", "bigquery.tables.updateData", "table:fact_sales_replay"),
    ("replay", "pubsub.topics.get", "topic:orders"),
    ("replay", "pubsub.topics.publish", "topic:orders"),
    (
        "replay",
        "pubsub.subscriptions.consume",
        "subscription:dead_letter_keep",
    ),
    // alerts: the alert views (over the whole model), its log, the alerts topic.
    ("alerts", "bigquery.jobs.create", "project"),
    ("alerts", "bigquery.tables.getData", "dataset:main"),
    ("alerts", "bigquery.tables.updateData", "table:alert_log"),
    ("alerts", "pubsub.topics.get", "topic:alerts"),
    ("alerts", "pubsub.topics.publish", "topic:alerts"),
    ("alerts_scheduler", "run.jobs.run", "job:alerts"),
    // refresh: v_sales_facts and the stock views (over the whole model) into its tables.
    ("refresh", "bigquery.jobs.create", "project"),
    ("refresh", "bigquery.tables.getData", "dataset:main"),
    ("refresh", "bigquery.tables.updateData", "table:sales_facts"),
    ("refresh", "bigquery.tables.updateData", "table:product_daily_units"),
    ("refresh", "bigquery.tables.updateData", "table:customer_months"),
    ("refresh", "bigquery.tables.updateData", "table:customer_lifetime"),
    ("refresh", "bigquery.tables.updateData", "table:inventory_sold"),
    // forecast: product_daily_units in, forecast_demand out through the staging dataset;
    // the BigQuery ML option's model in the main dataset.
    ("forecast", "bigquery.jobs.create", "project"),
    ("forecast", "bigquery.tables.getData", "table:product_daily_units"),
    ("forecast", "bigquery.tables.updateData", "table:forecast_demand"),
    ("forecast", "bigquery.tables.create", "dataset:staging"),
    ("forecast", "bigquery.tables.delete", "dataset:staging"),
    ("forecast", "bigquery.models.create", "dataset:main"),
    ("forecast_scheduler", "run.jobs.run", "job:forecast"),
    // The dashboard reads the report's views (over the whole model).
    ("dashboard_reader", "bigquery.jobs.create", "project"),
    ("dashboard_reader", "bigquery.tables.getData", "dataset:main"),
    // The autoscaler reads the backlog metric and sets the worker pool's instances.
    ("autoscaler", "monitoring.timeSeries.list", "project"),
    (
        "autoscaler",
        "run.workerPools.update",
        "job:google_cloud_run_v2_worker_pool",
    ),
];

/// Whether a grant on `granted` reaches `wanted`: the same resource, or a table of the
/// main dataset under a grant on that dataset.
fn reaches(granted: &str, wanted: &str) -> bool {
    granted == wanted || (granted == "dataset:main" && wanted.starts_with("table:"))
}

fn permissions(role: &str) -> &'static [&'static str] {
    ROLES
        .iter()
        .find(|(r, _)| *r == role)
        .unwrap_or_else(|| panic!("{role} is granted but not in ROLES: add its permissions"))
        .1
}

/// Issue 18 §5: the module grants each account exactly what its calls need. Every call
/// is allowed by a grant of its account; every grant allows a call no other grant of the
/// account allows; and its role is the smallest that holds what it is there for.
#[test]
fn each_account_holds_exactly_the_grants_its_calls_need() {
    let have = grants();
    let allows = |(a, r, o): &(String, String, String), (ca, cp, co): &(&str, &str, &str)| {
        a == ca && reaches(o, co) && permissions(r).contains(cp)
    };
    let unallowed: Vec<_> = CALLS.iter().filter(|c| !have.iter().any(|g| allows(g, c))).collect();
    assert!(
        unallowed.is_empty(),
        "calls no grant allows {unallowed:#?}; the module grants {have:#?}"
    );
    for g in &have {
        let needed: Vec<&(&str, &str, &str)> = CALLS
            .iter()
            .filter(|c| allows(g, c) && !have.iter().any(|other| other != g && allows(other, c)))
            .collect();
        assert!(!needed.is_empty(), "{g:?} allows no call that needs it");
        let wanted: BTreeSet<&str> = needed.iter().map(|c| c.1).collect();
        let smaller: Vec<&str> = ROLES
            .iter()
            .filter(|(r, p)| {
                p.len() < permissions(&g.1).len() && wanted.iter().all(|w| p.contains(w)) && !r.starts_with("google_")
            })
            .map(|(r, _)| *r)
            .collect();
        assert!(
            smaller.is_empty(),
            "{g:?} is there for {wanted:?}, which {smaller:?} hold with less"
        );
    }
    // The forecast account writes forecast_demand and nothing else of the main dataset.
    let forecast_writes: Vec<_> = have
        .iter()
        .filter(|(a, r, _)| a == "forecast" && r == "roles/bigquery.dataEditor")
        .map(|(_, _, o)| o.as_str())
        .collect();
    assert_eq!(forecast_writes, ["dataset:staging", "table:forecast_demand"]);
}
