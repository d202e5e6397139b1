//! Native admin: cluster.
