//! The OCI runtime spec every backend starts from (being written).
