//! Vendor API clients that more than the worker needs: `hemflux add-house` and `add-building`
//! verify credentials and discover signals with the same code the workers poll with.

pub mod arrigo;
pub mod homeside;
