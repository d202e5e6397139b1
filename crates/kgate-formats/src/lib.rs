//! kgate's embedded formats: how a JSON value in a request becomes Kafka bytes and back.
