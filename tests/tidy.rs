//! Tidy tests: the architecture's invariants (ARCHITECTURE.md, "Invariants"), checked by
//! reading the tree, so a change that breaks one fails `cargo test` instead of waiting for a
//! reviewer. Each test names the invariant it holds; each failure names the file.
//!
//! Service crates are the crates under `crates/` whose `lib.rs` declares
//! `pub const SERVICE: ServiceDefinition`; the service names are the contract packages under
//! `proto/taskmesh/<name>/v1` that declare services.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// The code of a source file, without comment lines and without its test module (by
/// convention the last item, after `#[cfg(test)]`); `None` for test-only files.
fn production_code(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with("_tests.rs") || name == "testing.rs" || name == "conformance.rs" {
        return None;
    }
    let text = read(path);
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    Some(
        code.lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Service names from the contracts.
fn contract_services() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join("proto/taskmesh"))
        .expect("proto/taskmesh")
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let declares_service = fs::read_dir(entry.path().join("v1"))
                .ok()?
                .flatten()
                .any(|file| read(&file.path()).contains("\nservice "));
            declares_service.then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// The crates under `crates/`, as (name, directory).
fn crates() -> Vec<(String, PathBuf)> {
    let mut crates: Vec<(String, PathBuf)> = fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            )
        })
        .collect();
    crates.sort();
    crates
}

fn service_crates() -> Vec<(String, PathBuf)> {
    crates()
        .into_iter()
        .filter(|(_, dir)| {
            fs::read_to_string(dir.join("src/lib.rs"))
                .is_ok_and(|lib| lib.contains("pub const SERVICE: ServiceDefinition"))
        })
        .collect()
}

/// The dependency names of one `[section]` of a Cargo.toml.
fn dependencies(manifest: &Path, section: &str) -> Vec<String> {
    let text = read(manifest);
    let header = format!("[{section}]");
    let Some(start) = text.find(&header) else {
        return Vec::new();
    };
    text[start + header.len()..]
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| {
            let name = line.split(['=', '.']).next()?.trim();
            (!name.is_empty() && !name.starts_with('#')).then(|| name.to_string())
        })
        .collect()
}

fn assert_none(what: &str, offenders: Vec<String>) {
    assert!(
        offenders.is_empty(),
        "{what}:\n  {}",
        offenders.join("\n  ")
    );
}

/// True when `code` uses the crate `name` in code (a `use` or a path), not only in prose.
fn uses_crate(code: &str, name: &str) -> bool {
    code.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with(&format!("use {name}"))
            || line.contains(&format!(" {name}::"))
            || line.contains(&format!("({name}::"))
            || line.contains(&format!("<{name}::"))
            || line.contains(&format!("&{name}::"))
            || line.starts_with(&format!("{name}::"))
            || line.contains(&format!("[{name}::"))
    })
}

#[test]
fn there_are_service_crates_and_contracts_to_check() {
    let services = service_crates();
    assert!(services.iter().any(|(name, _)| name == "identity"));
    assert!(services.iter().any(|(name, _)| name == "tenancy"));
    for (name, _) in &services {
        assert!(
            contract_services().contains(name),
            "crate {name} declares SERVICE but has no contract"
        );
    }
}

#[test]
fn mesh_kit_and_events_name_no_service() {
    let services = contract_services();
    let mut offenders = Vec::new();
    for infrastructure in ["mesh", "kit", "events", "edge"] {
        let dir = root().join("crates").join(infrastructure);
        for section in ["dependencies", "dev-dependencies"] {
            for dependency in dependencies(&dir.join("Cargo.toml"), section) {
                if services.contains(&dependency) {
                    offenders.push(format!("{infrastructure} depends on {dependency}"));
                }
            }
        }
        for file in rust_files(&dir.join("src")) {
            let Some(code) = production_code(&file) else {
                continue;
            };
            for service in &services {
                let mut title = service.clone();
                title[..1].make_ascii_uppercase();
                if code.contains(&format!("\"{service}\""))
                    || code.contains(&format!("{title}Config"))
                {
                    offenders.push(format!("{} names {service}", relative(&file)));
                }
            }
        }
    }
    assert_none("infrastructure must know no service by name", offenders);
}

#[test]
fn service_crates_depend_on_no_other_service_crate() {
    let services = contract_services();
    let mut offenders = Vec::new();
    for (name, dir) in service_crates() {
        for section in ["dependencies", "dev-dependencies"] {
            for dependency in dependencies(&dir.join("Cargo.toml"), section) {
                if dependency != name && services.contains(&dependency) {
                    offenders.push(format!("{name} [{section}] has {dependency}"));
                }
            }
        }
    }
    assert_none(
        "services reach each other only through generated clients",
        offenders,
    );
}

#[test]
fn domain_sees_neither_tonic_nor_sqlx_only_api_sees_tonic_only_store_sees_sqlx() {
    let mut offenders = Vec::new();
    for (_, dir) in service_crates() {
        let source = dir.join("src");
        for file in rust_files(&source) {
            let Some(code) = production_code(&file) else {
                continue;
            };
            let layer = file
                .strip_prefix(&source)
                .ok()
                .and_then(|path| path.components().next())
                .and_then(|part| part.as_os_str().to_str())
                .unwrap_or_default()
                .to_string();
            if uses_crate(&code, "tonic") && layer != "api" {
                offenders.push(format!("{} uses tonic outside api/", relative(&file)));
            }
            if uses_crate(&code, "sqlx") && layer != "store" {
                offenders.push(format!("{} uses sqlx outside store/", relative(&file)));
            }
        }
    }
    assert_none("layers", offenders);
}

