//! Test support: an embedded broker and a kgate server on 127.0.0.1:0.
