//! Contract messages in their protobuf JSON form (lowerCamelCase names, enums by name,
//! timestamps in RFC 3339), through the descriptors compiled into the binary, so no service
//! writes a JSON mirror of a message by hand.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

/// The contracts' descriptor pool, decoded once.
pub fn pool() -> Result<&'static DescriptorPool, String> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(taskmesh::FILE_DESCRIPTOR_SET).map_err(|error| error.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// `message` as protobuf JSON text (fields at their defaults left out).
pub fn to_json<M: prost::Message + prost::Name>(message: &M) -> Result<String, String> {
    let descriptor = pool()?
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| format!("unknown message {}", M::full_name()))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|error| error.to_string())?;
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut out);
    dynamic
        .serialize_with_options(&mut serializer, &SerializeOptions::new())
        .map_err(|error| error.to_string())?;
    String::from_utf8(out).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_use_protobuf_json_names() {
        let message = taskmesh::links::v1::ResolveLinkResponse {
            organization_id: "o".into(),
            note: "hi".into(),
            target: Some(taskmesh::links::v1::resolve_link_response::Target::TaskId(
                "t".into(),
            )),
            ..Default::default()
        };
        let text = super::to_json(&message).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["organizationId"], "o");
        assert_eq!(value["taskId"], "t");
        assert_eq!(value["note"], "hi");
    }
}
