//! Links follow their targets: the consumer of documents' `document.deleted` deletes the
//! links to a deleted document (its slug freed, `link.deleted` with `target_deleted`
//! published) in the consumer's transaction. Task deletes are left alone on purpose: they
//! can be undone for a day, and meanwhile the task's links answer NOT_FOUND because the
//! view cannot be built.

use events::consumer::{EventTx, Handler, HandlerError};
use mesh::ids::OrganizationId;
use prost::{Message, Name};
use taskmesh::events::v1::{DocumentDeleted, Event, LinkDeleted};

use super::sql::delete_link;
use crate::events::LINK_DELETED;

/// Documents' events (links follows document deletes).
pub const DOCUMENTS_EVENTS: &str = "taskmesh.documents.document.deleted";

/// The consumer that deletes the links of deleted documents.
pub struct TargetDeletes;

#[async_trait::async_trait]
impl Handler for TargetDeletes {
    async fn handle(&self, tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError> {
        let Ok(organization) = event.tenant_id.parse::<OrganizationId>() else {
            return Ok(());
        };
        if event.payload_type != DocumentDeleted::full_name() {
            return Ok(());
        }
        let deleted = DocumentDeleted::decode(event.payload.as_slice())
            .map_err(|error| HandlerError(format!("undecodable DocumentDeleted: {error}")))?;
        let org = organization.to_string();
        events::on_connection!(tx, |connection, enqueue| {
            let links: Vec<(String, String)> = sqlx::query_as("select id, slug from links where organization_id = $1 and target_kind = 'document' and target_id = $2")
                .bind(&org)
                .bind(&deleted.document_id)
                .fetch_all(&mut *connection)
                .await?;
            for (id, slug) in links {
                delete_link!(connection, org.clone(), &id, &slug);
                let message = LINK_DELETED
                    .event(
                        format!("organizations/{org}/links/{id}"),
                        &LinkDeleted {
                            link_id: id.clone(),
                            slug,
                            target_kind: "document".into(),
                            target_id: deleted.document_id.clone(),
                            target_deleted: true,
                        },
                    )
                    .tenant(organization)
                    .service_actor("links")
                    .build();
                enqueue(&mut *connection, &message).await?;
            }
        });
        Ok(())
    }
}
