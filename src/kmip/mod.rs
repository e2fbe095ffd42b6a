//! KMIP messages: the one internal model of requests and responses, decoded from and encoded to the TTLV of every
//! protocol version 1.0-2.1. Version differences live here, at the edge, and nowhere below.
