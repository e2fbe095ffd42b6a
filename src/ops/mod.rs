//! The operations: each batch item of a request is run here, one file per operation or small family.
