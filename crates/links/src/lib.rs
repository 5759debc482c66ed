//! Share links, first part: the pure rules of slugs ([`domain::slugs`]) and of visit
//! records ([`domain::visitors`]), and the script-free `/l/{slug}` page ([`page`]). LinkService, its store and the edge's `/l/{slug}` page
//! come next (issue 11); until then the binary does not mount links.

pub mod domain;
pub mod page;
