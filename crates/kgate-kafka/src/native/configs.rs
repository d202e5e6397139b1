//! Native admin: configs.
