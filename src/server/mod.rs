//! The network edge: configuration, the mutual-TLS listener, framing, connection limits and shutdown.
