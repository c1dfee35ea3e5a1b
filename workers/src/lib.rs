//! The part of the workers that the orchestrator reuses: the vendor API clients.

pub mod clients;
