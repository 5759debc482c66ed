//! The services this build implements, and which of them a process runs.
//!
//! [`SERVICES`] is the one list: adding a service to the binary is one line here (and the
//! crate in Cargo.toml). `serve` mounts exactly the selected ones, so reflection never lists a
//! service whose methods would answer UNIMPLEMENTED.

use kit::ServiceDefinition;

/// Every service implemented in this build, in dependency order.
pub const SERVICES: &[ServiceDefinition] = &[
    identity::SERVICE,
    tenancy::SERVICE,
    projects::SERVICE,
    notifications::SERVICE,
    analytics::SERVICE,
    documents::SERVICE,
    links::SERVICE,
];

/// The service names the contracts define (`taskmesh.<name>.v1` packages with services),
/// read from the descriptor set compiled into the binary.
pub fn contract_services() -> Vec<String> {
    use prost::Message;
    let Ok(set) = prost_types::FileDescriptorSet::decode(taskmesh::FILE_DESCRIPTOR_SET) else {
        return Vec::new();
    };
    let mut names: Vec<String> = set
        .file
        .iter()
        .filter(|file| !file.service.is_empty())
        .filter_map(|file| {
            let package = file.package.as_deref()?;
            let name = package.strip_prefix("taskmesh.")?.strip_suffix(".v1")?;
            Some(name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The names of the implemented services (their config sections, too).
pub fn names() -> Vec<&'static str> {
    SERVICES.iter().map(|service| service.name).collect()
}

/// What one process runs.
#[derive(Clone, Debug)]
pub struct Selection {
    /// Services mounted in this process.
    pub services: Vec<&'static ServiceDefinition>,
    /// Whether the edge (public door) runs here. Always true today: a lone service process
    /// is served through the same stack, so it also answers health, reflection and
    /// `/readyz` on its port.
    pub edge: bool,
}

impl Selection {
    /// The names of the selected services.
    pub fn names(&self) -> Vec<&'static str> {
        self.services.iter().map(|service| service.name).collect()
    }
}

/// Resolves `--service` flags: none means all-in-one.
pub fn select(requested: &[String]) -> anyhow::Result<Selection> {
    if requested.is_empty() {
        return Ok(Selection {
            services: SERVICES.iter().collect(),
            edge: true,
        });
    }
    let mut services = Vec::new();
    for name in requested {
        if name == "edge" {
            continue;
        }
        match SERVICES
            .iter()
            .find(|service| service.name == name.as_str())
        {
            Some(service) => services.push(service),
            None if contract_services().contains(name) => {
                anyhow::bail!("service {name:?} is not implemented in this build yet")
            }
            None => anyhow::bail!(
                "unknown service {name:?}; expected edge or one of {}",
                contract_services().join(", ")
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
        assert_eq!(selection.names(), names());
        assert!(selection.edge);
    }

    #[test]
    fn unknown_and_unimplemented_services_are_refused_by_name() {
        let error = select(&["billing".to_string()]).unwrap_err().to_string();
        assert!(error.contains("unknown service"), "{error}");
        let edge_only = select(&["edge".to_string()]).unwrap();
        assert!(edge_only.services.is_empty());
    }

    #[test]
    fn contracts_name_every_service_and_the_list_has_no_strangers() {
        let contracts = contract_services();
        assert_eq!(
            contracts,
            [
                "analytics",
                "documents",
                "identity",
                "links",
                "notifications",
                "projects",
                "tenancy"
            ]
        );
        for name in names() {
            assert!(contracts.iter().any(|contract| contract == name), "{name}");
        }
    }
}
