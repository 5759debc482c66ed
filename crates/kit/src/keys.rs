//! Per-deployment keys a service needs (a key sealing secrets at rest, a key signing
//! download URLs): taken from configuration when set, otherwise generated once into a file
//! under the data dir, so an all-in-one install works with no setup and keeps its key across
//! restarts.
//!
//! Invariants: a generated key is 32 bytes from the OS random source, written base64 with
//! mode 0600 to a private file and hard-linked into place, so the key file is never seen
//! half-written; when two processes of one data dir race, both use the first one linked. Replicas on different machines must be given the same key in
//! configuration.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// 32 random bytes, base64 (standard alphabet, padded).
pub fn generate_base64() -> Result<String, String> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| "the system random source failed".to_string())?;
    Ok(STANDARD.encode(bytes))
}

/// The key's text: `configured` when set, else the content of `<data_dir>/<file_name>`,
/// generated (see [`generate_base64`]) when the file does not exist yet. Errors name the
/// file or `setting` (the config key, for messages).
pub fn configured_or_file(
    configured: Option<&mesh::config::Secret>,
    setting: &str,
    data_dir: &Path,
    file_name: &str,
) -> Result<String, String> {
    if let Some(key) = configured {
        let text = key.expose().trim().to_string();
        if text.is_empty() {
            return Err(format!("{setting} is empty"));
        }
        return Ok(text);
    }
    let path = data_dir.join(file_name);
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(text.trim().to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(format!("{}: {error}", path.display())),
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|error| format!("{}: {error}", data_dir.display()))?;
    // Written whole under a private name, then linked into place: the key file exists only
    // complete, and when two processes race, the first link wins and both read it.
    let text = generate_base64()?;
    let staging = data_dir.join(format!(".{file_name}.{}", uuid::Uuid::now_v7().simple()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&staging)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        match std::fs::hard_link(&staging, &path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "{setting} generated");
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(error),
        }
    })();
    let _ = std::fs::remove_file(&staging);
    written.map_err(|error| format!("{}: {error}", path.display()))?;
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(text.trim().to_string())
}

/// [`configured_or_file`], decoded from base64: the key's bytes.
pub fn key_bytes(
    configured: Option<&mesh::config::Secret>,
    setting: &str,
    data_dir: &Path,
    file_name: &str,
) -> Result<Vec<u8>, String> {
    let text = configured_or_file(configured, setting, data_dir, file_name)?;
    STANDARD
        .decode(text.as_bytes())
        .map_err(|error| format!("{setting}: not base64: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn racing_generators_agree_on_one_key() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().to_path_buf();
        let keys: Vec<String> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    configured_or_file(None, "k", &path, "race.key").unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect();
        assert!(
            keys.iter().all(|key| key == &keys[0] && !key.is_empty()),
            "{keys:?}"
        );
        let left: Vec<_> = std::fs::read_dir(directory.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no staging file left behind");
    }

    #[test]
    fn a_generated_key_is_kept_and_a_configured_one_wins() {
        let directory = tempfile::tempdir().unwrap();
        let first = configured_or_file(None, "x.key", directory.path(), "x.key").unwrap();
        assert_eq!(STANDARD.decode(&first).unwrap().len(), 32);
        let again = configured_or_file(None, "x.key", directory.path(), "x.key").unwrap();
        assert_eq!(first, again);
        let other = configured_or_file(None, "y.key", directory.path(), "y.key").unwrap();
        assert_ne!(first, other);
        let configured = mesh::config::Secret::new("abc".to_string());
        assert_eq!(
            configured_or_file(Some(&configured), "x.key", directory.path(), "x.key").unwrap(),
            "abc"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(directory.path().join("x.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
