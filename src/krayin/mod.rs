//! Krayin's REST API as this tool sees it. For now the wire types ([`model`]) that the sandbox
//! serves; the client that sends requests builds on them.

pub mod model;
