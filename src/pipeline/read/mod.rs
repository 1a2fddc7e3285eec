//! Readers: a file → its header and a stream of [`Row`]s with provenance. (Placeholder module
//! being written; see the readers issue.)
