//! Native admin: acls.
