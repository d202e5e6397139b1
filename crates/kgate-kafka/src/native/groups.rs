//! Native admin: groups.
