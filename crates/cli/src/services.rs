//! The services this build implements, and which of them a process runs.
//!
//! A service appears here only once it is implemented: `serve` mounts exactly these, so
//! reflection never lists a service whose methods would answer UNIMPLEMENTED.

/// Every service the contracts define, in dependency order.
pub const CONTRACT_SERVICES: [&str; 7] = [
    "identity",
    "tenancy",
    "projects",
    "documents",
    "notifications",
    "links",
    "analytics",
];

/// The services implemented in this build.
pub const IMPLEMENTED: [&str; 2] = ["identity", "tenancy"];

/// What one process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Services mounted in this process.
    pub services: Vec<&'static str>,
    /// Whether the edge (public door) runs here. Always true today: a lone service process
    /// is served through the same stack, so it also answers health, reflection and
    /// `/readyz` on its port.
    pub edge: bool,
}

/// Resolves `--service` flags: none means all-in-one.
pub fn select(requested: &[String]) -> anyhow::Result<Selection> {
    if requested.is_empty() {
        return Ok(Selection {
            services: IMPLEMENTED.to_vec(),
            edge: true,
        });
    }
    let mut services = Vec::new();
    for name in requested {
        if name == "edge" {
            continue;
        }
        match IMPLEMENTED
            .iter()
            .find(|implemented| **implemented == name.as_str())
        {
            Some(service) => services.push(*service),
            None if CONTRACT_SERVICES.contains(&name.as_str()) => {
                anyhow::bail!("service {name:?} is not implemented in this build yet")
            }
            None => anyhow::bail!(
                "unknown service {name:?}; expected edge or one of {}",
                CONTRACT_SERVICES.join(", ")
            ),
        }
    }
    Ok(Selection {
        services,
        edge: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flag_means_every_implemented_service() {
        let selection = select(&[]).unwrap();
        assert_eq!(selection.services, IMPLEMENTED.to_vec());
        assert!(selection.edge);
    }

    #[test]
    fn unknown_and_unimplemented_services_are_refused_by_name() {
        let error = select(&["billing".to_string()]).unwrap_err().to_string();
        assert!(error.contains("unknown service"), "{error}");
        let edge_only = select(&["edge".to_string()]).unwrap();
        assert!(edge_only.services.is_empty());
    }
}
