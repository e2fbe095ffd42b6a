//! The `kmipd` command.

fn main() {}
