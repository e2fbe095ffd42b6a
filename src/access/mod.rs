//! Who is calling: the identity taken from the verified client certificate.
