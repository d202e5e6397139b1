//! Admin operations the rdkafka wrapper lacks, called through rdkafka-sys behind a small
//! safe interface (ACLs, consumer groups, DescribeCluster, IncrementalAlterConfigs, ...).

pub mod acls;
pub mod cluster;
pub mod configs;
pub mod groups;
