//! Schemas of the three registry types (AVRO, PROTOBUF, JSON): parsing, validation and
//! canonical forms, shared by the Schema Registry and the embedded formats.