#[test]
fn statuses_are_built_only_in_the_error_module() {
    let error_module = root().join("crates/mesh/src/error.rs");
    let mut offenders = Vec::new();
    for (_, dir) in crates() {
        for file in rust_files(&dir.join("src")) {
            if file == error_module {
                continue;
            }
            let Some(code) = production_code(&file) else {
                continue;
            };
            for (index, _) in code.match_indices("Status::") {
                let constructor: String = code[index + "Status::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let call = code[index + "Status::".len() + constructor.len()..].starts_with('(');
                let lowercase = constructor.starts_with(|c: char| c.is_ascii_lowercase());
                if call && lowercase && constructor != "from" {
                    offenders.push(format!("{}: Status::{constructor}", relative(&file)));
                }
            }
        }
    }
    assert_none(
        "every status leaves through mesh::error (with ErrorInfo)",
        offenders,
    );
}

#[test]
fn only_the_binary_and_test_support_read_the_environment() {
    let allowed = [
        root().join("crates/cli/src/main.rs"),
        root().join("crates/mesh/src/testing.rs"),
    ];
    let mut offenders = Vec::new();
    for (_, dir) in crates() {
        for file in rust_files(&dir.join("src")) {
            let text = read(&file);
            let reads = ["env::var(", "env::vars(", "env::var_os(", "env::vars_os("]
                .iter()
                .any(|call| text.contains(call));
            if reads && !allowed.contains(&file) {
                offenders.push(relative(&file));
            }
        }
    }
    assert_none("configuration is parsed once, in main", offenders);
}

#[test]
fn no_test_is_ignored() {
    let mut offenders = Vec::new();
    for dir in [
        root().join("crates"),
        root().join("src"),
        root().join("tests"),
    ] {
        for file in rust_files(&dir) {
            if file.ends_with("tests/tidy.rs") {
                continue;
            }
            if read(&file).contains("#[ignore") {
                offenders.push(relative(&file));
            }
        }
    }
    assert_none("no #[ignore]: a hidden failing test is a defect", offenders);
}

#[test]
fn services_publish_only_through_the_outbox_and_never_set_sessions() {
    let mut offenders = Vec::new();
    for (_, dir) in service_crates() {
        for file in rust_files(&dir.join("src")) {
            let Some(code) = production_code(&file) else {
                continue;
            };
            if code.contains(".publish(") {
                offenders.push(format!("{} publishes to the bus directly", relative(&file)));
            }
            let lowercase = code.to_lowercase();
            let sets_session = [
                "\"set app.",
                "\"set search_path",
                "\"set local",
                "\"set session",
                "\"set role",
            ]
            .iter()
            .any(|statement| lowercase.contains(statement));
            if code.contains("set_config(") || sets_session {
                offenders.push(format!("{} sets session state itself", relative(&file)));
            }
        }
    }
    assert_none(
        "events go through the outbox; tenant scope through mesh::db",
        offenders,
    );
}

#[test]
fn every_service_follows_the_template() {
    let binary_list = read(&root().join("crates/cli/src/services.rs"));
    let binary_dependencies = dependencies(&root().join("crates/cli/Cargo.toml"), "dependencies");
    let mut offenders = Vec::new();
    for (name, dir) in service_crates() {
        for required in [
            "src/api/mod.rs",
            "src/domain/mod.rs",
            "src/store/mod.rs",
            "src/store/sql.rs",
            "src/store/conformance.rs",
            "src/events.rs",
            "tests/store.rs",
        ] {
            if !dir.join(required).exists() {
                offenders.push(format!("{name}: missing {required}"));
            }
        }
        let store_tests = fs::read_to_string(dir.join("tests/store.rs")).unwrap_or_default();
        if !(store_tests.contains("sqlite(") && store_tests.contains("RuntimePostgres")) {
            offenders.push(format!(
                "{name}: tests/store.rs must run the conformance suite on SQLite and PostgreSQL"
            ));
        }
        let store = read(&dir.join("src/store/mod.rs"));
        if !store.contains("#[cfg(feature = \"testsuite\")]\npub mod conformance;") {
            offenders.push(format!(
                "{name}: conformance must be behind the testsuite feature"
            ));
        }
        let manifest = read(&dir.join("Cargo.toml"));
        if !manifest.contains("testsuite = []") {
            offenders.push(format!("{name}: no testsuite feature"));
        }
        if !binary_list.contains(&format!("{name}::SERVICE")) {
            offenders.push(format!("{name}: not in the binary's SERVICES list"));
        }
        if !binary_dependencies.contains(&name) {
            offenders.push(format!("{name}: not a dependency of the binary"));
        }
        // Same migration versions on both backends.
        let versions = |backend: &str| -> Vec<String> {
            let mut files: Vec<String> =
                fs::read_dir(root().join("migrations").join(&name).join(backend))
                    .map(|entries| {
                        entries
                            .flatten()
                            .map(|entry| entry.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
            files.sort();
            files
        };
        if versions("sqlite").is_empty() || versions("sqlite") != versions("postgres") {
            offenders.push(format!(
                "{name}: migrations/{name}/sqlite and postgres must hold the same versions"
            ));
        }
    }
    assert_none("the service template (ARCHITECTURE.md)", offenders);
}

#[test]
fn test_support_stays_out_of_the_binary() {
    let mesh = read(&root().join("crates/mesh/src/lib.rs"));
    assert!(
        mesh.contains("#[cfg(any(test, feature = \"testsuite\"))]\npub mod testing;"),
        "mesh::testing must be behind the testsuite feature"
    );
    let manifest = read(&root().join("crates/cli/Cargo.toml"));
    let dependencies = manifest
        .split("[dev-dependencies]")
        .next()
        .unwrap_or_default();
    assert!(
        !dependencies.contains("testsuite"),
        "the binary's [dependencies] must not enable testsuite"
    );
}
