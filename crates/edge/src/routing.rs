//! The routing table: which services are served in-process and which are forwarded.
//!
//! In-process services are routes of the gRPC router itself. A service configured with a
//! remote address (`[peers] projects = "http://projects:50051"`) is forwarded: every call
//! whose path starts with `/taskmesh.<service>.v1.` goes, unchanged (metadata, deadline,
//! body), over a peer channel with a circuit breaker. Anything else is UNIMPLEMENTED.

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::body::Body as AxumBody;
use mesh::peers::{PeerChannel, PeerError, remote_channel};
use tower::ServiceExt;

/// Forwarding routes by gRPC package prefix.
#[derive(Clone, Default)]
pub struct RoutingTable {
    remote: BTreeMap<String, (String, PeerChannel)>,
}

impl RoutingTable {
    /// Forwards each `service` (`projects`) in `peers` to its address.
    pub fn new(peers: &BTreeMap<String, String>) -> Result<Self, PeerError> {
        let mut remote = BTreeMap::new();
        for (service, address) in peers {
            let prefix = format!("/taskmesh.{service}.v1.");
            remote.insert(prefix, (service.clone(), remote_channel(service, address)?));
        }
        Ok(Self { remote })
    }

    /// The services forwarded, with their path prefixes.
    pub fn forwarded(&self) -> impl Iterator<Item = (&str, &str)> {
        self.remote
            .iter()
            .map(|(prefix, (service, _))| (service.as_str(), prefix.as_str()))
    }

    /// The fallback service of the gRPC router.
    pub fn into_service(
        self,
    ) -> impl tower::Service<
        http::Request<AxumBody>,
        Response = http::Response<AxumBody>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + Sync
    + 'static {
        tower::service_fn(move |request: http::Request<AxumBody>| {
            let route = self
                .remote
                .iter()
                .find(|(prefix, _)| request.uri().path().starts_with(prefix.as_str()))
                .map(|(_, (_, channel))| channel.clone());
            async move {
                let Some(channel) = route else {
                    let status = mesh::error::unknown_method(request.uri().path());
                    return Ok(status.into_http::<AxumBody>());
                };
                let request = request.map(tonic::body::Body::new);
                match channel.oneshot(request).await {
                    Ok(response) => Ok(response.map(AxumBody::new)),
                    Err(status) => Ok(status.into_http::<AxumBody>()),
                }
            }
        })
    }
}
